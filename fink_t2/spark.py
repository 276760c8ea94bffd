"""Spark edge: the pandas UDF and the helper that adds the t2 columns to a DataFrame of ZTF or Rubin alerts.

Output columns (one value per input row, never a dropped row):

- ``t2``: map class name -> probability (float); null when the alert is not classified;
- ``t2_class``: most probable class; empty string when not classified;
- ``t2_uncertainty``: in [0, 1], normalised predictive entropy (or, with ``uncertainty="ensemble"``,
  the fold models' normalised mutual information, see ``probabilities``); null when not classified;
- ``t2_status``: ``ok``, ``cut:<name>`` (selection cut), ``error:gp`` or ``error:model``.
"""
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from . import rubin, ztf
from .classify import STATUS_OK, most_probable_class
from .cuts import SelectionCuts
from .lightcurves import row_lengths
from .models import DEFAULT_MODELS, load_model, read_card
from .redshift import check_host_redshift
from .surveys import check_model_survey, default_cuts_for, survey_of_names
from .ztf import HISTORY_COLUMNS, REQUIRED_FIELDS, REQUIRED_HISTORY_COLUMNS

log = logging.getLogger(__name__)

OUTPUT_COLUMNS = ("t2", "t2_class", "t2_uncertainty", "t2_status")
#: Suffix of input columns that share a name with an output column, where they are kept (archival Fink data).
KEPT_SUFFIX = "_input"
#: log4j2 configuration of a quiet driver: errors only (Spark's default prints WARN lines at every start).
QUIET_LOG4J = Path(__file__).resolve().parent / "data" / "log4j2-quiet.properties"


#: History points (summed over alerts) classified per call within one Arrow batch (Spark's default batch holds up
#: to 10,000 rows). A call on about 500 real Rubin alerts with forced sources (~1,000 points each) keeps its arrays
#: in cache and reuses freed memory; one on 10,000 of them (tens of MB per array) maps them afresh at every batch:
#: 2.4-3.1 ms per alert in-process instead of 1.3-1.7 (2026-12-01). A batch of ZTF alerts (~30 points each) is
#: one call: smaller calls only add their overhead.
POINTS_PER_CALL = 500_000


#: The UDF's struct: the probabilities as an array in the order of the model's classes, made the ``t2`` map in the
#: JVM (``add_t2_columns``): Spark turns a pandas column of dicts into Arrow maps one Python object at a time,
#: ~10x the cost of a column of arrays (0.045 against 0.004 ms per alert, 2026-12-02).
PROBABILITIES = "t2_probabilities"


def output_schema():
    from pyspark.sql import types as T

    return T.StructType([
        T.StructField(PROBABILITIES, T.ArrayType(T.FloatType())),
        T.StructField("t2_class", T.StringType()),
        T.StructField("t2_uncertainty", T.FloatType()),
        T.StructField("t2_status", T.StringType()),
    ])


def _output_frame(probabilities, uncertainties, status, classes) -> pd.DataFrame:
    """The UDF's struct fields from ``classify_batch``'s outputs: null probabilities, empty class and null
    uncertainty where the status is not ok."""
    ok = status == STATUS_OK
    return pd.DataFrame({PROBABILITIES: [row if keep else None for row, keep in zip(probabilities, ok)],
                         "t2_class": most_probable_class(probabilities, status, classes),
                         "t2_uncertainty": pd.Series(uncertainties, dtype="float32").where(ok),
                         "t2_status": status.astype(str)})


def _in_chunks(classify, *columns: pd.Series, points_per_call: int = POINTS_PER_CALL) -> tuple:
    """``classify(*columns)`` -> (probabilities, uncertainty, status), called on consecutive rows holding about
    ``points_per_call`` history points (the lengths of ``columns[0]``) at a time, and concatenated."""
    lengths = row_lengths(columns[0])
    chunk = (np.cumsum(lengths) - lengths) // points_per_call  # by the points before each row
    bounds = [0, *(np.flatnonzero(np.diff(chunk)) + 1).tolist(), len(lengths)]
    parts = [classify(*(c.iloc[start:end] for c in columns)) for start, end in zip(bounds[:-1], bounds[1:])]
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


