"""Redshift augmentation: distances by the low-redshift Hubble law, time dilation and flux scaling by hand."""
import numpy as np
import pandas as pd

from conftest import requires_train_extra, shared_path
from fink_t2 import augment
from fink_t2.datasets import LabelledPoints, read_redshifts, read_ztf_tables
from fink_t2.lightcurves import POINT_COLUMNS
from fink_t2.ztf import BANDS, WAVELENGTHS_A

#: A Gaussian bump (FLUXCAL, days), the same in both bands, so that shifting the wavelength changes nothing.
PEAK, PEAK_DAYS, WIDTH_DAYS = 1000.0, 30.0, 8.0


def _bump(days):
    return PEAK * np.exp(-0.5 * ((days - PEAK_DAYS) / WIDTH_DAYS) ** 2)


def _bump_object():
    """One object sampled every day in g and r for 60 days, errors of 0.01% of the peak."""
    days = np.repeat(np.arange(0.0, 61.0), 2)
    points = pd.DataFrame(dict(zip(POINT_COLUMNS, (np.zeros(len(days), int), 59000.0 + days,
                                                   np.tile([0, 1], len(days) // 2), _bump(days),
                                                   np.full(len(days), 1e-4 * PEAK)))))
    return LabelledPoints(points, pd.Series(["SNIa"], index=[0]), BANDS)


@requires_train_extra
def test_flux_factor_follows_the_hubble_law_at_low_redshift():
    """d_L = (c / H0) z (1 + (1 - q0) z / 2) to second order, q0 = Om / 2 - (1 - Om) (flat LambdaCDM)."""
    z, z_new = np.array([0.01, 0.02, 0.05]), np.array([0.02, 0.01, 0.05])
    q0 = augment.OMEGA_MATTER / 2 - (1 - augment.OMEGA_MATTER)
    distance = lambda x: x * (1 + (1 - q0) * x / 2)  # noqa: E731 - units of c / H0
    expected = (1 + z_new) / (1 + z) * (distance(z) / distance(z_new)) ** 2
    np.testing.assert_allclose(augment.flux_factor(z, z_new), expected, rtol=1e-3)
    assert augment.flux_factor(0.05, 0.05) == 1.0


@requires_train_extra
def test_redshifted_copy_is_the_bump_dilated_and_dimmed():
    """Moved from z = 0.05 to z' = 0.1, every point at t samples the bump at t_peak + (t - t_peak) / s,
    s = 1.1 / 1.05, times the flux factor; at z' = z the copy is the object itself."""
    data = _bump_object()
    for factor in (1.0, 2.0):
        copies, origin = augment.redshifted(data, pd.Series([0.05], index=[0]), 2, np.random.default_rng(1),
                                            WAVELENGTHS_A, 5.0, factor_range=(factor, factor))
        assert list(origin) == [0, 0] and list(copies.labels) == ["SNIa", "SNIa"]
        stretch = (1 + 0.05 * factor) / 1.05
        days = copies.points["mjd"].to_numpy() - 59000.0
        expected = augment.flux_factor(0.05, 0.05 * factor) * _bump(PEAK_DAYS + (days - PEAK_DAYS) / stretch)
        # the GP between daily points is within 1% of the peak; s instead of 1 / s would be 14% off at 20 days
        np.testing.assert_allclose(copies.points["flux_fluxcal"], expected, rtol=0.02, atol=0.01 * PEAK)
        assert len(copies.points) >= 0.9 * 2 * len(data.points)  # the bump stays above 5 sigma in 60 days


@requires_train_extra
def test_redshifted_bts_copies_keep_their_object_and_class():
    paths = [shared_path("bts_dev/bts_dev_lightcurves.parquet")]
    data = read_ztf_tables(paths)
    redshift = read_redshifts(paths)
    raw = pd.read_parquet(paths[0]).groupby("objectId")["redshift"].first()
    assert set(redshift.index) == set(raw.index[raw > 0])
    copies, origin = augment.redshifted(data, redshift, 2, np.random.default_rng(0), WAVELENGTHS_A, 5.0)
    with_redshift = data.labels.index[data.labels.index.isin(redshift.index)]
    assert len(copies.labels) == 2 * len(with_redshift)
    assert (copies.labels.to_numpy() == data.labels[origin.to_numpy()].to_numpy()).all()
    snr = copies.points["flux_fluxcal"].abs() / copies.points["fluxerr_fluxcal"]
    assert snr.min() >= 5.0 and copies.points["object_id"].isin(copies.labels.index).all()
