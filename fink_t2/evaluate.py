"""Model evaluation on labelled light curves: metrics JSON and plots a person can read.

Data sets: ``bts`` (real ZTF Bright Transient Survey light curves, the shared
``bts_dev`` table), ``plasticc-test`` (the held-out PLAsTiCC supernovae, g/r
detections as simulated for LSST), ``plasticc-test-ztf`` (the same objects
made ZTF-like as the training set is, seed 0) and ``tns-alerts`` (real Fink alerts of
TNS-typed objects, each scored from the history it carried: an alert-level score). A model
whose card records cross-validation on the evaluated table scores each object with the fold
model that did not see it; so does any cross-validated model on the TNS alerts.

Definitions: coverage = fraction of objects given a class (passing the survey's
light-curve cuts: ZTF >= 2 points in both bands; Rubin >= 2 points in >= 2 bands
over >= 0.5 days); accuracy and recall count an
unclassified object as wrong; precision is over the objects given that class;
log-loss is over classified objects, probabilities clipped at 1e-7; balanced accuracy
is the mean recall over the true classes present; macro-F1 the mean F1 over the
``MACRO_F1_CLASSES`` present (F1 = 0 for a class never predicted). Over the
classified objects whose true class the model has: the expected calibration error
(top label, 15 equal-width bins) and its reliability table; how well the uncertainty
ranks wrong answers (AUROC) and the accuracy of the most certain half. Thresholds:
for each class with at least ``THRESHOLD_MIN_SUPPORT`` objects, the lowest probability
threshold whose selection (every object, unclassified ones never selected) reaches
purity 0.90 and 0.95, with the efficiency (recall) there. Separation, threshold-free and blind to the class
priors (how well the probabilities rank, whatever the most probable class): over the classified objects, the
AUROC of each class's probability against the other objects (classes with at least ``THRESHOLD_MIN_SUPPORT``
classified objects), and of p(SN II) / (p(SN II) + p(SN Ia)) for telling SN II from SN Ia.
"""
import json
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np

from .classify import STATUS_OK, classify_batch, most_probable_class
from .cuts import apply_cuts
from . import ztf
from .datasets import (ELASTICC_CLASSES, NON_SUPERNOVA_CLASSES, TNS_TYPES, LabelledAlerts, LabelledPoints,
                       read_elasticc, read_plasticc, read_tns_alerts, read_ztf_table)
from .models import load_model, read_card, reads_forced_photometry
from .realdata import shared_data_dir
from .redshift import check_host_redshift
from .surveys import check_model_survey, default_cuts_for
from .training import fold_of

DATASETS = ("bts", "tns", "plasticc-test", "plasticc-test-ztf", "tns-alerts", "elasticc")
#: The data sets with forced photometry (every epoch, not only detections).
FORCED_DATASETS = ("elasticc", "plasticc-test")
#: Data set -> the file name a card's ``cv.data`` records when a model was cross-validated on it.
TABLE_FILES = {"bts": "bts_dev_lightcurves.parquet", "tns": "tns_lightcurves.parquet", "elasticc": "elasticc"}
PURITIES = (0.90, 0.95)
THRESHOLD_MIN_SUPPORT = 20
SUPERNOVA_CLASSES = ("SNIa", "SNII", "SNIbc")
#: Classes of the macro-F1, as in published ZTF light-curve classifiers (e.g. Superphot+, arXiv:2403.07975).
MACRO_F1_CLASSES = ("SNIa", "SNII", "SNIbc", "SLSN-I")
UNCLASSIFIED = "unclassified"


def bts_path() -> Path:
    return shared_data_dir() / "bts_dev" / "bts_dev_lightcurves.parquet"


def elasticc_path() -> Path:
    return shared_data_dir() / "rubin_alerts" / "elasticc"


