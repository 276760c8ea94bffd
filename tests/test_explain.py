"""Explanations: the class activation map against the logit identity, the arrays, the figure."""
import numpy as np
import pytest

from conftest import requires_train_extra, shared_path
from fink_t2 import gp, models
from fink_t2.ztf import WAVELENGTHS_A as LAM

pytestmark = requires_train_extra


def test_class_activation_maps_add_up_to_the_logits(bts_table):
    """GAP + dense head: mean_t cam_t + aux share + bias is each class's logit, so the softmax of these
    rebuilt logits is the network's own output, for the general network and the expert."""
    from fink_t2.classify import GPPreparation, gp_inputs
    from fink_t2.cuts import SelectionCuts, apply_cuts
    from fink_t2.realdata import bts_windows
    from fink_t2.t2net import class_activation_map, load_networks

    card, root = models.check_model(models.DEFAULT_MODEL)
    lightcurves = bts_windows(bts_table, 12)
    _, gp_flux, span_days, _, _ = gp_inputs(lightcurves, apply_cuts(lightcurves, SelectionCuts()),
                                            card["wavelengths_a"], GPPreparation.of_card(card))
    inputs = models.network_inputs(gp_flux, span_days, card)
    for network in load_networks(card, root, card["weights"]):
        n_classes = network.output.shape[-1]
        logits = np.stack([sum(part.mean(axis=1) if part.ndim == 2 else part
                               for part in class_activation_map(network, inputs, k)) for k in range(n_classes)], axis=1)
        rebuilt = np.exp(logits - logits.max(axis=1, keepdims=True))
        rebuilt /= rebuilt.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(rebuilt, np.asarray(network(inputs, training=False)), atol=1e-5)


@pytest.mark.parametrize("source, object_id", [("bts_dev/bts_dev_lightcurves.parquet", "ZTF18aacemcn"),
                                               ("ztf_alerts/parquet", None)])
def test_explain_returns_the_module_s_classification(tmp_path, source, object_id):
    pytest.importorskip("george")
    from fink_t2.cli import main
    from fink_t2.explain import explain, object_lightcurve
    from fink_t2.realdata import alert_histories

    path = shared_path(source)
    if object_id is None:  # the object of the shared alert with the longest history
        histories = alert_histories(path)
        object_id = histories["objectId"][int(np.argmax([len(jd) for jd in histories["jd"]]))]
    e = explain(path, object_id)
    assert e["gp_mean"].shape == e["gp_std"].shape == (100, 2) and e["cam"].shape == (100,)
    np.testing.assert_allclose(e["probabilities"].sum(), 1.0, atol=1e-5)
    assert e["predicted"] == e["classes"][int(np.argmax(e["probabilities"]))] and 0 <= e["uncertainty"] <= 1
    # the posterior standard deviation never exceeds the prior's, sqrt(amp2), and shrinks at the points
    lightcurve = object_lightcurve(path, object_id)
    assert len(e["points"]["time_days"]) <= lightcurve.n_points[0]
    assert (e["gp_std"] >= 0).all() and e["gp_std"].min() < e["gp_std"].max()

    out = tmp_path / "explain.png"
    assert main(["explain", str(path), "--object", object_id, "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_posterior_std_is_bounded_by_the_prior(bts_table):
    pytest.importorskip("george")
    from fink_t2.realdata import bts_windows

    lc = bts_windows(bts_table, 5, seed=3)
    lc = lc.subset(np.flatnonzero(lc.n_points >= 3))
    mean, fit = gp.interpolate(lc, LAM)
    std = gp.posterior_std(lc, fit.log_params, LAM)
    prior = np.sqrt(np.exp(fit.log_params[:, 0]))[:, None, None]
    assert (std <= prior * (1 + 1e-9)).all() and (std > 0).all()
