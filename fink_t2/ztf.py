"""ZTF alerts: their bands, schema names and selection context, and their light curves.

Everything this package knows about ZTF alerts is here; the core (light curves, GP,
models, classify) knows no survey. A ZTF alert (Fink schema) carries ``candidate`` and
``prv_candidates`` (or Fink's history columns ``cjd``, ``cfid``, ...): PSF magnitudes of
difference images with ``isdiffpos`` for the sign, in g (fid 1) and r (fid 2); i (fid 3)
is dropped, never mapped to r. Magnitudes become FLUXCAL with ``lightcurves.mag_to_fluxcal``.
"""
import logging
from typing import Optional, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from .classify import classify_batch, most_probable_class
from .cuts import SelectionCuts, apply_cuts
from .lightcurves import POINT_COLUMNS, LightCurves, flatten_rows, lightcurves_from_points, mag_to_fluxcal, row_lengths
from .models import DEFAULT_MODELS, T2Model, default_min_bands, load_model

log = logging.getLogger(__name__)

#: Band order of ZTF light curves and of the ZTF models' input: index -> band name.
BANDS = ("g", "r")
#: ZTF filter id -> band index in ``BANDS``. fid 3 (i) is deliberately absent.
FID_TO_BAND = {1: 0, 2: 1}
#: Magnitudes outside this range are treated as corrupt (ZTF reaches ~12-23).
MAG_RANGE = (5.0, 30.0)
#: ``isdiffpos`` values meaning a negative difference flux (lower-cased).
NEGATIVE_DIFF_VALUES = ("f", "0", "false", "-", "-1")
#: Days of history a ZTF alert carries (``prv_candidates``).
HISTORY_DAYS = 30.0
#: Most points a ZTF light curve's GP is fitted on (longer ones are thinned evenly; an alert's 30 days hold far
#: fewer).
GP_MAX_POINTS = 300
#: ZTF light curves are not binned in time (a night holds one or two points per band).
BIN_DAYS = None
#: Effective wavelengths of ZTF g and r, Angstrom, in ``BANDS`` order.
WAVELENGTHS_A = (4804.79, 6436.92)

#: SIMBAD classes (Fink ``cdsxmatch``) compatible with an extragalactic transient:
#: galaxies, unknown or failed cross-matches, and known SN/transient labels.
EXTRAGALACTIC_HOSTS = (
    "Unknown", "Fail", "Candidate_SN*", "SN", "Transient",
    "galaxy", "Galaxy", "EmG", "Seyfert", "Seyfert_1", "Seyfert_2", "BlueCompG", "StarburstG",
    "LSB_G", "HII_G", "High_z_G", "GinPair", "GinGroup", "BClG", "GinCl", "PartofG",
)
#: Fink ``roid`` value flagging a known solar-system object.
ROID_SOLAR_SYSTEM = 3


def default_cuts(min_bands: int = 2) -> SelectionCuts:
    """Fink's cuts for ZTF alerts (those of its previous t2 and SuperNNova modules): >= 2 detections, in g and r
    (``min_bands``: as many bands as the model's card asks, ``models.default_min_bands``), at most 90 days
    since the source first varied (``jdstarthist``), no known solar-system object (``roid``), a SIMBAD class
    (``cdsxmatch``) compatible with an extragalactic transient."""
    return SelectionCuts(min_bands=min_bands, hosts=EXTRAGALACTIC_HOSTS)


_ALERT_FIELDS = [("jd", pa.float64()), ("fid", pa.int32()), ("magpsf", pa.float32()), ("sigmapsf", pa.float32()),
                 ("isdiffpos", pa.string()), ("diffmaglim", pa.float32())]
_CANDIDATE = pa.struct(_ALERT_FIELDS + [("jdstarthist", pa.float64())])
AVRO_ARROW_SCHEMA = pa.schema([
    ("candid", pa.int64()), ("objectId", pa.string()), ("candidate", _CANDIDATE),
    ("prv_candidates", pa.list_(pa.struct(_ALERT_FIELDS))), ("cdsxmatch", pa.string()), ("roid", pa.int32()),
])


#: Columns that identify an alert and its object in an output.
ID_COLUMNS = ("candid", "objectId")
#: Fink's history columns (history first, current alert last) and the alert field each comes from.
HISTORY_COLUMNS = {"cjd": "jd", "cfid": "fid", "cmagpsf": "magpsf", "csigmapsf": "sigmapsf",
                   "cisdiffpos": "isdiffpos"}
