"""t2 models: model cards, verified loading, input scaling and batched prediction.

A model is named by its card, ``<name>.json``, looked up first in ``$FINK_T2_MODEL_DIR``
(a folder of one's own models, if set), then among the models installed with the
package (``data/models/t2`` of the source tree, shipped inside the wheel). The card
says where the weights are (a folder next to the card, or inside an installed package),
their sha256, the class order, the band order, the number of time steps, the input
scaling and, for models trained here, the event window, the class weights the
training used and the exported ONNX graphs. Files are checked against the card before
loading; a loaded model is cached per process, so a Spark Python worker loads it once.

Two engines run a model: ``onnx`` (ONNX Runtime, the default wherever the card has
ONNX graphs; no TensorFlow) and ``keras`` (Keras 3 on the weight files, or tf_keras for
the published Fink SavedModel; needs the ``train`` extra). A committee's card (``committee``)
holds no weights: it loads its member models and averages their probabilities.
"""
import hashlib
import importlib.resources
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np

from .probabilities import UNCERTAINTY_KINDS, normalized_entropy, normalized_mutual_information, temperature_scaled
from .redshift import RedshiftPrior

#: The model each survey's alerts get by default.
DEFAULT_MODELS = {"ztf": "t2-ztf-gr-v3", "lsst": "t2-lsst-ugrizy-forced-v6x3"}
DEFAULT_MODEL = DEFAULT_MODELS["ztf"]
ENGINES = ("onnx", "keras")
#: Objects per forward pass, per engine. ONNX Runtime: attention is n x 100 x 100 per head, and the arena
#: keeps the largest call's size (~1 GB at 1024 objects, ~30 MB at 64); calls of 16 objects, whose arrays
#: stay in cache, cost 10-15% less per object than calls of 64 (2026-12-01, both default models; 8 objects no less).
#: Keras: each call has a fixed cost, so larger calls (at 64 objects per call it was 2.4x slower per object).
PREDICT_CHUNK = {"onnx": 16, "keras": 1024}
#: ONNX Runtime intra-op threads per session; Spark already runs one Python worker per core.
ONNX_THREADS_ENV = "FINK_T2_ONNX_THREADS"
TRAIN_EXTRA = "pip install 'fink-t2[train]'"


class ModelError(RuntimeError):
    """A model cannot be found, verified or loaded; the message says what to fix."""


def bundled_model_dir() -> Path:
    """The model cards installed with the package: inside it (wheel), or ``data/models/t2`` of a checkout."""
    installed = Path(str(importlib.resources.files("fink_t2"))) / "model_files" / "t2"
    return installed if installed.is_dir() else Path(__file__).resolve().parent.parent / "data" / "models" / "t2"


def model_dirs() -> list:
    """Folders searched for model cards, in order: ``$FINK_T2_MODEL_DIR`` if set, then the bundled models."""
    env = os.environ.get("FINK_T2_MODEL_DIR")
    return ([Path(env)] if env else []) + [bundled_model_dir()]


def available_models():
    """Names of the models whose cards are installed."""
    return sorted({p.stem for folder in model_dirs() for p in folder.glob("*.json")})


def card_path(name: str) -> Path:
    """Path of the model card of ``name`` (the first found in ``model_dirs()``)."""
    for folder in model_dirs():
        if (folder / f"{name}.json").is_file():
            return folder / f"{name}.json"
    raise ModelError(f"no model card {name}.json in {', '.join(map(str, model_dirs()))} "
                     f"(available models: {', '.join(available_models()) or 'none'})")


def read_card(name: str) -> dict:
    """The model card of ``name`` as a dict."""
    with open(card_path(name)) as f:
        return json.load(f)


def reads_forced_photometry(card: dict, forced: Optional[bool] = None) -> bool:
    """``forced``, or by default whether the model was trained on forced photometry (Rubin's
    ``prvDiaForcedSources``), as its card's ``forced_photometry`` says."""
    return bool(card.get("forced_photometry", False)) if forced is None else forced


def default_min_bands(card: dict) -> int:
    """Fewest bands with points that the model's default cuts ask: its card's ``min_bands`` where set (a
    committee's choice, see ``committee``), else as many as in the light curves it was trained on
    (``training_data.min_bands``; 2 where the card does not say)."""
    if "min_bands" in card:
        return int(card["min_bands"])
    training_data = card.get("training_data")
    return int(training_data.get("min_bands", 2)) if isinstance(training_data, dict) else 2


