"""Rubin/LSST alerts: their bands, flux unit and schema names, and their light curves.

Everything this package knows about Rubin alerts is here; the core (light curves, GP,
models, classify) knows no survey. Two schemas are read, by field name:

- Rubin's alert packet (lsst.v5 to v11; Fink stores v10): ``diaSource`` and ``prvDiaSources``
  with ``midpointMjdTai`` (MJD, TAI), ``band`` (u g r i z y), ``psfFlux`` and ``psfFluxErr`` (nJy);
- ELAsTiCC (DESC's simulated LSST alerts, as Fink received them in 2023) and Rubin's schemas 3 and 4:
  ``midPointTai``, ``filterName`` (``Y`` for y), ``psFlux`` and ``psFluxErr``.

Fluxes are difference-image PSF fluxes, signed (a negative flux is a measurement, not a
non-detection); they become FLUXCAL (zero point 27.5) by ``NJY_TO_FLUXCAL``, and MJD becomes JD.
"""
from typing import Optional

import numpy as np
import pandas as pd

from .classify import classify_batch
from .cuts import SelectionCuts, apply_cuts
from .lightcurves import LightCurves, flatten_rows, lightcurves_from_points, row_lengths
from .models import DEFAULT_MODELS, T2Model, default_min_bands, load_model

#: Band order of Rubin light curves and of the LSST model's input.
BANDS = ("u", "g", "r", "i", "z", "y")
#: Effective wavelengths (Angstrom) of the LSST bands used for GP work on PLAsTiCC (avocado), ``BANDS`` order.
WAVELENGTHS_A = (3671.0, 4827.0, 6223.0, 7546.0, 8691.0, 9712.0)
#: Days of history a Rubin alert carries (``prvDiaSources``: 12 months).
HISTORY_DAYS = 365.0
#: Days before an object's first detection that its forced photometry (``prvDiaForcedSources``) can start:
#: Rubin measures a new object's precovery forced photometry over the previous 30 days (LSE-163, the Data
#: Products Definition Document). The ELAsTiCC alerts start at most 29.8 days before; the real alerts of
#: ``fink_lsst_2026-03-27`` at the first detection.
PRECOVERY_DAYS = 30.0
#: Rubin light curves are binned by night and band before the GP (``LightCurves.binned``; JD bins change at
#: 12:00 UTC, daytime in Chile). The real alerts hold a median of ~700 detections in 34 night-bands in the
#: event window, and their scatter within a night is 56 times their variance: on the raw points half of
#: the GP fits end at the 1-day bound of the time scale, on nightly bins 5%.
BIN_DAYS = 1.0
#: Most points (after the bins) a Rubin light curve's GP is fitted on: the fit is cubic in them; longer
#: light curves are thinned evenly by rank, first and last kept.
GP_MAX_POINTS = 48
#: nJy (AB zero point 31.4) -> FLUXCAL (zero point 27.5).
NJY_TO_FLUXCAL = 10.0 ** (-0.4 * (31.4 - 27.5))
#: MJD -> JD, so that Rubin light curves count time in JD as ZTF ones do.
MJD_TO_JD = 2400000.5
#: The per-source arrays a Rubin light curve is made of (``lightcurves_from_alerts``'s arguments), in order.
ALERT_ROLES = ("time_mjd", "band", "flux_njy", "fluxerr_njy")
#: Schema -> the names of the fields read from ``diaSource`` and ``prvDiaSources`` (and, for forced
#: photometry, ``prvDiaForcedSources``), by role.
FIELD_NAMES = {
    "rubin": {"time_mjd": "midpointMjdTai", "band": "band", "flux_njy": "psfFlux", "fluxerr_njy": "psfFluxErr"},
    "elasticc": {"time_mjd": "midPointTai", "band": "filterName", "flux_njy": "psFlux", "fluxerr_njy": "psFluxErr"},
}
#: Identifiers read where present: the source and its object (for the output) and, for the solar-system cut,
#: the solar-system object it was associated with.
SOURCE_ID, OBJECT_ID, SOLAR_SYSTEM_ID = "diaSourceId", "diaObjectId", "ssObjectId"
#: Columns of a Rubin alert; ELAsTiCC alerts also have an ``alertId``.
SOURCE_COLUMN, HISTORY_COLUMN, FORCED_COLUMN, ALERT_ID = "diaSource", "prvDiaSources", "prvDiaForcedSources", "alertId"


