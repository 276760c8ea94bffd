"""2D Gaussian-process interpolation of light curves (time x wavelength).

Model (as in avocado / astronet): zero mean, kernel
``amp2 * Matern32(r)``, ``r**2 = dt**2 / lt2 + dlambda**2 / 6000**2``, with the
measurement variances on the diagonal. The wavelength scale is fixed;
``theta = (log amp2, log lt2)`` is fitted by maximum likelihood from a
start, within bounds (``choose_start``: 20 days, or 5 days where the likelihood rises towards shorter time
scales and is higher there, so that the dense short histories of real Rubin alerts, time scales of days,
and the sparse long ones of ZTF and ELAsTiCC, weeks, both start near their optimum). On failure an object
keeps its starting values.

Two engines fit the same model:

- ``"george"``: the reference, one george GP and one scipy L-BFGS-B run per object;
- ``"batched"`` (default): NumPy, every light curve of a batch at once. One
  projected BFGS advances every object together, each with its own line search
  (``_projected_bfgs``). Each round evaluates every running object's next trial
  point in a few batched calls: objects are grouped by number of points
  (``_size_groups``, by dynamic programming on a cost model) and padded to their
  group's width; padding is an identity block with zero flux, which adds nothing
  to the likelihood. A call builds the (k, W, W) kernels, factorises them with one
  batched Cholesky and gets K^-1 (LAPACK potri) for the gradient. The GP means
  are then evaluated group by group.
  NumPy rather than TensorFlow: the matrices are small (tens of points) and
  NumPy's batched LAPACK calls have far less per-call overhead than TF ops.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.linalg import lapack
from threadpoolctl import ThreadpoolController

from .lightcurves import LightCurves

#: Fixed wavelength length scale of the kernel, Angstrom.
WAVELENGTH_SCALE_A = 6000.0
#: Number of regular times at which the GP mean is evaluated, by default (a model card's ``n_times`` says what
#: its model reads).
N_TIMES = 100
#: Starting time scales (days), longest first (``choose_start``). Fitted time scales have a median of 4 days on
#: the real Rubin alerts, 32 on ELAsTiCC, 25 on BTS light curves: from 20 days alone, the real Rubin alerts
#: took 22.5 likelihood evaluations per object, ELAsTiCC and BTS 9-10.
START_TIMESCALES_DAYS = (20.0, 5.0)
#: Bounds of log(lt**2); log(amp**2) may move +-10 from its start.
LOG_TIMESCALE2_BOUNDS = (0.0, np.log(1000.0**2))
LOG_AMPLITUDE2_HALF_WIDTH = 10.0
BACKENDS = ("batched", "george")
#: The fit is cubic in the number of points: longer histories are thinned evenly to this many (by default;
#: a model card's ``gp_max_points`` says what its model was trained with).
MAX_POINTS = 300
#: NumPy's and scipy's BLAS/LAPACK thread pools (found once, after both are loaded).
_THREAD_POOLS = ThreadpoolController()


@dataclass
class GPFit:
    """Fitted hyperparameters of n light curves.

    log_params : (n, 2) ``(log amp**2, log lt**2)``.
    log_likelihood : (n,) at ``log_params``.
    ok : (n,) False where the fit failed and the start values were kept.
    """

    log_params: np.ndarray
    log_likelihood: np.ndarray
    ok: np.ndarray


def start_and_bounds(lc: LightCurves):
    """Candidate starting points (len(START_TIMESCALES_DAYS), n, 2) and bounds ``(lower, upper)``, each (n, 2),
    of ``(log amp2, log lt2)``.

    amp starts at half the |flux| of the highest-S/N point (S/N with an error
    floor of 1% of the largest |flux|); lt at each of ``START_TIMESCALES_DAYS``.
    """
    abs_flux = np.where(lc.mask, np.abs(lc.flux_fluxcal), 0.0)
    floor = 0.01 * abs_flux.max(axis=1, initial=0.0)
    snr = np.where(lc.mask, abs_flux / np.sqrt(lc.fluxerr_fluxcal**2 + floor[:, None] ** 2 + 1e-300), -1.0)
    best = np.take_along_axis(abs_flux, snr.argmax(axis=1)[:, None], axis=1)[:, 0]
    amplitude = np.maximum(0.5 * best, 1e-6)
    log_amp2 = np.log(amplitude**2)
    starts = np.stack([np.stack([log_amp2, np.full(len(lc), np.log(days**2))], axis=1)
                       for days in START_TIMESCALES_DAYS])
    lower = np.stack([log_amp2 - LOG_AMPLITUDE2_HALF_WIDTH, np.full(len(lc), LOG_TIMESCALE2_BOUNDS[0])], axis=1)
    upper = np.stack([log_amp2 + LOG_AMPLITUDE2_HALF_WIDTH, np.full(len(lc), LOG_TIMESCALE2_BOUNDS[1])], axis=1)
    return starts, lower, upper


def choose_start(starts, objective):
    """Starting point (n, 2) of each object among ``starts`` (C, n, 2), time scales longest first, and the
    values (n,) and gradients (n, 2) of ``objective(index, theta)`` (negative log-likelihood) there.

    A shorter time scale is tried where the likelihood at the current choice is not finite or rises towards
    shorter time scales (positive gradient of the negative log-likelihood in log lt2), and kept where it is
    strictly better.
    """
    n = starts.shape[1]
    values, gradients = objective(np.arange(n), starts[0])
    best = np.zeros(n, dtype=np.int64)
    for candidate in range(1, len(starts)):
        rows = np.flatnonzero(~np.isfinite(values) | (gradients[:, 1] > 0))
        if rows.size == 0:
            break
        trial_values, trial_gradients = objective(rows, starts[candidate, rows])
        better = trial_values < values[rows]
        rows = rows[better]
        values[rows], gradients[rows], best[rows] = trial_values[better], trial_gradients[better], candidate
    return starts[best, np.arange(n)], values, gradients


def prediction_times(lc: LightCurves, n_times: int = N_TIMES) -> np.ndarray:
    """(n, n_times) regular times (days) from 0 to each object's last point."""
    span = np.where(lc.mask, lc.time_days, 0.0).max(axis=1, initial=0.0)
    return span[:, None] * np.linspace(0.0, 1.0, n_times)[None, :]