#: Alert fields the module reads, and the Arrow type test each must pass.
REQUIRED_FIELDS = {"jd": pa.types.is_floating, "fid": pa.types.is_integer, "magpsf": pa.types.is_floating,
                   "sigmapsf": pa.types.is_floating}
#: The history columns that, all present, stand in for ``candidate`` + ``prv_candidates``.
REQUIRED_HISTORY_COLUMNS = [name for name, field in HISTORY_COLUMNS.items() if field in REQUIRED_FIELDS]


def mag_table_points(table: pd.DataFrame) -> pd.DataFrame:
    """Points (``POINT_COLUMNS``) of a long magnitude table (objectId, mjd, band g/r, mag, magerr).

    Magnitudes become FLUXCAL; a band other than g/r gets index -1 and a
    non-numeric value NaN, both dropped later by ``lightcurves_from_points``.
    """
    number = lambda column: pd.to_numeric(table[column], errors="coerce").to_numpy(float)  # noqa: E731
    flux, fluxerr = mag_to_fluxcal(number("mag"), number("magerr"))
    band = pd.Series(table["band"]).map({name: i for i, name in enumerate(BANDS)}).fillna(-1).to_numpy(np.int64)
    return pd.DataFrame({"object_id": table["objectId"].to_numpy(), "mjd": number("mjd"), "band": band,
                         "flux_fluxcal": flux, "fluxerr_fluxcal": fluxerr})


def is_positive_difference(isdiffpos) -> np.ndarray:
    """Boolean array: True where the difference flux is positive.

    Accepts the ZTF encodings 't'/'f', '1'/'0', booleans and numbers; a missing
    value counts as positive (``magpsf`` is the magnitude of |difference flux|).
    """
    values = np.asarray(isdiffpos, dtype=object)
    if values.size == 0:
        return np.zeros(0, dtype=bool)
    text = np.char.lower(np.char.strip(values.astype(str)))
    return ~np.isin(text, NEGATIVE_DIFF_VALUES)


def lightcurves_from_alerts(jd, fid, magpsf, sigmapsf, isdiffpos: Optional[Sequence] = None) -> LightCurves:
    """Light curves from a batch of alert histories.

    Each argument is a sequence of length n (one entry per alert) of 1-D arrays
    holding the alert's history, as Fink's ``cjd``, ``cfid``, ``cmagpsf``,
    ``csigmapsf`` and ``cisdiffpos`` columns do (history first, current alert
    last). An entry may be None or empty. ``isdiffpos`` None (for the batch or
    for one alert) means positive differences. An alert whose arrays differ in
    length is malformed: it gets no points (and is then cut), the batch goes on.
    Returns the padded ``LightCurves`` of the n alerts, in input order.
    """
    lengths = row_lengths(jd)
    well_formed = np.ones(len(lengths), dtype=bool)
    for rows in (fid, magpsf, sigmapsf):
        well_formed &= row_lengths(rows) == lengths
    if isdiffpos is None:
        isdiffpos = [None] * len(lengths)
    has_sign = np.array([row is not None for row in isdiffpos], dtype=bool)
    well_formed &= ~has_sign | (row_lengths(isdiffpos) == lengths)
    use = well_formed & (lengths > 0)

    object_index = np.repeat(np.arange(len(lengths)), np.where(use, lengths, 0))
    mag = flatten_rows(magpsf, use, float)
    with np.errstate(invalid="ignore"):
        mag = np.where((mag > MAG_RANGE[0]) & (mag < MAG_RANGE[1]), mag, np.nan)
    flux, fluxerr = mag_to_fluxcal(mag, flatten_rows(sigmapsf, use, float))
    positive = np.ones(len(flux), dtype=bool)  # alerts without a sign count as positive
    positive[np.repeat(has_sign, np.where(use, lengths, 0))] = is_positive_difference(
        flatten_rows(isdiffpos, use & has_sign, object))
    flux = np.where(positive, flux, -flux)

    fid_flat = flatten_rows(fid, use, float)
    band = np.full(len(fid_flat), -1, dtype=np.int64)
    for fid_value, band_index in FID_TO_BAND.items():
        band[fid_flat == fid_value] = band_index
    return lightcurves_from_points(object_index, len(lengths), flatten_rows(jd, use, float), band, flux, fluxerr,
                                  n_bands=len(BANDS))


