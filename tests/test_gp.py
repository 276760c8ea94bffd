"""GP interpolation: hand computation at fixed hyperparameters, george agreement, batched fits."""
import numpy as np
import pytest

from conftest import shared_path
from fink_t2 import gp
from fink_t2.lightcurves import lightcurves_from_points
from fink_t2.realdata import alert_lightcurves, bts_windows
from fink_t2.ztf import WAVELENGTHS_A as LAM


def _alert_like(bts_table, n, seed=0):
    lc = bts_windows(bts_table, n, seed=seed)
    return lc.subset(np.flatnonzero(lc.n_points >= 2))


def _tiny():
    """One object: 2 g points and 1 r point, FLUXCAL."""
    return lightcurves_from_points([0, 0, 0], 1, np.array([0.0, 3.0, 7.0]), np.array([0, 1, 0]),
                                   np.array([100.0, 150.0, 80.0]), np.array([5.0, 8.0, 6.0]), n_bands=2)


def _hand_matern32(x1, x2, amp2, lt2):
    """amp2 * (1 + sqrt(3) r) exp(-sqrt(3) r), r^2 = dt^2/lt2 + dlambda^2/6000^2, written out element by element."""
    out = np.empty((len(x1), len(x2)))
    for i, (t1, l1) in enumerate(x1):
        for j, (t2, l2) in enumerate(x2):
            r = np.sqrt((t1 - t2) ** 2 / lt2 + (l1 - l2) ** 2 / 6000.0**2)
            out[i, j] = amp2 * (1 + np.sqrt(3) * r) * np.exp(-np.sqrt(3) * r)
    return out


def test_posterior_mean_and_likelihood_by_hand():
    lc = _tiny()
    amp2, lt2 = 120.0**2, 10.0**2
    lam_g, lam_r = LAM
    x = [(0.0, lam_g), (3.0, lam_r), (7.0, lam_g)]
    y = np.array([100.0, 150.0, 80.0])
    cov = _hand_matern32(x, x, amp2, lt2) + np.diag([25.0, 64.0, 36.0])
    times = np.linspace(0, 7, gp.N_TIMES)
    grid = [(t, lam) for t in times for lam in (lam_g, lam_r)]
    expected_mean = (_hand_matern32(grid, x, amp2, lt2) @ np.linalg.solve(cov, y)).reshape(gp.N_TIMES, 2)
    sign, logdet = np.linalg.slogdet(cov)
    expected_ll = -0.5 * (y @ np.linalg.solve(cov, y) + logdet + 3 * np.log(2 * np.pi))

    params = np.log([[amp2, lt2]])
    np.testing.assert_allclose(gp.predict_mean(lc, params, LAM)[0], expected_mean, rtol=1e-10)
    np.testing.assert_allclose(gp.log_likelihood_batched(lc, params, LAM)[0], expected_ll, rtol=1e-10)
    np.testing.assert_allclose(gp.log_likelihood_george(lc, params, LAM)[0], expected_ll, rtol=1e-8)


def test_three_band_posterior_mean_by_hand():
    """Means in more bands than the points carry: every band at its own wavelength offset."""
    lc = _tiny()
    wavelengths = (4804.79, 6436.92, 7968.22)
    amp2, lt2 = 90.0**2, 6.0**2
    x = [(0.0, wavelengths[0]), (3.0, wavelengths[1]), (7.0, wavelengths[0])]
    cov = _hand_matern32(x, x, amp2, lt2) + np.diag([25.0, 64.0, 36.0])
    grid = [(t, lam) for t in np.linspace(0, 7, gp.N_TIMES) for lam in wavelengths]
    y = [100.0, 150.0, 80.0]
    expected = (_hand_matern32(grid, x, amp2, lt2) @ np.linalg.solve(cov, y)).reshape(gp.N_TIMES, 3)
    np.testing.assert_allclose(gp.predict_mean(lc, np.log([[amp2, lt2]]), wavelengths)[0], expected, rtol=1e-10)


