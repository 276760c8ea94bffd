"""Training t2 models on ZTF-like or LSST-like light curves, with the inference preprocessing.

Training inputs go through exactly the functions that serve alerts:
``LabelledPoints.lightcurves`` -> ``apply_cuts`` -> ``classify.gp_inputs`` ->
``models.network_inputs`` (scaling, time channels, auxiliary inputs). Only the choice of points
(which detections a ZTF alert would carry) is specific to training.

ZTF-like draws from PLAsTiCC (g and r only), several per object:
- brightness: the object is rescaled so that its peak lands at a magnitude
  drawn uniformly in ``PEAK_MAG_RANGE`` (the BTS and Fink alert range);
- depth and errors: each epoch gets a 5-sigma limiting magnitude drawn from
  N(20.5, 0.4) (ZTF's median single-epoch depth) and a 2% calibration floor;
  the extra noise is added to the flux and to its error; only |S/N| >= 5
  points are kept, as ZTF alerts carry detections only;
- history: the points up to a detection drawn at random, either the last 30 days
  (what an alert's ``prv_candidates`` holds), or everything since the first
  detection (early classification), or the whole light curve.
Real labelled ZTF light curves (BTS) get the same history draws, without rescaling; copies of them moved to
other redshifts (``augment``) may join them.

LSST-like draws (``survey="lsst"``, six bands u g r i z y): PLAsTiCC is a simulation of LSST, so
its detections are kept as they are (signed difference fluxes, as Rubin's ``diaSource`` carries
them) and only the history draws apply, with the 12 months of history a Rubin alert carries. Labelled
ELAsTiCC alerts count one sample each, as received, and may add earlier alerts drawn from each
(``earlier_alert_draws``).

Class imbalance: each sample is weighted by ``(n_max / n_class) ** 0.5`` (tempered
inverse frequency, counted over the draws of that fit), so rare classes weigh more
while the network learns. A network fitted with class weights w_c outputs
p(c | x) * w_c up to normalisation; the card keeps each fit's weights and inference
divides them out (``t2net.divided_by``), so the probabilities follow the class
frequencies of the training set (for the expert: the real BTS population).

A model's networks are planned first (``plan_fits``: its samples, and which networks it fits on which), then
fitted in a pool of single-threaded processes (``fit_all``); several seeds' models can share one pool and make a
seed ensemble (``train_ensemble``). Each network's weights depend on its seed and samples alone.
"""
import json
import logging
import multiprocessing
import os
import shutil
import time
import zlib
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .augment import REDSHIFT_FACTOR_RANGE, redshifted
from .classify import GPPreparation, gp_inputs
from .cuts import SelectionCuts, apply_cuts
from .datasets import (NON_SUPERNOVA_CLASSES, LabelledAlerts, LabelledPoints, detected_mjd_by_object, read_elasticc,
                       read_plasticc, read_redshifts, read_ztf_tables)
from .gp import N_TIMES
from .lightcurves import mag_to_fluxcal
from .models import file_sha256, fit_scaling, network_inputs
from .rubin import MJD_TO_JD, PRECOVERY_DAYS
from .surveys import ADAPTERS

log = logging.getLogger(__name__)

#: Output order of every model this project trains (that of the published t2 model).
CLASSES = ("mu-Lens-Single", "TDE", "EB", "SNII", "SNIax", "Mira", "SNIbc", "KN", "M-dwarf", "SNIa-91bg", "AGN",
           "SNIa", "RRL", "SLSN-I")
PEAK_MAG_RANGE = (15.0, 19.5)
ZTF_DEPTH_MAG = (20.5, 0.4)  # mean and scatter of the single-epoch 5-sigma limiting magnitude
CALIBRATION_FLOOR = 0.02
DETECTION_SNR = 5.0
#: Probabilities of the history kinds: the alert's history (its last ``HISTORY_DAYS``), since first
#: detection up to a detection drawn at random, whole light curve, and the first days: since first
#: detection up to a time drawn log-uniformly in ``FIRST_DAYS`` after it (early classification).
HISTORY_KINDS = {"alert": 0.4, "early": 0.3, "full": 0.3, "first_days": 0.0}
FIRST_DAYS = (1.0, 60.0)
#: Days kept before and after the brightest point (``LightCurves.around_peak``): the slowest transients
#: ZTF follows (superluminous SNe, TDEs) rise for up to ~100 days and fade for a few hundred. Detections
#: years away (host variability, subtraction artefacts) would squeeze the event into a few grid steps.
EVENT_WINDOW_DAYS = (100.0, 300.0)
AUX_INPUT_NAMES = ["log10_span_days"]
TIME_CHANNEL_NAMES = ["time_days_over_100", "log10_span_days"]
#: What ``age_input`` adds to both: the days from the object's first detection (``models.AUX_INPUTS``).
AGE_INPUT = "log10_age_days"
CLASS_WEIGHT_POWER = 0.5
BATCH_SIZE = 64
LEARNING_RATE = 2e-3  # Adam's, at the start of a cosine decay to 5% of it
#: Fine-tuning the LSST general network on the labelled alerts (``train(alerts_in_general=True)``): from the
#: PLAsTiCC-only network, on PLAsTiCC and the alerts, for a few epochs at a quarter of the learning rate.
FINE_TUNE_EPOCHS = 6
FINE_TUNE_LEARNING_RATE = 5e-4
#: Epochs of the real-data expert (0: none); its weight files are named EXPERT_PREFIX + the general one's.
EXPERT_EPOCHS = 30
EXPERT_PREFIX = "expert_"
#: The PLAsTiCC points of a forced-photometry model (``read_plasticc(forced=True)``), as its card says.
FORCED_POINTS = (f"every epoch from {PRECOVERY_DAYS:g} days before the first detection to the last detection "
                 "(forced photometry), signed flux")
