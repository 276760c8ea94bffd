"""Reading alert files (Fink parquet, fink-client Avro) into Spark, with clear errors.

The format is told by each file's magic bytes, not its name. Avro files are
read with fastavro on the driver, keeping only the fields the module uses
(no cutouts), under a fixed Arrow schema.
"""
from pathlib import Path
from typing import List

import pyarrow as pa

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

    keep = AVRO_ARROW_SCHEMA.names
    try:
        with open(file, "rb") as f:
            for record in fastavro.reader(f):
                yield {name: record.get(name) for name in keep}
    except (ValueError, EOFError, OSError, StopIteration) as error:
        raise InputError(f"{file}: unreadable Avro ({error})") from error


def read_avro_table(path) -> pa.Table:
    """Arrow table (``AVRO_ARROW_SCHEMA``) of the alerts in an Avro file or folder."""
    records = [r for file in _data_files(Path(path)) for r in _avro_records(file)]
    return pa.Table.from_pylist(records, schema=AVRO_ARROW_SCHEMA)


def _check_alert_schema(file: Path, schema: pa.Schema):
    """Raise ``InputError`` naming the column or field that is missing or of the wrong type."""
    names = set(schema.names)
    if set(REQUIRED_HISTORY_COLUMNS) <= names:
        return
    for column in ("candidate", "prv_candidates"):
        if column not in names:
            raise InputError(f"{file}: missing column '{column}' (alerts need 'candidate' and 'prv_candidates')")
    candidate, history = schema.field("candidate").type, schema.field("prv_candidates").type
    if not pa.types.is_struct(candidate):
        raise InputError(f"{file}: column 'candidate' should be a struct, not {candidate}")
    if not (pa.types.is_list(history) or pa.types.is_large_list(history)) or not pa.types.is_struct(history.value_type):
        raise InputError(f"{file}: column 'prv_candidates' should be a list of structs, not {history}")
    for column, struct in (("candidate", candidate), ("prv_candidates", history.value_type)):
        for field, type_ok in REQUIRED_FIELDS.items():
            index = struct.get_field_index(field)
            if index < 0:
                raise InputError(f"{file}: column '{column}' has no field '{field}'")
            if not type_ok(struct.field(index).type):
                raise InputError(f"{file}: field '{column}.{field}' has type {struct.field(index).type}, "
                                 f"expected {type_ok.__name__.replace('is_', '')}")


def check_parquet_alerts(path) -> int:
    """Check every parquet file under ``path`` (readable footer, alert columns and types); return the row count.

    Raises ``InputError`` naming the file and the problem, before any Spark job runs.
    """
    import pyarrow.parquet as pq

    rows = 0
    for file in _data_files(Path(path)):
        try:
            metadata = pq.ParquetFile(file)
        except (pa.ArrowException, OSError) as error:
            raise InputError(f"{file}: unreadable parquet ({error})") from error
        _check_alert_schema(file, metadata.schema_arrow)
        rows += metadata.metadata.num_rows
    if rows == 0:
        raise InputError(f"{path}: no alerts (the input is empty)")
    return rows


def read_alerts(spark, path):
    """Spark DataFrame of the alerts in a parquet or Avro file or folder (a URL is read as parquet).

    Local parquet input is checked first (``check_parquet_alerts``).
    """
    if "://" in str(path):
        return spark.read.parquet(str(path))
    if input_format(path) == "parquet":
        check_parquet_alerts(path)
        return spark.read.parquet(str(path))
    table = read_avro_table(path)
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
