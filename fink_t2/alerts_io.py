"""Reading alert files (Fink parquet, fink-client Avro) into Spark, with clear errors.

The format is told by each file's magic bytes, not its name. Avro files are
read with fastavro on the driver, keeping only the fields the module uses
(no cutouts), under a fixed Arrow schema.
"""
from pathlib import Path
from typing import List

import pyarrow as pa

PARQUET_MAGIC = b"PAR1"
AVRO_MAGIC = b"Obj\x01"

_ALERT_FIELDS = [("jd", pa.float64()), ("fid", pa.int32()), ("magpsf", pa.float32()), ("sigmapsf", pa.float32()),
                 ("isdiffpos", pa.string()), ("diffmaglim", pa.float32())]
_CANDIDATE = pa.struct(_ALERT_FIELDS + [("jdstarthist", pa.float64())])
AVRO_ARROW_SCHEMA = pa.schema([
    ("candid", pa.int64()), ("objectId", pa.string()), ("candidate", _CANDIDATE),
    ("prv_candidates", pa.list_(pa.struct(_ALERT_FIELDS))), ("cdsxmatch", pa.string()), ("roid", pa.int32()),
])


class InputError(ValueError):
    """An input cannot be read as alerts; the message names the file and the problem."""


def _data_files(path: Path) -> List[Path]:
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(("_", ".")))
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


def read_alerts(spark, path):
    """Spark DataFrame of the alerts in a parquet or Avro file or folder (a URL is read as parquet)."""
    if "://" in str(path) or input_format(path) == "parquet":
        return spark.read.parquet(str(path))
    table = read_avro_table(path)
    if table.num_rows == 0:
        raise InputError(f"{path}: no alerts")
    return spark.createDataFrame(table)