def _weights_path(card: dict, card_folder: Path) -> Path:
    source = card["source"]
    if "package" in source:
        package = source["package"]
        module = package.replace("-", "_")
        if importlib.util.find_spec(module) is None:
            raise ModelError(f"model '{card['id']}' ships in the Python package '{package}', which is not "
                             f"installed: {TRAIN_EXTRA} (or pip install {package})")
        return Path(str(importlib.resources.files(module))) / source["path"]
    return card_folder / source["path"]


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verify_files(card: dict, card_folder: Path) -> Path:
    """Check every weight file against the card's sha256; return the weights folder (a committee has none:
    its members' files are checked as they load)."""
    if "committee" in card:
        return card_folder
    root = _weights_path(card, card_folder)
    for relative, expected in card["source"]["sha256"].items():
        path = root / relative
        if not path.is_file():
            raise ModelError(f"model '{card['id']}': file {path} is missing")
        digest = file_sha256(path)
        if digest != expected:
            raise ModelError(f"model '{card['id']}': file {path} has sha256 {digest}, the model card expects "
                             f"{expected}; the file is corrupted or from another version: reinstall it")
    return root


def check_model(name: str):
    """The card of model ``name`` and its weights folder, every file checked against the card."""
    path = card_path(name)
    card = read_card(name)
    return card, verify_files(card, path.parent)


def peak_normalized(gp_flux: np.ndarray) -> np.ndarray:
    """GP flux (n, T, B) divided by each object's largest |flux| over times and bands (colour is kept)."""
    peak = np.abs(gp_flux).max(axis=(1, 2), keepdims=True)
    return gp_flux / np.where(peak > 0, peak, 1.0)


def fit_scaling(gp_flux: np.ndarray) -> dict:
    """A ``peak_normalized_robust`` scaling fitted on training GP flux (n, T, B): per-band median and IQR."""
    normalized = peak_normalized(gp_flux)
    q25, median, q75 = np.percentile(normalized, [25, 50, 75], axis=(0, 1))
    return {"method": "peak_normalized_robust", "center": median.round(6).tolist(),
            "scale": np.where(q75 > q25, q75 - q25, 1.0).round(6).tolist()}


def scale_inputs(gp_flux: np.ndarray, scaling: dict) -> np.ndarray:
    """Model input (n, T, B) float32 from GP flux (n, T, B) FLUXCAL, as the card's scaling says.

    ``per_object_robust``: each object and band on its own, (x - median) / IQR.
    ``peak_normalized_robust``: flux / peak |flux| of the object, then the fitted
    ``center`` and ``scale`` per band (brightness drops out, colour stays).
    """
    method = scaling["method"]
    if method == "per_object_robust":
        q25, median, q75 = np.percentile(gp_flux, [25, 50, 75], axis=1, keepdims=True)
        iqr = q75 - q25
        scaled = (gp_flux - median) / np.where(iqr > 0, iqr, 1.0)
    elif method == "peak_normalized_robust":
        scaled = (peak_normalized(gp_flux) - np.asarray(scaling["center"])) / np.asarray(scaling["scale"])
    else:
        raise ModelError(f"unknown input scaling method {method!r} in the model card")
    return scaled.astype(np.float32)


#: Auxiliary input name -> function of each light curve's span and age (n,), in days. The span runs from its first
#: to its last point; the age from the object's first detection to its last point, longer than the span where the
#: history starts later (an alert's last 30 days of an older object).
AUX_INPUTS = {"log10_span_days": lambda span_days, age_days: np.log10(1.0 + np.maximum(span_days, 0.0)),
              "log10_age_days": lambda span_days, age_days: np.log10(1.0 + np.maximum(age_days, 0.0))}


def time_channel(name: str, span_days: np.ndarray, age_days: np.ndarray, n_times: int) -> np.ndarray:
    """(n, n_times) channel appended to the flux at every time step: ``time_days_over_100``, the grid's days
    since the first point / 100, or an ``AUX_INPUTS`` value repeated. The grid spans each light curve, so
    without them the network sees a shape but not how many days it lasts, nor how old the object is."""
    if name == "time_days_over_100":
        return span_days[:, None] * np.linspace(0.0, 1.0, n_times) / 100.0
    return np.repeat(AUX_INPUTS[name](span_days, age_days)[:, None], n_times, axis=1)


def aux_inputs(span_days: np.ndarray, age_days: np.ndarray, names) -> np.ndarray:
    """(n, len(names)) float32 auxiliary model inputs from each light curve's span and age (n,) in days."""
    return np.column_stack([AUX_INPUTS[name](span_days, age_days) for name in names]).astype(np.float32)


def n_input_channels(card: dict) -> int:
    """Channels per time step of a card's network input: its bands, then its time channels."""
    return len(card["bands"]) + len(card.get("time_channels", []))


