"""From light curves to class probabilities: the one path shared by the UDF, the API and training.

light curves -> selection cuts -> what the model's GP keeps (event window, bins, thinning) -> GP
interpolation (only of selected objects)
-> input scaling -> one batched model call. Every object gets a status:
``ok``, ``cut:<name>`` (see ``cuts``), ``error:gp`` (the GP could not be
computed) or ``error:model`` (non-finite model output). Only ``ok`` objects
have probabilities; the others get NaN rows here, which the public edges
turn into the documented sentinel (null map, empty class).
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from . import gp
from .lightcurves import LightCurves
from .models import T2Model

STATUS_OK = "ok"


@dataclass(frozen=True)
class GPPreparation:
    """What is kept of a light curve for its GP fit, as its model was trained (the card says it).

    ``event_window_days`` (days before, days after) the brightest point, or None for all points
    (``LightCurves.around_peak``); ``bin_days``: one point per band and bin of that many days, or None
    (``LightCurves.binned``); at most ``max_points`` points, evenly thinned (``LightCurves.thinned``);
    ``fit_max_points``: the GP hyperparameters fitted on at most that many of them (None: all), see
    ``gp.interpolate``; the GP mean evaluated at ``n_times`` regular times, the model's input length.
    """

    event_window_days: Optional[tuple] = None
    bin_days: Optional[float] = None
    max_points: int = gp.MAX_POINTS
    fit_max_points: Optional[int] = None
    n_times: int = gp.N_TIMES

    @classmethod
    def of_card(cls, card: dict) -> "GPPreparation":
        window = card.get("event_window_days")
        return cls(tuple(window) if window else None, card.get("bin_days"),
                   int(card.get("gp_max_points", gp.MAX_POINTS)), card.get("gp_fit_max_points"),
                   int(card.get("n_times", gp.N_TIMES)))

    def apply(self, lightcurves: LightCurves) -> LightCurves:
        window = self.event_window_days
        if self.bin_days is not None:  # the window's points binned as they lie, without laying them out first
            lightcurves = lightcurves.binned(self.bin_days, lightcurves.in_window(*window) if window else None)
        elif window is not None:
            lightcurves = lightcurves.around_peak(*window)
        return lightcurves.thinned(self.max_points)

    def interpolate(self, lightcurves: LightCurves, wavelengths_a, gp_backend: str = "batched"):
        """``(prepared light curves, GP mean (n, T, B) FLUXCAL, gp.GPFit)``: the GP of what ``apply`` keeps."""
        prepared = self.apply(lightcurves)
        mean, fit = gp.interpolate(prepared, wavelengths_a, gp_backend, self.max_points, self.fit_max_points,
                                   self.n_times)
        return prepared, mean, fit


def gp_inputs(lightcurves: LightCurves, status: np.ndarray, wavelengths_a, preparation: GPPreparation,
              gp_backend: str = "batched", first_detection_jd=None):
    """GP-interpolated model inputs of the objects whose status is ok: the step training shares with inference.

    Each light curve goes through ``preparation`` before its GP is fitted. ``first_detection_jd`` (n,): JD of
    each object's first detection where its light curve starts later (ZTF's ``jdstarthist``); None or NaN: its
    first point.
    Returns ``(selected (k,) indices, gp_flux (k, T, B) FLUXCAL, span_days (k,), age_days (k,), status (n,))``:
    the span from the first to the last point kept, the age from the first detection to that last point;
    objects whose GP fails get ``error:gp`` and are left out of ``selected``.
    """
    status = np.asarray(status, dtype=object).copy()
    selected = np.flatnonzero(status == STATUS_OK)
    subset, gp_flux, fit = preparation.interpolate(lightcurves.subset(selected), wavelengths_a, gp_backend)
    gp_ok = fit.ok & np.isfinite(gp_flux).all(axis=(1, 2))
    status[selected[~gp_ok]] = "error:gp"
    first_jd = lightcurves.jd_first[selected]
    if first_detection_jd is not None:
        first_jd = np.fmin(first_jd, np.asarray(first_detection_jd, dtype=float)[selected])
    span_days = subset.jd_last - subset.jd_first
    age_days = subset.jd_last - first_jd
    return selected[gp_ok], gp_flux[gp_ok], span_days[gp_ok], age_days[gp_ok], status


def classify_batch(lightcurves: LightCurves, status: np.ndarray, model: T2Model, gp_backend: str = "batched",
                   first_detection_jd=None, redshift=None, redshift_err=None):
    """Probabilities (n, n_classes) float32 and uncertainty (n,) float32 (NaN where status is not ok; see
    ``T2Model.predict``), and the updated status (n,). ``first_detection_jd``: see ``gp_inputs``; ``redshift``
    (n,) and ``redshift_err`` (n,): the hosts' redshifts where known (NaN elsewhere), for a model with
    host-redshift densities (``redshift``)."""
    probabilities = np.full((len(lightcurves), len(model.classes)), np.nan, dtype=np.float32)
    uncertainty = np.full(len(lightcurves), np.nan, dtype=np.float32)
    if not np.any(np.asarray(status) == STATUS_OK):
        return probabilities, uncertainty, np.asarray(status, dtype=object).copy()
    selected, gp_flux, span_days, age_days, status = gp_inputs(
        lightcurves, status, model.wavelengths_a, GPPreparation.of_card(model.card), gp_backend, first_detection_jd)
    host = [None if values is None else np.asarray(values, dtype=float)[selected] for values in (redshift, redshift_err)]
    predicted, predicted_uncertainty = model.predict(gp_flux, span_days, age_days, *host)
    model_ok = np.isfinite(predicted).all(axis=1) & np.isfinite(predicted_uncertainty)
    status[selected[~model_ok]] = "error:model"
    probabilities[selected[model_ok]] = predicted[model_ok]
    uncertainty[selected[model_ok]] = predicted_uncertainty[model_ok]
    return probabilities, uncertainty, status


def most_probable_class(probabilities: np.ndarray, status: np.ndarray, classes) -> np.ndarray:
    """(n,) class name of the largest probability; empty string where status is not ok."""
    names = np.asarray(classes, dtype=object)[np.nan_to_num(probabilities, nan=-1.0).argmax(axis=1)]
    return np.where(np.asarray(status) == STATUS_OK, names, "")