def test_posterior_means_match_george_on_padded_real_windows(bts_table):
    lc = _alert_like(bts_table, 40, seed=6)
    assert len(np.unique(lc.n_points)) > 5  # objects of many widths share the padded arrays
    start, lower, upper = gp.start_and_bounds(lc)
    params = lower + np.random.default_rng(7).uniform(0.3, 0.7, size=lower.shape) * (upper - lower)
    mean = gp.predict_mean(lc, params, LAM)
    times = gp.prediction_times(lc)
    lam = np.asarray(LAM)[lc.band.astype(int)]
    for i in range(len(lc)):
        m = lc.mask[i]
        x = np.stack([lc.time_days[i, m], lam[i, m]], axis=1)
        george_gp = gp._george_gp(params[i], x, lc.fluxerr_fluxcal[i, m])
        grid = np.stack([np.repeat(times[i], 2), np.tile(LAM, gp.N_TIMES)], axis=1)
        expected = george_gp.predict(lc.flux_fluxcal[i, m], grid, return_cov=False).reshape(gp.N_TIMES, 2)
        np.testing.assert_allclose(mean[i], expected, rtol=1e-7, atol=1e-9 * np.abs(expected).max())


def test_start_and_bounds_by_hand():
    lc = _tiny()
    start, lower, upper = gp.start_and_bounds(lc)
    # S/N with a floor of 1% of max |flux| (1.5): 100/5.2 = 19.2, 150/8.1 = 18.5, 80/6.2 = 12.9 -> 100
    np.testing.assert_allclose(start[:, 0], [[np.log(50.0**2), np.log(20.0**2)], [np.log(50.0**2), np.log(5.0**2)]])
    np.testing.assert_allclose(lower[0], [np.log(50.0**2) - 10, 0.0])
    np.testing.assert_allclose(upper[0], [np.log(50.0**2) + 10, np.log(1000.0**2)])


def test_fit_starts_at_a_shorter_time_scale_where_the_likelihood_says_so(bts_table, monkeypatch):
    """Each object's optimisation starts at 20 days, or at 5 where george's likelihood rises towards shorter
    time scales at 20 days and is higher at 5 (george: a second implementation of the likelihood)."""
    lc = _alert_like(bts_table, 40, seed=3)
    starts, _, _ = gp.start_and_bounds(lc)
    optimise, seen = gp._projected_bfgs, {}

    def recording(objective, start, lower, upper, start_values):
        seen["start"] = start
        return optimise(objective, start, lower, upper, start_values)

    monkeypatch.setattr(gp, "_projected_bfgs", recording)
    gp.interpolate(lc, LAM)
    lam = np.asarray(LAM)[lc.band.astype(int)]
    expected = []
    for i in np.flatnonzero(lc.n_points > 0):
        m = lc.mask[i]
        x = np.stack([lc.time_days[i, m], lam[i, m]], axis=1)
        at = [gp._george_gp(s[i], x, lc.fluxerr_fluxcal[i, m]) for s in starts]
        rises_shorter = at[0].grad_log_likelihood(lc.flux_fluxcal[i, m])[1] < 0  # d log L / d log lt2
        better = at[1].log_likelihood(lc.flux_fluxcal[i, m]) > at[0].log_likelihood(lc.flux_fluxcal[i, m])
        expected.append(starts[1, i] if rises_shorter and better else starts[0, i])
    np.testing.assert_array_equal(seen["start"], expected)
    assert 0 < (seen["start"][:, 1] == starts[1, 0, 1]).sum() < len(expected)  # both starts are chosen somewhere


def test_log_likelihood_matches_george_at_fixed_parameters(bts_table):
    lc = _alert_like(bts_table, 40)
    start, lower, upper = gp.start_and_bounds(lc)
    rng = np.random.default_rng(1)
    params = lower + rng.uniform(0.3, 0.7, size=lower.shape) * (upper - lower)
    np.testing.assert_allclose(gp.log_likelihood_batched(lc, params, LAM), gp.log_likelihood_george(lc, params, LAM), rtol=1e-8)


