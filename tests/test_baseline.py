"""The reference learner's hand-made features (``fink_t2.baseline``), checked on a light curve built by hand."""
import numpy as np

from fink_t2.baseline import band_features, features
from fink_t2.lightcurves import lightcurves_from_points, mag_to_fluxcal
from fink_t2.ztf import WAVELENGTHS_A


def _lightcurve():
    """One object: band 0 at t = 0, 1, 2 days, 20 -> 19 mag (-0.5 mag/day); band 1 at t = 0.5 and 2.5 days,
    19.8 and 19.6 mag; a second object with a single band-0 point."""
    time_days = np.array([0.0, 1.0, 2.0, 0.5, 2.5, 0.0])
    mag = np.array([20.0, 19.5, 19.0, 19.8, 19.6, 18.0])
    flux, error = mag_to_fluxcal(mag, np.full(6, 0.05))
    return lightcurves_from_points([0, 0, 0, 0, 0, 1], 2, 2460000.5 + time_days, [0, 0, 0, 1, 1, 0], flux, error,
                                   n_bands=2)


def test_band_features_by_hand():
    lc = _lightcurve()
    first, second = band_features(lc, 0), band_features(lc, 1)
    np.testing.assert_array_equal(first["n"], [3, 1])
    np.testing.assert_allclose(first["slope"][0], -0.5, atol=1e-9)
    np.testing.assert_allclose(first["rise"][0], 1.0, atol=1e-9)
    np.testing.assert_allclose(first["t_peak"][0], 2.0, atol=1e-6)
    np.testing.assert_allclose(second["slope"][0], -0.1, atol=1e-9)  # 0.2 mag in 2 days
    assert np.isnan(first["slope"][1]) and np.isnan(first["rise"][1])  # one point: no slope, no rise
    np.testing.assert_array_equal(second["n"], [2, 0])
    assert np.isnan(second["peak_mag"][1])


def test_features_have_the_colours_and_no_magnitudes_by_default():
    table = features(_lightcurve(), WAVELENGTHS_A)
    np.testing.assert_allclose(table["colour_peak_mag"][0], 19.0 - 19.6, atol=1e-9)
    np.testing.assert_allclose(table["colour_last_mag"][0], 19.0 - 19.6, atol=1e-9)
    assert not any(name.startswith(("peak_mag", "last_mag")) for name in table.columns)
    assert {"peak_mag_0", "last_mag_1"} <= set(features(_lightcurve(), WAVELENGTHS_A, with_magnitudes=True).columns)
    assert np.isfinite(table.filter(like="gp_").to_numpy()).all()
