"""Model cards, verified loading and predictions."""
import json
import shutil

import numpy as np
import pytest

from fink_t2 import models

FINK_MODEL = "fink-gr-noz"


@pytest.mark.parametrize("name", [models.DEFAULT_MODEL, FINK_MODEL])
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


def test_per_object_robust_scaling_by_hand():
    x = np.zeros((1, 100, 2))
    x[0, :, 0] = np.arange(100.0)     # median 49.5, IQR 49.5
    x[0, :, 1] = 7.0                  # constant: IQR 0 counts as 1
    scaled = models.scale_inputs(x, {"method": "per_object_robust"})
    np.testing.assert_allclose(scaled[0, [0, 99], 0], [-1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(scaled[0, :, 1], 0.0)


def _card_copy(tmp_path, monkeypatch, edit):
    card = models.read_card(FINK_MODEL)
    edit(card)
    (tmp_path / "broken.json").write_text(json.dumps(card))
    monkeypatch.setenv("FINK_T2_MODEL_DIR", str(tmp_path))


def test_sha256_mismatch_is_a_clear_error(tmp_path, monkeypatch):
    _card_copy(tmp_path, monkeypatch, lambda c: c["source"]["sha256"].update({"saved_model.pb": "0" * 64}))
    with pytest.raises(models.ModelError, match="saved_model.pb has sha256 .* model card expects 0000"):
        models.load_model("broken")


def test_missing_package_says_what_to_install(tmp_path, monkeypatch):
    _card_copy(tmp_path, monkeypatch, lambda c: c["source"].update(package="fink-science-absent"))
    with pytest.raises(models.ModelError, match="pip install fink-science-absent"):
        models.load_model("broken")


def test_corrupted_trained_weights_are_refused(tmp_path, monkeypatch):
    card = models.read_card(models.DEFAULT_MODEL)
    weights = tmp_path / card["source"]["path"]
    shutil.copytree(models.verify_files(card), weights)
    data = bytearray((weights / "model.weights.h5").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (weights / "model.weights.h5").write_bytes(bytes(data))
    (tmp_path / "copy.json").write_text(json.dumps(card))
    monkeypatch.setenv("FINK_T2_MODEL_DIR", str(tmp_path))
    with pytest.raises(models.ModelError, match="model.weights.h5 has sha256 .*corrupted"):
        models.load_model("copy")


def test_missing_weight_file_and_unknown_model(tmp_path, monkeypatch):
    card = models.read_card(FINK_MODEL)
    weights = tmp_path / "weights"
    shutil.copytree(models.verify_files(card), weights)
    (weights / "variables" / "variables.index").unlink()
    card["source"] = {"path": "weights", "sha256": card["source"]["sha256"]}
    (tmp_path / "local.json").write_text(json.dumps(card))
    monkeypatch.setenv("FINK_T2_MODEL_DIR", str(tmp_path))
    with pytest.raises(models.ModelError, match="variables.index is missing"):
        models.load_model("local")
    with pytest.raises(models.ModelError, match="no model card .*nope.json"):
        models.load_model("nope")
