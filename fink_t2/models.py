"""t2 models: model cards, verified loading, input scaling and batched prediction.

A model is named by its card, ``data/models/t2/<name>.json`` (or the folder in
``$FINK_T2_MODEL_DIR``). The card says where the weights are (a folder next to
the card, or inside an installed package), their sha256, the class order, the
band order, the number of time steps, the input scaling and, for models
trained here, the event window and the class weights the training used. Files are checked
against the card before loading; a loaded model is cached per process, so a
Spark Python worker loads it once.
"""
import hashlib
import importlib.resources
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional

import numpy as np

DEFAULT_MODEL = "t2-ztf-gr-v3"
#: Objects per forward pass: bounds memory (attention is n x 100 x 100 per head); the cost
#: per object does not depend on it.
PREDICT_CHUNK = 1024


class ModelError(RuntimeError):
    """A model cannot be found, verified or loaded; the message says what to fix."""


def model_dir() -> Path:
    """Folder holding the model cards."""
    env = os.environ.get("FINK_T2_MODEL_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data" / "models" / "t2"


def available_models():
    """Names of the models whose cards are installed."""
    return sorted(p.stem for p in model_dir().glob("*.json"))


def read_card(name: str) -> dict:
    """The model card of ``name`` as a dict."""
    path = model_dir() / f"{name}.json"
    if not path.is_file():
        raise ModelError(f"no model card {path} (available models: {', '.join(available_models()) or 'none'})")
    with open(path) as f:
        return json.load(f)


def _weights_path(card: dict) -> Path:
    source = card["source"]
    if "package" in source:
        package = source["package"]
        module = package.replace("-", "_")
        if importlib.util.find_spec(module) is None:
            raise ModelError(f"model '{card['id']}' ships in the Python package '{package}', which is not "
                             f"installed: pip install {package}")
        return Path(str(importlib.resources.files(module))) / source["path"]
    return model_dir() / source["path"]


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def verify_files(card: dict) -> Path:
    """Check every weight file against the card's sha256; return the weights folder."""
    root = _weights_path(card)
    for relative, expected in card["source"]["sha256"].items():
        path = root / relative
        if not path.is_file():
            raise ModelError(f"model '{card['id']}': file {path} is missing")
        digest = file_sha256(path)
        if digest != expected:
            raise ModelError(f"model '{card['id']}': file {path} has sha256 {digest}, the model card expects "
                             f"{expected}; the file is corrupted or from another version: reinstall it")
    return root


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


#: Auxiliary input name -> function of the light curves' span (days).
AUX_INPUTS = {"log10_span_days": lambda span_days: np.log10(1.0 + np.maximum(span_days, 0.0))}

#: Time channel name -> function of (span_days (n,), n_times) giving (n, n_times), appended to the flux at
#: every time step. The grid spans each light curve, so without them the network sees a shape but not how
#: many days it lasts: with them it can tell a fast decline from a slow one.
TIME_CHANNELS = {
    "time_days_over_100": lambda span_days, n_times: span_days[:, None] * np.linspace(0.0, 1.0, n_times) / 100.0,
    "log10_span_days": lambda span_days, n_times: np.repeat(AUX_INPUTS["log10_span_days"](span_days)[:, None],
                                                            n_times, axis=1),
}


def aux_inputs(span_days: np.ndarray, names) -> np.ndarray:
    """(n, len(names)) float32 auxiliary model inputs from each light curve's span (n,) in days."""
    span_days = np.asarray(span_days, dtype=float)
    return np.column_stack([AUX_INPUTS[name](span_days) for name in names]).astype(np.float32)


def n_input_channels(card: dict) -> int:
    """Channels per time step of a card's network input: its bands, then its time channels."""
    return len(card["bands"]) + len(card.get("time_channels", []))


def network_inputs(gp_flux: np.ndarray, span_days: Optional[np.ndarray], card: dict) -> list:
    """The inputs of a card's network, from GP flux (n, T, B) FLUXCAL and spans (n,) in days.

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
    if channels:
        extra = np.stack([TIME_CHANNELS[name](span_days, x.shape[1]) for name in channels], axis=2)
        x = np.concatenate([x, extra.astype(np.float32)], axis=2)
    return [x, aux_inputs(span_days, aux_names)] if aux_names else [x]


@dataclass
class T2Model:
    """A loaded t2 model and its card."""

    card: dict
    network: object

    @property
    def classes(self):
        return list(self.card["classes"])

    @property
    def wavelengths_a(self):
        return tuple(self.card["wavelengths_a"])

    def predict_proba(self, gp_flux: np.ndarray, span_days: Optional[np.ndarray] = None) -> np.ndarray:
        """(n, n_classes) float32 class probabilities from GP flux (n, T, B) in FLUXCAL.

        ``span_days`` (n,): days from first to last point, needed by models with time channels or
        auxiliary inputs.
        """
        n = len(gp_flux)
        if n == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        inputs = network_inputs(gp_flux, span_days, self.card)
        chunks = ([part[i:i + PREDICT_CHUNK] for part in inputs] for i in range(0, n, PREDICT_CHUNK))
        out = [np.asarray(self.network(chunk if len(chunk) > 1 else chunk[0], training=False)) for chunk in chunks]
        return np.concatenate(out).astype(np.float32)


_LOADED: Dict[tuple, T2Model] = {}


def _load_network(card: dict, root: Path, weights: Optional[str]):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if card["format"] == "tf_keras_savedmodel":
        # The published SavedModel predates Keras 3: only the tf_keras loader reads it.
        import tf_keras

        return tf_keras.models.load_model(str(root), compile=False)
    if card["format"] == "keras3_weights":
        from .t2net import build_network, divided_by, with_expert

        weights = weights or card["weights"]

        def network(classes, filename, name):
            built = build_network(card["n_times"], n_input_channels(card), len(classes),
                                  len(card.get("aux_inputs", [])), name=name, **card["architecture"])
            built.load_weights(str(root / filename))
            class_weights = card.get("class_weights", {}).get(filename)
            return built if class_weights is None else divided_by(built, class_weights)

        general = network(card["classes"], weights, "t2")
        if "expert" not in card:
            return general
        classes = card["expert"]["classes"]
        expert = network(classes, card["expert"]["weights_prefix"] + weights, "t2_expert")
        return with_expert(general, expert, [card["classes"].index(c) for c in classes], len(card["classes"]))
    raise ModelError(f"model '{card['id']}': unknown format {card['format']!r}")


def load_model(name: Optional[str] = None, weights: Optional[str] = None) -> T2Model:
    """The model ``name`` (default ``DEFAULT_MODEL``), verified and loaded once per process.

    ``weights`` picks another weight file of the card (a cross-validation fold model).
    """
    name = name or DEFAULT_MODEL
    if (name, weights) not in _LOADED:
        card = read_card(name)
        root = verify_files(card)
        _LOADED[name, weights] = T2Model(card, _load_network(card, root, weights))
    return _LOADED[name, weights]
