"""The light runtime: ONNX Runtime gives Keras's probabilities, and classifying needs no TensorFlow."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import requires_train_extra, shared_path
from fink_t2 import models


@pytest.fixture(scope="module")
def real_gp_inputs(bts_table):
    """card -> GP flux and spans of real light curves, prepared as the card says (window, bins, thinning,
    times). ZTF bands: full bts_dev curves, 30-day bts windows and the shared alerts; LSST bands: every third
    labelled ELAsTiCC alert (Keras's six graphs per model on all of them took half a minute) and the real
    Rubin alerts."""
    import pyarrow.parquet as pq

    from fink_t2 import rubin, ztf
    from fink_t2.classify import GPPreparation, gp_inputs
    from fink_t2.cuts import SelectionCuts, apply_cuts
    from fink_t2.datasets import read_elasticc
    from fink_t2.realdata import alert_lightcurves, bts_windows

    rubin_arrays = rubin.alert_arrays(pq.read_table(shared_path("rubin_alerts/fink_lsst_2026-03-27"),
                                                    columns=["diaSource", "prvDiaSources"]))
    elasticc = read_elasticc(shared_path("rubin_alerts/elasticc")).lightcurves()
    sets = {ztf.BANDS: [ztf.lightcurves_from_table(bts_table)[0], bts_windows(bts_table, 200),
                        alert_lightcurves(shared_path("ztf_alerts/parquet"))],
            rubin.BANDS: [elasticc.subset(np.arange(0, len(elasticc), 3)),
                          rubin.lightcurves_from_alerts(*(rubin_arrays[f] for f in rubin.ALERT_ROLES))]}
    cache = {}

    def inputs(card):
        key = (tuple(card["bands"]), GPPreparation.of_card(card))
        if key not in cache:
            parts = []
            for lightcurves in sets[key[0]]:
                status = apply_cuts(lightcurves, SelectionCuts.none())
                _, gp_flux, span_days, _, _ = gp_inputs(lightcurves, status, card["wavelengths_a"], key[1])
                parts.append((gp_flux, span_days))
            cache[key] = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        return cache[key]
    return inputs


@requires_train_extra
@pytest.mark.parametrize("name", [n for n in models.available_models() if "onnx" in models.read_card(n)])
def test_onnx_runtime_gives_the_keras_probabilities_on_real_inputs(name, real_gp_inputs):
    """Every shipped graph (the model and each cross-validation fold) against Keras on the same weights."""
    card = models.read_card(name)
    gp_flux, span_days = real_gp_inputs(card)
    assert len(gp_flux) > 1000 and card["onnx"]["opset"] <= 19  # ONNX Runtime 1.16 loads opset <= 19
    for weights in card["onnx"]["files"]:
        onnx_model = models.load_model(name, weights, engine="onnx")
        keras_model = models.load_model(name, weights, engine="keras")
        assert (onnx_model.engine, keras_model.engine) == ("onnx", "keras")
        difference = np.abs(onnx_model.predict_proba(gp_flux, span_days) - keras_model.predict_proba(gp_flux, span_days))
        assert difference.max() <= 1e-5, (name, weights, difference.max())


@requires_train_extra
@pytest.mark.parametrize("name", [n for n in models.available_models() if "onnx" in models.read_card(n)])
def test_shipped_graphs_have_one_node_per_layer_normalisation(name):
    """Each network block normalises twice (after attention, after the feed-forward): tf2onnx's spelled-out
    form (pooled means) is gone and ONNX's operator stands in its place (in each member of an ensemble)."""
    import onnx

    card, root = models.check_model(name)
    networks = (2 if "expert" in card else 1) * len(card.get("ensemble", {}).get("members", [None]))
    for graph in card["onnx"]["files"].values():
        op_types = [node.op_type for node in onnx.load(str(root / graph)).graph.node]
        assert op_types.count("LayerNormalization") == 2 * networks * card["architecture"]["blocks"], (name, graph)
        assert "GlobalAveragePool" not in op_types


def test_classify_path_imports_neither_tensorflow_nor_keras():
    """A fresh process classifies real light curves and alerts with the default model, TensorFlow-free."""
    bts, alerts = shared_path("bts_dev/bts_dev_lightcurves.parquet"), shared_path("ztf_alerts/parquet")
    script = f"""
import sys
import numpy as np
import pandas as pd
from fink_t2 import classify_alerts, classify_lightcurves, load_model
from fink_t2.realdata import HISTORY_FIELDS, alert_histories

table = pd.read_parquet({str(bts)!r})
out = classify_lightcurves(table[table.objectId.isin(table.objectId.unique()[:40])])
assert (out.t2_status == "ok").sum() > 30
history = alert_histories({str(alerts)!r})
probabilities, uncertainty, status = classify_alerts(*(history[f] for f in HISTORY_FIELDS))
assert (status == "ok").sum() > 20 and load_model().engine == "onnx"
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
print("heavy modules:", heavy[:5])
assert not heavy
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr


def test_a_model_without_graph_or_tensorflow_says_which_extra():
    # where fink-science (train extra) is absent, the package is what is missing first
    with pytest.raises(models.ModelError, match=r"(no ONNX graph|not installed).*pip install 'fink-t2\[train\]'"):
        models.load_model("fink-gr-noz", engine="onnx")
    script = """
import sys
for name in ("tensorflow", "keras", "tf_keras"):
    sys.modules[name] = None  # as if the train extra were not installed
from fink_t2 import models
try:
    models.load_model(engine="keras")
except models.ModelError as error:
    print(error)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "needs TensorFlow and Keras" in run.stdout and "pip install 'fink-t2[train]'" in run.stdout, run.stderr


@requires_train_extra
def test_attention_head_runs_in_onnx_runtime_as_in_keras(tmp_path):
    """The attention-pooling head (``train --head attention``) goes through the same export and rewrites as
    t2's average pooling, and ONNX Runtime gives Keras's probabilities for inputs that differ by object."""
    from fink_t2.onnx_export import TOLERANCE, export_graph
    from fink_t2.t2net import build_network

    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(8, 100, 4)).astype(np.float32), rng.normal(size=(8, 1)).astype(np.float32)]
    network = build_network(100, 4, 5, 1, head="attention")
    network.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    network.fit(inputs, np.arange(8) % 5, epochs=2, verbose=0)  # away from the initial weights
    assert export_graph(network, tmp_path / "t2.onnx", inputs) <= TOLERANCE
    assert np.ptp(np.asarray(network(inputs, training=False)), axis=0).max() > 1e-3  # the query sees each input