def _wavelengths(lc: LightCurves, wavelengths_a) -> np.ndarray:
    return np.asarray(wavelengths_a, dtype=float)[lc.band.astype(np.int64)]


# --------------------------------------------------------------------------- batched NumPy engine

def _unit_matern32(time_scaled, wavelength_scaled):
    """Unit-amplitude kernel and 2 x its derivative w.r.t. log lt2, (k, W, W), from
    coordinates (k, W) already scaled so that their squared differences sum to 3 r**2:
    time * sqrt(3) / lt and wavelength * sqrt(3) / 6000 A.

    Written in place: on a virtual machine, every fresh large array costs page faults
    that make an elementwise pass several times slower.
    """
    three_dt2 = np.subtract(time_scaled[:, :, None], time_scaled[:, None, :])
    np.square(three_dt2, out=three_dt2)                         # 3 dt2 / lt2
    sqrt3_r = np.subtract(wavelength_scaled[:, :, None], wavelength_scaled[:, None, :])
    np.square(sqrt3_r, out=sqrt3_r)
    sqrt3_r += three_dt2
    np.sqrt(sqrt3_r, out=sqrt3_r)
    decay = np.negative(sqrt3_r)
    np.exp(decay, out=decay)                                    # exp(-sqrt3 r)
    # d kernel / d log(lt2) = 1.5 exp(-sqrt3 r) dt2 / lt2, finite at r = 0
    three_dt2 *= decay
    sqrt3_r += 1.0
    sqrt3_r *= decay                                            # (1 + sqrt3 r) exp(-sqrt3 r)
    return sqrt3_r, three_dt2


@dataclass
class _Points:
    """Light curves as padded (k, W) arrays ready for the likelihood: ``mask``, ``y`` (flux),
    ``var`` (variance), ``time_days``, ``wavelength_scaled`` (wavelength * sqrt(3) / 6000 A);
    ``n_valid`` (k,) counts the points.

    Padding has zero flux, unit variance and no covariance with anything: its block of
    K is the identity, it adds nothing to the likelihood and K^-1 y is zero there.
    Points are left-aligned, so ``take`` crops the rows it gathers to their widest.
    """

    mask: np.ndarray
    y: np.ndarray
    var: np.ndarray
    time_days: np.ndarray
    wavelength_scaled: np.ndarray
    n_valid: np.ndarray

    @classmethod
    def from_lightcurves(cls, lc: LightCurves, wavelengths_a):
        return cls(lc.mask, np.where(lc.mask, lc.flux_fluxcal, 0.0), np.where(lc.mask, lc.fluxerr_fluxcal**2, 1.0),
                   np.where(lc.mask, lc.time_days, 0.0),
                   _wavelengths(lc, wavelengths_a) * (np.sqrt(3.0) / WAVELENGTH_SCALE_A), lc.mask.sum(axis=1))

    def take(self, rows):
        """The objects ``rows`` (integer array), cropped to their largest number of points."""
        width = max(int(self.n_valid[rows].max(initial=0)), 1)
        return _Points(self.mask[rows, :width], self.y[rows, :width], self.var[rows, :width],
                       self.time_days[rows, :width], self.wavelength_scaled[rows, :width], self.n_valid[rows])