def classify_alerts(jd, fid, magpsf, sigmapsf, isdiffpos=None, jdstarthist=None, roid=None, cdsxmatch=None,
                    cuts: Optional[SelectionCuts] = None, model: Optional[T2Model] = None,
                    gp_backend: str = "batched", redshift=None, redshift_err=None):
    """Classify a batch of alerts from their history arrays (see ``lightcurves_from_alerts``).

    Optional per-alert context (``jdstarthist``, ``roid``, ``cdsxmatch``) feeds the
    selection cuts; None skips the cut that needs it. ``jdstarthist`` also dates the object's first detection
    for models that read its age (``models.AUX_INPUTS``); None: the history's first point. ``redshift`` and
    ``redshift_err`` (n,): the hosts' redshifts where known (NaN elsewhere), for a model with host-redshift
    densities (``redshift``). Returns ``(probabilities (n, n_classes) with NaN rows where not ok, uncertainty
    (n,), status (n,))``.
    """
    model = model or load_model(DEFAULT_MODELS["ztf"])
    cuts = default_cuts(default_min_bands(model.card)) if cuts is None else cuts
    lightcurves = lightcurves_from_alerts(jd, fid, magpsf, sigmapsf, isdiffpos)
    solar_system = None if roid is None else np.asarray(roid, dtype=float) == ROID_SOLAR_SYSTEM
    status = apply_cuts(lightcurves, cuts, first_jd=jdstarthist, solar_system=solar_system, host_class=cdsxmatch)
    return classify_batch(lightcurves, status, model, gp_backend, jdstarthist, redshift, redshift_err)


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
                                          *(points[c].to_numpy()[keep] for c in POINT_COLUMNS[1:]), n_bands=len(BANDS))
    return lightcurves, object_ids


def first_value_per_object(df: pd.DataFrame, column: str) -> pd.Series:
    """objectId -> the first non-null value of a long table's ``column`` for that object, as a number (NaN where
    it is not one): how an object's host redshift is read from a light-curve table."""
    return pd.to_numeric(df.groupby("objectId", sort=False)[column].first(), errors="coerce")


def classify_lightcurves(df: pd.DataFrame, model=None, cuts: Optional[SelectionCuts] = None,
                         gp_backend: str = "batched") -> pd.DataFrame:
    """Classify every object of a long light-curve table.

    ``df`` has columns ``objectId``, ``mjd``, ``band`` (``g``/``r``; others are
    ignored), ``mag``, ``magerr`` (PSF difference magnitudes of detections).
    ``model`` is a ``T2Model``, a model name or None (the default model).
    ``cuts`` defaults to the light-curve cuts only (>= 2 points, in both bands unless the model's card asks one);
    the alert-context cuts need alert columns and are skipped. Optional columns ``redshift`` and
    ``redshift_err`` (an object's first non-null value): its host's redshift and error, for a model with
    host-redshift densities (``redshift``).
    Returns one row per object: ``objectId``, one float column per class (NaN when
    unclassified), ``t2_class`` (empty when unclassified), ``t2_uncertainty`` (NaN when
    unclassified) and ``t2_status``.
    """
    if model is None or isinstance(model, str):
        model = load_model(model or DEFAULT_MODELS["ztf"])
    lightcurves, object_ids = lightcurves_from_table(df)
    cuts = SelectionCuts(min_bands=default_min_bands(model.card)) if cuts is None else cuts
    status = apply_cuts(lightcurves, cuts)
    host = [first_value_per_object(df, column).reindex(object_ids).to_numpy(float) if column in df.columns else None
            for column in ("redshift", "redshift_err")]
    if host[0] is not None and model.redshift_prior is None:
        log.warning("t2: model '%s' has no host-redshift densities: the table's redshift column is not used",
                    model.card.get("id"))
    probabilities, uncertainty, status = classify_batch(lightcurves, status, model, gp_backend, None, *host)
    out = pd.DataFrame(probabilities, columns=model.classes)
    out.insert(0, "objectId", np.asarray(object_ids))
    out["t2_class"] = most_probable_class(probabilities, status, model.classes)
    out["t2_uncertainty"] = uncertainty
    out["t2_status"] = status
    return out