def test_gradient_matches_george_at_fixed_parameters(bts_table):
    """The batched gradient (closed-form identities, padding left unmasked in dK) against george's."""
    lc = _alert_like(bts_table, 40, seed=2)
    start, lower, upper = gp.start_and_bounds(lc)
    params = lower + np.random.default_rng(4).uniform(0.3, 0.7, size=lower.shape) * (upper - lower)
    _, grad, _ = gp._neg_log_likelihood(gp._Points.from_lightcurves(lc, LAM), params)
    lam = np.asarray(LAM)[lc.band.astype(int)]
    for i in range(len(lc)):
        m = lc.mask[i]
        george_gp = gp._george_gp(params[i], np.stack([lc.time_days[i, m], lam[i, m]], axis=1), lc.fluxerr_fluxcal[i, m])
        # george's parameters are (log constant, log lt2): the same derivatives as ours
        np.testing.assert_allclose(-grad[i], george_gp.grad_log_likelihood(lc.flux_fluxcal[i, m]),
                                   rtol=1e-6, atol=1e-8)


def test_fitted_means_are_the_posterior_means_at_the_fitted_parameters(bts_table, monkeypatch):
    """The fit reuses K^-1 y from each object's last evaluation, which is nearly always at its optimum;
    where it is not (forced here for every other object), K^-1 y is recomputed."""
    lc = _alert_like(bts_table, 60, seed=5)
    optimise = gp._projected_bfgs

    def optimum_not_last_evaluated(objective, start, lower, upper, start_values):
        theta, f = optimise(objective, start, lower, upper, start_values)
        theta[::2, 1] = np.clip(theta[::2, 1] + 0.1, lower[::2, 1], upper[::2, 1] - 1e-3)
        return theta, f

    for patched in (False, True):
        if patched:
            monkeypatch.setattr(gp, "_projected_bfgs", optimum_not_last_evaluated)
        mean, fit = gp.interpolate(lc, LAM)
        np.testing.assert_allclose(mean, gp.predict_mean(lc, fit.log_params, LAM), rtol=1e-9,
                                   atol=1e-9 * np.abs(mean).max())


def test_optimiser_reaches_a_minimum_on_a_bound_in_few_evaluations():
    """Coupled quadratics whose minimum lies past the lower bound of the second parameter: the constrained
    minimum (second parameter at its bound, first at x0 - c (lower - y0) / a, by hand) is reached as scipy's
    L-BFGS-B reaches it, in a few evaluations, with the second parameter held at its bound."""
    from scipy.optimize import minimize

    a, b = np.array([1.0, 2.0, 0.5]), np.array([3.0, 1.0, 4.0])
    c = 0.9 * np.sqrt(a * b)  # strongly coupled, still positive definite
    x0, y0 = np.array([14.0, 2.0, -3.0]), np.array([-2.0, -1.0, -0.5])
    lower, upper = np.tile([-20.0, 0.0], (3, 1)), np.tile([20.0, 10.0], (3, 1))
    calls = np.zeros(3, dtype=np.int64)

    def objective(index, theta):
        calls[index] += 1
        dx, dy = theta[:, 0] - x0[index], theta[:, 1] - y0[index]
        values = a[index] * dx**2 + 2 * c[index] * dx * dy + b[index] * dy**2
        gradients = 2 * np.stack([a[index] * dx + c[index] * dy, c[index] * dx + b[index] * dy], axis=1)
        return values, gradients

    start = np.tile([5.0, 6.0], (3, 1))
    theta, _ = gp._projected_bfgs(objective, start, lower, upper)
    assert calls.max() <= 20, calls  # 31 without the step restricted to the free parameter
    expected = np.stack([x0 - c * (0.0 - y0) / a, np.zeros(3)], axis=1)
    np.testing.assert_allclose(theta, expected, atol=1e-4)
    for k in range(3):
        reference = minimize(lambda t: objective(np.array([k]), t[None])[0][0], start[k],
                             jac=lambda t: objective(np.array([k]), t[None])[1][0], method="L-BFGS-B",
                             bounds=list(zip(lower[k], upper[k])))
        np.testing.assert_allclose(theta[k], reference.x, atol=1e-4)


