"""Model cards, verified loading and predictions."""
import json
import shutil

import numpy as np
import pytest

from conftest import requires_train_extra
from fink_t2 import models

FINK_MODEL = "fink-gr-noz"


@pytest.mark.parametrize("name", [models.DEFAULT_MODEL, pytest.param(FINK_MODEL, marks=requires_train_extra)])
def test_card_matches_the_loaded_network(name):
    model = models.load_model(name)
    assert model.card["id"] == name
    assert model.card["bands"] == ["g", "r"] and model.card["n_times"] == 100
    assert len(model.classes) == len(set(model.classes)) == 14
    probabilities = model.predict_proba(np.random.default_rng(0).normal(1000, 300, size=(5, 100, 2)), np.full(5, 30.0))
    assert probabilities.shape == (5, 14)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_model_with_aux_inputs_needs_the_span():
    with pytest.raises(ValueError, match="needs span_days"):
        models.load_model().predict_proba(np.ones((2, 100, 2)))


def test_peak_normalized_scaling_by_hand():
    x = np.zeros((1, 100, 2))
    x[0, :, 0] = -20.0                 # |peak| over both bands is 20: colour is kept
    x[0, :, 1] = 10.0
    scaling = {"method": "peak_normalized_robust", "center": [0.5, 0.25], "scale": [2.0, 0.5]}
    scaled = models.scale_inputs(x, scaling)
    np.testing.assert_allclose(scaled[0, 0], [(-1.0 - 0.5) / 2.0, (0.5 - 0.25) / 0.5])
    np.testing.assert_allclose(models.scale_inputs(1000 * x, scaling), scaled)  # brightness drops out


def test_time_channels_are_the_gp_grid_in_days(bts_table):
    """The time channel is the GP's prediction time in days / 100, from the span the classifier passes."""
    from fink_t2.classify import GPPreparation, gp_inputs
    from fink_t2.cuts import SelectionCuts, apply_cuts
    from fink_t2.gp import prediction_times
    from fink_t2.ztf import WAVELENGTHS_A as ZTF_WAVELENGTHS_A
    from fink_t2.realdata import bts_windows

    lightcurves = bts_windows(bts_table, 30)
    selected, gp_flux, span_days, _, _ = gp_inputs(lightcurves, apply_cuts(lightcurves, SelectionCuts()),
                                                   ZTF_WAVELENGTHS_A, GPPreparation())
    card = {"input_scaling": {"method": "per_object_robust"}, "bands": ["g", "r"],
            "time_channels": ["time_days_over_100", "log10_span_days"], "aux_inputs": ["log10_span_days"]}
    x, aux = models.network_inputs(gp_flux, span_days, card)
    assert x.shape == (len(selected), 100, models.n_input_channels(card)) == (len(selected), 100, 4)
    np.testing.assert_allclose(x[:, :, 2], prediction_times(lightcurves.subset(selected)) / 100.0, rtol=1e-6)
    np.testing.assert_allclose(x[:, :, 3], np.log10(1.0 + span_days)[:, None].repeat(100, axis=1), rtol=1e-6)
    np.testing.assert_allclose(aux[:, 0], x[:, 0, 3])
    np.testing.assert_array_equal(x[:, :, :2], models.scale_inputs(gp_flux, card["input_scaling"]))


def test_time_channel_by_hand():
    card = {"input_scaling": {"method": "per_object_robust"}, "bands": ["g", "r"],
            "time_channels": ["time_days_over_100"]}
    [x] = models.network_inputs(np.ones((1, 100, 2)), np.array([99.0]), card)
    np.testing.assert_allclose(x[0, [0, 1, 50, 99], 2], [0.0, 0.01, 0.5, 0.99], rtol=1e-6)


