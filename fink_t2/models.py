"""t2 models: model cards, verified loading, input scaling and batched prediction.

A model is named by its card, ``data/models/t2/<name>.json`` (or the folder in
``$FINK_T2_MODEL_DIR``). The card says where the weights are (a folder next to
the card, or inside an installed package), their sha256, the class order, the
band order, the number of time steps and the input scaling. Files are checked
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

DEFAULT_MODEL = "fink-gr-noz"
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


def verify_files(card: dict) -> Path:
    """Check every weight file against the card's sha256; return the weights folder."""
    root = _weights_path(card)
    for relative, expected in card["source"]["sha256"].items():
        path = root / relative
        if not path.is_file():
            raise ModelError(f"model '{card['id']}': file {path} is missing")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != expected:
            raise ModelError(f"model '{card['id']}': file {path} has sha256 {digest}, the model card expects "
                             f"{expected}; the file is corrupted or from another version: reinstall it")
    return root


def scale_inputs(gp_flux: np.ndarray, scaling: dict) -> np.ndarray:
    """Model input (n, T, B) float32 from GP flux (n, T, B) FLUXCAL, as the card's scaling says.

    ``per_object_robust``: each object and band on its own, (x - median) / IQR.
    ``global_robust``: fitted constants ``center`` and ``scale`` (one per band).
    """
    method = scaling["method"]
    if method == "per_object_robust":
        q25, median, q75 = np.percentile(gp_flux, [25, 50, 75], axis=1, keepdims=True)
        iqr = q75 - q25
        scaled = (gp_flux - median) / np.where(iqr > 0, iqr, 1.0)
    elif method == "global_robust":
        scaled = (gp_flux - np.asarray(scaling["center"])) / np.asarray(scaling["scale"])
    else:
        raise ModelError(f"unknown input scaling method {method!r} in the model card")
    return scaled.astype(np.float32)


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

    def predict_proba(self, gp_flux: np.ndarray) -> np.ndarray:
        """(n, n_classes) float32 class probabilities from GP flux (n, T, B) in FLUXCAL."""
        n = len(gp_flux)
        if n == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        x = scale_inputs(np.asarray(gp_flux, dtype=float), self.card["input_scaling"])
        out = [np.asarray(self.network(x[i:i + PREDICT_CHUNK], training=False))
               for i in range(0, n, PREDICT_CHUNK)]
        return np.concatenate(out).astype(np.float32)


_LOADED: Dict[str, T2Model] = {}


def load_model(name: Optional[str] = None) -> T2Model:
    """The model ``name`` (default ``DEFAULT_MODEL``), verified and loaded once per process."""
    name = name or DEFAULT_MODEL
    if name not in _LOADED:
        card = read_card(name)
        root = verify_files(card)
        if card["format"] != "tf_keras_savedmodel":
            raise ModelError(f"model '{name}': unknown format {card['format']!r}")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        # The published SavedModel predates Keras 3: only the tf_keras loader reads it.
        import tf_keras

        _LOADED[name] = T2Model(card, tf_keras.models.load_model(str(root), compile=False))
    return _LOADED[name]
