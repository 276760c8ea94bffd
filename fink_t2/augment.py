"""Redshift augmentation of real light curves, for training (Boone 2019, avocado, arXiv:1907.04690).

A labelled real light curve at redshift z is shown again as the same object at z': its 2D GP (time x
wavelength, ``gp``) is evaluated on the object's own cadence, with
- time dilated: a point taken ``dt`` days after the brightest one samples the original light curve ``dt / s``
  days after it, s = (1 + z') / (1 + z);
- wavelength shifted: band b (wavelength l_b) samples the original at l_b / s, its rest-frame colour at z';
- flux scaled by s (d_L(z) / d_L(z'))**2 (f_nu, flat LambdaCDM: only the ratio matters);
- the error of each real point kept (ZTF's errors are mostly sky noise) and noise of that size added; points
  under ``detection_snr`` sigma are dropped, as ZTF alerts carry detections only. Points that would sample
  the original outside its span are dropped too: the GP knows nothing there.
z' / z is drawn log-uniformly in ``REDSHIFT_FACTOR_RANGE``.
"""
import numpy as np
import pandas as pd

from . import gp
from .datasets import LabelledPoints
from .lightcurves import POINT_COLUMNS

#: Range of z' / z, drawn log-uniformly: from twice as near (4 times brighter) to twice as far.
REDSHIFT_FACTOR_RANGE = (0.5, 2.0)
#: Flat LambdaCDM matter density of the luminosity distances (H0 cancels in their ratio).
OMEGA_MATTER = 0.3


def flux_factor(redshift, new_redshift) -> np.ndarray:
    """Factor on f_nu flux of an object moved from ``redshift`` to ``new_redshift``: (1 + z') / (1 + z) times
    (d_L(z) / d_L(z'))**2."""
    from astropy.cosmology import FlatLambdaCDM  # training only: not a run-time dependency

    cosmology = FlatLambdaCDM(H0=70.0, Om0=OMEGA_MATTER)
    z, z_new = np.asarray(redshift, float), np.asarray(new_redshift, float)
    distance_ratio = (cosmology.luminosity_distance(z) / cosmology.luminosity_distance(z_new)).decompose().value
    return (1.0 + z_new) / (1.0 + z) * distance_ratio**2


def redshifted(data: LabelledPoints, redshift: pd.Series, n_draws: int, rng: np.random.Generator, wavelengths_a,
               detection_snr: float, factor_range=REDSHIFT_FACTOR_RANGE):
    """``n_draws`` copies of each object of ``data`` with a redshift (``redshift``: object id -> z > 0), each
    moved to its own z' (see the module docstring). Returns ``(LabelledPoints, origin)``: copies get new integer
    ids (draw * n + position among those objects), ``origin`` (Series copy id -> original object id) keeps the
    link for cross-validation."""
    z_by_object = redshift.reindex(data.labels.index)
    objects = data.labels.index[(z_by_object > 0).to_numpy()]
    z = z_by_object[objects].to_numpy(float)
    subset = LabelledPoints(data.points[data.points["object_id"].isin(objects)], data.labels[objects], data.bands)
    lc = subset.lightcurves().thinned(gp.MAX_POINTS)  # times in the points' MJD
    _, fit = gp.interpolate(lc, wavelengths_a)
    band_wavelengths = np.asarray(wavelengths_a, float)
    brightest = np.nanargmax(np.where(lc.mask, lc.flux_fluxcal, -np.inf), axis=1)
    reference_days = lc.time_days[np.arange(len(lc)), brightest][:, None]
    span_days = (lc.jd_last - lc.jd_first)[:, None]
    object_row, position = np.nonzero(lc.mask)
    parts, labels, origins = [], [], []
    for draw in range(n_draws):
        z_new = z * np.exp(rng.uniform(*np.log(factor_range), len(z)))
        stretch = ((1.0 + z_new) / (1.0 + z))[:, None]
        query_days = reference_days + (lc.time_days - reference_days) / stretch
        mean = gp.predict_mean_at(lc, fit.log_params, wavelengths_a, query_days, band_wavelengths / stretch)
        flux = np.take_along_axis(mean, lc.band.astype(np.int64)[:, :, None], axis=2)[:, :, 0]
        flux = flux * flux_factor(z, z_new)[:, None] + rng.normal(size=flux.shape) * lc.fluxerr_fluxcal
        keep = (lc.mask & fit.ok[:, None] & (query_days >= 0.0) & (query_days <= span_days)
                & (np.abs(flux) >= detection_snr * lc.fluxerr_fluxcal))[object_row, position]
        rows, cols = object_row[keep], position[keep]
        parts.append(pd.DataFrame(dict(zip(POINT_COLUMNS, (
            draw * len(lc) + rows, lc.jd_first[rows] + lc.time_days[rows, cols], lc.band[rows, cols],
            flux[rows, cols], lc.fluxerr_fluxcal[rows, cols])))))
        labels.append(subset.labels.to_numpy())
        origins.append(objects.to_numpy())
    ids = np.arange(n_draws * len(lc))
    return (LabelledPoints(pd.concat(parts, ignore_index=True), pd.Series(np.concatenate(labels), index=ids),
                           data.bands),
            pd.Series(np.concatenate(origins), index=ids))