def _covariance(points: _Points, log_params):
    """Covariance K (k, W, W) and 2 x the unit-amplitude dK/d log lt2 at ``log_params`` (k, 2)."""
    time_scaled = points.time_days * np.sqrt(3.0 * np.exp(-log_params[:, 1]))[:, None]
    cov, unit_dkernel2 = _unit_matern32(time_scaled, points.wavelength_scaled)
    cov *= (np.exp(log_params[:, 0])[:, None] * points.mask)[:, :, None]
    cov *= points.mask[:, None, :]
    diag = np.arange(cov.shape[1])
    cov[:, diag, diag] += points.var
    return cov, unit_dkernel2


def _neg_log_likelihood(points: _Points, log_params):
    """Negative log-likelihood (k,), its gradient (k, 2) and K^-1 y (k, W) at ``log_params`` (k, 2).

    Infinite where the covariance is not positive definite.
    """
    y, var = points.y, points.var
    cov, unit_dkernel2 = _covariance(points, log_params)
    chol, ok = _cholesky(cov)
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    inv_lower = _inverse_lower_from_cholesky(chol)  # tril(K^-1), in chol's memory
    inv_diag = np.diagonal(inv_lower, axis1=1, axis2=2)
    # K^-1 y = (T + T^T - diag T) y with T = tril(K^-1)
    alpha = (inv_lower @ y[:, :, None])[:, :, 0] + (y[:, None, :] @ inv_lower)[:, 0, :] - inv_diag * y
    y_alpha = (y * alpha).sum(axis=1)
    nll = 0.5 * (y_alpha + log_det + points.n_valid * np.log(2 * np.pi))
    # d(-ll)/d theta = -0.5 (alpha^T dK alpha - tr(K^-1 dK)). For log amp2, dK = K - diag(var):
    # alpha^T dK alpha = y.alpha - sum var alpha^2 and tr(K^-1 dK) = W - sum var diag(K^-1).
    # For log lt2, dK is symmetric with a zero diagonal, so tr(K^-1 dK) = 2 sum tril(K^-1) * dK;
    # it needs no mask: K^-1 pairs padding with nothing but itself, where dK is zero.
    grad_amp = y_alpha - (var * alpha**2).sum(axis=1) - cov.shape[1] + (var * inv_diag).sum(axis=1)
    grad_lt = (((unit_dkernel2 @ alpha[:, :, None])[:, :, 0] * alpha).sum(axis=1)
               - 2.0 * np.einsum("ij,ij->i", inv_lower.reshape(len(y), -1), unit_dkernel2.reshape(len(y), -1))) * (
                   0.5 * np.exp(log_params[:, 0]))
    return np.where(ok, nll, np.inf), -0.5 * np.stack([grad_amp, grad_lt], axis=1), alpha


def _alpha(points: _Points, log_params):
    """K^-1 y (k, W) at ``log_params`` (k, 2); zero on padding."""
    cov, _ = _covariance(points, log_params)
    return np.linalg.solve(cov, points.y[:, :, None])[:, :, 0]


def _inverse_lower_from_cholesky(chol):
    """Lower triangle of K^-1 (zeros above) from the Cholesky factors L (k, W, W), in place.

    LAPACK ``potri`` per matrix, on the transposed (Fortran-ordered, upper) view so that
    it writes into ``chol`` without copies: under a third of the flops of inverting L and
    multiplying out L^-T L^-1.
    """
    potri = lapack.dpotri
    for upper in np.transpose(chol, (0, 2, 1)):
        potri(upper, 0, 1)  # lower=0, overwrite_c=1; positional: keywords cost 20% per call here
    return chol


def _cholesky(cov):
    """Batched Cholesky; a matrix that is not positive definite gets identity and ok=False."""
    try:
        return np.linalg.cholesky(cov), np.ones(len(cov), dtype=bool)
    except np.linalg.LinAlgError:
        ok = np.ones(len(cov), dtype=bool)
        chol = np.empty_like(cov)
        for i, matrix in enumerate(cov):
            try:
                chol[i] = np.linalg.cholesky(matrix)
            except np.linalg.LinAlgError:
                ok[i] = False
                chol[i] = np.eye(len(matrix))
        return chol, ok