def test_the_age_runs_from_the_first_detection_and_the_span_from_the_first_point():
    """An alert's last days of an older object: ages from ``first_detection_jd`` (ZTF's jdstarthist), by hand,
    even where the event window drops the earliest point; without it the age is the span."""
    from fink_t2.classify import GPPreparation, gp_inputs
    from fink_t2.lightcurves import lightcurves_from_points

    # object 0: a point every 2 days over 20 days, g and r in turn; object 1: the same after a lone point 250 days
    # before its peak
    days = np.arange(0.0, 21.0, 2.0)
    jd = np.concatenate([2459000.0 + days, [2458750.0], 2459000.0 + days])
    obj = np.repeat([0, 1], [len(days), len(days) + 1])
    flux = np.concatenate([100 + 10 * days, [100.0], 100 + 10 * days])
    band = np.concatenate([np.arange(len(days)) % 2, [0], np.arange(len(days)) % 2])
    lightcurves = lightcurves_from_points(obj, 2, jd, band, flux, np.full(len(jd), 5.0), n_bands=2)
    status = np.array(["ok", "ok"], dtype=object)
    preparation = GPPreparation(event_window_days=(100.0, 300.0))
    _, _, span_days, age_days, _ = gp_inputs(lightcurves, status, (4804.79, 6436.92), preparation)
    np.testing.assert_allclose(span_days, [20.0, 20.0])
    np.testing.assert_allclose(age_days, [20.0, 270.0])  # the lone point is outside the window, not forgotten
    first_detection_jd = np.array([2458950.0, np.nan])  # 50 days before object 0's history; unknown for 1
    _, _, span_days, age_days, _ = gp_inputs(lightcurves, status, (4804.79, 6436.92), preparation, "batched",
                                             first_detection_jd)
    np.testing.assert_allclose(span_days, [20.0, 20.0])
    np.testing.assert_allclose(age_days, [70.0, 270.0])

    card = {"input_scaling": {"method": "per_object_robust"}, "bands": ["g", "r"],
            "time_channels": ["log10_span_days", "log10_age_days"], "aux_inputs": ["log10_age_days"]}
    x, aux = models.network_inputs(np.ones((2, 100, 2)), span_days, card, age_days)
    np.testing.assert_allclose(x[:, 7, 2], np.log10([21.0, 21.0]), rtol=1e-6)
    np.testing.assert_allclose(x[:, 7, 3], np.log10([71.0, 271.0]), rtol=1e-6)
    np.testing.assert_allclose(aux[:, 0], np.log10([71.0, 271.0]), rtol=1e-6)
    x, aux = models.network_inputs(np.ones((2, 100, 2)), span_days, card)  # no age: the span
    np.testing.assert_allclose(aux[:, 0], np.log10([21.0, 21.0]), rtol=1e-6)