def t2_udf(model_name: Optional[str] = None, cuts: Optional[SelectionCuts] = None, gp_backend: str = "batched",
           engine: Optional[str] = None, uncertainty: str = "entropy", survey: str = "ztf"):
    """A pandas UDF classifying alerts; returns a struct (``t2_probabilities``: an array in the order of the
    model's classes, ``t2_class``, ``t2_uncertainty``, ``t2_status``).

    Arguments, in order, for ZTF: ``cjd, cfid, cmagpsf, csigmapsf, cisdiffpos`` (history
    arrays), ``jdstarthist`` (double), ``roid`` (int), ``cdsxmatch`` (string), ``redshift`` and ``redshift_err``
    (double: the host's, null where unknown; see ``redshift``); for LSST
    (``rubin_columns``): ``time_mjd, flux_njy, fluxerr_njy`` (source arrays), ``band`` (a string, a letter
    per source) and ``ss_object_id`` (long). A context column may be a null literal when ``cuts`` disables
    the cut that uses it. The model (default: the survey's) is loaded once per Python worker and called
    once per ``POINTS_PER_CALL`` history points of an Arrow batch, by ``engine`` (``models.load_model``; default ONNX
    Runtime), with the ``uncertainty`` asked (``entropy``, or ``ensemble``: the fold models run too, about 6
    times the model's cost).
    """
    from pyspark.sql.functions import pandas_udf

    model_name = model_name or DEFAULT_MODELS[survey]
    cuts = default_cuts_for(read_card(model_name), survey) if cuts is None else cuts

    @pandas_udf(output_schema())
    def t2_ztf(cjd: pd.Series, cfid: pd.Series, cmagpsf: pd.Series, csigmapsf: pd.Series, cisdiffpos: pd.Series,
               jdstarthist: pd.Series, roid: pd.Series, cdsxmatch: pd.Series, redshift: pd.Series,
               redshift_err: pd.Series) -> pd.DataFrame:
        model = load_model(model_name, engine=engine, uncertainty=uncertainty)
        numbers = lambda column: pd.to_numeric(column, errors="coerce").to_numpy(float)  # noqa: E731

        def classify(cjd, cfid, cmagpsf, csigmapsf, cisdiffpos, jdstarthist, roid, cdsxmatch, redshift, redshift_err):
            return ztf.classify_alerts(
                cjd, cfid, cmagpsf, csigmapsf, cisdiffpos, jdstarthist=numbers(jdstarthist), roid=numbers(roid),
                cdsxmatch=cdsxmatch.to_numpy(object), cuts=cuts, model=model, gp_backend=gp_backend,
                redshift=numbers(redshift), redshift_err=numbers(redshift_err))

        result = _in_chunks(classify, cjd, cfid, cmagpsf, csigmapsf, cisdiffpos, jdstarthist, roid, cdsxmatch,
                            redshift, redshift_err)
        return _output_frame(*result, model.classes)

    @pandas_udf(output_schema())
    def t2_lsst(time_mjd: pd.Series, band: pd.Series, flux_njy: pd.Series, fluxerr_njy: pd.Series,
                ss_object_id: pd.Series) -> pd.DataFrame:
        model = load_model(model_name, engine=engine, uncertainty=uncertainty)

        def classify(time_mjd, band, flux_njy, fluxerr_njy, ss_object_id):
            return rubin.classify_alerts(time_mjd, band, flux_njy, fluxerr_njy,
                                         solar_system=rubin.is_solar_system(ss_object_id), cuts=cuts, model=model,
                                         gp_backend=gp_backend)

        result = _in_chunks(classify, time_mjd, band, flux_njy, fluxerr_njy, ss_object_id)
        return _output_frame(*result, model.classes)

    return {"ztf": t2_ztf, "lsst": t2_lsst}[survey]