def _projected_bfgs(objective, start, lower, upper, start_values=None, max_iter=200, gtol=1e-5, ftol=2.2e-9,
                    max_trials=40):
    """Minimise n bounded 2-parameter functions together: ``objective(index, theta)`` returns
    the values (k,) and gradients (k, 2) of functions ``index`` at ``theta`` (k, 2); ``start_values``: those
    at ``start``, where already computed.

    Follows the path of scipy's L-BFGS-B where it matters for a multimodal
    likelihood: a first step of unit length along the projected gradient, the
    initial inverse-Hessian scaling s.y / y.y, a Newton step restricted to the free parameter where
    the other is held at a bound, and a line search that extrapolates
    while the slope is still steep (weak Wolfe conditions, c1 = 1e-3, c2 = 0.9).
    Objects advance in rounds of one objective call each: every object still running
    evaluates its next trial point, whether it is starting a line search or retrying one.
    Returns theta (n, 2) and the values (n,) there; an object whose start is not
    computable keeps it, with an infinite value.
    """
    n = len(start)
    theta = start.copy()
    f, g = objective(np.arange(n), theta) if start_values is None else (a.copy() for a in start_values)
    inv_hessian = np.tile(np.eye(2), (n, 1, 1))
    fresh = np.ones(n, dtype=bool)  # inverse Hessian is still the identity
    active = np.isfinite(f)
    searching = np.zeros(n, dtype=bool)
    iterations, trials = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    direction, slope, step = np.zeros((n, 2)), np.zeros(n), np.ones(n)
    new_theta, new_f, new_g, found = theta.copy(), f.copy(), g.copy(), np.zeros(n, dtype=bool)
    while True:
        # Objects between line searches: converged, or a new search direction.
        idx = np.flatnonzero(active & ~searching)
        th, gi = theta[idx], g[idx]
        free = ~(((th <= lower[idx]) & (gi > 0)) | ((th >= upper[idx]) & (gi < 0)))
        projected = np.where(free, gi, 0.0)
        stop = (np.abs(projected).max(axis=1) < gtol) | (iterations[idx] >= max_iter)
        active[idx[stop]] = False
        idx, gi, free, projected = idx[~stop], gi[~stop], free[~stop], projected[~stop]
        d = -np.einsum("kij,kj->ki", inv_hessian[idx], projected) * free
        # One parameter held at a bound: a Newton step in the other alone, with its own curvature
        # B_ff = 1 / (H^-1)_ff = H_oo / det H (o the held one), not H_ff, which assumes o moves too.
        single = np.flatnonzero(free.sum(axis=1) == 1)
        if single.size:
            h, moving = inv_hessian[idx[single]], free[single].argmax(axis=1)
            det = h[:, 0, 0] * h[:, 1, 1] - h[:, 0, 1] * h[:, 1, 0]
            held_diagonal = h[np.arange(single.size), 1 - moving, 1 - moving]
            d[single, moving] = -projected[single, moving] * det / held_diagonal
        not_descent = (d * gi).sum(axis=1) >= 0
        d[not_descent] = -projected[not_descent]
        inv_hessian[idx[not_descent]] = np.eye(2)
        fresh[idx[not_descent]] = True
        first = fresh[idx]
        d[first] /= np.linalg.norm(d[first], axis=1, keepdims=True)
        direction[idx], slope[idx], step[idx], trials[idx] = d, (d * gi).sum(axis=1), 1.0, 0
        new_theta[idx], new_f[idx], new_g[idx], found[idx] = theta[idx], f[idx], gi, False
        searching[idx] = True

        # One round: every searching object evaluates its trial step. Halve until f
        # decreases enough, double while the slope stays steep.
        p = np.flatnonzero(searching)
        if p.size == 0:
            break
        unclipped = theta[p] + step[p, None] * direction[p]
        trial = np.clip(unclipped, lower[p], upper[p])
        tf, tg = objective(p, trial)
        trials[p] += 1
        decrease = np.isfinite(tf) & (tf <= f[p] + 1e-3 * ((trial - theta[p]) * g[p]).sum(axis=1))
        better = decrease & (~found[p] | (tf < new_f[p]))
        q = p[better]
        new_theta[q], new_f[q], new_g[q] = trial[better], tf[better], tg[better]
        clipped = (trial != unclipped).any(axis=1)
        steep = ((tg * direction[p]).sum(axis=1) < 0.9 * slope[p]) & ~clipped & (step[p] < 1e3)
        expand = better & steep
        step[p[expand]] *= 2.0
        step[p[~decrease & ~found[p]]] *= 0.5
        ended = (~expand & (decrease | found[p])) | (trials[p] >= max_trials)
        found[q] = True

        # Objects whose line search ended: quasi-Newton update, stop rule, next iteration.
        e = p[ended]
        searching[e] = False
        iterations[e] += 1
        stalled = ~found[e]  # no acceptable step: as converged as it gets
        s = new_theta[e] - theta[e]
        yk = new_g[e] - g[e]
        sy = (s * yk).sum(axis=1)
        update = ~stalled & (sy > 1e-12)
        u = e[update]
        if u.size:
            h, s_u, y_u, sy_u = inv_hessian[u], s[update], yk[update], sy[update]
            scale = np.where(fresh[u], sy_u / (y_u * y_u).sum(axis=1), 1.0)[:, None, None]
            rho = (1.0 / sy_u)[:, None, None]
            left = np.eye(2)[None] - rho * s_u[:, :, None] * y_u[:, None, :]
            inv_hessian[u] = (left @ (scale * h) @ np.transpose(left, (0, 2, 1))
                              + rho * s_u[:, :, None] * s_u[:, None, :])
            fresh[u] = False
        # stop rule of scipy's L-BFGS-B: relative reduction of f below ftol
        small_change = (f[e] - new_f[e]) <= ftol * np.maximum(1.0, np.maximum(np.abs(f[e]), np.abs(new_f[e])))
        theta[e], f[e], g[e] = new_theta[e], new_f[e], new_g[e]
        active[e[stalled | small_change]] = False
    return theta, f