#: The PLAsTiCC-only network that the LSST general networks are fine-tuned from (not kept).
PLASTICC_ONLY = "plasticc_only.weights.h5"


def fold_of(object_ids, n_folds: int) -> np.ndarray:
    """Cross-validation fold (0..n_folds-1) of each object, from a hash of its id (stable across runs)."""
    return np.array([zlib.crc32(str(i).encode()) % n_folds for i in object_ids], dtype=np.int64)


def ztf_like_points(points: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One ZTF-like realisation of simulated points: rescaled to a ZTF peak, ZTF noise, detections only."""
    snr = np.abs(points["flux_fluxcal"]) / points["fluxerr_fluxcal"]
    peak = np.abs(points["flux_fluxcal"]).where(snr >= 3.0).groupby(points["object_id"]).transform("max")
    objects = points["object_id"].unique()
    target_mag = pd.Series(rng.uniform(*PEAK_MAG_RANGE, len(objects)), index=objects)
    factor = (mag_to_fluxcal(target_mag.reindex(points["object_id"]).to_numpy(), 0.0)[0] / peak.to_numpy())
    flux = points["flux_fluxcal"].to_numpy() * factor
    depth = mag_to_fluxcal(rng.normal(*ZTF_DEPTH_MAG, len(points)), 0.0)[0] / DETECTION_SNR
    extra_sigma = np.hypot(depth, CALIBRATION_FLOOR * flux)
    flux = flux + rng.normal(0.0, 1.0, len(points)) * extra_sigma
    fluxerr = np.hypot(points["fluxerr_fluxcal"].to_numpy() * factor, extra_sigma)
    out = points.assign(flux_fluxcal=flux, fluxerr_fluxcal=fluxerr)
    with np.errstate(invalid="ignore"):
        return out[np.isfinite(factor) & (np.abs(flux) >= DETECTION_SNR * fluxerr)]


def history_draw(points: pd.DataFrame, rng: np.random.Generator, history_days: float,
                 kinds: dict = HISTORY_KINDS) -> pd.DataFrame:
    """The points an alert would carry at a detection drawn at random, of a kind drawn from ``kinds`` (see
    ``HISTORY_KINDS``); an alert's history is the last ``history_days``. Points are detections unless a
    ``detected`` column says which are (forced photometry: the other epochs come along, the alert and the
    first detection are detections)."""
    points = points.sort_values(["object_id", "mjd"], kind="stable")
    codes, objects = pd.factorize(points["object_id"])
    counts = np.bincount(codes, minlength=len(objects))
    mjd = points["mjd"].to_numpy()
    detected_rows = np.flatnonzero(points["detected"].to_numpy()) if "detected" in points else np.arange(len(mjd))
    if len(detected_rows) == 0:
        return points.iloc[:0]
    n_detected = np.bincount(codes[detected_rows], minlength=len(objects))
    first_detected = np.concatenate([[0], np.cumsum(n_detected)[:-1]])  # into detected_rows
    kind = np.array(list(kinds))[rng.choice(len(kinds), size=len(objects), p=list(kinds.values()))]
    alert_row = detected_rows[np.minimum(first_detected + rng.integers(0, np.maximum(n_detected, 1)),
                                         len(detected_rows) - 1)]
    end_row = np.where(kind == "full", np.cumsum(counts) - 1, alert_row)
    first_mjd = mjd[detected_rows[np.minimum(first_detected, len(detected_rows) - 1)]]
    first_days = np.exp(rng.uniform(*np.log(FIRST_DAYS), len(objects))) if kinds.get("first_days") else 0.0
    end = np.where(n_detected == 0, -np.inf, np.where(kind == "first_days", first_mjd + first_days, mjd[end_row]))
    start = np.where(kind == "alert", end - history_days, -np.inf)
    return points[(mjd <= end[codes]) & (mjd > start[codes])]


def training_draws(data: LabelledPoints, n_draws: int, rng: np.random.Generator, simulate_ztf: bool,
                   history_days: float, kinds: dict = HISTORY_KINDS):
    """``n_draws`` history draws per object. Returns ``(LabelledPoints, origin)``: draws get new integer ids,
    ``origin`` (Series draw id -> original object id) keeps the link for cross-validation; each draw keeps the
    MJD of its object's first detection (``first_detection_mjd``), which a drawn alert history may start after."""
    parts, labels, origins, firsts = [], [], [], []
    codes = pd.Index(data.labels.index).get_indexer(data.points["object_id"])
    for draw in range(n_draws):
        points = data.points.assign(object_id=codes)
        points = ztf_like_points(points, rng) if simulate_ztf else points
        offset = draw * len(data.labels)
        first = detected_mjd_by_object(points).min()
        firsts.append(pd.Series(first.to_numpy(), index=first.index.to_numpy() + offset))
        points = history_draw(points, rng, history_days, kinds)
        parts.append(points.assign(object_id=points["object_id"] + offset))
        labels.append(data.labels.to_numpy())
        origins.append(data.labels.index.to_numpy())
    ids = np.arange(n_draws * len(data.labels))
    return (LabelledPoints(pd.concat(parts, ignore_index=True), pd.Series(np.concatenate(labels), index=ids), data.bands,
                           pd.concat(firsts)),
            pd.Series(np.concatenate(origins), index=ids))


def alert_points(alerts: LabelledAlerts) -> LabelledPoints:
    """The points of each alert of ``alerts`` as an object of its own (id: the alert's position), with a
    ``detected`` column: every point, or with forced photometry (``first_detection_jd``) those from the first
    detection on with |flux| >= ``DETECTION_SNR`` errors (Rubin's 5-sigma detections)."""
    lightcurves = alerts.lightcurves()
    alert, position = np.nonzero(lightcurves.mask)
    flux = lightcurves.flux_fluxcal[alert, position]
    fluxerr = lightcurves.fluxerr_fluxcal[alert, position]
    jd = lightcurves.jd_first[alert] + lightcurves.time_days[alert, position]
    detected = np.ones(len(jd), dtype=bool)
    if alerts.first_detection_jd is not None:
        detected = (jd >= alerts.first_detection_jd[alert]) & (np.abs(flux) >= DETECTION_SNR * fluxerr)
    points = pd.DataFrame({"object_id": alert, "mjd": jd - MJD_TO_JD, "band": lightcurves.band[alert, position],
                           "flux_fluxcal": flux, "fluxerr_fluxcal": fluxerr, "detected": detected})
    labels = pd.Series(alerts.labels.to_numpy(), index=np.arange(len(alerts.labels)))
    return LabelledPoints(points, labels, tuple(ADAPTERS[alerts.survey].BANDS))


def earlier_alert_draws(alerts: LabelledAlerts, n_draws: int, rng: np.random.Generator, history_days: float):
    """``n_draws`` earlier alerts per alert: its points up to one of its detections drawn at random, the last
    ``history_days`` (``history_draw``'s ``alert`` kind), as the object's alert of that night would have held
    them. Returns ``(LabelledPoints, origin)``, ``origin`` the object id (``alerts.labels.index``) of each draw."""
    draws, alert = training_draws(alert_points(alerts), n_draws, rng, False, history_days, {"alert": 1.0})
    return draws, pd.Series(alerts.labels.index.to_numpy()[alert.to_numpy()], index=alert.index)


def gp_preparation(survey: str, fit_max_points: Optional[int] = None, n_times: int = N_TIMES) -> GPPreparation:
    """What the GP keeps of the light curves of a ``survey`` model trained here (written in its card), with its
    hyperparameters fitted on at most ``fit_max_points`` of those points (None: all) and its mean evaluated at
    ``n_times`` regular times."""
    adapter = ADAPTERS[survey]
    return GPPreparation(EVENT_WINDOW_DAYS, adapter.BIN_DAYS, adapter.GP_MAX_POINTS, fit_max_points, n_times)


def preprocess(data: LabelledPoints, wavelengths_a, preparation: GPPreparation, min_bands: int = 2):
    """GP inputs of the objects that pass the light-curve cuts (>= 2 points in >= ``min_bands`` bands), as at
    inference (``preparation``: what the GP keeps of each light curve, as the card will say).

    Returns ``(selected (k,) positions in data.labels, gp_flux (k, T, B), span_days (k,), age_days (k,))``.
    """
    lightcurves = data.lightcurves()
    status = apply_cuts(lightcurves, SelectionCuts(min_bands=min_bands))
    selected, gp_flux, span_days, age_days, _ = gp_inputs(lightcurves, status, wavelengths_a, preparation,
                                                          first_detection_jd=data.first_detection())
    return selected, gp_flux, span_days, age_days


def class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes,) weight of each class index in ``labels``: ``(n_max / n_class) ** CLASS_WEIGHT_POWER``.

    A class absent from ``labels`` counts as one sample.
    """
    counts = np.maximum(np.bincount(labels, minlength=n_classes), 1)
    return (counts.max() / counts) ** CLASS_WEIGHT_POWER


def fit_network(x, aux, y, weights, seed: int, epochs: int, architecture: dict, n_classes: int = len(CLASSES),
                init_weights=None):
    """A t2 network fitted on inputs ``x`` (n, T, C), ``aux`` (n, A), class indices ``y`` (n,) < n_classes.

    From random weights, or fine-tuned from the weight file ``init_weights`` (same architecture and classes)
    with a learning rate ``FINE_TUNE_LEARNING_RATE``.
    """
    import keras

    from .t2net import build_network

    keras.utils.set_random_seed(seed)
    network = build_network(x.shape[1], x.shape[2], n_classes, aux.shape[1], **architecture)
    if init_weights is not None:
        network.load_weights(str(init_weights))
    steps = epochs * int(np.ceil(len(x) / BATCH_SIZE))
    rate = LEARNING_RATE if init_weights is None else FINE_TUNE_LEARNING_RATE
    schedule = keras.optimizers.schedules.CosineDecay(rate, decay_steps=steps, alpha=0.05)
    network.compile(optimizer=keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy")
    network.fit([x, aux], y, sample_weight=weights, batch_size=BATCH_SIZE, epochs=epochs, shuffle=True, verbose=0)
    return network


def _single_threaded_worker():
    """Initializer of a training worker process: one TF/BLAS thread, set before TF starts."""
    from .bench import pin_single_thread

    pin_single_thread()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _fit_and_save(path, x, aux, y, weights, seed, epochs, architecture, n_classes, init_weights=None) -> int:
    """Fit one network (in a worker process) and save its weights to ``path``; returns its parameter count."""
    network = fit_network(x, aux, y, weights, seed, epochs, architecture, n_classes, init_weights)
    network.save_weights(str(path))
    return int(network.count_params())


@dataclass
class FitPlan:
    """The networks of one model, planned before any is fitted.

    ``fits``: weight file -> (samples it is fitted on (n,) bool, their class indices (n,), epochs, number of
    classes, the weight file it starts from or None); on inputs ``x`` (n, T, C) and ``aux`` (n, A).
    ``class_weights``: each fit's (n_classes,). ``card``: the model card but for what fitting tells (its files'
    checksums, class weights, parameter count and seconds). ``uses``: the weight files the model ships.
    """

    out: Path
    seed: int
    architecture: dict
    x: np.ndarray
    aux: np.ndarray
    fits: dict
    class_weights: dict
    uses: dict
    card: dict


def train(out: Path, seed: int = 0, workers: Optional[int] = None, **recipe) -> dict:
    """Train the model of ``plan_fits(out, seed, **recipe)`` into ``out`` (weights folder; the card goes to
    ``out.parent / (out.name + '.json')``), export its ONNX graphs and return its card.

    The networks are fitted ``workers`` at a time (default: one per CPU core), each in its own process with
    one thread: these small networks use a core far better that way than one network on several threads
    (measured 1.5x the throughput on 2 cores). The ONNX graphs that inference runs are exported last
    (``onnx_export``).
    """
    from .onnx_export import export_onnx

    start_time = time.perf_counter()
    plan = plan_fits(out, seed, **recipe)
    n_parameters = fit_all([plan], workers, start_time)[0]
    card_path = write_card(plan, n_parameters, time.perf_counter() - start_time)
    card = export_onnx(card_path)
    log.info("wrote %s and %s (weights and ONNX graphs)", card_path, plan.out)
    return card


def train_ensemble(out: Path, seeds, workers: Optional[int] = None, **recipe) -> dict:
    """Train one model of ``plan_fits(..., **recipe)`` per seed of ``seeds`` and write their seed ensemble
    (``ensemble.combine``) into ``out``; returns its card.

    Every member's networks are fitted in one pool of ``workers`` processes (see ``train``), those that
    others start from first, so that no core waits for one member's last fit while another's are left.
    The members' own folders are removed once combined; the card's ``training.seconds`` is the whole run's
    (up to the last fit, as a single model's).
    """
    import tempfile

    from .ensemble import combine

    if len(seeds) < 2 or len(set(seeds)) < len(seeds):
        raise ValueError(f"an ensemble needs at least two members, each with a seed of its own; got seeds {seeds}")
    start_time = time.perf_counter()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{out.name}.members-", dir=out.parent) as members:
        plans = [plan_fits(Path(members) / f"seed{seed}" / out.name, seed, **recipe) for seed in seeds]
        counts = fit_all(plans, workers, start_time)
        seconds = time.perf_counter() - start_time  # the members' fits are not timed apart
        card_paths = [write_card(plan, n_parameters, seconds) for plan, n_parameters in zip(plans, counts)]
        card = combine(card_paths, out)
    card["training"]["seconds"] = round(seconds)  # as a single model's: the fits, not the ONNX export
    card["training"]["members_fitted"] = "together, in one run (fink-t2 train --seed with several seeds)"
    card_path = out.parent / f"{out.name}.json"
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    log.info("wrote %s and %s (an ensemble of %d members)", card_path, out, len(plans))
    return card


def plan_fits(out: Path, seed: int = 0, ztf_tables=(), n_folds: int = 5, plasticc_dir=None,
              plasticc_draws: int = 1, ztf_draws: int = 10, epochs: int = 30, expert_epochs: int = EXPERT_EPOCHS,
              architecture=None, survey: str = "ztf", history_kinds: Optional[dict] = None, real_alerts=None,
              alerts_in_general: bool = False, forced: bool = False, alert_draws: int = 0, min_bands: int = 2,
              non_supernova_tables=(), expert_non_supernovae: bool = True, redshift_draws: int = 0,
              fine_tune_epochs: int = FINE_TUNE_EPOCHS, gp_fit_max_points: Optional[int] = None,
              n_times: int = N_TIMES, age_input: bool = False) -> FitPlan:
    """The training samples and networks of one model (``FitPlan``), drawn with ``seed``, to be fitted into
    ``out``.

    ``survey`` (``surveys.ADAPTERS``) chooses the bands, wavelengths and alert history (the survey's
    ``BANDS``, ``WAVELENGTHS_A``, ``HISTORY_DAYS``) and how PLAsTiCC is drawn: ZTF-like g r, or as simulated.

    With ``ztf_tables`` (labelled real ZTF light curves, ``datasets.read_ztf_tables``) those objects join the
    training set and ``n_folds`` fold models are trained too, each without the
    objects of its fold (by objectId, across the tables), for cross-validated evaluation (``n_folds=0``: the
    shipped networks alone, and a card without ``cv``); the real
    non-supernovae of ``non_supernova_tables`` (``datasets.NON_SUPERNOVA_CLASSES``) join them. Unless
    ``expert_epochs`` is 0, a real-data expert (see ``t2net.with_expert``) is trained on those objects alone,
    over the classes they hold (without the non-supernova classes unless ``expert_non_supernovae``), with its
    own fold models. ``redshift_draws`` adds that many copies of each real object with a redshift in its table,
    moved to another redshift (``augment.redshifted``), one history draw each, in the fold of their object.
    For LSST, ``real_alerts`` (a folder of labelled ELAsTiCC alerts, ``datasets.read_elasticc``) trains the
    expert, one sample per alert as it was received (and ``alert_draws`` earlier alerts of each,
    ``earlier_alert_draws``), with folds by ``SNID``; the general network sees PLAsTiCC only, so its fold files
    are copies of it, unless ``alerts_in_general``: then each general network (the shipped one and fold k's) is
    fine-tuned from the PLAsTiCC-only one on PLAsTiCC and the alerts (fold k's without those of fold k),
    ``fine_tune_epochs`` epochs each. ``gp_fit_max_points``: the GP hyperparameters of every light curve fitted
    on at most that many of its points (``gp.interpolate``), as inference then does from the card; ``n_times``:
    the regular times of the GP mean, the networks' input length (the card says it too). Training
    samples need >= 2 points in >= ``min_bands`` bands (1: single-band light curves are learned too).
    ``forced`` (LSST): light curves with forced photometry, every PLAsTiCC epoch and the alerts'
    ``prvDiaForcedSources``; the card says so and inference then reads them. ``age_input`` (ZTF): the networks
    also read each light curve's age, the days since its object's first detection (``AGE_INPUT``), which tells
    an alert's last 30 days of an older object from a young one (inference reads it from ``jdstarthist``).
    """
    from .t2net import ARCHITECTURE_DEFAULTS

    out = Path(out)
    architecture = {**ARCHITECTURE_DEFAULTS, **(architecture or {})}
    rng = np.random.default_rng(seed)
    adapter = ADAPTERS[survey]
    config = {"bands": adapter.BANDS, "wavelengths_a": adapter.WAVELENGTHS_A, "history_days": adapter.HISTORY_DAYS,
              "simulate_ztf": survey == "ztf"}
    ztf_tables, non_supernova_tables = list(ztf_tables or []), list(non_supernova_tables or [])
    kinds = history_kinds or HISTORY_KINDS
    if n_folds < 0 or n_folds == 1:
        raise ValueError(f"n_folds must be 0 (no cross-validation) or at least 2; got {n_folds}")
    if non_supernova_tables and not ztf_tables:
        raise ValueError("non_supernova_tables join the real ZTF light curves: give ztf_tables too")
    if ztf_tables and survey != "ztf":
        raise ValueError("real ZTF light curves (ztf_tables) train ZTF models only")
    if (real_alerts is not None or alerts_in_general) and survey != "lsst":
        raise ValueError("labelled ELAsTiCC alerts (real_alerts) train LSST models only")
    if forced and survey != "lsst":
        raise ValueError("forced photometry (forced) trains LSST models only")
    if age_input and survey != "ztf":
        raise ValueError("age_input trains ZTF models only: the Rubin readers do not date the first detection yet")
    if alerts_in_general and real_alerts is None:
        raise ValueError("alerts_in_general: give the labelled ELAsTiCC alerts (real_alerts) to train on")
    plasticc = read_plasticc("train", plasticc_dir, config["bands"], forced)
    sets = [("plasticc", *training_draws(plasticc, plasticc_draws, rng, config["simulate_ztf"], config["history_days"],
                                         kinds))]
    if ztf_tables:
        real_points = read_ztf_tables(ztf_tables, non_supernova_tables)
        sets.append(("ztf", *training_draws(real_points, ztf_draws, rng, False, config["history_days"],
                                            kinds)))
        if redshift_draws:
            copies, copy_origin = redshifted(real_points, read_redshifts(ztf_tables), redshift_draws, rng,
                                             config["wavelengths_a"], DETECTION_SNR)
            draws, origin = training_draws(copies, 1, rng, False, config["history_days"], kinds)
            sets.append(("ztf redshifted", draws, origin.map(copy_origin)))
    if real_alerts is not None:
        alerts = read_elasticc(real_alerts, forced)
        sets.append(("elasticc", alerts, pd.Series(alerts.labels.index.to_numpy())))
        if alert_draws:
            sets.append(("elasticc earlier alerts", *earlier_alert_draws(alerts, alert_draws, rng,
                                                                          config["history_days"])))

    flux_parts, span_parts, age_parts, y_parts, fold_parts = [], [], [], [], []
    class_index = {name: i for i, name in enumerate(CLASSES)}
    preparation = gp_preparation(survey, gp_fit_max_points, n_times)
    for name, draws, origin in sets:
        selected, gp_flux, span_days, age_days = preprocess(draws, config["wavelengths_a"], preparation, min_bands)
        labels = draws.labels.to_numpy()[selected]
        log.info("%s: %d draws of %d objects, %d pass the cuts", name, len(draws.labels), origin.nunique(), len(selected))
        flux_parts.append(gp_flux)
        span_parts.append(span_days)
        age_parts.append(age_days)
        y_parts.append(np.array([class_index[c] for c in labels]))
        # fold of each real sample (all 0 without cross-validation), -1 for the simulated ones
        folds = (np.full(len(selected), -1) if name == "plasticc" else
                 fold_of(origin.to_numpy()[selected], n_folds) if n_folds else np.zeros(len(selected), dtype=np.int64))
        fold_parts.append(folds)
    gp_flux, span_days, age_days, y, folds = (np.concatenate(p) for p in (flux_parts, span_parts, age_parts, y_parts,
                                                                         fold_parts))
    # Scaling fitted on the simulated set only: no real object leaks into it.
    age_names = [AGE_INPUT] if age_input else []
    inputs = {"input_scaling": fit_scaling(flux_parts[0]), "time_channels": TIME_CHANNEL_NAMES + age_names,
              "aux_inputs": AUX_INPUT_NAMES + age_names}
    x, aux = network_inputs(gp_flux, span_days, inputs, age_days)
    log.info("seed %d: %d training samples", seed, len(y))

    out.mkdir(parents=True, exist_ok=True)
    real = folds >= 0  # the real samples (none without ztf_tables or real_alerts)
    # which samples each model file leaves out: none, or the real objects of fold k
    uses = {"model.weights.h5": np.ones(len(y), dtype=bool)}
    if real.any():
        uses.update({f"fold{k}.weights.h5": folds != k for k in range(n_folds)})
    # weight file -> (samples it is fitted on, their class indices, epochs, number of classes, initial weights)
    if survey == "ztf":  # every general fit sees the real light curves of its folds
        fits = {f: (use, y, epochs, len(CLASSES), None) for f, use in uses.items()}
    elif alerts_in_general:  # fine-tuned from a network that saw PLAsTiCC only
        fits = {PLASTICC_ONLY: (~real, y, epochs, len(CLASSES), None)}
        fits.update({f: (use, y, fine_tune_epochs, len(CLASSES), out / PLASTICC_ONLY) for f, use in uses.items()})
    else:  # PLAsTiCC only: one network serves every fold
        fits = {"model.weights.h5": (~real, y, epochs, len(CLASSES), None)}
    non_supernova_classes = set(NON_SUPERNOVA_CLASSES.values())
    expert_real = real if expert_non_supernovae else real & ~np.isin(y, [class_index[c] for c in non_supernova_classes])
    expert_group = np.unique(y[expert_real]) if expert_epochs > 0 else np.array([], int)
    if len(expert_group):
        y_expert = np.searchsorted(expert_group, y)  # the expert's own class index (meaningful where real)
        fits.update({EXPERT_PREFIX + f: (use & expert_real, y_expert, expert_epochs, len(expert_group), None)
                     for f, use in uses.items()})
    # Each fit weights the classes by its own samples; the card keeps the weights, which inference divides out.
    weights = {f: class_weights(labels[use], n_classes) for f, (use, labels, _, n_classes, _) in fits.items()}
    card = {
        "id": out.name,
        "description": f"t2 transformer (Allam & McEwen 2021) trained by fink-t2 on {survey.upper()}-like "
                       f"{'/'.join(config['bands'])} light curves{' with forced photometry' if forced else ''}.",
        "format": "keras3_weights",
        "source": None,  # the files' checksums, once fitted (write_card)
        "weights": "model.weights.h5",
        "architecture": architecture,
        "n_parameters": None,
        "classes": list(CLASSES),
        "survey": survey,
        "forced_photometry": forced,
        "bands": list(config["bands"]),
        "wavelengths_a": list(config["wavelengths_a"]),
        "n_times": preparation.n_times,
        "event_window_days": list(preparation.event_window_days),
        "bin_days": preparation.bin_days,
        "gp_max_points": preparation.max_points,
        "gp_fit_max_points": preparation.fit_max_points,
        **inputs,
        "class_weights": None,
        "training_data": {
            "plasticc_train": {"objects": int(sets[0][2].nunique()), "draws_per_object": plasticc_draws,
                               **({"ztf_like": {"peak_mag_range": PEAK_MAG_RANGE, "depth_mag": ZTF_DEPTH_MAG,
                                                "calibration_floor": CALIBRATION_FLOOR, "detection_snr": DETECTION_SNR}}
                                  if config["simulate_ztf"] else {"points": FORCED_POINTS if forced else
                                                                  "detected_bool == 1, signed flux"})},
            "history_kinds": kinds, "history_days": config["history_days"], "min_bands": min_bands,
            **({"first_days": FIRST_DAYS} if kinds.get("first_days") else {}),
            "samples": int(len(y)), "samples_per_class": {CLASSES[k]: int(n) for k, n in
                                                           zip(*np.unique(y, return_counts=True))},
            "class_weighting": f"(n_max / n_class) ** {CLASS_WEIGHT_POWER} per fit (class_weights), divided out"
                               " at inference",
        },
        "training": {"seed": seed, "epochs": epochs, "optimizer": f"Adam, cosine decay from {LEARNING_RATE}", "batch_size": BATCH_SIZE,
                     "seconds": None},
    }
    real_name = sets[1][0] if len(sets) > 1 else None
    if ztf_tables:
        names = [Path(t).name for t in ztf_tables]
        card["training_data"]["ztf"] = {"table": names[0] if len(names) == 1 else names,
                                        "objects": int(sets[1][2].nunique()),
                                        "draws_per_object": ztf_draws}
        if redshift_draws:
            card["training_data"]["ztf"]["redshifted"] = {
                "copies_per_object": redshift_draws, "objects": int(sets[2][2].nunique()),
                "redshift_factor_range": list(REDSHIFT_FACTOR_RANGE),
                "how": "augment.redshifted: GP at dilated times and shifted wavelengths, flux scaled by luminosity "
                       "distance, the real cadence and errors, noise added, detections kept"}
        if non_supernova_tables:
            card["training_data"]["ztf"]["non_supernovae"] = {
                "tables": [Path(t).name for t in non_supernova_tables], "classes": NON_SUPERNOVA_CLASSES,
                "in_expert": expert_non_supernovae,
                "objects_of_these_classes": int(real_points.labels.isin(non_supernova_classes).sum())}
        card["cv"] = {"folds": n_folds, "data": names[0] if len(names) == 1 else names,
                      "assignment": "zlib.crc32(str(objectId)) % folds"}
    if real_alerts is not None:
        card["training_data"]["elasticc"] = {"folder": Path(real_alerts).name, "alerts": len(sets[1][1].labels),
                                             "objects": int(sets[1][2].nunique()), "samples": "one per alert"
                                             + (f" and {alert_draws} earlier alert(s) of each, its points up to a"
                                                " detection drawn at random" if alert_draws else "")}
        card["cv"] = {"folds": n_folds, "data": Path(real_alerts).name, "assignment": "zlib.crc32(str(SNID)) % folds",
                      "general_network": (f"fine-tuned from a PLAsTiCC-only network on PLAsTiCC and the ELAsTiCC"
                                          f" alerts ({fine_tune_epochs} epochs, Adam from {FINE_TUNE_LEARNING_RATE}),"
                                          " fold k without those of fold k"
                                          if alerts_in_general else
                                          "saw no ELAsTiCC alert: the fold files are copies of model.weights.h5")}
    if real_name:
        card["cv"]["weights"] = [f"fold{k}.weights.h5" for k in range(n_folds)]
    if len(expert_group):
        card["description"] += (f" A second t2 network trained on the labelled {real_name.upper()} "
                                f"{'light curves' if real_name == 'ztf' else 'alerts'} alone shares out the"
                                " probability of the classes those hold.")
        if alerts_in_general:
            card["description"] += " The general network is fine-tuned on PLAsTiCC and those alerts."
        card["expert"] = {
            "classes": [CLASSES[k] for k in expert_group], "weights_prefix": EXPERT_PREFIX, "epochs": expert_epochs,
            "training_data": f"the labelled data of training_data.{real_name} alone (same samples and folds)",
            "samples_per_class": {CLASSES[k]: int(n) for k, n in zip(*np.unique(y[real], return_counts=True))},
        }
    if not n_folds:  # the shipped networks alone
        card.pop("cv", None)
    return FitPlan(out, seed, architecture, x, aux, fits, weights, uses, card)


def fit_all(plans, workers: Optional[int], start_time: float) -> list:
    """Fit the networks of every ``FitPlan`` of ``plans`` in one pool of ``workers`` processes (default: one
    per CPU core) and save each to its plan's folder; returns each plan's parameter count per weight file.

    The networks that others start from are queued first, and a fine-tuning as soon as the network it starts
    from is saved, so that no core waits idle while a fit is left to start.
    """
    n_parameters = [{} for _ in plans]
    with ProcessPoolExecutor(workers or os.cpu_count(), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_single_threaded_worker) as pool:

        def submit(i, filename):
            plan = plans[i]
            use, labels, n_epochs, n_classes, init = plan.fits[filename]
            return pool.submit(_fit_and_save, plan.out / filename, plan.x[use], plan.aux[use], labels[use],
                               plan.class_weights[filename][labels[use]], plan.seed, n_epochs, plan.architecture,
                               n_classes, init)

        starting_from = {}  # (plan, weight file) -> the fits that start from it
        for i, plan in enumerate(plans):
            for filename, (*_, init) in plan.fits.items():
                if init is not None:
                    starting_from.setdefault((i, Path(init).name), []).append(filename)
        first = sorted(((i, f) for i, plan in enumerate(plans) for f, (*_, init) in plan.fits.items() if init is None),
                       key=lambda job: job not in starting_from)  # stable: the starting points, then the others
        jobs = {submit(i, f): (i, f) for i, f in first}
        while jobs:
            done, _ = wait(jobs, return_when=FIRST_COMPLETED)
            for job in done:
                i, filename = jobs.pop(job)
                n_parameters[i][filename] = job.result()
                log.info("seed %d: %s: %d samples, %.0f s elapsed", plans[i].seed, filename,
                         plans[i].fits[filename][0].sum(), time.perf_counter() - start_time)
                jobs.update({submit(i, f): (i, f) for f in starting_from.get((i, filename), [])})
    return n_parameters


def write_card(plan: FitPlan, n_parameters: dict, seconds: float) -> Path:
    """Complete the card of ``plan`` once its networks are fitted (``n_parameters``: parameter count per weight
    file; ``seconds`` of training) and write it beside ``plan.out``; returns its path.

    The PLAsTiCC-only starting point is removed, and a general network that saw no real sample is copied to
    every fold file it serves; the card records each file's checksum and class weights.
    """
    out, weights, card = plan.out, dict(plan.class_weights), plan.card
    if PLASTICC_ONLY in weights:  # a starting point only
        (out / PLASTICC_ONLY).unlink()
        del weights[PLASTICC_ONLY]
    for filename in set(plan.uses) - set(plan.fits):  # a general network that saw no real sample serves every fold
        shutil.copyfile(out / "model.weights.h5", out / filename)
        weights[filename] = weights["model.weights.h5"]
    card["source"] = {"path": out.name, "sha256": {f: file_sha256(out / f) for f in weights}}
    card["n_parameters"] = sum(n_parameters[f] for f in ("model.weights.h5", EXPERT_PREFIX + "model.weights.h5")
                               if f in n_parameters)
    card["class_weights"] = {f: w.round(6).tolist() for f, w in weights.items()}
    card["training"]["seconds"] = round(seconds)
    card_path = out.parent / f"{out.name}.json"
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return card_path
