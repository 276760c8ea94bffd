"""A second learner on the same light curves: gradient-boosted trees on hand-made features.

An offline reference (the ``evaluate`` extra), not a model of the run-time path. It answers one question:
is what a t2 network tells apart in a partial light curve limited by the network or by the light curve?
The features are the usual ones of early-classification work, per band: number of points, the
least-squares slope of the magnitude in time (mag/day), the magnitude gained from the first point to the
last, the time of the brightest point; the g - r-like colour (first band minus second) at each band's
brightest point and at its last point; the GP mean (``gp.interpolate``) at five fractions of the span over
its peak |flux|, its colours there, and its fitted time scale. Apparent magnitudes are left out by
default: in a magnitude-limited labelled set (BTS keeps what peaks brighter than 18.5 mag) how faint an
object still is at 10 days tells how much it will rise, which an alert stream does not know.

    python -m fink_t2.baseline --days 10 [--with-magnitudes]

prints, cross-validated on ``bts`` with the folds of the t2 models (``training.fold_of``), the accuracy
over every object, the recall of SN Ia and SN II, and the SN II vs SN Ia AUROC, beside ``t2-ztf-gr-v3``'s
out-of-fold AUROC on the objects it classifies and that of the two combined (mean of the ranks).
"""
import argparse
from typing import Optional

import numpy as np
import pandas as pd

from . import gp
from .classify import STATUS_OK
from .lightcurves import LightCurves

#: Fractions of the span at which the GP mean is a feature.
GP_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: Fewest days between a band's first and last point for its magnitude slope.
MIN_SLOPE_BASELINE_DAYS = 0.5


def magnitudes(lc: LightCurves) -> np.ndarray:
    """(n, L) AB-like magnitude of each positive flux (FLUXCAL, zero point 27.5); NaN elsewhere."""
    positive = lc.mask & (lc.flux_fluxcal > 0)
    return np.where(positive, 27.5 - 2.5 * np.log10(np.where(positive, lc.flux_fluxcal, 1.0)), np.nan)


def band_features(lc: LightCurves, band: int) -> dict:
    """Features (each (n,), NaN where undefined) of one band: ``n``, ``slope`` (mag/day), ``rise`` (mag
    from the first point to the last), ``t_peak`` (days since the first point), ``peak_mag``, ``last_mag``."""
    rows = np.arange(len(lc))
    mag = magnitudes(lc)
    used = lc.mask & (lc.band == band) & np.isfinite(mag)
    count = used.sum(axis=1)
    time = np.where(used, lc.time_days, 0.0)
    mean_time = time.sum(axis=1) / np.maximum(count, 1)
    mean_mag = np.where(used, mag, 0.0).sum(axis=1) / np.maximum(count, 1)
    dt = np.where(used, lc.time_days - mean_time[:, None], 0.0)
    dm = np.where(used, mag - mean_mag[:, None], 0.0)
    baseline_days = np.where(used, lc.time_days, -np.inf).max(axis=1) - np.where(used, lc.time_days, np.inf).min(axis=1)
    slope = (dt * dm).sum(axis=1) / np.maximum((dt**2).sum(axis=1), 1e-12)
    position = np.arange(lc.mask.shape[1])[None, :]
    first = np.where(used, position, lc.mask.shape[1]).min(axis=1).clip(max=lc.mask.shape[1] - 1)
    last = np.where(used, position, -1).max(axis=1).clip(min=0)
    brightest = np.where(used, mag, np.inf).argmin(axis=1)
    seen = count > 0
    return {
        "n": count,
        "slope": np.where((count >= 2) & (baseline_days >= MIN_SLOPE_BASELINE_DAYS), slope, np.nan),
        "rise": np.where(count >= 2, mag[rows, first] - mag[rows, last], np.nan),
        "t_peak": np.where(seen, lc.time_days[rows, brightest], np.nan),
        "peak_mag": np.where(seen, mag[rows, brightest], np.nan),
        "last_mag": np.where(seen, mag[rows, last], np.nan),
    }


