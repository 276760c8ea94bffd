"""From light curves to class probabilities: the one path shared by the UDF, the API and training.

light curves -> selection cuts -> GP interpolation (only of selected objects)
-> input scaling -> one batched model call. Every object gets a status:
``ok``, ``cut:<name>`` (see ``cuts``), ``error:gp`` (the GP could not be
computed) or ``error:model`` (non-finite model output). Only ``ok`` objects
have probabilities; the others get NaN rows here, which the public edges
turn into the documented sentinel (null map, empty class).
"""
from typing import Optional

import numpy as np
import pandas as pd

from . import gp
from .cuts import SelectionCuts, apply_cuts
from .lightcurves import POINT_COLUMNS, LightCurves, lightcurves_from_alerts, lightcurves_from_points, mag_table_points
from .models import T2Model, load_model

STATUS_OK = "ok"


def gp_inputs(lightcurves: LightCurves, status: np.ndarray, wavelengths_a, gp_backend: str = "batched",
              event_window_days=None):
    """GP-interpolated model inputs of the objects whose status is ok: the step training shares with inference.

    ``event_window_days`` (days before, days after), if given, keeps only the points near each
    object's brightest one (``LightCurves.around_peak``) before the GP is fitted.
    Returns ``(selected (k,) indices, gp_flux (k, T, B) FLUXCAL, span_days (k,), status (n,))``;
    objects whose GP fails get ``error:gp`` and are left out of ``selected``.
    """
    status = np.asarray(status, dtype=object).copy()
    selected = np.flatnonzero(status == STATUS_OK)
    subset = lightcurves.subset(selected)
    if event_window_days is not None:
        subset = subset.around_peak(*event_window_days)
    gp_flux, fit = gp.interpolate(subset, backend=gp_backend, wavelengths_a=wavelengths_a)
    gp_ok = fit.ok & np.isfinite(gp_flux).all(axis=(1, 2))
    status[selected[~gp_ok]] = "error:gp"
    span_days = subset.jd_last - subset.jd_first
    return selected[gp_ok], gp_flux[gp_ok], span_days[gp_ok], status


def classify_batch(lightcurves: LightCurves, status: np.ndarray, model: T2Model, gp_backend: str = "batched"):
    """Probabilities (n, n_classes) float32 and uncertainty (n,) float32 (NaN where status is not ok; see
    ``T2Model.predict``), and the updated status (n,)."""
    probabilities = np.full((len(lightcurves), len(model.classes)), np.nan, dtype=np.float32)
    uncertainty = np.full(len(lightcurves), np.nan, dtype=np.float32)
    if not np.any(np.asarray(status) == STATUS_OK):
        return probabilities, uncertainty, np.asarray(status, dtype=object).copy()
    selected, gp_flux, span_days, status = gp_inputs(lightcurves, status, model.wavelengths_a, gp_backend,
                                                     model.card.get("event_window_days"))
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


def classify_alerts(jd, fid, magpsf, sigmapsf, isdiffpos=None, jdstarthist=None, roid=None, cdsxmatch=None,
                    cuts: Optional[SelectionCuts] = None, model: Optional[T2Model] = None,
                    gp_backend: str = "batched"):
    """Classify a batch of alerts from their history arrays (see ``lightcurves_from_alerts``).

    Optional per-alert context (``jdstarthist``, ``roid``, ``cdsxmatch``) feeds the
    selection cuts; None skips the cut that needs it. Returns ``(probabilities
    (n, n_classes) with NaN rows where not ok, uncertainty (n,), status (n,))``.
    """
    model = model or load_model()
    cuts = SelectionCuts() if cuts is None else cuts
    lightcurves = lightcurves_from_alerts(jd, fid, magpsf, sigmapsf, isdiffpos)
    status = apply_cuts(lightcurves, cuts, jdstarthist=jdstarthist, roid=roid, cdsxmatch=cdsxmatch)
    return classify_batch(lightcurves, status, model, gp_backend)


LIGHTCURVE_COLUMNS = ("objectId", "mjd", "band", "mag", "magerr")


def lightcurves_from_table(df: pd.DataFrame):
    """Light curves of a long table (columns ``LIGHTCURVE_COLUMNS``) and the object ids, in first-seen order."""
    missing = [c for c in LIGHTCURVE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"light-curve table lacks column(s) {missing}; expected {list(LIGHTCURVE_COLUMNS)}")
    points = mag_table_points(df)
    codes, object_ids = pd.factorize(points["object_id"], sort=False)
    keep = codes >= 0  # a null objectId cannot be attributed to an object
    lightcurves = lightcurves_from_points(codes[keep], len(object_ids),
                                          *(points[c].to_numpy()[keep] for c in POINT_COLUMNS[1:]))
    return lightcurves, object_ids


def classify_lightcurves(df: pd.DataFrame, model=None, cuts: Optional[SelectionCuts] = None,
                         gp_backend: str = "batched") -> pd.DataFrame:
    """Classify every object of a long light-curve table.

    ``df`` has columns ``objectId``, ``mjd``, ``band`` (``g``/``r``; others are
    ignored), ``mag``, ``magerr`` (PSF difference magnitudes of detections).
    ``model`` is a ``T2Model``, a model name or None (the default model).
    ``cuts`` defaults to the light-curve cuts only (>= 2 points, both bands);
    the alert-context cuts need alert columns and are skipped.
    Returns one row per object: ``objectId``, one float column per class (NaN when
    unclassified), ``t2_class`` (empty when unclassified), ``t2_uncertainty`` (NaN when
    unclassified) and ``t2_status``.
    """
    if model is None or isinstance(model, str):
        model = load_model(model)
    lightcurves, object_ids = lightcurves_from_table(df)
    status = apply_cuts(lightcurves, SelectionCuts() if cuts is None else cuts)
    probabilities, uncertainty, status = classify_batch(lightcurves, status, model, gp_backend)
    out = pd.DataFrame(probabilities, columns=model.classes)
    out.insert(0, "objectId", np.asarray(object_ids))
    out["t2_class"] = most_probable_class(probabilities, status, model.classes)
    out["t2_uncertainty"] = uncertainty
    out["t2_status"] = status
    return out