@requires_train_extra
def test_expert_shares_out_the_general_group_mass_by_hand():
    """with_expert against the formula in NumPy, on two random untrained networks."""
    from fink_t2.t2net import build_network, with_expert

    general = build_network(100, 4, 14, 1, d_model=8, heads=2, feed_forward=8, name="t2")
    expert = build_network(100, 4, 3, 1, d_model=8, heads=2, feed_forward=8, name="t2_expert")
    group = [11, 3, 6]
    combined = with_expert(general, expert, group, 14)
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(6, 100, 4)).astype(np.float32), rng.normal(size=(6, 1)).astype(np.float32)]
    p_general, p_expert = np.asarray(general(inputs)), np.asarray(expert(inputs))
    expected = p_general.copy()
    expected[:, group] = p_general[:, group].sum(axis=1, keepdims=True) * p_expert
    out = np.asarray(combined(inputs))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_per_object_robust_scaling_by_hand():
    x = np.zeros((1, 100, 2))
    x[0, :, 0] = np.arange(100.0)     # median 49.5, IQR 49.5
    x[0, :, 1] = 7.0                  # constant: IQR 0 counts as 1
    scaled = models.scale_inputs(x, {"method": "per_object_robust"})
    np.testing.assert_allclose(scaled[0, [0, 99], 0], [-1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(scaled[0, :, 1], 0.0)


def _card_copy(tmp_path, monkeypatch, edit, name=models.DEFAULT_MODEL):
    """A copy of a card, named ``broken``, in a folder of one's own models; its weights stay where they are."""
    card = models.read_card(name)
    if "package" not in card["source"]:
        card["source"]["path"] = str(models.card_path(name).parent / card["source"]["path"])
    edit(card)
    (tmp_path / "broken.json").write_text(json.dumps(card))
    monkeypatch.setenv("FINK_T2_MODEL_DIR", str(tmp_path))


def test_sha256_mismatch_is_a_clear_error(tmp_path, monkeypatch):
    _card_copy(tmp_path, monkeypatch, lambda c: c["source"]["sha256"].update({"model.onnx": "0" * 64}))
    with pytest.raises(models.ModelError, match="model.onnx has sha256 .* model card expects 0000"):
        models.load_model("broken")


def test_missing_package_says_what_to_install(tmp_path, monkeypatch):
    _card_copy(tmp_path, monkeypatch, lambda c: c["source"].update(package="fink-science-absent"), FINK_MODEL)
    with pytest.raises(models.ModelError, match=r"pip install 'fink-t2\[train\]' \(or pip install fink-science-absent\)"):
        models.load_model("broken")


def test_corrupted_trained_weights_are_refused(tmp_path, monkeypatch):
    card, root = models.check_model(models.DEFAULT_MODEL)
    weights = tmp_path / card["source"]["path"]
    shutil.copytree(root, weights)
    data = bytearray((weights / "model.weights.h5").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (weights / "model.weights.h5").write_bytes(bytes(data))
    (tmp_path / "copy.json").write_text(json.dumps(card))
    monkeypatch.setenv("FINK_T2_MODEL_DIR", str(tmp_path))
    with pytest.raises(models.ModelError, match="model.weights.h5 has sha256 .*corrupted"):
        models.load_model("copy")


def test_missing_weight_file_and_unknown_model(tmp_path, monkeypatch):
    card, root = models.check_model(models.DEFAULT_MODEL)
    weights = tmp_path / "weights"
    shutil.copytree(root, weights)
    (weights / "fold3.onnx").unlink()
    card["source"] = {"path": "weights", "sha256": card["source"]["sha256"]}
    (tmp_path / "local.json").write_text(json.dumps(card))
    monkeypatch.setenv("FINK_T2_MODEL_DIR", str(tmp_path))
    with pytest.raises(models.ModelError, match="fold3.onnx is missing"):
        models.load_model("local")
    with pytest.raises(models.ModelError, match="no model card nope.json"):
        models.load_model("nope")


@requires_train_extra
def test_dividing_out_class_weights_by_hand():
    """divided_by against p_c / w_c renormalised in NumPy."""
    from fink_t2.t2net import build_network, divided_by

    network = build_network(100, 2, 3, 1, d_model=8, heads=2, feed_forward=8)
    weights = np.array([1.0, 4.0, 0.5])
    rng = np.random.default_rng(1)
    inputs = [rng.normal(size=(5, 100, 2)).astype(np.float32), rng.normal(size=(5, 1)).astype(np.float32)]
    p = np.asarray(network(inputs))
    expected = (p / weights) / (p / weights).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(divided_by(network, weights)(inputs)), expected, rtol=1e-5)


@requires_train_extra
def test_dividing_out_class_weights_restores_training_frequencies():
    """A network fitted with class weights on uninformative inputs learns the weighted frequencies;
    dividing the weights out gives back the true ones (80% / 20%)."""
    from fink_t2.t2net import divided_by
    from fink_t2.training import class_weights, fit_network

    y = np.array([0] * 800 + [1] * 200)
    weights = class_weights(y, 2)  # [1, 2]: the weighted frequency of class 1 is 400 / 1200 = 1/3
    x, aux = np.zeros((len(y), 100, 2), np.float32), np.zeros((len(y), 1), np.float32)
    network = fit_network(x, aux, y, weights[y], seed=0, epochs=15, n_classes=2,
                          architecture={"d_model": 8, "heads": 2, "feed_forward": 8, "blocks": 1, "dropout": 0.0})
    assert np.asarray(network([x[:1], aux[:1]]))[0, 1] == pytest.approx(1 / 3, abs=0.03)
    assert np.asarray(divided_by(network, weights)([x[:1], aux[:1]]))[0, 1] == pytest.approx(0.2, abs=0.03)
