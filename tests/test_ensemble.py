"""Seed ensembles: the combined graph is the mean of its members, each fed its own input scaling."""
import json

import numpy as np
import pytest

from conftest import requires_train_extra, shared_path
from fink_t2 import models

pytestmark = requires_train_extra


def _member(folder, name: str, seed: int, scaling_factor: float = 1.0):
    """A card ``member<seed>.json`` in ``folder`` for shipped model ``name``'s weights (linked there), recorded
    as trained with ``seed``, its input scaling's ``scale`` times ``scaling_factor``: a model of its own."""
    card, root = models.check_model(name)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / card["source"]["path"]).symlink_to(root, target_is_directory=True)
    card["id"], card["training"]["seed"] = f"member{seed}", seed
    card["input_scaling"]["scale"] = [s * scaling_factor for s in card["input_scaling"]["scale"]]
    path = folder / f"member{seed}.json"
    path.write_text(json.dumps(card))
    return path


@pytest.fixture(scope="module")
def rubin_gp_inputs():
    """GP flux and spans of the real Rubin alerts, prepared as the 50-time LSST models read them."""
    import pyarrow.parquet as pq

    from fink_t2 import rubin
    from fink_t2.classify import GPPreparation, gp_inputs
    from fink_t2.cuts import SelectionCuts, apply_cuts

    arrays = rubin.alert_arrays(pq.read_table(shared_path("rubin_alerts/fink_lsst_2026-03-27"),
                                              columns=["diaSource", "prvDiaSources"]))
    lightcurves = rubin.lightcurves_from_alerts(*(arrays[f] for f in rubin.ALERT_ROLES))
    card = models.read_card("t2-lsst-ugrizy-forced-v6")
    _, gp_flux, span_days, _, _ = gp_inputs(lightcurves, apply_cuts(lightcurves, SelectionCuts.none()),
                                            card["wavelengths_a"], GPPreparation.of_card(card))
    return gp_flux, span_days


def test_an_ensemble_gives_the_mean_of_its_members(tmp_path, monkeypatch, rubin_gp_inputs):
    """Two LSST models, one with another input scaling, combined: both engines give the mean of the two
    models' own probabilities (each scaling its inputs as its card says), for the model and a fold."""
    from fink_t2.ensemble import combine

    members = [_member(tmp_path, "t2-lsst-ugrizy-forced-v6", 0), _member(tmp_path, "t2-lsst-ugrizy-forced-v4", 1, 1.1)]
    card = combine(members, tmp_path / "pair")
    assert [m["folder"] for m in card["ensemble"]["members"]] == ["seed0", "seed1"]
    assert "calibration" not in card and "metrics" not in card  # the ensemble's own, once measured
    assert set(card["onnx"]["files"]) == {"model.weights.h5", *card["cv"]["weights"]}
    gp_flux, span_days = rubin_gp_inputs
    monkeypatch.setenv("FINK_T2_MODEL_DIR", str(tmp_path))
    for weights in ("model.weights.h5", "fold3.weights.h5"):
        each = [models.load_model(f"member{seed}", weights, calibrated=False).predict_proba(gp_flux, span_days)
                for seed in (0, 1)]
        assert np.abs(each[0] - each[1]).max() > 0.1  # two different models
        for engine in models.ENGINES:
            got = models.load_model("pair", weights, engine=engine).predict_proba(gp_flux, span_days)
            np.testing.assert_allclose(got, np.mean(each, axis=0), atol=1e-5, err_msg=f"{engine} {weights}")


def test_members_must_share_a_recipe_and_differ_in_seed(tmp_path):
    """Members of another recipe (another grid of times) or of the same seed are refused, naming the
    difference, before anything is written."""
    from fink_t2.ensemble import combine
    from fink_t2.models import ModelError

    same_seed = [_member(tmp_path / "a", "t2-lsst-ugrizy-forced-v6", 0),
                 _member(tmp_path / "b", "t2-lsst-ugrizy-forced-v4", 0)]
    with pytest.raises(ModelError, match=r"different seeds; they have \[0, 0\]"):
        combine(same_seed, tmp_path / "out")
    other_grid = [_member(tmp_path / "c", "t2-lsst-ugrizy-forced-v6", 0),
                  _member(tmp_path / "d", "t2-lsst-ugrizy-forced-v3", 1)]
    with pytest.raises(ModelError, match="differ in GP preparation"):  # 50 against 100 regular times
        combine(other_grid, tmp_path / "out")
    with pytest.raises(ModelError, match="at least two"):
        combine(same_seed[:1], tmp_path / "out")
    assert not (tmp_path / "out").exists()  # checked before anything is written