def key_columns(df, survey: Optional[str] = None) -> list:
    """The columns that identify each alert in an output: ZTF ``candid``, ``objectId``; Rubin ``diaSourceId``,
    ``diaObjectId`` (from ``diaSource``) and ``alertId`` (ELAsTiCC), those the input has."""
    from pyspark.sql import functions as F

    if (survey or survey_of_names(df.columns)) == "ztf":
        return [F.col(c) for c in ztf.ID_COLUMNS if c in df.columns]
    source_fields = _field_names(df, rubin.SOURCE_COLUMN)
    in_source = lambda name: F.col(f"{rubin.SOURCE_COLUMN}.{name}").alias(name)  # noqa: E731
    keys = [F.col(rubin.SOURCE_ID) if rubin.SOURCE_ID in df.columns else in_source(rubin.SOURCE_ID)]
    keys += [in_source(rubin.OBJECT_ID)] if rubin.OBJECT_ID in source_fields else []
    return keys + ([F.col(rubin.ALERT_ID)] if rubin.ALERT_ID in df.columns else [])


def rubin_columns(df, cuts: SelectionCuts, forced: bool = False):
    """The LSST UDF's input columns from ``diaSource`` and ``prvDiaSources`` (Rubin or ELAsTiCC names;
    ``forced``: ``prvDiaForcedSources`` too), and ``cuts`` with the solar-system cut disabled where
    ``diaSource`` has no ``ssObjectId``."""
    from pyspark.sql import functions as F

    if rubin.HISTORY_COLUMN not in df.columns:
        raise ValueError(f"missing column '{rubin.HISTORY_COLUMN}': Rubin alerts need '{rubin.SOURCE_COLUMN}' "
                         f"and '{rubin.HISTORY_COLUMN}'")
    source_fields = _field_names(df, rubin.SOURCE_COLUMN)
    names = rubin.FIELD_NAMES[rubin.schema_of(source_fields)]
    if forced and rubin.FORCED_COLUMN not in df.columns:
        log.warning("t2: column '%s' is absent: the model reads forced photometry and gets detections only",
                    rubin.FORCED_COLUMN)
    lists = [rubin.HISTORY_COLUMN] + ([rubin.FORCED_COLUMN] if forced and rubin.FORCED_COLUMN in df.columns else [])
    for column in lists:
        missing = set(names.values()) - _field_names(df, column)
        if missing:
            raise ValueError(f"column '{column}' has no field(s) {sorted(missing)}")
    types = {"time_mjd": "double", "band": "string", "flux_njy": "double", "fluxerr_njy": "double"}
    cols = {}
    for role in rubin.ALERT_ROLES:
        array_type = f"array<{types[role]}>"
        past = [F.coalesce(F.col(f"{c}.{names[role]}").cast(array_type), F.array().cast(array_type)) for c in lists]
        source = F.array(F.col(f"{rubin.SOURCE_COLUMN}.{names[role]}").cast(types[role]))
        cols[role] = F.concat(past[0], source, *past[1:])  # as rubin.alert_arrays: sources, then forced sources
    # one string per alert, a letter per source: cheaper to move to Python than an array of strings
    cols["band"] = F.array_join(cols["band"], "", "?")
    has_ss = rubin.SOLAR_SYSTEM_ID in source_fields
    if cuts.reject_solar_system and not has_ss:
        log.warning("t2: field '%s.%s' is absent: the solar-system cut is skipped", rubin.SOURCE_COLUMN,
                    rubin.SOLAR_SYSTEM_ID)
    cols["ss_object_id"] = (F.col(f"{rubin.SOURCE_COLUMN}.{rubin.SOLAR_SYSTEM_ID}").cast("long") if has_ss
                            else F.lit(None).cast("long"))
    return cols, replace(cuts, reject_solar_system=cuts.reject_solar_system and has_ss)


def _field_names(df, column):
    from pyspark.sql import types as T

    data_type = df.schema[column].dataType
    if isinstance(data_type, T.ArrayType):
        data_type = data_type.elementType
    if not isinstance(data_type, T.StructType):
        raise ValueError(f"column '{column}' should be a struct (or array of struct), not {data_type.simpleString()}")
    return set(data_type.fieldNames())