def load_dataset(name: str, path=None, bands=ztf.BANDS, forced: bool = False):
    """The labelled points (``LabelledPoints``) or alerts (``LabelledAlerts``) of data set ``name`` (``path``
    overrides where it is read from); ``plasticc-test`` in ``bands`` (a model's); ``elasticc`` and
    ``plasticc-test`` with forced photometry if ``forced``."""
    if name == "bts":
        return read_ztf_table(path or bts_path())
    if name == "tns":  # the light curves of the TNS-typed objects whose type is a t2 class
        return read_ztf_table(path or shared_data_dir() / "tns_alerts" / TABLE_FILES["tns"], TNS_TYPES)
    if name == "tns-alerts":
        return read_tns_alerts(path or shared_data_dir() / "tns_alerts" / "alerts")
    if name == "elasticc":
        return read_elasticc(path or elasticc_path(), forced)
    if name == "plasticc-test":
        return read_plasticc("test", path, bands, forced)
    if name == "plasticc-test-ztf":  # as ZTF would see them: the training set's ZTF-like rendering, fixed seed
        from .training import ztf_like_points

        data = read_plasticc("test", path)
        return LabelledPoints(ztf_like_points(data.points, np.random.default_rng(0)), data.labels, data.bands)
    raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")


def scored_by_folds(card: dict, data_name: str, data_file: Optional[str]) -> bool:
    """True if each object must be scored by the fold model that did not see it: on bts when the model was
    cross-validated on that table, and on the TNS alerts (some of whose objects are in bts_dev) for any
    cross-validated model."""
    return cross_validated_on(card, data_file) or (data_name == "tns-alerts" and "cv" in card)


def cross_validated_on(card: dict, data_file: Optional[str]) -> bool:
    """True if the model's card records cross-validation on the table named ``data_file`` (one of them)."""
    tables = card.get("cv", {}).get("data")
    return bool(data_file) and data_file in (tables if isinstance(tables, list) else [tables])


def reads_forced(card: dict, data_name: str, forced: Optional[bool]) -> bool:
    """Whether ``data_name`` is read with forced photometry: ``forced``, by default as the model was trained
    (``models.reads_forced_photometry``), for the data sets that have it (``FORCED_DATASETS``)."""
    return reads_forced_photometry(card, forced) if data_name in FORCED_DATASETS else bool(forced)


def days_label(days: Optional[float]) -> str:
    return "all days" if days is None else f"first {days:g} days"


def predict(model_name: str, data, by_folds: bool = False, max_days: Optional[float] = None, calibrated: bool = True,
            min_bands: Optional[int] = None, redshift=None, redshift_err=None):
    """Probabilities (n, n_classes) and uncertainty (n,) with NaN where unclassified, and status (n,), in
    ``data.labels`` order (``data``: ``LabelledPoints`` or ``LabelledAlerts``).

    ``by_folds``: each object is scored by the card's cross-validation fold model that did not see it
    (its fold from its id, ``fold_of``), with that fold model's temperature and host-redshift densities, fitted
    without it. ``calibrated``: False leaves the temperature out. ``min_bands``: the band cut (default: as the
    model was trained, ``surveys.default_cuts_for``). ``redshift``, ``redshift_err`` (n,): the hosts' redshifts
    (see ``classify_batch``; None: unknown).
    """
    card = read_card(model_name)
    lightcurves = data.lightcurves(max_days)
    # the survey's cuts on the light curve; those on other alert fields (age, host, solar system) are skipped
    cuts = default_cuts_for(card) if min_bands is None else replace(default_cuts_for(card), min_bands=min_bands)
    status = apply_cuts(lightcurves, cuts)
    context = {"first_detection_jd": data.first_detection(), "redshift": redshift, "redshift_err": redshift_err}
    if not by_folds:
        return classify_batch(lightcurves, status, load_model(model_name, calibrated=calibrated), **context)
    cv = card["cv"]
    probabilities = np.full((len(status), len(card["classes"])), np.nan, dtype=np.float32)
    uncertainty = np.full(len(status), np.nan, dtype=np.float32)
    folds = fold_of(data.labels.index, cv["folds"])
    for k, weights in enumerate(cv["weights"]):
        rows = np.flatnonzero(folds == k)
        probabilities[rows], uncertainty[rows], status[rows] = classify_batch(
            lightcurves.subset(rows), status[rows], load_model(model_name, weights, calibrated=calibrated),
            **{name: None if values is None else np.asarray(values)[rows] for name, values in context.items()})
    return probabilities, uncertainty, status


