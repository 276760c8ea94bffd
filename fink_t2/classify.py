"""From light curves to class probabilities: the one path shared by the UDF, the API and training.

light curves -> selection cuts -> GP interpolation (only of selected objects)
-> input scaling -> one batched model call. Every object gets a status:
``ok``, ``cut:<name>`` (see ``cuts``), ``error:gp`` (the GP could not be
computed) or ``error:model`` (non-finite model output). Only ``ok`` objects
have probabilities; the others get NaN rows here, which the public edges
turn into the documented sentinel (null map, empty class).
"""
import numpy as np

from . import gp
from .lightcurves import LightCurves
from .models import T2Model

STATUS_OK = "ok"


def gp_inputs(lightcurves: LightCurves, status: np.ndarray, wavelengths_a, gp_backend: str = "batched",
              event_window_days=None, max_points: int = gp.MAX_POINTS):
    """GP-interpolated model inputs of the objects whose status is ok: the step training shares with inference.

    ``event_window_days`` (days before, days after), if given, keeps only the points near each
    object's brightest one (``LightCurves.around_peak``) before the GP is fitted, on at most ``max_points``
    points (``LightCurves.thinned``).
    Returns ``(selected (k,) indices, gp_flux (k, T, B) FLUXCAL, span_days (k,), status (n,))``;
    objects whose GP fails get ``error:gp`` and are left out of ``selected``.
    """
    status = np.asarray(status, dtype=object).copy()
    selected = np.flatnonzero(status == STATUS_OK)
    subset = lightcurves.subset(selected)
    if event_window_days is not None:
        subset = subset.around_peak(*event_window_days)
    gp_flux, fit = gp.interpolate(subset, wavelengths_a, gp_backend, max_points)
    gp_ok = fit.ok & np.isfinite(gp_flux).all(axis=(1, 2))
    status[selected[~gp_ok]] = "error:gp"
    span_days = subset.jd_last - subset.jd_first
    return selected[gp_ok], gp_flux[gp_ok], span_days[gp_ok], status


def gp_max_points(card: dict) -> int:
    """The most points a model's GP fits per light curve (its card's ``gp_max_points``, else ``gp.MAX_POINTS``)."""
    return int(card.get("gp_max_points", gp.MAX_POINTS))


def classify_batch(lightcurves: LightCurves, status: np.ndarray, model: T2Model, gp_backend: str = "batched"):
    """Probabilities (n, n_classes) float32 and uncertainty (n,) float32 (NaN where status is not ok; see
    ``T2Model.predict``), and the updated status (n,)."""
    probabilities = np.full((len(lightcurves), len(model.classes)), np.nan, dtype=np.float32)
    uncertainty = np.full(len(lightcurves), np.nan, dtype=np.float32)
    if not np.any(np.asarray(status) == STATUS_OK):
        return probabilities, uncertainty, np.asarray(status, dtype=object).copy()
    selected, gp_flux, span_days, status = gp_inputs(lightcurves, status, model.wavelengths_a, gp_backend,
                                                     model.card.get("event_window_days"), gp_max_points(model.card))
    predicted, predicted_uncertainty = model.predict(gp_flux, span_days)
    model_ok = np.isfinite(predicted).all(axis=1) & np.isfinite(predicted_uncertainty)
    status[selected[~model_ok]] = "error:model"
    probabilities[selected[model_ok]] = predicted[model_ok]
    uncertainty[selected[model_ok]] = predicted_uncertainty[model_ok]
    return probabilities, uncertainty, status


def most_probable_class(probabilities: np.ndarray, status: np.ndarray, classes) -> np.ndarray:
    """(n,) class name of the largest probability; empty string where status is not ok."""
    names = np.asarray(classes, dtype=object)[np.nan_to_num(probabilities, nan=-1.0).argmax(axis=1)]
    return np.where(np.asarray(status) == STATUS_OK, names, "")