def schema_of(field_names) -> str:
    """``"rubin"`` or ``"elasticc"``: the schema whose field names ``diaSource`` has; ValueError naming the
    fields when it has neither set."""
    names = set(field_names)
    for schema, fields in FIELD_NAMES.items():
        if set(fields.values()) <= names:
            return schema
    raise ValueError(f"column '{SOURCE_COLUMN}' lacks the fields of a Rubin alert: it needs "
                     + " or ".join(str(sorted(f.values())) for f in FIELD_NAMES.values()))


def default_cuts(min_bands: int = 2) -> SelectionCuts:
    """Cuts for Rubin alerts: >= 2 detections in >= ``min_bands`` bands on >= 2 nights (a span of 0.5 days:
    one night's visits in several bands show colours but no evolution), no source associated with a known
    solar-system object (``ssObjectId``). No age cut (a Rubin alert carries 12 months of history and the
    model knows periodic and stochastic variables too) and no host cut (the alert packet has no cross-match)."""
    return SelectionCuts(min_points=2, min_bands=min_bands, min_span_days=0.5, max_days_since_start=None,
                         reject_solar_system=True, hosts=None)


def band_index(band_names) -> np.ndarray:
    """(m,) index into ``BANDS`` of each band name (case-insensitive: ELAsTiCC writes ``Y``), -1 if unknown."""
    codes, names = pd.factorize(np.asarray(band_names, dtype=object))  # a handful of distinct names
    index_of_name = np.array([BANDS.index(n.lower()) if isinstance(n, str) and n.lower() in BANDS else -1
                              for n in names] + [-1], dtype=np.int64)
    return index_of_name[codes]  # code -1 (a null name) takes the last entry, -1


#: ``BANDS`` index of each byte: the band letters in either case, -1 for any other byte.
_INDEX_OF_BYTE = np.full(256, -1, dtype=np.int64)
for _index, _letter in enumerate(BANDS):
    _INDEX_OF_BYTE[[ord(_letter), ord(_letter.upper())]] = _index


def band_index_of_letters(letters, use) -> np.ndarray:
    """(m,) index into ``BANDS`` of every character of the strings ``letters`` where ``use`` is True (one band
    letter per source, as the Spark edge sends them), -1 for any other character."""
    joined = "".join(row for row, keep in zip(letters, use) if keep)
    return _INDEX_OF_BYTE[np.frombuffer(joined.encode("ascii", "replace"), dtype=np.uint8)]


def lightcurves_from_alerts(time_mjd, band, flux_njy, fluxerr_njy) -> LightCurves:
    """Light curves from a batch of Rubin alert histories.

    Each argument is a sequence of length n (one entry per alert) of 1-D arrays: the alert's
    sources (``prvDiaSources`` then ``diaSource``, then any forced sources), MJD (TAI), band name, PSF flux
    and error in nJy. The bands may also come as one string per alert, a letter per source (``"ugg..."``, as
    the Spark edge sends them: one Python object per alert instead of one per source). An entry may be None or
    empty; an alert whose arrays differ in length is malformed and gets no points (it is then cut). A source
    seen twice (same ``diaSourceId``: same time and band), or two sources of one visit in one band, count once,
    the first given (``lightcurves_from_points``): a forced source on a detection's visit counts as that
    detection.
    Returns the light curves of the n alerts in FLUXCAL, time in JD, in input order.
    """
    lengths = row_lengths(time_mjd)
    well_formed = np.ones(len(lengths), dtype=bool)
    for rows in (band, flux_njy, fluxerr_njy):
        well_formed &= row_lengths(rows) == lengths
    use = well_formed & (lengths > 0)
    object_index = np.repeat(np.arange(len(lengths)), np.where(use, lengths, 0))
    jd = flatten_rows(time_mjd, use, float) + MJD_TO_JD
    as_letters = all(isinstance(row, str) for row, keep in zip(band, use) if keep)
    band_flat = band_index_of_letters(band, use) if as_letters else band_index(flatten_rows(band, use, object))
    flux = flatten_rows(flux_njy, use, float) * NJY_TO_FLUXCAL
    fluxerr = flatten_rows(fluxerr_njy, use, float) * NJY_TO_FLUXCAL
    return lightcurves_from_points(object_index, len(lengths), jd, band_flat, flux, fluxerr, n_bands=len(BANDS))