def network_inputs(gp_flux: np.ndarray, span_days: Optional[np.ndarray], card: dict,
                   age_days: Optional[np.ndarray] = None) -> list:
    """The inputs of a card's network, from GP flux (n, T, B) FLUXCAL, spans (n,) and ages (n,) in days (see
    ``AUX_INPUTS``; age None: the span).

    Returns ``[x]`` or ``[x, aux]``: x (n, T, B + C) float32 is the scaled flux followed by the card's
    ``time_channels``; aux (n, A) its ``aux_inputs``. Training and inference both call this.
    """
    x = scale_inputs(np.asarray(gp_flux, dtype=float), card["input_scaling"])
    channels, aux_names = card.get("time_channels", []), card.get("aux_inputs", [])
    if not (channels or aux_names):
        return [x]
    if span_days is None:
        raise ValueError(f"model '{card.get('id')}' needs span_days for its inputs {channels + aux_names}")
    span_days = np.asarray(span_days, dtype=float)
    age_days = span_days if age_days is None else np.asarray(age_days, dtype=float)
    if channels:
        extra = np.stack([time_channel(name, span_days, age_days, x.shape[1]) for name in channels], axis=2)
        x = np.concatenate([x, extra.astype(np.float32)], axis=2)
    return [x, aux_inputs(span_days, age_days, aux_names)] if aux_names else [x]


@dataclass
class T2Model:
    """A loaded t2 model: its card, the engine running it, ``run(inputs) -> (n, n_classes)`` probabilities,
    the temperature that calibrates them (None: uncalibrated), for the ``ensemble`` uncertainty the
    cross-validation fold models (``T2Model`` each), the card's host-redshift densities (``redshift``), and
    for a committee (``committee``; ``run`` None) its member models, whose probabilities it averages."""

    card: dict
    engine: str
    run: Callable
    temperature: Optional[float] = None
    members: tuple = ()
    redshift_prior: Optional[RedshiftPrior] = None
    committee: tuple = ()

    @property
    def classes(self):
        return list(self.card["classes"])

    @property
    def wavelengths_a(self):
        return tuple(self.card["wavelengths_a"])

    def predict_proba(self, gp_flux: np.ndarray, span_days: Optional[np.ndarray] = None,
                      age_days: Optional[np.ndarray] = None, redshift: Optional[np.ndarray] = None,
                      redshift_err: Optional[np.ndarray] = None) -> np.ndarray:
        """(n, n_classes) float32 class probabilities (calibrated where the card says so) from GP flux
        (n, T, B) in FLUXCAL.

        ``span_days`` (n,): days from first to last point, needed by models with time channels or
        auxiliary inputs; ``age_days`` (n,): from the object's first detection to its last point (None: the
        span), read by models with a ``log10_age_days`` input. ``redshift`` (n,) and its error
        ``redshift_err`` (n,): the host's, where known (NaN: unknown), for a card with ``host_redshift``
        (``redshift.RedshiftPrior``); a card without it ignores them.
        """
        n = len(gp_flux)
        if n == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        if self.committee:
            out = np.mean([member.predict_proba(gp_flux, span_days, age_days) for member in self.committee], axis=0)
        else:
            inputs = network_inputs(gp_flux, span_days, self.card, age_days)
            chunk = PREDICT_CHUNK[self.engine]
            out = np.concatenate([self.run([part[i:i + chunk] for part in inputs])
                                  for i in range(0, n, chunk)]).astype(np.float32)
        out = out if self.temperature is None else temperature_scaled(out, self.temperature)
        if redshift is None or self.redshift_prior is None:
            return out
        return self.redshift_prior.apply(out, redshift, redshift_err)

    def predict(self, gp_flux: np.ndarray, span_days: Optional[np.ndarray] = None,
                age_days: Optional[np.ndarray] = None, redshift: Optional[np.ndarray] = None,
                redshift_err: Optional[np.ndarray] = None):
        """``(probabilities (n, n_classes), uncertainty (n,))``: the uncertainty is the normalised predictive
        entropy, or with fold models (``uncertainty="ensemble"``) their normalised mutual information."""
        context = (span_days, age_days, redshift, redshift_err)
        probabilities = self.predict_proba(gp_flux, *context)
        if not self.members:
            return probabilities, normalized_entropy(probabilities)
        members = np.stack([member.predict_proba(gp_flux, *context) for member in self.members])
        return probabilities, normalized_mutual_information(members)


_LOADED: Dict[tuple, T2Model] = {}