def test_mean_at_the_band_wavelengths_is_the_prediction_on_the_grid(bts_table):
    """``predict_mean_at`` on the regular grid and the bands' own wavelengths is ``predict_mean`` (checked
    against george above), object by object with per-object wavelengths too."""
    lc = bts_windows(bts_table, 12, seed=2)
    lc = lc.subset(np.flatnonzero(lc.n_points >= 2))
    _, fit = gp.interpolate(lc, LAM)
    times = gp.prediction_times(lc)
    expected = gp.predict_mean(lc, fit.log_params, LAM)
    query = np.tile(LAM, (len(lc), 1))
    np.testing.assert_allclose(gp.predict_mean_at(lc, fit.log_params, LAM, times, query), expected,
                               rtol=1e-9, atol=1e-9 * np.abs(expected).max())
    shifted = query * np.linspace(0.9, 1.1, len(lc))[:, None]
    together = gp.predict_mean_at(lc, fit.log_params, LAM, times, shifted)
    for k in (0, len(lc) - 1):
        alone = gp.predict_mean_at(lc.subset([k]), fit.log_params[[k]], LAM, times[[k]], shifted[[k]])
        np.testing.assert_allclose(together[k], alone[0], rtol=1e-9, atol=1e-9 * np.abs(alone).max())


def test_calls_cover_every_position_once_within_the_memory_bound():
    n_points = np.random.default_rng(0).integers(1, 300, size=5000)
    group = gp._size_groups(n_points)
    assert (np.diff(group[np.argsort(n_points, kind="stable")]) >= 0).all()  # groups follow sizes
    calls = list(gp._calls(group, n_points, lambda width: width * width))
    seen = np.concatenate(calls)
    assert np.array_equal(np.sort(seen), np.arange(len(n_points)))
    for positions in calls:
        assert len(positions) == 1 or len(positions) * n_points[positions].max() ** 2 <= gp._MAX_ELEMENTS


def agreement(lc):
    """Fraction of objects whose batched fit is as good as george's, and the worst curve deviation."""
    mean_b, fit_b = gp.interpolate(lc, LAM, "batched")
    mean_g, fit_g = gp.interpolate(lc, LAM, "george")
    curve_range = mean_g.max(axis=(1, 2)) - mean_g.min(axis=(1, 2))
    deviation = np.abs(mean_b - mean_g).max(axis=(1, 2)) / np.maximum(curve_range, 1e-300)
    agree = (fit_b.log_likelihood >= fit_g.log_likelihood - 0.01) & (deviation < 0.01)
    return agree.mean(), deviation


def test_batched_fit_agrees_with_george_on_real_alert_windows(bts_table):
    fraction, _ = agreement(_alert_like(bts_table, 150, seed=3))
    assert fraction >= 0.99


def test_batched_fit_agrees_with_george_on_shared_alerts():
    lc = alert_lightcurves(shared_path("ztf_alerts/parquet"))
    lc = lc.subset(np.flatnonzero(lc.n_points >= 2))
    assert len(lc) > 50
    # Known limit: about 1 in 5 of these (mostly variable stars) has a multimodal likelihood
    # where the two optimizers end in different local optima, either one the better.
    fraction, deviation = agreement(lc)
    assert fraction >= 0.75
    assert np.median(deviation) < 0.01