def host_redshifts(data, photoz_scatter: Optional[float] = None):
    """``(redshift (n,), redshift_err (n,) or None)`` of a data set's objects (NaN where unknown). With
    ``photoz_scatter`` s, each is made a photometric-like redshift: moved by a normal error of s (1 + z), drawn
    with seed 0 and given as its error, clipped at 0.001."""
    redshift = data.host_redshift() if isinstance(data, LabelledPoints) else None
    if redshift is None or not np.isfinite(redshift).any():
        raise ValueError("this data set has no host redshifts (bts_dev's table does)")
    if not photoz_scatter:
        return redshift, None
    error = photoz_scatter * (1.0 + redshift)
    moved = redshift + np.random.default_rng(0).normal(size=len(redshift)) * error
    return np.where(np.isfinite(redshift), np.maximum(moved, 1e-3), np.nan), error


def auroc(scores: np.ndarray, positive: np.ndarray) -> Optional[float]:
    """Area under the ROC curve of ``scores`` for telling ``positive`` objects (Mann-Whitney, ties halved)."""
    from scipy.stats import rankdata

    n_positive, n_negative = int(positive.sum()), int((~positive).sum())
    if n_positive == 0 or n_negative == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative))


def separation(true_labels, probabilities: np.ndarray, status: np.ndarray, classes,
               min_support: int = THRESHOLD_MIN_SUPPORT) -> dict:
    """Over the classified objects: ``one_vs_rest`` class -> AUROC of its probability for telling its objects
    from the others, for the classes with at least ``min_support`` of them; ``SNII_vs_SNIa``, the AUROC of
    p(SN II) / (p(SN II) + p(SN Ia)) for telling SN II from SN Ia among the objects that are one of the two."""
    true_labels = np.asarray(true_labels, dtype=object)
    classified = np.asarray(status) == STATUS_OK
    column = {name: i for i, name in enumerate(classes)}
    truth, p = true_labels[classified], probabilities[classified]
    out = {"one_vs_rest": {name: auroc(p[:, column[name]], truth == name) for name in classes
                           if np.sum(truth == name) >= min_support}}
    if {"SNIa", "SNII"} <= set(column):
        pair = np.isin(truth, ["SNIa", "SNII"])
        out["SNII_vs_SNIa"] = auroc(snii_vs_snia(p[pair], classes), truth[pair] == "SNII")
    return out


def snii_vs_snia(probabilities: np.ndarray, classes) -> np.ndarray:
    """(n,) p(SN II) / (p(SN II) + p(SN Ia)) from ``probabilities`` (n, len(classes)): the score of ``separation``."""
    p_ii, p_ia = (probabilities[:, list(classes).index(name)] for name in ("SNII", "SNIa"))
    return p_ii / np.maximum(p_ii + p_ia, 1e-30)


def purity_thresholds(true_labels, probabilities: np.ndarray, classes) -> dict:
    """Class -> purity -> {threshold, efficiency, selected} (None where no threshold reaches it), for the
    classes with at least ``THRESHOLD_MIN_SUPPORT`` objects; unclassified objects are never selected."""
    out = {}
    for name in classes:
        is_true = np.asarray(true_labels) == name
        if is_true.sum() < THRESHOLD_MIN_SUPPORT:
            continue
        p = np.nan_to_num(probabilities[:, list(classes).index(name)], nan=-1.0)
        order = np.argsort(-p, kind="stable")
        true_sorted, p_sorted = is_true[order], p[order]
        # selecting every object with p >= p_sorted[k] selects the first k + 1 (ties: up to the last of them)
        last_of_tie = np.r_[p_sorted[1:] != p_sorted[:-1], True] & (p_sorted >= 0)
        hits = np.cumsum(true_sorted)
        purity = hits / np.arange(1, len(p) + 1)
        out[name] = {}
        for target in PURITIES:
            ok = np.flatnonzero(last_of_tie & (purity >= target))
            if len(ok) == 0:
                out[name][f"{target:.2f}"] = None
                continue
            k = ok.max()  # the lowest threshold reaching the purity: the largest selection
            out[name][f"{target:.2f}"] = {"threshold": round(float(p_sorted[k]), 4),
                                          "efficiency": round(float(hits[k] / is_true.sum()), 4),
                                          "selected": int(k + 1)}
    return out