def onnx_file(card: dict, weights: Optional[str]) -> Optional[str]:
    """The ONNX graph exported from weight file ``weights``, or None."""
    return card.get("onnx", {}).get("files", {}).get(weights)


def _onnx_runner(path: Path, threads: Optional[int]):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or int(os.environ.get(ONNX_THREADS_ENV, "1"))
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return lambda inputs: session.run(None, dict(zip(names, inputs)))[0]


def _keras_runner(card: dict, root: Path, weights: Optional[str]):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        if card["format"] == "tf_keras_savedmodel":
            # The published SavedModel predates Keras 3: only the tf_keras loader reads it.
            import tf_keras

            network = tf_keras.models.load_model(str(root), compile=False)
        elif card["format"] == "keras3_weights":
            from .t2net import load_network

            network = load_network(card, root, weights)
        else:
            raise ModelError(f"model '{card['id']}': unknown format {card['format']!r}")
    except ImportError as error:
        raise ModelError(f"model '{card['id']}' with the keras engine needs TensorFlow and Keras "
                         f"({error.name} is missing): {TRAIN_EXTRA}") from None
    return lambda inputs: np.asarray(network(inputs if len(inputs) > 1 else inputs[0], training=False))


def load_model(name: Optional[str] = None, weights: Optional[str] = None, engine: Optional[str] = None,
               threads: Optional[int] = None, calibrated: bool = True, uncertainty: str = "entropy") -> T2Model:
    """The model ``name`` (default ``DEFAULT_MODEL``), verified and loaded once per process.

    ``weights`` picks another weight file of the card (a cross-validation fold model).
    ``engine``: ``onnx`` (default where the card has the graph) or ``keras``.
    ``threads``: ONNX Runtime intra-op threads (default ``$FINK_T2_ONNX_THREADS`` or 1).
    ``calibrated``: apply the card's temperature (``calibrate``), if it has one.
    ``uncertainty``: ``entropy`` (default) or ``ensemble`` (the card's cross-validation fold models too).
    """
    name = name or DEFAULT_MODEL
    if uncertainty not in UNCERTAINTY_KINDS:
        raise ModelError(f"unknown uncertainty {uncertainty!r}; choose one of {UNCERTAINTY_KINDS}")
    key = (name, weights, engine, threads, calibrated, uncertainty)
    if key not in _LOADED:
        card, root = check_model(name)
        weight_file = weights or card.get("weights")  # None for a SavedModel card
        committee, run = (), None
        if "committee" in card:
            committee = committee_members(card, weight_file, engine, threads, calibrated)
            chosen = committee[0].engine
        else:
            graph = onnx_file(card, weight_file)
            chosen = engine or ("onnx" if graph else "keras")
            if chosen not in ENGINES:
                raise ModelError(f"unknown engine {chosen!r}; choose one of {ENGINES}")
            if chosen == "onnx" and graph is None:
                raise ModelError(f"model '{name}' has no ONNX graph for {weight_file or 'its weights'}: use the keras "
                                 f"engine ({TRAIN_EXTRA}), or export it with fink-t2 export-onnx {name}")
            run = _onnx_runner(root / graph, threads) if chosen == "onnx" else _keras_runner(card, root, weight_file)
        temperature = card.get("calibration", {}).get("temperature", {}).get(weight_file)
        members = ()
        if uncertainty == "ensemble":
            if "cv" not in card:
                raise ModelError(f"model '{name}' has no cross-validation fold models for the ensemble uncertainty")
            members = tuple(load_model(name, fold, engine, threads, calibrated) for fold in card["cv"]["weights"])
        _LOADED[key] = T2Model(card, chosen, run, temperature if calibrated else None, members,
                               RedshiftPrior.of_card(card, weight_file), committee)
    return _LOADED[key]


def committee_members(card: dict, weights: str, engine: Optional[str], threads: Optional[int],
                      calibrated: bool) -> tuple:
    """The member models of a committee's card (``committee``), each loaded for weight file ``weights`` and
    checked against the files and temperatures the card pins."""
    members = []
    for pinned in card["committee"]["members"]:
        member = load_model(pinned["model"], weights, engine, threads, calibrated)
        changed = [what for what, now, then in (
            ("files", member.card["source"]["sha256"], pinned["sha256"]),
            ("temperatures", member.card.get("calibration", {}).get("temperature", {}), pinned["temperature"]))
            if now != then]
        if changed:
            raise ModelError(f"model '{card['id']}': its member '{pinned['model']}' has other {' and '.join(changed)} "
                             "than when the committee was built: rebuild it (fink-t2 committee)")
        members.append(member)
    return tuple(members)