def test_batched_fit_agrees_with_george_on_plasticc_gr_lightcurves():
    from fink_t2.datasets import plasticc_dir, read_plasticc

    if not (plasticc_dir() / "plasticc_train_lightcurves.csv").is_file():
        pytest.skip(f"PLAsTiCC is not in {plasticc_dir()}: run `fink-t2 data plasticc`")
    lc = read_plasticc("train").lightcurves()
    pick = np.random.default_rng(0).choice(np.flatnonzero(lc.n_points >= 2), 200, replace=False)
    fraction, deviation = agreement(lc.subset(pick))  # measured: 0.995
    assert fraction >= 0.99
    assert np.median(deviation) < 1e-3


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown GP backend 'gpu'"):
        gp.interpolate(_tiny(), LAM, "gpu")


def test_objects_without_points_are_not_ok():
    lc = lightcurves_from_points([0, 0], 2, np.array([0.0, 1.0]), np.array([0, 1]), np.array([10.0, 12.0]),
                                 np.array([1.0, 1.0]), n_bands=2)
    for backend in gp.BACKENDS:
        mean, fit = gp.interpolate(lc, LAM, backend)
        assert fit.ok.tolist() == [True, False]
        assert np.isfinite(mean).all() and (mean[1] == 0).all()


def test_batched_engine_runs_on_one_blas_thread(monkeypatch):
    """Its many small LAPACK calls run several times slower on a multi-threaded BLAS, which is
    what a Spark worker (or any process) gets by default."""
    from threadpoolctl import threadpool_info

    fit = gp._fit_batched
    seen = []

    def recording(*args):
        seen.extend(pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas")
        return fit(*args)

    monkeypatch.setattr(gp, "_fit_batched", recording)
    gp.interpolate(_tiny(), LAM)
    assert seen and max(seen) == 1


def test_hyperparameters_fitted_on_fewer_points_and_the_mean_from_all(bts_table):
    """``fit_max_points``, in both engines: the hyperparameters are those of a fit on the evenly thinned light
    curve, and the mean is the GP mean at them from every point (NumPy's ``predict_mean``, so george's mean is
    checked by a second implementation)."""
    lc = _alert_like(bts_table, 60, seed=5)
    assert (lc.n_points > 12).sum() >= 10  # light curves that are thinned for the fit
    for backend in gp.BACKENDS:
        mean, fit = gp.interpolate(lc, LAM, backend, fit_max_points=12)
        mean_thinned, fit_thinned = gp.interpolate(lc.thinned(12), LAM, backend)
        # same data, same optimiser: equal to rounding (another NumPy may batch the sums differently)
        np.testing.assert_allclose(fit.log_params, fit_thinned.log_params, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(fit.log_likelihood, fit_thinned.log_likelihood)
        np.testing.assert_allclose(mean, gp.predict_mean(lc, fit.log_params, LAM), atol=1e-6 * np.abs(mean).max())
        short = lc.n_points <= 12  # nothing to thin: the mean is the thinned fit's
        np.testing.assert_allclose(mean[short], mean_thinned[short], atol=1e-6 * np.abs(mean).max())
        assert not np.allclose(mean[~short], mean_thinned[~short], atol=1e-3 * np.abs(mean).max())
    with pytest.raises(ValueError, match="fit_max_points should be at least 2"):
        gp.interpolate(lc, LAM, fit_max_points=1)


def test_a_coarser_grid_is_every_other_time_of_a_finer_one(bts_table):
    """``n_times`` changes where the mean is evaluated, not the fit: in both engines, the 50 regular times from
    0 to the last point are every other one of 99, where the two means must agree."""
    lc = _alert_like(bts_table, 20, seed=6)
    for backend in gp.BACKENDS:
        coarse, fit_coarse = gp.interpolate(lc, LAM, backend, n_times=50)
        fine, fit_fine = gp.interpolate(lc, LAM, backend, n_times=99)
        assert coarse.shape == (len(lc), 50, 2) and fine.shape == (len(lc), 99, 2)
        np.testing.assert_allclose(fit_coarse.log_params, fit_fine.log_params, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(coarse, fine[:, ::2], rtol=1e-9, atol=1e-9 * np.abs(fine).max())
        np.testing.assert_allclose(gp.prediction_times(lc, 50), gp.prediction_times(lc, 99)[:, ::2], rtol=1e-12)