#: Modelled cost of one likelihood evaluation on one core, microseconds: per object of
#: padded width W (elementwise work ~W**2, factorisations ~W**3), and per batched call.
_COST_PER_ELEMENT_US, _COST_PER_CUBE_US, _COST_PER_CALL_US = 9e-3, 3e-4, 100.0
#: Largest k x W x W (likelihood) or k x W x n_times (prediction) array of one call: 0.8 MB of float64, so that
#: the elementwise passes stay in cache (1e6 elements: the GP of real Rubin alerts ~10% slower).
_MAX_ELEMENTS = 100_000


def _cost_per_object_us(width):
    width = np.asarray(width, dtype=float)
    return _COST_PER_ELEMENT_US * width**2 + _COST_PER_CUBE_US * width**3


def _size_groups(n_points) -> np.ndarray:
    """(n,) group number of every object, groups numbered by increasing size.

    Groups are runs of the sorted sizes, chosen by dynamic programming to minimise
    the modelled time of one evaluation: padding every object to its group's largest
    size costs per object, every group costs a batched call.
    """
    sizes, counts = np.unique(n_points, return_counts=True)
    cumulative = np.concatenate([[0], np.cumsum(counts)])
    per_object = _cost_per_object_us(sizes)
    best, first = np.zeros(len(sizes) + 1), np.zeros(len(sizes) + 1, dtype=np.int64)
    for end in range(1, len(sizes) + 1):   # best[end]: sizes[:end] grouped; last group sizes[first:end]
        cost = best[:end] + _COST_PER_CALL_US + (cumulative[end] - cumulative[:end]) * per_object[end - 1]
        first[end] = np.argmin(cost)
        best[end] = cost[first[end]]
    starts, end = [], len(sizes)
    while end > 0:
        end = first[end]
        starts.append(sizes[end])
    return np.searchsorted(starts[::-1], n_points, side="right") - 1


