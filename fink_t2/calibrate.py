"""Calibration of a model's probabilities: measured (ECE, reliability) and fitted (temperature scaling); and
the other fit a trained model's card takes from its labelled data, the host-redshift densities
(``fit_host_redshift``, see ``redshift``).

The temperature T (``probabilities.temperature_scaled``) is fitted on out-of-fold predictions: the
labelled data a model was cross-validated on (bts_dev light curves for ZTF models, ELAsTiCC alerts for
LSST ones) are scored, uncalibrated, by the fold models that did not see them, in full and cut to their
first 30, 10 and 5 days, and T minimises the log-loss of those predictions pooled. The main model's T uses every
object; fold model k's T leaves out the objects of fold k, so that the cross-validated evaluation of
the calibrated model scores no object with a temperature fitted on it. The card keeps T per weight file.
"""
import json
from pathlib import Path
from typing import Optional

import numpy as np

from .probabilities import temperature_scaled

CALIBRATION_DAYS = (None, 30.0, 10.0, 5.0)
#: Bins of the expected calibration error (equal width over the top-label confidence).
ECE_BINS = 15


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Per confidence bin (equal width in (0, 1]): objects, mean top-label confidence and accuracy.

    ``probabilities`` (n, K), ``labels`` (n,) class indices (-1: a class the model does not have).
    """
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / counts
        accuracy = np.bincount(which, weights=correct, minlength=bins) / counts
    return {"edges": np.linspace(0.0, 1.0, bins + 1).tolist(), "counts": counts.tolist(),
            "confidence": np.where(counts > 0, mean_confidence, np.nan).tolist(),
            "accuracy": np.where(counts > 0, accuracy, np.nan).tolist()}


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE: sum over bins of (objects in bin / n) * |accuracy - mean confidence|."""
    table = reliability(probabilities, labels, bins)
    counts = np.asarray(table["counts"])
    gaps = np.abs(np.nan_to_num(np.asarray(table["accuracy"]) - np.asarray(table["confidence"])))
    return float((counts * gaps).sum() / max(counts.sum(), 1))


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The T in [0.05, 20] minimising the log-loss of ``temperature_scaled(probabilities, T)``."""
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(labels))

    def log_loss(log_t):
        return -np.log(np.clip(temperature_scaled(probabilities, np.exp(log_t))[rows, labels], 1e-12, 1.0)).mean()

    return float(np.exp(minimize_scalar(log_loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded").x))


def out_of_fold_predictions(model_name: str, path=None):
    """Uncalibrated out-of-fold probabilities of the classified objects of the labelled set the model was
    cross-validated on (``bts`` for ZTF models, ``elasticc`` for LSST ones, with forced photometry where the
    model was trained on it; ``path`` overrides where it is read from), for each of ``CALIBRATION_DAYS``,
    pooled: ``(p (m, K), labels (m,), folds (m,))``."""
    from .classify import STATUS_OK
    from .evaluate import TABLE_FILES, cross_validated_on, load_dataset, predict, reads_forced
    from .models import ModelError, read_card
    from .training import fold_of

    card = read_card(model_name)
    names = [name for name in ("bts", "elasticc") if cross_validated_on(card, TABLE_FILES[name])]
    data_file = Path(path).name if path else (TABLE_FILES[names[0]] if names else None)
    if not names or not cross_validated_on(card, data_file):
        raise ModelError(f"model '{model_name}' was not cross-validated on {data_file or 'bts or elasticc'}: no "
                         "out-of-fold predictions to calibrate on")
    data = load_dataset(names[0], path, tuple(card["bands"]), reads_forced(card, names[0], None))
    index = {name: i for i, name in enumerate(card["classes"])}
    labels = np.array([index.get(label, -1) for label in data.labels])
    folds = fold_of(data.labels.index, card["cv"]["folds"])
    parts = []
    for days in CALIBRATION_DAYS:
        probabilities, _, status = predict(model_name, data, True, days, calibrated=False)
        keep = (status == STATUS_OK) & (labels >= 0)
        parts.append((probabilities[keep], labels[keep], folds[keep]))
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(3))


def calibrate(model_name: str, path=None, card_file: Optional[Path] = None) -> dict:
    """Fit the temperatures of a cross-validated model and store them in its card; returns the card."""
    from .models import ModelError, card_path, read_card

    if "committee" in read_card(model_name):
        raise ModelError(f"model '{model_name}' is a committee: its members' temperatures calibrate it (calibrate "
                         "them, then rebuild it with fink-t2 committee)")
    probabilities, labels, folds = out_of_fold_predictions(model_name, path)
    card_file = card_file or card_path(model_name)
    card = json.loads(Path(card_file).read_text())
    temperatures = {card["weights"]: fit_temperature(probabilities, labels)}
    for k, weights in enumerate(card["cv"]["weights"]):
        temperatures[weights] = fit_temperature(probabilities[folds != k], labels[folds != k])
    card["calibration"] = {
        "method": "temperature",
        "fitted_on": f"out-of-fold predictions on {card['cv']['data']}, all days and first 30/10/5 days pooled "
                     f"({len(labels)} predictions); fold k's temperature leaves fold k out",
        "temperature": {weights: round(t, 4) for weights, t in temperatures.items()},
    }
    Path(card_file).write_text(json.dumps(card, indent=2) + "\n")
    return card


def fit_host_redshift(model_name: str, path=None, card_file: Optional[Path] = None) -> dict:
    """Store in a ZTF model's card the host-redshift densities (``redshift.card_entry``) of the labelled
    objects of a table with a ``redshift`` column (default: the shared bts_dev table), each with its
    cross-validation fold (``training.fold_of``, the card's fold count), so that fold model k's densities
    leave out fold k; returns the card."""
    from .datasets import read_ztf_table
    from .evaluate import bts_path
    from .models import card_path
    from .redshift import card_entry
    from .surveys import check_model_survey
    from .training import fold_of

    path = Path(path or bts_path())
    data = read_ztf_table(path)
    card_file = card_file or card_path(model_name)
    card = json.loads(Path(card_file).read_text())
    check_model_survey(card, "ztf")
    redshift = data.host_redshift()
    if not np.isfinite(redshift).any():
        raise ValueError(f"{path}: no positive redshift in a 'redshift' column")
    folds = fold_of(data.labels.index, card.get("cv", {}).get("folds", 5))
    card["host_redshift"] = card_entry(data.labels.to_numpy(), redshift, folds, card["classes"],
                                       f"{path.name}: the labelled objects with a redshift, with their fold")
    Path(card_file).write_text(json.dumps(card, indent=2) + "\n")
    return card
