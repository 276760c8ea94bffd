"""Rubin/LSST alerts: their bands, flux unit and schema names, and their light curves.

Everything this package knows about Rubin alerts is here; the core (light curves, GP,
models, classify) knows no survey. Two schemas are read, by field name:

- Rubin's alert packet (lsst.v7 to v11; Fink stores v10): ``diaSource`` and ``prvDiaSources``
  with ``midpointMjdTai`` (MJD, TAI), ``band`` (u g r i z y), ``psfFlux`` and ``psfFluxErr`` (nJy);
- ELAsTiCC (DESC's simulated LSST alerts, as Fink received them in 2023): ``midPointTai``,
  ``filterName`` (``Y`` for y), ``psFlux`` and ``psFluxErr``.

Fluxes are difference-image PSF fluxes, signed (a negative flux is a measurement, not a
non-detection); they become FLUXCAL (zero point 27.5) by ``NJY_TO_FLUXCAL``.
"""
#: Band order of Rubin light curves and of the LSST model's input.
BANDS = ("u", "g", "r", "i", "z", "y")
#: Effective wavelengths (Angstrom) of the LSST bands used for GP work on PLAsTiCC (avocado), ``BANDS`` order.
WAVELENGTHS_A = (3671.0, 4827.0, 6223.0, 7546.0, 8691.0, 9712.0)
#: nJy (AB zero point 31.4) -> FLUXCAL (zero point 27.5).
NJY_TO_FLUXCAL = 10.0 ** (-0.4 * (31.4 - 27.5))
#: MJD -> JD, so that Rubin light curves count time in JD as ZTF ones do.
MJD_TO_JD = 2400000.5
