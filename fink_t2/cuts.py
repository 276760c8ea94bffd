"""Selection cuts: which alerts are worth classifying.

Defaults are those of Fink's previous t2 and SuperNNova modules. Each cut
yields a status string; an alert that passes every cut gets ``"ok"``. A cut
whose input is missing (None) is skipped; the caller reports it.
"""
import logging
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from .lightcurves import LightCurves

log = logging.getLogger(__name__)

#: SIMBAD classes (Fink ``cdsxmatch``) compatible with an extragalactic transient:
#: galaxies, unknown or failed cross-matches, and known SN/transient labels.
EXTRAGALACTIC_HOSTS = (
    "Unknown", "Fail", "Candidate_SN*", "SN", "Transient",
    "galaxy", "Galaxy", "EmG", "Seyfert", "Seyfert_1", "Seyfert_2", "BlueCompG", "StarburstG",
    "LSB_G", "HII_G", "High_z_G", "GinPair", "GinGroup", "BClG", "GinCl", "PartofG",
)
#: ``roid`` value flagging a known solar-system object.
ROID_SOLAR_SYSTEM = 3


@dataclass
class SelectionCuts:
    """Configuration of the selection cuts (set a field to None to disable that cut)."""

    min_points: Optional[int] = 2
    max_days_since_start: Optional[float] = 90.0
    reject_solar_system: bool = True
    hosts: Optional[Sequence[str]] = field(default=EXTRAGALACTIC_HOSTS)
    min_bands: Optional[int] = 2

    @classmethod
    def none(cls) -> "SelectionCuts":
        """Only what the GP and model need: one point or more (no selection)."""
        return cls(min_points=1, max_days_since_start=None, reject_solar_system=False,
                   hosts=None, min_bands=None)


def apply_cuts(lightcurves: LightCurves, cuts: SelectionCuts, jdstarthist=None, roid=None,
               cdsxmatch=None) -> np.ndarray:
    """Status of each alert: ``"ok"`` or ``"cut:<name>"`` for the first cut it fails.

    Parameters
    ----------
    lightcurves : the alerts' light curves (n objects).
    cuts : which cuts to apply.
    jdstarthist : (n,) JD at which the source first varied, or None to skip the age cut.
    roid : (n,) Fink solar-system flag, or None to skip that cut.
    cdsxmatch : (n,) SIMBAD class, or None to skip the host cut.
    """
    n = len(lightcurves)
    status = np.full(n, "ok", dtype=object)

    def fail(name, failed):
        status[(status == "ok") & np.asarray(failed, dtype=bool)] = f"cut:{name}"

    n_points = lightcurves.n_points
    fail("no_points", n_points == 0)
    if cuts.min_points is not None:
        fail("min_points", n_points < cuts.min_points)
    if cuts.min_bands is not None:
        fail("min_bands", (lightcurves.n_points_per_band > 0).sum(axis=1) < cuts.min_bands)
    if cuts.max_days_since_start is not None and jdstarthist is not None:
        start = np.asarray(jdstarthist, dtype=float)
        with np.errstate(invalid="ignore"):  # an unknown start (NaN) does not cut
            fail("too_old", lightcurves.jd_last - start > cuts.max_days_since_start)
    if cuts.reject_solar_system and roid is not None:
        roid = np.asarray(roid, dtype=float)
        fail("solar_system", roid == ROID_SOLAR_SYSTEM)
    if cuts.hosts is not None and cdsxmatch is not None:
        fail("host", ~np.isin(np.asarray(cdsxmatch, dtype=object).astype(str), list(cuts.hosts)))
    return status