def classify_alerts(time_mjd, band, flux_njy, fluxerr_njy, solar_system=None,
                    cuts: Optional[SelectionCuts] = None, model: Optional[T2Model] = None,
                    gp_backend: str = "batched"):
    """Classify a batch of Rubin alerts from their source arrays (see ``lightcurves_from_alerts``).

    ``solar_system`` (n,) bool, True where the alert's source is associated with a known solar-system
    object, feeds that cut (None skips it). ``model`` defaults to the LSST model. Returns
    ``(probabilities (n, n_classes) with NaN rows where not ok, uncertainty (n,), status (n,))``.
    """
    model = model or load_model(DEFAULT_MODELS["lsst"])
    cuts = default_cuts(default_min_bands(model.card)) if cuts is None else cuts
    lightcurves = lightcurves_from_alerts(time_mjd, band, flux_njy, fluxerr_njy)
    status = apply_cuts(lightcurves, cuts, solar_system=solar_system)
    return classify_batch(lightcurves, status, model, gp_backend)


def alert_arrays(table, forced: bool = False) -> dict:
    """Per-alert source arrays of an Arrow table of Rubin or ELAsTiCC alerts, for ``classify_alerts``.

    Returns a dict role -> list (one 1-D array per alert) for ``ALERT_ROLES`` (``time_mjd``, ``band``,
    ``flux_njy``, ``fluxerr_njy``): ``prvDiaSources`` then ``diaSource`` (with ``forced``, then the
    ``prvDiaForcedSources``: a forced source on a detection's visit then counts as that detection, see
    ``lightcurves_from_alerts``); ``first_detection_mjd`` (n,), the earliest time of the alert's sources (not
    of its forced sources; inf where none), and ``solar_system`` (n,) bool.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    source = table.column(SOURCE_COLUMN).combine_chunks()
    names = FIELD_NAMES[schema_of(f.name for f in source.type)]
    arrays = [table.column(HISTORY_COLUMN).combine_chunks(), source]
    if forced and FORCED_COLUMN in table.column_names:
        arrays.append(table.column(FORCED_COLUMN).combine_chunks())
    n = table.num_rows

    def parts(array, role):
        """(values, owner alert) of one field of a list-of-struct column, or of the struct column."""
        if isinstance(array, pa.StructArray):
            return array.field(names[role]).to_numpy(zero_copy_only=False), np.arange(n)
        lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy()
        values = pc.list_flatten(array)  # skips null lists
        return values.field(names[role]).to_numpy(zero_copy_only=False), np.repeat(np.arange(n), lengths)

    out = {}
    for role in ALERT_ROLES:
        pieces = [parts(array, role) for array in arrays]
        if role == "time_mjd":
            out["first_detection_mjd"] = np.full(n, np.inf)
            for values, owner in pieces[:2]:  # the sources
                np.minimum.at(out["first_detection_mjd"], owner, np.asarray(values, dtype=float))
        values = np.concatenate([np.asarray(v, dtype=object) if role == "band" else
                                 np.asarray(v, dtype=float) for v, _ in pieces])
        owner = np.concatenate([o for _, o in pieces])
        order = np.argsort(owner, kind="stable")  # per alert: history, the alert's own source, forced sources
        out[role] = np.split(values[order], np.cumsum(np.bincount(owner, minlength=n))[:-1])
    ss_index = source.type.get_field_index(SOLAR_SYSTEM_ID)
    ss = source.field(ss_index).to_numpy(zero_copy_only=False) if ss_index >= 0 else np.full(n, None, object)
    out["solar_system"] = is_solar_system(ss)
    return out


def is_solar_system(ss_object_id) -> np.ndarray:
    """(n,) True where ``ssObjectId`` names a solar-system object (null and 0 mean none)."""
    ids = pd.to_numeric(pd.Series(np.asarray(ss_object_id, dtype=object)), errors="coerce").to_numpy(float)
    return np.isfinite(ids) & (ids != 0)


def avro_arrow_schema(schema: str):
    """Arrow schema under which Rubin (``schema`` ``"rubin"``) or ELAsTiCC Avro alerts are read: the
    identifiers and the source fields this package uses, nothing else (no cutouts)."""
    import pyarrow as pa

    names = FIELD_NAMES[schema]
    # as the alert packet and Fink's parquet hold them: fluxes in single precision
    measured = [(names["time_mjd"], pa.float64()), (names["band"], pa.string()), (names["flux_njy"], pa.float32()),
                (names["fluxerr_njy"], pa.float32()), (OBJECT_ID, pa.int64())]
    source = pa.struct([(SOURCE_ID, pa.int64()), (SOLAR_SYSTEM_ID, pa.int64())] + measured)
    return pa.schema([(SOURCE_ID, pa.int64()), (ALERT_ID, pa.int64()), (SOURCE_COLUMN, source),
                      (HISTORY_COLUMN, pa.list_(source)), (FORCED_COLUMN, pa.list_(pa.struct(measured)))])