def history_columns(df):
    """Fink's ``cjd``, ``cfid``, ... columns of ``df``: the existing ones, or built from
    ``prv_candidates`` and ``candidate`` (history first, current alert last; a null or
    empty ``prv_candidates`` gives a history of one point)."""
    from pyspark.sql import functions as F

    if all(c in df.columns for c in REQUIRED_HISTORY_COLUMNS):
        cols = {c: F.col(c) for c in HISTORY_COLUMNS if c in df.columns}
        cols.setdefault("cisdiffpos", F.lit(None).cast("array<string>"))
        return cols
    for column in ("candidate", "prv_candidates"):
        if column not in df.columns:
            raise ValueError(f"missing column '{column}': alerts need 'candidate' and 'prv_candidates' "
                             f"(or Fink's history columns {REQUIRED_HISTORY_COLUMNS})")
    candidate, history = _field_names(df, "candidate"), _field_names(df, "prv_candidates")
    for field in REQUIRED_FIELDS:
        for column, fields in (("candidate", candidate), ("prv_candidates", history)):
            if field not in fields:
                raise ValueError(f"column '{column}' has no field '{field}'")
    cols = {}
    for name, field in HISTORY_COLUMNS.items():
        if field not in candidate or field not in history:
            cols[name] = F.lit(None).cast("array<string>")
            continue
        current = F.col(f"candidate.{field}")
        element_type = df.schema["candidate"].dataType[field].dataType.simpleString()
        past = F.coalesce(F.col(f"prv_candidates.{field}"), F.array().cast(f"array<{element_type}>"))
        cols[name] = F.concat(past, F.array(current))
    return cols


def context_columns(df, cuts: SelectionCuts):
    """Columns for the alert-context cuts, and ``cuts`` with every cut whose column is absent disabled."""
    from pyspark.sql import functions as F

    has_jdstarthist = "candidate" in df.columns and "jdstarthist" in _field_names(df, "candidate")
    available = {"jdstarthist": has_jdstarthist, "roid": "roid" in df.columns, "cdsxmatch": "cdsxmatch" in df.columns}
    wanted = {"jdstarthist": cuts.max_days_since_start is not None, "roid": cuts.reject_solar_system,
              "cdsxmatch": cuts.hosts is not None}
    for name in available:
        if wanted[name] and not available[name]:
            log.warning("t2: column '%s' is absent: its selection cut is skipped", name)
    cuts = replace(cuts,
                   max_days_since_start=cuts.max_days_since_start if available["jdstarthist"] else None,
                   reject_solar_system=cuts.reject_solar_system and available["roid"],
                   hosts=cuts.hosts if available["cdsxmatch"] else None)
    cols = {
        "jdstarthist": F.col("candidate.jdstarthist").cast("double") if has_jdstarthist else F.lit(None).cast("double"),
        "roid": F.col("roid").cast("int") if available["roid"] else F.lit(None).cast("int"),
        "cdsxmatch": F.col("cdsxmatch").cast("string") if available["cdsxmatch"] else F.lit(None).cast("string"),
    }
    return cols, cuts


def redshift_columns(df, card: dict, redshift_column: Optional[str], redshift_err_column: Optional[str]) -> dict:
    """``redshift`` and ``redshift_err`` columns (double) from the columns named (``a.b`` for a struct field), or
    nulls; ValueError if one is absent or the model has no host-redshift densities."""
    from pyspark.sql import functions as F

    if redshift_err_column is not None and redshift_column is None:
        raise ValueError("a redshift error column needs a redshift column")
    if redshift_column is not None:
        check_host_redshift(card)
    columns = {}
    for role, name in (("redshift", redshift_column), ("redshift_err", redshift_err_column)):
        if name is None:
            columns[role] = F.lit(None).cast("double")
            continue
        top, _, field = name.partition(".")
        if top not in df.columns or (field and field not in _field_names(df, top)):
            raise ValueError(f"{role} column '{name}' is not in the alerts")
        columns[role] = F.col(name).cast("double")
    return columns


