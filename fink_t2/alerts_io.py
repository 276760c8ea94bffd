"""Reading alert files (Fink parquet, Avro) of ZTF or Rubin alerts into Spark, with clear errors.

The format is told by each file's magic bytes, not its name, and the survey by the
schema: a ``diaSource`` column (or Avro field) means Rubin (``lsst``), anything else ZTF.
Avro files (fink-client's ZTF files, Rubin alert packets of schema 7 to 11, ELAsTiCC) are
read with fastavro on the driver, keeping only the fields the module uses (no cutouts),
under a fixed Arrow schema.
"""
from pathlib import Path
from typing import List, Optional

import pyarrow as pa

from . import rubin
from .surveys import survey_of_names
from .ztf import AVRO_ARROW_SCHEMA, REQUIRED_FIELDS, REQUIRED_HISTORY_COLUMNS

PARQUET_MAGIC = b"PAR1"
AVRO_MAGIC = b"Obj\x01"

class InputError(ValueError):
    """An input cannot be read as alerts; the message names the file and the problem."""


def data_files(folder: Path) -> List[Path]:
    """Data files under ``folder``, nested folders included, sorted; names starting with ``_`` or
    ``.`` (Spark's metadata, files still being written) are skipped, as Spark does."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(("_", ".")))


def _data_files(path: Path) -> List[Path]:
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file():
        return [path]
    files = data_files(path)
    if not files:
        raise InputError(f"{path}: folder holds no data files")
    return files


def input_format(path) -> str:
    """``"parquet"`` or ``"avro"``: the format of every data file under ``path``."""
    formats = set()
    for file in _data_files(Path(path)):
        with open(file, "rb") as f:
            head = f.read(4)
        if head == PARQUET_MAGIC:
            formats.add("parquet")
        elif head == AVRO_MAGIC:
            formats.add("avro")
        else:
            raise InputError(f"{file}: neither parquet nor Avro (first bytes {head!r})")
    if len(formats) > 1:
        raise InputError(f"{path}: mixes parquet and Avro files; give one format per input")
    return formats.pop()


def _avro_records(file: Path):
    import fastavro

    try:
        with open(file, "rb") as f:
            yield from fastavro.reader(f)
    except (ValueError, EOFError, OSError, StopIteration) as error:
        raise InputError(f"{file}: unreadable Avro ({error})") from error


def _cut_record(record: dict, schema: pa.Schema) -> dict:
    """An Avro record cut down to the columns of ``schema``, and its structs (or lists of structs) to their
    fields: the cutouts and everything else unused are dropped as the file is read."""
    def keep(value, struct):
        return None if value is None else {f.name: value.get(f.name) for f in struct}

    out = {}
    for field in schema:
        value = record.get(field.name)
        if pa.types.is_struct(field.type):
            value = keep(value, field.type)
        elif pa.types.is_list(field.type) and pa.types.is_struct(field.type.value_type):
            value = None if value is None else [keep(v, field.type.value_type) for v in value]
        out[field.name] = value
    return out


def _avro_arrow_schema(record: dict, survey: Optional[str], file: Path) -> pa.Schema:
    """The Arrow schema of an Avro file's alerts, from its first record (or ``survey``)."""
    if (survey or survey_of_names(record)) == "ztf":
        return AVRO_ARROW_SCHEMA
    source = record.get(rubin.SOURCE_COLUMN)
    if not isinstance(source, dict):
        raise InputError(f"{file}: Avro records have no '{rubin.SOURCE_COLUMN}' record; not Rubin alerts")
    try:
        return rubin.avro_arrow_schema(rubin.schema_of(source))
    except ValueError as error:
        raise InputError(f"{file}: {error}") from error


def read_avro_table(path, survey: Optional[str] = None) -> pa.Table:
    """Arrow table of the alerts in an Avro file or folder: ZTF (``ztf.AVRO_ARROW_SCHEMA``) or Rubin
    (``rubin.avro_arrow_schema``), as the first record's fields say unless ``survey`` is given."""
    rows, schema = [], None
    for file in _data_files(Path(path)):
        for record in _avro_records(file):
            schema = schema or _avro_arrow_schema(record, survey, file)
            rows.append(_cut_record(record, schema))
    schema = schema or (rubin.avro_arrow_schema("rubin") if survey == "lsst" else AVRO_ARROW_SCHEMA)
    return pa.Table.from_pylist(rows, schema=schema)


def _is_text(arrow_type) -> bool:
    return pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)