def features(lc: LightCurves, wavelengths_a, with_magnitudes: bool = False) -> pd.DataFrame:
    """(n, F) features of ``lc`` (bands in the order of ``wavelengths_a``, Angstrom); see the module."""
    per_band = [band_features(lc, b) for b in range(lc.n_bands)]
    table = {f"{name}_{b}": values[name] for b, values in enumerate(per_band)
             for name in ("n", "slope", "rise", "t_peak")}
    table["span_days"] = np.where(lc.mask, lc.time_days, 0.0).max(axis=1, initial=0.0)
    for name in ("peak_mag", "last_mag"):
        table[f"colour_{name}"] = per_band[0][name] - per_band[1][name]
        if with_magnitudes:
            table.update({f"{name}_{b}": values[name] for b, values in enumerate(per_band)})
    mean, fit = gp.interpolate(lc, wavelengths_a)
    peak = np.abs(mean).max(axis=(1, 2)) + 1e-12
    steps = np.round(np.asarray(GP_FRACTIONS) * (mean.shape[1] - 1)).astype(int)
    for fraction, step in zip(GP_FRACTIONS, steps):
        for b in range(lc.n_bands):
            table[f"gp_{fraction:g}_{b}"] = mean[:, step, b] / peak
        ratio = np.clip(mean[:, step, 0], 1e-3, None) / np.clip(mean[:, step, 1], 1e-3, None)
        table[f"gp_colour_{fraction:g}"] = -2.5 * np.log10(ratio)
    table["log_timescale_days"] = 0.5 * fit.log_params[:, 1]
    return pd.DataFrame(table)


def cross_validated(x: pd.DataFrame, labels: np.ndarray, folds: np.ndarray, classes, seed: int = 0) -> np.ndarray:
    """(n, len(classes)) out-of-fold probabilities of scikit-learn's histogram gradient-boosted trees."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    probabilities = np.zeros((len(x), len(classes)))
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        trees = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15,
                                               min_samples_leaf=10, l2_regularization=1.0, random_state=seed)
        trees.fit(x[train], labels[train])
        probabilities[np.ix_(test, [list(classes).index(c) for c in trees.classes_])] = trees.predict_proba(x[test])
    return probabilities


def report(days: Optional[float], with_magnitudes: bool = False, reference_model: str = "t2-ztf-gr-v3") -> dict:
    """The figures of the module docstring, on ``bts`` at ``days`` after the first detection (None: all)."""
    from .evaluate import auroc, load_dataset, metrics, predict, snii_vs_snia
    from .models import read_card
    from .training import fold_of
    from .ztf import WAVELENGTHS_A

    data = load_dataset("bts")
    labels = data.labels.to_numpy()
    classes = sorted(set(labels))
    probabilities = cross_validated(features(data.lightcurves(days), WAVELENGTHS_A, with_magnitudes), labels,
                                    fold_of(data.labels.index, 5), classes)
    scored = metrics(labels, probabilities, np.full(len(labels), STATUS_OK), classes)  # the trees classify all
    reference, _, status = predict(reference_model, data, by_folds=True, max_days=days)
    both = np.isin(labels, ["SNIa", "SNII"]) & (status == STATUS_OK)
    is_snii = labels[both] == "SNII"
    ratio = snii_vs_snia(probabilities[both], classes)
    reference_ratio = snii_vs_snia(reference[both], read_card(reference_model)["classes"])
    ranks = pd.Series(ratio).rank().to_numpy() + pd.Series(reference_ratio).rank().to_numpy()
    return {
        "days": days, "with_magnitudes": with_magnitudes, "objects": len(labels), "accuracy": scored["accuracy"],
        "recall": {c: scored["per_class"][c]["recall"] for c in ("SNIa", "SNII")},
        "auroc_SNII_vs_SNIa": scored["separation"]["SNII_vs_SNIa"],
        "on_reference_classified": {"objects": int(both.sum()), "trees": auroc(ratio, is_snii),
                                    reference_model: auroc(reference_ratio, is_snii),
                                    "mean_of_ranks": auroc(ranks, is_snii)},
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, help="days after the first detection (default: whole light curves)")
    parser.add_argument("--with-magnitudes", action="store_true", help="add each band's peak and last magnitude")
    args = parser.parse_args(argv)
    print(report(args.days, args.with_magnitudes))


if __name__ == "__main__":
    main()
