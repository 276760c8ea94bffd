"""Calibration and uncertainty: the pure functions by hand, then on the real default model."""
import numpy as np
import pytest

from fink_t2 import models
from fink_t2.calibrate import expected_calibration_error, fit_temperature, reliability
from fink_t2.evaluate import auroc, purity_thresholds
from fink_t2.probabilities import normalized_entropy, normalized_mutual_information, temperature_scaled


def test_temperature_scaling_by_hand():
    p = np.array([[0.7, 0.2, 0.1]])
    root = np.sqrt(p) / np.sqrt(p).sum()                    # T = 2: p ** (1 / 2), renormalised
    np.testing.assert_allclose(temperature_scaled(p, 2.0), root, rtol=1e-6)
    np.testing.assert_allclose(temperature_scaled(p, 1.0), p, rtol=1e-6)
    rng = np.random.default_rng(0)
    many = rng.dirichlet(np.ones(14), size=100)
    for t in (0.5, 1.3, 4.0):                                # never changes the most probable class
        np.testing.assert_array_equal(temperature_scaled(many, t).argmax(axis=1), many.argmax(axis=1))


def test_entropy_and_mutual_information_by_hand():
    np.testing.assert_allclose(normalized_entropy(np.full((1, 14), 1 / 14)), [1.0], rtol=1e-6)
    np.testing.assert_allclose(normalized_entropy(np.eye(4)[:1]), [0.0], atol=1e-6)
    np.testing.assert_allclose(normalized_entropy(np.array([[0.5, 0.5, 0.0, 0.0]])), [np.log(2) / np.log(4)])
    same = np.repeat(np.array([[[0.6, 0.4]]]), 5, axis=0)     # members agree: no epistemic part
    np.testing.assert_allclose(normalized_mutual_information(same), [0.0], atol=1e-6)
    opposite = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])         # H(mean) = ln 2, each member certain
    np.testing.assert_allclose(normalized_mutual_information(opposite), [1.0], rtol=1e-6)


def test_ece_and_reliability_by_hand():
    # top-label confidences 0.95, 0.95 (one right), 0.55 (right), 0.35 (wrong); 15 bins of 1/15
    p = np.array([[0.95, 0.05, 0.0], [0.95, 0.0, 0.05], [0.55, 0.45, 0.0], [0.35, 0.33, 0.32]])
    labels = np.array([0, 1, 0, 2])
    # bin of 0.95: accuracy 0.5, confidence 0.95; bin of 0.55: 1 vs 0.55; bin of 0.35: 0 vs 0.35
    expected = (2 * 0.45 + 1 * 0.45 + 1 * 0.35) / 4
    assert expected_calibration_error(p, labels) == pytest.approx(expected)
    table = reliability(p, labels)
    assert sum(table["counts"]) == 4 and table["counts"][14] == 2 and table["counts"][8] == 1
    assert reliability(np.array([[1.0, 0.0]]), np.array([0]))["counts"][14] == 1  # 1.0 is in the last bin


def test_fitted_temperature_undoes_overconfidence():
    """Labels drawn from softmax(z); the model says softmax(2 z): the fitted temperature is about 2."""
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 1.5, size=(20000, 5))
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(5, p=row) for row in true])
    overconfident = np.exp(2 * logits) / np.exp(2 * logits).sum(axis=1, keepdims=True)
    assert fit_temperature(overconfident, labels) == pytest.approx(2.0, rel=0.05)
    assert expected_calibration_error(temperature_scaled(overconfident, 2.0), labels) < \
        expected_calibration_error(overconfident, labels)


def test_auroc_and_purity_thresholds_by_hand():
    # positives score 0.4 and 0.8, negatives 0.1 and 0.5: 3 of the 4 pairs are ordered
    assert auroc(np.array([0.1, 0.4, 0.5, 0.8]), np.array([False, True, False, True])) == pytest.approx(0.75)
    assert auroc(np.array([1.0, 1.0]), np.array([True, False])) == pytest.approx(0.5)  # a tie counts half
    labels = np.array(["a"] * 20 + ["b"] * 20)
    p_a = np.r_[np.linspace(0.99, 0.60, 20), 0.95, 0.5, np.full(18, 0.1)]  # one b among the top a's
    probabilities = np.stack([p_a, 1 - p_a], axis=1)
    thresholds = purity_thresholds(labels, probabilities, ["a", "b"])
    # selecting p_a >= 0.60 takes the 20 a and the b at 0.95: purity 20/21 = 0.952; no lower threshold adds an a
    assert thresholds["a"]["0.95"] == {"threshold": 0.6, "efficiency": 1.0, "selected": 21}
    # at p_a >= 0.5 the second b joins: 20/22 = 0.909, enough for 0.90 only
    assert thresholds["a"]["0.90"] == {"threshold": 0.5, "efficiency": 1.0, "selected": 22}


def test_the_default_model_applies_its_card_temperature(bts_table):
    from fink_t2.classify import GPPreparation, gp_inputs
    from fink_t2.cuts import SelectionCuts, apply_cuts
    from fink_t2.realdata import bts_windows

    lightcurves = bts_windows(bts_table, 60)
    _, gp_flux, span_days, _, _ = gp_inputs(lightcurves, apply_cuts(lightcurves, SelectionCuts()),
                                            (4804.79, 6436.92), GPPreparation((100.0, 300.0)))
    calibrated, raw = models.load_model(), models.load_model(calibrated=False)
    temperature = calibrated.card["calibration"]["temperature"]["model.weights.h5"]
    assert temperature > 1.0 and raw.temperature is None
    p = calibrated.predict_proba(gp_flux, span_days)
    np.testing.assert_allclose(p, temperature_scaled(raw.predict_proba(gp_flux, span_days), temperature), atol=1e-6)

    probabilities, uncertainty = calibrated.predict(gp_flux, span_days)
    by_hand = -np.sum(probabilities * np.log(np.clip(probabilities, 1e-30, 1)), axis=1) / np.log(14)
    np.testing.assert_allclose(uncertainty, by_hand, rtol=1e-5, atol=1e-6)

    ensemble = models.load_model(uncertainty="ensemble")
    same, epistemic = ensemble.predict(gp_flux, span_days)
    np.testing.assert_allclose(same, probabilities, atol=1e-7)  # the main model's probabilities
    folds = [models.load_model(weights=w).predict_proba(gp_flux, span_days) for w in calibrated.card["cv"]["weights"]]
    mean = np.mean(folds, axis=0)
    entropy = lambda q: -np.sum(q * np.log(np.clip(q, 1e-30, 1)), axis=1)  # noqa: E731
    expected = (entropy(mean) - np.mean([entropy(f) for f in folds], axis=0)) / np.log(14)
    np.testing.assert_allclose(epistemic, np.maximum(expected, 0), rtol=1e-4, atol=1e-6)
    assert ((epistemic >= 0) & (epistemic <= 1)).all()
