"""Selection cuts: which alerts are worth classifying.

Each cut yields a status string; an alert that passes every cut gets ``"ok"``.
A cut whose input is missing (None) is skipped; the caller reports it. The
survey adapters (``ztf.default_cuts``, ``rubin.default_cuts``) say which cuts
apply to their alerts by default.
"""
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .lightcurves import LightCurves


@dataclass(frozen=True)
class SelectionCuts:
    """Configuration of the selection cuts (set a field to None, or False, to disable that cut).

    min_points : fewest kept detections (status ``cut:min_points``).
    min_bands : fewest bands with a detection (``cut:min_bands``).
    min_span_days : fewest days from the first to the last kept detection (``cut:min_span``): 0.5 asks for two
        nights, since one night's visits span less.
    max_days_since_start : most days from the source's first variation to its last point (``cut:too_old``).
    reject_solar_system : cut known solar-system objects (``cut:solar_system``).
    hosts : the cross-match classes (SIMBAD) an alert may have (``cut:host``).
    """

    min_points: Optional[int] = 2
    min_bands: Optional[int] = 2
    min_span_days: Optional[float] = None
    max_days_since_start: Optional[float] = 90.0
    reject_solar_system: bool = True
    hosts: Optional[Sequence[str]] = None

    @classmethod
    def none(cls) -> "SelectionCuts":
        """Only what the GP and model need: one point or more (no selection)."""
        return cls(min_points=1, min_bands=None, max_days_since_start=None, reject_solar_system=False, hosts=None)


def apply_cuts(lightcurves: LightCurves, cuts: SelectionCuts, first_jd=None, solar_system=None,
               host_class=None) -> np.ndarray:
    """Status of each alert: ``"ok"`` or ``"cut:<name>"`` for the first cut it fails.

    Parameters
    ----------
    lightcurves : the alerts' light curves (n objects).
    cuts : which cuts to apply.
    first_jd : (n,) JD at which the source first varied, or None to skip the age cut.
    solar_system : (n,) bool, True for a known solar-system object, or None to skip that cut.
    host_class : (n,) cross-match class (SIMBAD), or None to skip the host cut.
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
    if cuts.min_span_days is not None:
        fail("min_span", lightcurves.jd_last - lightcurves.jd_first < cuts.min_span_days)
    if cuts.max_days_since_start is not None and first_jd is not None:
        start = np.asarray(first_jd, dtype=float)
        with np.errstate(invalid="ignore"):  # an unknown start (NaN) does not cut
            fail("too_old", lightcurves.jd_last - start > cuts.max_days_since_start)
    if cuts.reject_solar_system and solar_system is not None:
        fail("solar_system", solar_system)
    if cuts.hosts is not None and host_class is not None:
        fail("host", ~np.isin(np.asarray(host_class, dtype=object).astype(str), list(cuts.hosts)))
    return status