def add_t2_columns(df, model_name: Optional[str] = None, cuts: Optional[SelectionCuts] = None,
                   gp_backend: str = "batched", keep_existing: bool = False, engine: Optional[str] = None,
                   uncertainty: str = "entropy", survey: Optional[str] = None, forced: Optional[bool] = None,
                   redshift_column: Optional[str] = None, redshift_err_column: Optional[str] = None):
    """``df`` with the columns ``t2``, ``t2_class``, ``t2_uncertainty`` and ``t2_status`` appended.

    ``df`` holds alerts as Fink stores them; ``survey`` (default: told by the columns, ``surveys.survey_of_names``):
    - ``ztf``: Fink's history columns (``cjd``, ``cfid``, ``cmagpsf``, ``csigmapsf``, optionally
      ``cisdiffpos``) or the raw ``candidate`` and ``prv_candidates``. A selection cut whose column
      (``candidate.jdstarthist``, ``roid``, ``cdsxmatch``) is absent is skipped with a warning. With
      ``redshift_column`` (and ``redshift_err_column``), the host's redshift (null: unknown) updates the
      probabilities of a model with host-redshift densities (``redshift``);
    - ``lsst``: Rubin alerts (``diaSource`` and ``prvDiaSources``, Rubin or ELAsTiCC names;
      ``forced``: ``prvDiaForcedSources`` too; default: as the model was trained, its card's
      ``forced_photometry``).
    ``model_name`` defaults to the survey's model (``models.DEFAULT_MODELS``) and ``cuts`` to its cuts
    (``ztf.default_cuts``, ``rubin.default_cuts``). Input columns named like an output column (Fink's
    science parquet of 2023-2025 carries the previous module's ``t2``) are replaced, with a warning, or
    kept as ``<name>_input`` with ``keep_existing``.
    """
    from pyspark.sql import functions as F

    from .models import reads_forced_photometry

    survey = survey or survey_of_names(df.columns)
    model_name = model_name or DEFAULT_MODELS[survey]
    card = read_card(model_name)
    check_model_survey(card, survey)
    existing = [c for c in OUTPUT_COLUMNS if c in df.columns]
    if existing:
        log.warning("t2: input column(s) %s %s by this module's output", ", ".join(existing),
                    f"kept as {', '.join(c + KEPT_SUFFIX for c in existing)} and replaced" if keep_existing
                    else "replaced")
        df = (df.withColumnsRenamed({c: c + KEPT_SUFFIX for c in existing}) if keep_existing
              else df.drop(*existing))
    cuts = default_cuts_for(card, survey) if cuts is None else cuts
    if survey == "ztf":
        context, cuts = context_columns(df, cuts)
        inputs = {**history_columns(df), **context,
                  **redshift_columns(df, card, redshift_column, redshift_err_column)}
    elif redshift_column is not None or redshift_err_column is not None:
        raise ValueError("redshift columns are read for ZTF alerts only")
    else:
        inputs, cuts = rubin_columns(df, cuts, reads_forced_photometry(card, forced))
    udf = t2_udf(model_name, cuts, gp_backend, engine, uncertainty, survey)
    packed = "_t2_result"
    df = df.withColumn(packed, udf(*inputs.values()))
    # a null array of probabilities gives a null map
    t2 = F.map_from_arrays(F.array(*[F.lit(c) for c in card["classes"]]), F.col(f"{packed}.{PROBABILITIES}"))
    return df.select(*[c for c in df.columns if c != packed], t2.alias("t2"),
                     *[F.col(f"{packed}.{c}").alias(c) for c in OUTPUT_COLUMNS if c != "t2"])


def get_spark(master: Optional[str] = None, app_name: str = "fink-t2", quiet: bool = True):
    """A Spark session; ``local[*]`` unless ``master`` is given or one is already configured
    (as under ``spark-submit``). Python workers use this interpreter.

    Where this process starts the JVM (not under ``spark-submit``), the JVM starts with SIGTERM
    ignored, so that a SIGTERM sent to the whole process group (systemd, Kubernetes, ``timeout``)
    reaches only Python, which stops cleanly; the JVM exits with its Python parent. ``quiet``: the
    driver logs errors only (no WARN lines at start).
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    elif "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit, which sets the master
        builder = builder.master("local[*]")
    if quiet:
        builder = builder.config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={QUIET_LOG4J.as_uri()}")
    builder = builder.config("spark.ui.showConsoleProgress", "false").config("spark.sql.session.timeZone", "UTC")
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        return builder.getOrCreate()
    # An ignored signal stays ignored across exec, and the JVM then installs no SIGTERM handler of its own.
    handler = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        spark = builder.getOrCreate()
    finally:
        signal.signal(signal.SIGTERM, handler)
    spark.sparkContext.setLogLevel("ERROR")
    return spark

