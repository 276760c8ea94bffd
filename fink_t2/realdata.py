"""Real light-curve sets from the shared data, for tests, benchmarks and evaluation.

The shared data folder (real ZTF alerts, BTS light curves; see its README) is
``$FINK_T2_SHARED_DATA`` if set, else ``shared/data`` beside the repository
(``../shared/data`` from its root), wherever the command runs from.
"""
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from .datasets import DataError
from .lightcurves import POINT_COLUMNS, LightCurves, lightcurves_from_points
from .ztf import BANDS, HISTORY_COLUMNS, lightcurves_from_alerts, mag_table_points

HISTORY_FIELDS = tuple(HISTORY_COLUMNS.values())


SHARED_DATA_ENV = "FINK_T2_SHARED_DATA"
#: ``../shared/data`` next to the repository root (meaningful in a source checkout).
REPOSITORY_SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def shared_data_dir() -> Path:
    """The shared data folder; a ``DataError`` naming both places where it is absent."""
    env = os.environ.get(SHARED_DATA_ENV)
    path = Path(env) if env else REPOSITORY_SHARED_DATA
    if not path.is_dir():
        raise DataError(f"no shared data folder {path}: set ${SHARED_DATA_ENV} to it, or place it at "
                        f"{REPOSITORY_SHARED_DATA} (../shared/data next to the repository)")
    return path


def alert_histories(source) -> dict:
    """History arrays (history first, current alert last) of the alerts in a Fink parquet file/folder, or in
    an Arrow table of alerts (``candidate``, ``prv_candidates``, ``objectId``; the other columns optional).

    Returns a dict field -> list (one entry per alert) for ``HISTORY_FIELDS``,
    plus ``candid``, ``objectId``, ``jdstarthist``, ``roid`` and ``cdsxmatch`` (None where absent).
    """
    import pyarrow.parquet as pq

    table = source if isinstance(source, pa.Table) else pq.read_table(
        source, columns=["candid", "objectId", "candidate", "prv_candidates", "roid", "cdsxmatch"])
    rows = table.to_pydict()
    missing = [None] * table.num_rows
    out = {field: [np.array([p[field] for p in (prv or [])] + [c[field]],
                            dtype=object if field == "isdiffpos" else float)
                   for prv, c in zip(rows["prv_candidates"], rows["candidate"])]
           for field in HISTORY_FIELDS}
    out.update(candid=rows.get("candid", missing), objectId=rows["objectId"], roid=rows.get("roid", missing),
               cdsxmatch=rows.get("cdsxmatch", missing), jdstarthist=[c.get("jdstarthist") for c in rows["candidate"]])
    return out


def alert_lightcurves(path) -> LightCurves:
    """Light curves of the alerts in a Fink parquet file/folder, one per alert."""
    h = alert_histories(path)
    return lightcurves_from_alerts(*(h[field] for field in HISTORY_FIELDS))


def bts_windows(table: pd.DataFrame, n: int, days: float = 30.0, seed: int = 0) -> LightCurves:
    """``n`` alert-like light curves cut from a BTS table: the ``days`` of history up to a
    detection drawn at random, objects drawn with replacement once all are used."""
    rng = np.random.default_rng(seed)
    object_ids, codes = np.unique(table["objectId"].to_numpy(), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(len(object_ids)))
    counts = np.bincount(codes, minlength=len(object_ids))
    chosen = np.concatenate([rng.permutation(len(object_ids)) for _ in range(n // len(object_ids) + 1)])[:n]
    end_row = order[starts[chosen] + rng.integers(0, counts[chosen])]
    mjd, band, flux, fluxerr = (mag_table_points(table)[c].to_numpy() for c in POINT_COLUMNS[1:])

    # rows of each chosen object, then keep those inside its window
    rows = np.concatenate([order[starts[c]:starts[c] + counts[c]] for c in chosen])
    owner = np.repeat(np.arange(n), counts[chosen])
    end = mjd[end_row][owner]
    inside = (mjd[rows] <= end) & (mjd[rows] > end - days)
    rows, owner = rows[inside], owner[inside]
    return lightcurves_from_points(owner, n, mjd[rows], band[rows], flux[rows], fluxerr[rows], n_bands=len(BANDS))