def uncertainty_on_real_non_supernovae(model_name: str, exclude_ids=()) -> Optional[dict]:
    """The model's uncertainty on the real TNS-typed ZTF objects of ``tns_alerts`` (full light curves):
    median and quartiles per non-supernova type (``NON_SUPERNOVA_CLASSES``' TNS types) and for the supernovae,
    and the fraction of each called a supernova class. A cross-validated model scores each object by the fold
    model that did not see it (whether it trained on these objects or not); another model leaves out the objects
    in ``exclude_ids`` (seen in training). None without the data."""
    import pandas as pd

    from .datasets import DataError, tns_type

    path = shared_data_dir() / "tns_alerts" / "tns_lightcurves.parquet"
    try:
        tns_types = tns_type(pd.read_parquet(path, columns=["type"])["type"]).unique()
    except (DataError, FileNotFoundError, OSError):
        return None
    data = read_ztf_table(path, {name: name for name in tns_types})  # labelled by TNS type
    card = read_card(model_name)
    by_folds = "cv" in card
    if not by_folds:  # leave out the objects it trained on
        keep = ~data.labels.index.isin(list(exclude_ids))
        data = LabelledPoints(data.points, data.labels[keep], data.bands)
    probabilities, uncertainty, status = predict(model_name, data, by_folds)
    classes = np.array(card["classes"])
    called_supernova = np.array([c.startswith(("SN", "SLSN")) for c in classes])[
        np.nan_to_num(probabilities, nan=-1.0).argmax(axis=1)]
    labels = data.labels.to_numpy()
    groups = {name: labels == name for name in NON_SUPERNOVA_CLASSES}
    groups["supernovae"] = np.array([t.startswith(("SN", "SLSN")) for t in labels])
    out = {}
    for name, rows in groups.items():
        rows = rows & (status == STATUS_OK)
        if not rows.any():
            continue
        q25, q50, q75 = np.percentile(uncertainty[rows], [25, 50, 75])
        out[name] = {"objects": int(rows.sum()), "median": round(float(q50), 4), "q25": round(float(q25), 4),
                     "q75": round(float(q75), 4), "called_supernova": round(float(called_supernova[rows].mean()), 4)}
    return out


def fink_classifiers_on_elasticc(folder) -> dict:
    """What Fink's classifiers of 2023, recorded in the ELAsTiCC alert files, said of the same alerts: SuperNNova
    (``snn_snia_vs_nonia > 0.5`` means SN Ia) and CATS (``cats_fine_class``: 111 SN Ia, 113 SN II), per true class:
    the alerts they scored and the fraction called SN Ia, and SN II. A SuperNNova score of exactly 0 (23% of the
    alerts) is Fink's value for an alert it did not score; CATS has no such value, so all its alerts count."""
    import pandas as pd

    out = {}
    for code, name in ELASTICC_CLASSES.items():
        files = sorted((Path(folder) / f"classId={code}").glob("*.parquet"))
        table = pd.concat([pd.read_parquet(f, columns=["snn_snia_vs_nonia", "cats_fine_class"]) for f in files])
        snn = table["snn_snia_vs_nonia"].astype(float)
        snn = snn[(snn > 0) & (snn <= 1)]
        cats = table["cats_fine_class"].dropna().astype(int)
        out[name] = {"alerts": int(len(table)),
                     "supernnova": {"scored": int(len(snn)), "called_SNIa": round(float((snn > 0.5).mean()), 4)},
                     "cats": {"scored": int(len(cats)), "called_SNIa": round(float((cats == 111).mean()), 4),
                              "called_SNII": round(float((cats == 113).mean()), 4)}}
    return out