def _source_columns(file: Path, schema: pa.Schema, source_column: str, history_column: str):
    """The struct types of an alert file's source column (a struct) and of its history column's items (a list
    of structs); ``InputError`` naming the column that is missing or of another type."""
    for column in (source_column, history_column):
        if column not in schema.names:
            raise InputError(f"{file}: missing column '{column}' (alerts need '{source_column}' and "
                             f"'{history_column}')")
    source, history = schema.field(source_column).type, schema.field(history_column).type
    if not pa.types.is_struct(source):
        raise InputError(f"{file}: column '{source_column}' should be a struct, not {source}")
    if not (pa.types.is_list(history) or pa.types.is_large_list(history)) or not pa.types.is_struct(history.value_type):
        raise InputError(f"{file}: column '{history_column}' should be a list of structs, not {history}")
    return source, history.value_type


def _check_fields(file: Path, structs: dict, field_types: dict):
    """``InputError`` naming the first field of ``field_types`` (name -> Arrow type test) that a struct of
    ``structs`` (column name -> struct type) lacks or holds with another type."""
    for column, struct in structs.items():
        for field, type_ok in field_types.items():
            index = struct.get_field_index(field)
            if index < 0:
                raise InputError(f"{file}: column '{column}' has no field '{field}'")
            if not type_ok(struct.field(index).type):
                raise InputError(f"{file}: field '{column}.{field}' has type {struct.field(index).type}, "
                                 f"expected {type_ok.__name__.replace('is_', '').strip('_')}")


def _check_alert_schema(file: Path, schema: pa.Schema, survey: str):
    """Raise ``InputError`` naming the column or field that is missing or of the wrong type."""
    if survey == "lsst":
        columns = (rubin.SOURCE_COLUMN, rubin.HISTORY_COLUMN)
        source, history = _source_columns(file, schema, *columns)
        try:
            names = rubin.FIELD_NAMES[rubin.schema_of(f.name for f in source)]
        except ValueError as error:
            raise InputError(f"{file}: {error}") from error
        field_types = {field: _is_text if role == "band" else pa.types.is_floating for role, field in names.items()}
    elif set(REQUIRED_HISTORY_COLUMNS) <= set(schema.names):
        return
    else:
        columns = ("candidate", "prv_candidates")
        source, history = _source_columns(file, schema, *columns)
        field_types = REQUIRED_FIELDS
    _check_fields(file, dict(zip(columns, (source, history))), field_types)


def check_parquet_alerts(path, survey: Optional[str] = None):
    """Check every parquet file under ``path`` (readable footer, alert columns and types, one survey);
    return ``(row count, survey)``. ``survey`` (``"ztf"`` or ``"lsst"``) forces the schema checked.

    Raises ``InputError`` naming the file and the problem, before any Spark job runs.
    """
    import pyarrow.parquet as pq

    rows, surveys = 0, {}
    for file in _data_files(Path(path)):
        try:
            metadata = pq.ParquetFile(file)
        except (pa.ArrowException, OSError) as error:
            raise InputError(f"{file}: unreadable parquet ({error})") from error
        file_survey = survey or survey_of_names(metadata.schema_arrow.names)
        surveys.setdefault(file_survey, file)
        if len(surveys) > 1:
            raise InputError(f"{path}: mixes ZTF ({surveys['ztf']}) and Rubin ({surveys['lsst']}) alerts; "
                             f"give one survey per input")
        _check_alert_schema(file, metadata.schema_arrow, file_survey)
        rows += metadata.metadata.num_rows
    if rows == 0:
        raise InputError(f"{path}: no alerts (the input is empty)")
    return rows, next(iter(surveys))


def read_alerts(spark, path, survey: Optional[str] = None):
    """Spark DataFrame of the alerts in a parquet or Avro file or folder (a URL is read as parquet).

    Local parquet input is checked first (``check_parquet_alerts``); ``survey`` forces the schema.
    """
    if "://" in str(path):
        return spark.read.parquet(str(path))
    if input_format(path) == "parquet":
        check_parquet_alerts(path, survey)
        return spark.read.parquet(str(path))
    table = read_avro_table(path, survey)
    if table.num_rows == 0:
        raise InputError(f"{path}: no alerts")
    return arrow_to_spark(spark, table)


def arrow_to_spark(spark, table: pa.Table):
    """A Spark DataFrame of an Arrow table, shipped from the driver (so it also works on a cluster)."""
    import pyspark

    if int(pyspark.__version__.split(".")[0]) >= 4:  # PySpark 4 takes Arrow tables
        return spark.createDataFrame(table)
    from pyspark.sql.pandas.types import from_arrow_schema

    return spark.createDataFrame(table.to_pylist(), schema=from_arrow_schema(table.schema))
