"""Light-curve builder: units, time direction, band order, dropped points."""
import subprocess
import sys

import numpy as np
import pytest

from fink_t2.lightcurves import lightcurves_from_points, mag_to_fluxcal
from fink_t2.ztf import BANDS, is_positive_difference, lightcurves_from_alerts


def test_fluxcal_zero_point_and_error_by_hand():
    # m = 27.5 is the FLUXCAL zero point: flux 1; 2.5 mag brighter is 10x the flux.
    flux, err = mag_to_fluxcal([27.5, 25.0], [0.1, 0.1])
    np.testing.assert_allclose(flux, [1.0, 10.0])
    # sigma_f = f * sigma_m * ln(10) / 2.5 (first-order error propagation)
    np.testing.assert_allclose(err, [0.1 * np.log(10) / 2.5, 1.0 * np.log(10) / 2.5])


def test_time_increases_from_first_point_even_for_unsorted_history():
    jd = [np.array([2460010.0, 2460000.0, 2460005.0])]
    lc = lightcurves_from_alerts(jd, [np.array([1, 2, 1])], [np.array([18.0, 19.0, 18.5])],
                                 [np.array([0.1, 0.1, 0.1])])
    t = lc.time_days[0, lc.mask[0]]
    np.testing.assert_array_equal(t, [0.0, 5.0, 10.0])
    assert lc.jd_first[0] == 2460000.0 and lc.jd_last[0] == 2460010.0
    # the first point in time (r, 19 mag) comes first
    assert lc.band[0, 0] == BANDS.index("r")
    np.testing.assert_allclose(lc.flux_fluxcal[0, 0], 10 ** (-0.4 * 19.0 + 11))


def test_i_band_never_fills_the_r_slot():
    lc = lightcurves_from_alerts([np.array([1.0, 2.0, 3.0])], [np.array([1, 3, 3])],
                                 [np.array([18.0, 17.0, 17.0])], [np.array([0.1, 0.1, 0.1])])
    assert lc.n_points[0] == 1
    np.testing.assert_array_equal(lc.n_points_per_band[0], [1, 0])