def calibration_of(true_labels, probabilities: np.ndarray, status: np.ndarray, classes) -> dict:
    """ECE and reliability table over the classified objects whose true class the model has ({} if none)."""
    from .calibrate import expected_calibration_error, reliability

    index = {name: i for i, name in enumerate(classes)}
    labels = np.array([index.get(t, -1) for t in true_labels])
    known = (np.asarray(status) == STATUS_OK) & (labels >= 0)
    if not known.any():
        return {}
    return {"ece": expected_calibration_error(probabilities[known], labels[known]),
            "reliability": reliability(probabilities[known], labels[known])}


def metrics(true_labels, probabilities: np.ndarray, status: np.ndarray, classes, uncertainty=None) -> dict:
    """Accuracy, coverage, log-loss, per-class recall/precision, confusion matrix, calibration,
    uncertainty and purity thresholds (see module notes)."""
    true_labels = np.asarray(true_labels, dtype=object)
    predicted = most_probable_class(probabilities, status, classes)
    predicted = np.where(predicted == "", UNCLASSIFIED, predicted)
    classified = np.asarray(status) == STATUS_OK
    correct = predicted == true_labels
    present, support = np.unique(true_labels, return_counts=True)
    present = present[np.argsort(-support, kind="stable")]
    per_class = {}
    for name in present:
        is_true, is_predicted = true_labels == name, predicted == name
        per_class[name] = {"support": int(is_true.sum()), "recall": float(correct[is_true].mean()),
                           "recall_classified": float(correct[is_true & classified].mean())
                           if (is_true & classified).any() else None,
                           "precision": float(correct[is_predicted].mean()) if is_predicted.any() else None}
    columns = list(classes) + [UNCLASSIFIED]
    confusion = [[int(((true_labels == t) & (predicted == p)).sum()) for p in columns] for t in present]
    index = {name: i for i, name in enumerate(classes)}
    p_true = np.array([probabilities[i, index[t]] if t in index else 0.0 for i, t in enumerate(true_labels)])
    sn_recalls = [per_class[c]["recall"] for c in SUPERNOVA_CLASSES if c in per_class]
    f1 = [2 * c["precision"] * c["recall"] / (c["precision"] + c["recall"]) if c["precision"] else 0.0
          for name, c in per_class.items() if name in MACRO_F1_CLASSES]
    known = classified & np.isin(true_labels, list(classes))
    calibration = calibration_of(true_labels, probabilities, status, classes)
    certainty = {}
    if uncertainty is not None and known.any():
        wrong = ~correct[known]
        order = np.argsort(uncertainty[known], kind="stable")
        certainty = {"auroc_misclassified": auroc(uncertainty[known], wrong),
                     "accuracy_most_certain_half": float((~wrong[order[: (len(order) + 1) // 2]]).mean()),
                     "median": float(np.median(uncertainty[known]))}
    return {
        "objects": int(len(true_labels)),
        "coverage": float(classified.mean()),
        "accuracy": float(correct.mean()),
        "accuracy_classified": float(correct[classified].mean()) if classified.any() else None,
        "mean_recall_SNIa_SNII_SNIbc": float(np.mean(sn_recalls)) if sn_recalls else None,
        "balanced_accuracy": float(np.mean([c["recall"] for c in per_class.values()])),
        "macro_f1_SNIa_SNII_SNIbc_SLSN": float(np.mean(f1)) if f1 else None,
        "log_loss": float(-np.log(np.clip(p_true[classified], 1e-7, 1.0)).mean()) if classified.any() else None,
        "per_class": per_class,
        "confusion": {"true": list(present), "predicted": columns, "counts": confusion},
        "status_counts": {s: int(n) for s, n in zip(*np.unique(np.asarray(status, dtype=str), return_counts=True))},
        "calibration": calibration,
        "uncertainty": certainty,
        "thresholds": purity_thresholds(true_labels, probabilities, classes),
        "separation": separation(true_labels, probabilities, status, classes),
    }


def plot(result: dict, out: Path, title: str):
    """Write ``confusion.png`` (row-normalised) and ``precision_recall.png`` into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = result["confusion"]
    counts = np.array(confusion["counts"], dtype=float)
    used = counts.sum(axis=0) > 0
    used[[confusion["predicted"].index(t) for t in confusion["true"] if t in confusion["predicted"]]] = True
    counts, predicted = counts[:, used], np.array(confusion["predicted"])[used]
    fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(predicted), 1.5 + 0.6 * len(confusion["true"])))
    ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, f"{fractions[i, j]:.2f}\n({int(n)})", ha="center", va="center", fontsize=7,
                color="white" if fractions[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(predicted)), predicted, rotation=45, ha="right")
    ax.set_yticks(range(len(confusion["true"])), confusion["true"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{title}\naccuracy {result['accuracy']:.3f}, coverage {result['coverage']:.3f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "confusion.png", dpi=120)
    plt.close(fig)

    names = list(result["per_class"])
    recall = [result["per_class"][c]["recall"] for c in names]
    precision = [result["per_class"][c]["precision"] or 0.0 for c in names]
    fig, ax = plt.subplots(figsize=(1.5 + 0.8 * len(names), 3.5))
    positions = np.arange(len(names))
    ax.bar(positions - 0.2, precision, 0.4, label="precision")
    ax.bar(positions + 0.2, recall, 0.4, label="recall")
    ax.set_xticks(positions, [f"{c}\n(n={result['per_class'][c]['support']})" for c in names], fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "precision_recall.png", dpi=120)
    plt.close(fig)

    if result["calibration"]:
        table = result["calibration"]["reliability"]
        edges, counts = np.array(table["edges"]), np.array(table["counts"])
        fig, (ax, ax_counts) = plt.subplots(2, 1, figsize=(4.5, 5.5), sharex=True, height_ratios=[3, 1])
        centres, width, used = (edges[1:] + edges[:-1]) / 2, edges[1] - edges[0], counts > 0
        accuracy, confidence = np.array(table["accuracy"], float), np.array(table["confidence"], float)
        ax.bar(centres[used], accuracy[used], width * 0.9, label="accuracy of the bin", color="tab:blue")
        ax.plot(confidence[used], accuracy[used], "o", color="tab:orange", markersize=4,
                label="at the bin's mean probability")
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=7, loc="upper left")
        ax.set_title(f"{title}\nECE {result['calibration']['ece']:.3f} (top label, {len(counts)} bins)", fontsize=9)
        ax_counts.bar(centres, counts, width * 0.9, color="grey")
        ax_counts.set_xlabel("top-label probability")
        ax_counts.set_ylabel("objects")
        fig.tight_layout()
        fig.savefig(out / "reliability.png", dpi=120)
        plt.close(fig)


def summary(result: dict) -> dict:
    """The headline figures of an evaluation: what the model card records."""
    keys = ("cross_validated", "objects", "coverage", "accuracy", "mean_recall_SNIa_SNII_SNIbc", "balanced_accuracy",
            "macro_f1_SNIa_SNII_SNIbc_SLSN", "log_loss")
    out = {key: round(result[key], 4) if isinstance(result[key], float) else result[key] for key in keys}
    out.update({key: round(value, 4) for key, value in result["calibration"].items() if key.startswith("ece")})
    rounded = lambda value: None if value is None else round(value, 4)  # noqa: E731
    out.update({f"uncertainty_{key}": rounded(value) for key, value in result["uncertainty"].items()})
    out["thresholds"] = result["thresholds"]
    out["auroc_SNII_vs_SNIa"] = rounded(result["separation"].get("SNII_vs_SNIa"))
    out["auroc_one_vs_rest"] = {name: rounded(value) for name, value in result["separation"]["one_vs_rest"].items()}
    out["recall"] = {name: round(c["recall"], 3) for name, c in result["per_class"].items()}
    out["recall_classified"] = {name: None if c["recall_classified"] is None else round(c["recall_classified"], 3)
                                for name, c in result["per_class"].items()}
    if "fink_classifiers" in result:
        out["fink_classifiers"] = result["fink_classifiers"]
    if result.get("tns_uncertainty"):
        out["tns_called_supernova"] = {name: group["called_supernova"]
                                       for name, group in result["tns_uncertainty"].items()}
    out["precision"] = {name: None if c["precision"] is None else round(c["precision"], 3)
                        for name, c in result["per_class"].items()}
    return out


def record(model_name: str, result: dict):
    """Store ``summary(result)`` in the model card, under ``metrics[DATA, days D|all]``."""
    from .models import card_path

    path = card_path(model_name)
    card = json.loads(path.read_text())
    key = f"{result['data']}, {days_label(result['days'])}"
    card.setdefault("metrics", {})[key] = summary(result)
    path.write_text(json.dumps(card, indent=2) + "\n")


def data_label(data_name: str, forced: bool = False, host_redshift: bool = False,
               photoz_scatter: Optional[float] = None) -> str:
    """How the card's metrics name a data set read a given way, e.g. ``bts with host redshift``."""
    label = data_name + ("+forced" if forced else "")
    if photoz_scatter:
        return f"{label} with host photo-z (error {photoz_scatter:g}(1+z))"
    return label + (" with host redshift" if host_redshift else "")


def evaluate(model_name: str, data_name: str, days: Optional[float] = None, out=None, path=None,
             forced: Optional[bool] = None, min_bands: Optional[int] = None, host_redshift: bool = False,
             photoz_scatter: Optional[float] = None) -> dict:
    """Metrics of ``model_name`` on ``data_name`` (first ``days`` after the first detection, or all; ``forced``:
    ELAsTiCC alerts with their forced photometry, by default where the model was trained on it; ``min_bands``:
    the band cut, by default the model's; ``host_redshift``: the table's redshifts given to the model, made
    photometric-like with ``photoz_scatter``, see ``host_redshifts``); with ``out``, also ``metrics.json`` and
    the plots there."""
    card = read_card(model_name)
    forced = reads_forced(card, data_name, forced)
    if forced and data_name not in FORCED_DATASETS:
        raise ValueError(f"forced photometry is in {' and '.join(FORCED_DATASETS)} only")
    host_redshift = host_redshift or bool(photoz_scatter)
    if host_redshift:
        check_host_redshift(card)
    data = load_dataset(data_name, path, tuple(card["bands"]), forced)
    if isinstance(data, LabelledAlerts):
        check_model_survey(card, data.survey)
    data_file = (Path(path).name if path else TABLE_FILES[data_name]) if data_name in TABLE_FILES else None
    by_folds = scored_by_folds(card, data_name, data_file)
    redshift, redshift_err = host_redshifts(data, photoz_scatter) if host_redshift else (None, None)
    options = {"min_bands": min_bands, "redshift": redshift, "redshift_err": redshift_err}
    probabilities, uncertainty, status = predict(model_name, data, by_folds, days, **options)
    result = {"model": model_name, "data": data_label(data_name, forced, host_redshift, photoz_scatter), "days": days,
              "cross_validated": by_folds, **({"min_bands": min_bands} if min_bands is not None else {}),
              "calibrated": "calibration" in card,
              **metrics(data.labels.to_numpy(), probabilities, status, card["classes"], uncertainty)}
    if result["calibrated"] and result["calibration"]:  # the same objects without the temperature
        raw, _, raw_status = predict(model_name, data, by_folds, days, calibrated=False, **options)
        result["calibration"]["ece_uncalibrated"] = calibration_of(data.labels.to_numpy(), raw, raw_status,
                                                                   card["classes"])["ece"]
    if data_name == "elasticc":
        result["fink_classifiers"] = fink_classifiers_on_elasticc(path or elasticc_path())
    if data_name == "bts" and days is None:
        result["tns_uncertainty"] = uncertainty_on_real_non_supernovae(model_name, exclude_ids=data.labels.index)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
        plot(result, out, f"{model_name} on {data_name}, {days_label(days)}")
    return result
