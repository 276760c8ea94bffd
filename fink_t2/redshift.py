"""The host galaxy's redshift as evidence: p(class | light curve, z) ∝ p(class | light curve) p(z | class).

A t2 network sees each light curve scaled to its peak, so it knows neither how bright the transient is nor
how far. Where the host's redshift is known (a catalogue spectroscopic or photometric redshift), Bayes' rule
adds it: each class's probability is multiplied by the density of that redshift among the labelled real
objects of the class, and the row is renormalised. This assumes the light-curve shape and the redshift to be
independent given the class (at the redshifts ZTF reaches, time dilation and K-corrections stay small).

Densities are Gaussian kernel estimates in log10 z, one per class with at least ``MIN_OBJECTS`` labelled
objects, with Scott's bandwidth (std x n^-1/5); a redshift error sigma_z widens every kernel by sigma_z /
(z ln 10) in quadrature. A class with fewer objects gets the density of all objects, so its probability moves
only through the others'. Every density is mixed with a small flat part (``OUTLIER_FRACTION``, flat in
log10 z over ``LOG10_Z_RANGE``), so one catastrophic photometric redshift cannot zero a class.

The densities are those of the labelled set (``fitted_on`` in the card): for BTS, a survey of transients
peaking brighter than ~18.5 mag, where a class's redshifts follow from its luminosity and that limit. A
deeper stream sees every class further away. The card keeps the objects' log10 z, class and fold, and a
cross-validation fold model uses only the objects of the other folds.
"""
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

#: Fewest labelled objects for a class to have a density of its own.
MIN_OBJECTS = 5
#: Weight of the flat part of every density: of the order of the catastrophic-outlier rate of photometric
#: redshifts of bright galaxies (a few per cent).
OUTLIER_FRACTION = 0.02
#: Where the flat part lives, in log10 z (z from 0.001 to ~3).
LOG10_Z_RANGE = (-3.0, 0.5)


def check_host_redshift(card: dict):
    """Raise ValueError unless the model of ``card`` has host-redshift densities to read a redshift with."""
    if "host_redshift" not in card:
        raise ValueError(f"model '{card.get('id')}' has no host-redshift densities: fit them with "
                         f"fink-t2 host-redshift {card.get('id')}")


def scott_bandwidth(values: np.ndarray) -> float:
    """Scott's rule for a 1-D Gaussian kernel estimate: std x n^(-1/5)."""
    return float(np.std(values, ddof=1) * len(values) ** -0.2)


@dataclass(frozen=True)
class RedshiftPrior:
    """Densities of log10 z per class of a model, from labelled objects.

    classes : the model's class names, in output order.
    log10_z, class_index : (m,) the labelled objects' log10 redshift and class (index into ``classes``).
    """

    classes: tuple
    log10_z: np.ndarray
    class_index: np.ndarray

    @classmethod
    def of_card(cls, card: dict, weights: Optional[str] = None) -> Optional["RedshiftPrior"]:
        """The prior of a card's ``host_redshift`` for its weight file ``weights`` (default: the main one):
        a cross-validation fold model's leaves out the objects of its fold. None if the card has none."""
        entry = card.get("host_redshift")
        if entry is None:
            return None
        fold_weights = card.get("cv", {}).get("weights", [])
        keep = np.ones(len(entry["log10_z"]), dtype=bool)
        if weights in fold_weights:
            keep = np.asarray(entry["fold"]) != fold_weights.index(weights)
        index = {name: i for i, name in enumerate(card["classes"])}
        return cls(tuple(card["classes"]), np.asarray(entry["log10_z"], dtype=float)[keep],
                   np.array([index[name] for name in entry["class"]], dtype=np.int64)[keep])

    def densities(self, redshift: np.ndarray, redshift_err: Optional[np.ndarray] = None) -> np.ndarray:
        """(n, n_classes) density of each log10 z among each class's objects (see module notes);
        ``redshift`` (n,) > 0, ``redshift_err`` (n,) its 1-sigma error (None or NaN: 0)."""
        x = np.log10(np.asarray(redshift, dtype=float))
        err = np.zeros_like(x) if redshift_err is None else np.nan_to_num(np.asarray(redshift_err, dtype=float))
        err_log10 = np.abs(err) / (np.asarray(redshift, dtype=float) * np.log(10.0))

        def kernel_density(samples):
            variance = scott_bandwidth(samples) ** 2 + err_log10[:, None] ** 2
            return (np.exp(-0.5 * (x[:, None] - samples[None]) ** 2 / variance) / np.sqrt(2 * np.pi * variance)).mean(1)

        flat = OUTLIER_FRACTION * ((x >= LOG10_Z_RANGE[0]) & (x <= LOG10_Z_RANGE[1])) / np.ptp(LOG10_Z_RANGE)
        everyone = (1 - OUTLIER_FRACTION) * kernel_density(self.log10_z) + flat
        out = np.repeat(everyone[:, None], len(self.classes), axis=1)
        for k in np.unique(self.class_index):
            samples = self.log10_z[self.class_index == k]
            if len(samples) >= MIN_OBJECTS:
                out[:, k] = (1 - OUTLIER_FRACTION) * kernel_density(samples) + flat
        return out

    def apply(self, probabilities: np.ndarray, redshift, redshift_err=None) -> np.ndarray:
        """(n, n_classes) float32 probabilities updated by each row's redshift; rows without one (NaN, <= 0,
        or outside the densities' range ``LOG10_Z_RANGE``, where they say nothing) are returned as they are."""
        probabilities = np.asarray(probabilities, dtype=np.float32)
        redshift = np.asarray(redshift, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            log10_z = np.log10(redshift)
        known = (log10_z >= LOG10_Z_RANGE[0]) & (log10_z <= LOG10_Z_RANGE[1])
        if not known.any():
            return probabilities
        out = probabilities.copy()
        errors = None if redshift_err is None else np.asarray(redshift_err, dtype=float)[known]
        posterior = probabilities[known] * self.densities(redshift[known], errors)  # > 0: every density has a flat part
        out[known] = posterior / posterior.sum(axis=1, keepdims=True)
        return out


def card_entry(labels: Sequence[str], redshift: np.ndarray, folds: np.ndarray, classes, fitted_on: str) -> dict:
    """The card's ``host_redshift``: every labelled object with a redshift > 0 and a class of the model
    (``labels`` (m,) class names, ``redshift`` (m,), ``folds`` (m,) its cross-validation fold)."""
    labels, redshift, folds = np.asarray(labels, dtype=object), np.asarray(redshift, dtype=float), np.asarray(folds)
    keep = np.isfinite(redshift) & (redshift > 0) & np.isin(labels, list(classes))
    counts = dict(zip(*np.unique(labels[keep].astype(str), return_counts=True)))
    return {
        "method": "Gaussian kernel density of log10 z per class (Scott's bandwidth), classes with fewer than "
                  f"{MIN_OBJECTS} objects take all objects' density; {OUTLIER_FRACTION:g} of every density flat "
                  f"in log10 z over {list(LOG10_Z_RANGE)}; a redshift error widens the kernels",
        "fitted_on": fitted_on,
        "objects_per_class": {name: int(n) for name, n in counts.items()},
        "log10_z": np.round(np.log10(redshift[keep]), 5).tolist(),
        "class": labels[keep].tolist(),
        "fold": np.asarray(folds[keep], dtype=int).tolist(),
    }