def test_drops_non_detections_non_finite_bad_errors_duplicates_and_absurd_mags():
    jd = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 6.0, 7.0, 8.0])
    mag = np.array([18.0, np.nan, 18.0, 18.0, 18.0, 18.0, -99.0, 99.0, np.inf])
    sigma = np.array([0.1, 0.1, 0.0, -0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    lc = lightcurves_from_alerts([jd], [np.ones(9)], [mag], [sigma])
    # kept: jd 1 and the first of the duplicated jd 5
    np.testing.assert_array_equal(lc.time_days[0, lc.mask[0]], [0.0, 4.0])


@pytest.mark.parametrize("time_span_days", [30.0, 1e9])  # 1e9: ticks of ~1e-6 days, the exact sort's fallback
def test_points_sorted_and_deduplicated_as_a_per_object_loop(time_span_days):
    """Random points in random order, with exact duplicates and same-time points in other bands, against
    Python's stable sort of each object's (jd, band) and a keep-the-first set."""
    rng = np.random.default_rng(7)
    n_objects, m = 40, 3000
    object_index = rng.integers(0, n_objects, m)
    jd = 2460000.0 + rng.choice(rng.uniform(0, 30, 500), m)  # repeated times: duplicates, other bands
    band = rng.integers(-1, 3, m)                             # -1 and 2 are not bands of n_bands=2
    # one object, one band: a point far away, then two 1e-7 days apart in reverse order
    jd[:3], object_index[:3], band[:3] = 2460000.0 + np.array([time_span_days, 2e-7, 1e-7]), 0, 0
    flux = rng.normal(100.0, 10.0, m)
    lc = lightcurves_from_points(object_index, n_objects, jd, band, flux, np.ones(m), n_bands=2)
    for i in range(n_objects):
        kept, seen = [], set()
        for t, b, f in sorted(((t, b, f) for o, t, b, f in zip(object_index, jd, band, flux)
                               if o == i and 0 <= b < 2), key=lambda p: p[:2]):
            if (t, b) not in seen:
                seen.add((t, b))
                kept.append((t, b, f))
        mask = lc.mask[i]
        assert mask.sum() == len(kept)
        np.testing.assert_allclose(lc.time_days[i, mask] + lc.jd_first[i], [t for t, _, _ in kept],
                                   rtol=0, atol=1e-9)
        np.testing.assert_array_equal(lc.band[i, mask], [b for _, b, _ in kept])
        np.testing.assert_array_equal(lc.flux_fluxcal[i, mask], [f for _, _, f in kept])


@pytest.mark.parametrize("negative", ["f", "0", "false", False, 0])
def test_isdiffpos_encodings(negative):
    positive = ["t", "1", "true", True, 1, None]
    assert is_positive_difference(positive).all()
    assert not is_positive_difference([negative]).any()


def test_negative_difference_gives_negative_flux():
    lc = lightcurves_from_alerts([np.array([1.0, 2.0])], [np.array([1, 1])], [np.array([18.0, 18.0])],
                                 [np.array([0.1, 0.1])], [np.array(["t", "f"])])
    flux = lc.flux_fluxcal[0, :2]
    assert flux[0] > 0 and flux[1] == -flux[0]


def test_null_empty_and_malformed_alerts_keep_their_row():
    good = np.array([1.0, 2.0])
    lc = lightcurves_from_alerts(
        [good, None, np.zeros(0), good],
        [np.array([1, 2]), None, np.zeros(0), np.array([1])],          # last alert: lengths differ
        [np.array([18.0, 18.5]), None, np.zeros(0), np.array([18.0, 18.0])],
        [np.array([0.1, 0.1]), None, np.zeros(0), np.array([0.1, 0.1])])
    assert len(lc) == 4
    np.testing.assert_array_equal(lc.n_points, [2, 0, 0, 0])


BAND_ORDER_SCRIPT = """
import numpy as np
from fink_t2.ztf import lightcurves_from_alerts
lc = lightcurves_from_alerts([np.array([1.0, 2.0, 3.0])], [np.array([2, 1, 2])], [np.array([18.0, 19.0, 20.0])],
                             [np.array([0.1, 0.1, 0.1])])
print(lc.band[0].tolist(), lc.flux_fluxcal[0].round(3).tolist())
"""


def test_band_order_does_not_depend_on_hash_seed():
    outputs = {subprocess.run([sys.executable, "-c", BAND_ORDER_SCRIPT], env={"PYTHONHASHSEED": seed},
                              capture_output=True, text=True, check=True).stdout for seed in ("0", "1", "123", "9999")}
    assert len(outputs) == 1
    # r (fid 2) is band index 1 and g (fid 1) is band index 0, by name
    assert outputs.pop().startswith("[1, 0, 1]")


def test_thinning_keeps_span_order_and_short_curves():
    long_jd = np.sort(np.random.default_rng(0).uniform(0, 100, 1000)) + 2459000.0
    short_jd = np.array([2459000.0, 2459001.0, 2459003.0])
    lc = lightcurves_from_alerts([long_jd, short_jd], [np.tile([1, 2], 500), np.array([1, 2, 1])],
                                 [np.full(1000, 18.0), np.full(3, 18.0)], [np.full(1000, 0.1), np.full(3, 0.1)])
    thin = lc.thinned(300)
    assert thin.n_points.tolist() == [300, 3]
    kept = thin.time_days[0][thin.mask[0]]
    assert kept[0] == 0.0 and kept[-1] == pytest.approx(long_jd[-1] - long_jd[0])
    assert (np.diff(kept) > 0).all() and np.isin(kept, lc.time_days[0]).all()
    np.testing.assert_array_equal(thin.time_days[1][thin.mask[1]], lc.time_days[1][lc.mask[1]])
    assert lc.thinned(1000) is lc


def test_around_peak_matches_a_per_point_loop():
    """The vectorised event window against a plain loop over objects and points."""
    rng = np.random.default_rng(3)
    histories = [np.sort(rng.uniform(0, 1500, n)) + 2459000.0 for n in (40, 7, 1, 25)]
    mags = [rng.uniform(16, 20, len(h)) for h in histories]
    lc = lightcurves_from_alerts(histories, [rng.choice([1, 2], len(h)) for h in histories], mags,
                                 [np.full(len(h), 0.1) for h in histories])
    window = lc.around_peak(100.0, 300.0)
    for i, (jd, mag) in enumerate(zip(histories, mags)):
        peak_jd = jd[np.argmin(mag)]  # brightest = largest flux
        kept_jd = [t for t in jd if peak_jd - 100.0 <= t <= peak_jd + 300.0]
        m = window.mask[i]
        assert m.sum() == len(kept_jd) and m[:len(kept_jd)].all()  # left-aligned
        np.testing.assert_allclose(window.time_days[i, m] + window.jd_first[i], kept_jd)
        assert window.time_days[i, m][0] == 0.0
        assert window.jd_last[i] == pytest.approx(kept_jd[-1])
        kept_mag = [mg for t, mg in zip(jd, mag) if peak_jd - 100.0 <= t <= peak_jd + 300.0]
        np.testing.assert_allclose(window.flux_fluxcal[i, m], mag_to_fluxcal(np.array(kept_mag), 0.1)[0])


def test_around_peak_by_hand_and_without_points():
    # points at days 0, 150, 200 (peak, 16 mag), 450, 600: the window [100, 500] keeps 150, 200, 450
    jd = np.array([0.0, 150.0, 200.0, 450.0, 600.0]) + 2459000.0
    lc = lightcurves_from_alerts([jd, np.array([])], [np.ones(5), np.array([])],
                                 [np.array([19.0, 18.0, 16.0, 17.0, 18.5]), np.array([])], [np.full(5, 0.1), np.array([])])
    window = lc.around_peak(100.0, 300.0)
    assert window.n_points.tolist() == [3, 0]
    np.testing.assert_array_equal(window.time_days[0, :3], [0.0, 50.0, 300.0])
    assert window.jd_first[0] == 2459150.0 and window.jd_last[0] == 2459450.0
    assert np.isnan(window.jd_first[1])


def test_first_days_keeps_the_prefix_and_moves_the_last_point():
    jd = np.array([10.0, 12.0, 15.0, 40.0])
    lc = lightcurves_from_alerts([jd, jd[:1]], [np.array([1, 2, 1, 2]), np.array([1])],
                                 [np.full(4, 18.0), np.array([18.0])], [np.full(4, 0.1), np.array([0.1])])
    early = lc.first_days(5.0)
    assert early.n_points.tolist() == [3, 1]  # day 0, 2 and 5 of the first; the one point of the second
    assert early.jd_last.tolist() == [15.0, 10.0] and early.jd_first.tolist() == [10.0, 10.0]
    assert (early.flux_fluxcal[~early.mask] == 0).all()
    # counted from a later start (a first detection after forced points): days 0-27 of the first object
    late = lc.first_days(15.0, start_jd=np.array([12.0, 10.0]))
    assert late.n_points.tolist() == [3, 1] and late.jd_last.tolist() == [15.0, 10.0]
    assert lc.first_days(28.0, start_jd=np.array([12.0, 10.0])).n_points.tolist() == [4, 1]


def test_binned_by_hand_one_point_per_night_and_band():
    # night JD [2459000, 2459001): three g points and one r; the next night one g point
    jd = np.array([2459000.1, 2459000.2, 2459000.3, 2459000.25, 2459001.5])
    band = np.array([1, 1, 1, 2, 1])
    flux = np.array([10.0, 20.0, 40.0, 5.0, 7.0])
    err = np.array([1.0, 2.0, 2.0, 1.0, 1.0])
    lc = lightcurves_from_points(np.zeros(5, int), 1, jd, band - 1, flux, err, 2)
    nightly = lc.binned(1.0)
    m = nightly.mask[0]
    assert nightly.n_points.tolist() == [3]
    # g on the first night: weights 1, 1/4, 1/4 -> mean (10 + 5 + 10) / 1.5, error 1.5 ** -0.5, time the plain mean
    np.testing.assert_allclose(nightly.flux_fluxcal[0, m], [25.0 / 1.5, 5.0, 7.0])
    np.testing.assert_allclose(nightly.fluxerr_fluxcal[0, m], [1.5**-0.5, 1.0, 1.0])
    np.testing.assert_allclose(nightly.jd_first[0] + nightly.time_days[0, m], [2459000.2, 2459000.25, 2459001.5])
    assert nightly.band[0, m].tolist() == [0, 1, 0]
    # bins narrower than any gap change nothing
    assert lc.binned(1e-6) is lc


def test_binned_window_as_it_lies_equals_the_window_laid_out_then_binned():
    """``binned(keep=in_window(...))`` (what inference does) against ``around_peak(...).binned()``: the same
    light curves, on histories longer than the window with several points per night."""
    rng = np.random.default_rng(5)
    lengths = [300, 40, 1, 0, 120]
    jd = np.concatenate([np.sort(rng.uniform(0, 900, n)) + 2459000.0 for n in lengths])
    lc = lightcurves_from_points(np.repeat(np.arange(5), lengths), 5, jd, rng.integers(0, 6, len(jd)),
                                 rng.normal(100, 60, len(jd)), rng.uniform(1, 5, len(jd)), 6)
    expected = lc.around_peak(100.0, 300.0).binned(1.0)
    got = lc.binned(1.0, lc.in_window(100.0, 300.0))
    assert got.n_points.tolist() == expected.n_points.tolist() and got.n_points[0] < 300
    np.testing.assert_array_equal(got.mask, expected.mask)
    np.testing.assert_array_equal(got.band, expected.band)
    for name in ("time_days", "flux_fluxcal", "fluxerr_fluxcal", "jd_first", "jd_last"):
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name), rtol=1e-12, atol=1e-9, err_msg=name)
    # a batch without objects, or whose objects have no point, comes back as it is either way
    for n_objects in (0, 3):
        empty = lightcurves_from_points(np.zeros(0, int), n_objects, np.zeros(0), np.zeros(0, int), np.zeros(0),
                                        np.zeros(0), 6)
        assert empty.binned(1.0, empty.in_window(100.0, 300.0)) is empty
        assert empty.around_peak(100.0, 300.0).binned(1.0) is empty