def _calls(group, n_points, row_elements):
    """Positions (arrays into ``group``) evaluated together, one batched call each.

    One call per group present, except that a group is merged into the next larger
    one when padding its objects costs less than a call (the last iterations leave
    few objects per group); calls are split to hold at most ``_MAX_ELEMENTS``
    elements, ``row_elements(width)`` per object.
    """
    order = np.argsort(group, kind="stable")
    starts = np.flatnonzero(np.diff(group[order], prepend=-1))
    widths = np.maximum.reduceat(n_points[order], starts)
    # modelled cost of padding one object of each part to the width of the next
    step_up = np.diff(_cost_per_object_us(widths), append=np.inf).tolist()
    counts, ends = np.diff(starts, append=len(order)).tolist(), np.append(starts[1:], len(order)).tolist()
    first, n_pending = 0, 0
    for number, end in enumerate(ends):
        n_pending += counts[number]
        if n_pending * step_up[number] < _COST_PER_CALL_US:
            continue
        chunk = max(1, _MAX_ELEMENTS // max(row_elements(int(widths[number])), 1))
        for begin in range(first, end, chunk):
            yield order[begin:min(begin + chunk, end)]
        first, n_pending = end, 0


def _fit_batched(lc: LightCurves, wavelengths_a, fit_lc: Optional[LightCurves] = None, n_times: int = N_TIMES):
    """Fit every light curve with points, all together, on its points in ``fit_lc`` (default: ``lc``, or a
    thinned copy); then evaluate the means from its points in ``lc`` at ``n_times`` regular times."""
    fit_lc = lc if fit_lc is None else fit_lc
    starts, lower, upper = start_and_bounds(fit_lc)
    log_params, nll = starts[0].copy(), np.full(len(lc), np.inf)
    mean = np.zeros((len(lc), n_times, len(wavelengths_a)))
    has_points = np.flatnonzero(lc.n_points > 0)
    points = _Points.from_lightcurves(fit_lc.subset(has_points), wavelengths_a)
    group = _size_groups(points.n_valid)

    # K^-1 y of every object's last evaluation, kept for the prediction: the optimum is
    # usually the last point evaluated (padding columns stay zero: K^-1 y is zero there).
    evaluated_at = np.full((len(has_points), 2), np.nan)
    evaluated_alpha = np.zeros(points.y.shape)

    def objective(index, theta):
        f, g = np.empty(len(index)), np.empty((len(index), 2))
        for where in _calls(group[index], points.n_valid[index], lambda width: width * width):
            rows = index[where]
            f[where], g[where], alpha = _neg_log_likelihood(points.take(rows), theta[where])
            evaluated_at[rows], evaluated_alpha[rows, :alpha.shape[1]] = theta[where], alpha
        return f, g

    start, values, gradients = choose_start(starts[:, has_points], objective)
    theta, f = _projected_bfgs(objective, start, lower[has_points], upper[has_points], (values, gradients))
    log_params[has_points], nll[has_points] = theta, f
    if fit_lc is not lc:  # the K^-1 y kept are those of the fitted points: the means need all of lc's
        points = _Points.from_lightcurves(lc.subset(has_points), wavelengths_a)
        group = _size_groups(points.n_valid)
        evaluated_at[:], evaluated_alpha = np.nan, np.zeros(points.y.shape)
    times = prediction_times(lc, n_times)[has_points]
    for rows in _calls(group, points.n_valid, lambda width: width * n_times):
        subset = points.take(rows)
        alpha = evaluated_alpha[rows, :subset.y.shape[1]]
        stale = np.flatnonzero((evaluated_at[rows] != theta[rows]).any(axis=1))
        if stale.size:
            recomputed = _alpha(points.take(rows[stale]), theta[rows[stale]])
            alpha[stale, :recomputed.shape[1]] = recomputed
        mean[has_points[rows]] = _predict_from_alpha(subset, theta[rows], alpha, times[rows], wavelengths_a)
    ok = np.isfinite(nll)
    mean[~ok] = 0.0
    return GPFit(log_params, -nll, ok), mean


def _predict_from_alpha(points: _Points, log_params, alpha, times, wavelengths_a):
    """GP mean (k, T, B) at ``times`` (k, T) and wavelengths ``wavelengths_a`` (B,) or, per object, (k, B),
    given alpha = K^-1 y (k, W).

    alpha is exactly zero on padding, so padded points add nothing. The (k, W, T)
    cross-covariances are the largest arrays of a fit: one is built per band, in place,
    from the squared time offsets shared by all bands and each point's squared
    wavelength offset to that band.
    """
    time_scale = np.sqrt(3.0 * np.exp(-log_params[:, 1]))[:, None]
    three_dt2 = np.subtract((points.time_days * time_scale)[:, :, None], (times * time_scale)[:, None, :])
    np.square(three_dt2, out=three_dt2)                                             # (k, W, T): 3 dt2 / lt2
    n_bands = np.shape(wavelengths_a)[-1]
    bands_scaled = np.broadcast_to(np.asarray(wavelengths_a, float) * (np.sqrt(3.0) / WAVELENGTH_SCALE_A),
                                   (len(alpha), n_bands))
    weights = (alpha * np.exp(log_params[:, 0])[:, None])[:, None, :]               # (k, 1, W): amp2 folded in
    sqrt3_r, cross = np.empty_like(three_dt2), np.empty_like(three_dt2)
    mean = np.empty((len(alpha), times.shape[1], n_bands))
    for band in range(n_bands):
        np.add(three_dt2, ((points.wavelength_scaled - bands_scaled[:, band, None]) ** 2)[:, :, None], out=sqrt3_r)
        np.sqrt(sqrt3_r, out=sqrt3_r)
        np.negative(sqrt3_r, out=cross)
        np.exp(cross, out=cross)
        sqrt3_r += 1.0
        cross *= sqrt3_r                                                            # (1 + sqrt3 r) exp(-sqrt3 r)
        mean[:, :, band] = (weights @ cross)[:, 0, :]
    return mean


def predict_mean(lc: LightCurves, log_params, wavelengths_a, n_times: int = N_TIMES) -> np.ndarray:
    """GP mean (n, n_times, n_bands) at ``prediction_times(lc, n_times)`` for fixed ``log_params`` (n, 2)."""
    log_params = np.asarray(log_params, float)
    points = _Points.from_lightcurves(lc, wavelengths_a)
    return _predict_from_alpha(points, log_params, _alpha(points, log_params), prediction_times(lc, n_times),
                               wavelengths_a)


def predict_mean_at(lc: LightCurves, log_params, wavelengths_a, times_days, query_wavelengths_a) -> np.ndarray:
    """GP mean (n, T, Q) FLUXCAL of each light curve at its own ``times_days`` (n, T), days since its first point,
    and wavelengths ``query_wavelengths_a`` (n, Q) Angstrom, for fixed ``log_params`` (n, 2); ``wavelengths_a``:
    those of the light curves' bands. Objects go ``_MAX_ELEMENTS`` at a time through the (k, W, T) arrays."""
    log_params, times_days = np.asarray(log_params, float), np.asarray(times_days, float)
    points = _Points.from_lightcurves(lc, wavelengths_a)
    query = np.asarray(query_wavelengths_a, float)
    mean = np.zeros((len(lc), times_days.shape[1], query.shape[1]))
    chunk = max(1, _MAX_ELEMENTS // max(lc.mask.shape[1] * times_days.shape[1], 1))
    for start in range(0, len(lc), chunk):
        rows = np.arange(start, min(start + chunk, len(lc)))
        subset = points.take(rows)
        mean[rows] = _predict_from_alpha(subset, log_params[rows], _alpha(subset, log_params[rows]), times_days[rows],
                                         query[rows])
    return mean


def log_likelihood_batched(lc: LightCurves, log_params, wavelengths_a) -> np.ndarray:
    """(n,) log-likelihood of every light curve at ``log_params`` (n, 2), batched engine."""
    nll, _, _ = _neg_log_likelihood(_Points.from_lightcurves(lc, wavelengths_a), np.asarray(log_params, float))
    return -nll


# --------------------------------------------------------------------------- george reference

def _george_gp(log_params, x, fluxerr):
    import george  # the reference engine: imported only where used

    # george's ConstantKernel with ndim=2 evaluates to 2 * exp(log_constant) (it is what
    # ``amp**2 * kernel`` builds too); shifting by log 2 makes it the documented amp**2.
    kernel = (george.kernels.ConstantKernel(log_params[0] - np.log(2.0), ndim=2)
              * george.kernels.Matern32Kernel(metric=[np.exp(log_params[1]), WAVELENGTH_SCALE_A**2], ndim=2))
    kernel.freeze_parameter("k2:metric:log_M_1_1")
    gp = george.GP(kernel)
    gp.compute(x, fluxerr)
    return gp


def _george_objective(lc: LightCurves, wavelengths_a):
    """``objective(index, theta)``: negative log-likelihoods (k,) and gradients (k, 2) of the light curves
    ``index`` at ``theta`` (k, 2), by george, one object at a time (infinite where it has no points)."""
    lam_all = _wavelengths(lc, wavelengths_a)

    def objective(index, theta):
        values, gradients = np.full(len(index), np.inf), np.zeros((len(index), 2))
        for k, i in enumerate(index):
            m = lc.mask[i]
            if m.any():
                gp = _george_gp(theta[k], np.stack([lc.time_days[i, m], lam_all[i, m]], axis=1), lc.fluxerr_fluxcal[i, m])
                values[k] = -gp.log_likelihood(lc.flux_fluxcal[i, m], quiet=True)
                gradients[k] = -gp.grad_log_likelihood(lc.flux_fluxcal[i, m], quiet=True)
        return values, gradients

    return objective


def _fit_george(lc: LightCurves, wavelengths_a, fit_lc: Optional[LightCurves] = None, n_times: int = N_TIMES):
    """As ``_fit_batched``, one object at a time."""
    from scipy.optimize import minimize

    fit_lc = lc if fit_lc is None else fit_lc
    starts, lower, upper = start_and_bounds(fit_lc)
    start, _, _ = choose_start(starts, _george_objective(fit_lc, wavelengths_a))
    times = prediction_times(lc, n_times)
    lam_all, lam_fit = _wavelengths(lc, wavelengths_a), _wavelengths(fit_lc, wavelengths_a)
    log_params, log_likelihood = start.copy(), np.full(len(lc), -np.inf)
    mean = np.zeros((len(lc), n_times, len(wavelengths_a)))
    for i in range(len(lc)):
        m = fit_lc.mask[i]
        if not m.any():
            continue
        x = np.stack([fit_lc.time_days[i, m], lam_fit[i, m]], axis=1)
        y = fit_lc.flux_fluxcal[i, m]
        gp = _george_gp(start[i], x, fit_lc.fluxerr_fluxcal[i, m])

        def objective(theta):
            gp.set_parameter_vector(theta - [np.log(2.0), 0.0])
            value = -gp.log_likelihood(y, quiet=True)
            return (value, -gp.grad_log_likelihood(y, quiet=True)) if np.isfinite(value) else (1e25, np.zeros(2))

        try:
            result = minimize(objective, start[i], jac=True, method="L-BFGS-B",
                              bounds=list(zip(lower[i], upper[i])))
            theta = result.x if np.isfinite(result.fun) and result.fun < 1e25 else start[i]
        except (np.linalg.LinAlgError, ValueError):
            theta = start[i]
        gp.set_parameter_vector(theta - [np.log(2.0), 0.0])
        log_params[i], log_likelihood[i] = theta, gp.log_likelihood(y, quiet=True)
        if fit_lc is not lc:
            m = lc.mask[i]
            y = lc.flux_fluxcal[i, m]
            gp = _george_gp(theta, np.stack([lc.time_days[i, m], lam_all[i, m]], axis=1), lc.fluxerr_fluxcal[i, m])
        grid = np.stack([np.repeat(times[i], len(wavelengths_a)),
                         np.tile(np.asarray(wavelengths_a, float), len(times[i]))], axis=1)
        mean[i] = gp.predict(y, grid, return_cov=False).reshape(len(times[i]), len(wavelengths_a))
    ok = np.isfinite(log_likelihood)
    mean[~ok] = 0.0
    return GPFit(log_params, log_likelihood, ok), mean


def posterior_std(lc: LightCurves, log_params, wavelengths_a, n_times: int = N_TIMES) -> np.ndarray:
    """GP posterior standard deviation (n, n_times, n_bands) FLUXCAL at ``prediction_times(lc, n_times)`` for
    fixed ``log_params`` (n, 2), with george (one object at a time: for explanations, not the alert path)."""
    times, lam = prediction_times(lc, n_times), _wavelengths(lc, wavelengths_a)
    std = np.zeros((len(lc), times.shape[1], len(wavelengths_a)))
    for i in range(len(lc)):
        m = lc.mask[i]
        if not m.any():
            continue
        gp = _george_gp(np.asarray(log_params[i], float), np.stack([lc.time_days[i, m], lam[i, m]], axis=1),
                        lc.fluxerr_fluxcal[i, m])
        grid = np.stack([np.repeat(times[i], len(wavelengths_a)),
                         np.tile(np.asarray(wavelengths_a, float), len(times[i]))], axis=1)
        _, variance = gp.predict(lc.flux_fluxcal[i, m], grid, return_var=True)
        std[i] = np.sqrt(np.maximum(variance, 0.0)).reshape(len(times[i]), len(wavelengths_a))
    return std


def log_likelihood_george(lc: LightCurves, log_params, wavelengths_a) -> np.ndarray:
    """(n,) log-likelihood of every light curve at ``log_params`` (n, 2), george reference."""
    values, _ = _george_objective(lc, wavelengths_a)(np.arange(len(lc)), np.asarray(log_params, float))
    return -values


# --------------------------------------------------------------------------- public entry point

def interpolate(lc: LightCurves, wavelengths_a, backend: str = "batched", max_points: int = MAX_POINTS,
                fit_max_points: Optional[int] = None, n_times: int = N_TIMES):
    """Fit the GP of every light curve and evaluate its mean on a regular grid.

    Returns ``(mean, fit)``: mean is (n, n_times, n_bands) FLUXCAL flux at
    ``prediction_times(lc, n_times)`` for each band (the order of ``wavelengths_a``, Angstrom); fit is a ``GPFit``.
    Objects without points get zeros and ``fit.ok`` False. Light curves of more
    than ``max_points`` points are thinned first (``LightCurves.thinned``). With ``fit_max_points``, the
    hyperparameters are fitted on at most that many of those points, thinned the same way (``fit.log_likelihood``
    is theirs), and the mean uses them all.
    """
    if fit_max_points is not None and fit_max_points < 2:
        raise ValueError(f"fit_max_points should be at least 2, not {fit_max_points}")
    lc = lc.thinned(max_points)
    fit_lc = lc if fit_max_points is None else lc.thinned(fit_max_points)
    if backend == "batched":
        # Many small LAPACK calls: extra BLAS threads only add synchronisation (3.5x slower
        # with 2 threads on 2 cores). Parallelism comes from Spark's tasks instead.
        with _THREAD_POOLS.limit(limits=1, user_api="blas"):
            fit, mean = _fit_batched(lc, wavelengths_a, fit_lc, n_times)
    elif backend == "george":
        fit, mean = _fit_george(lc, wavelengths_a, fit_lc, n_times)
    else:
        raise ValueError(f"unknown GP backend {backend!r}; choose one of {BACKENDS}")
    return mean, fit
