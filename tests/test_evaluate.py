"""Evaluation: metrics against a hand count, and the command's files."""
import json

import numpy as np
import pytest

from conftest import requires_train_extra, shared_path
from fink_t2.evaluate import evaluate, metrics, separation


def test_metrics_by_hand():
    classes = ["SNIa", "SNII", "SNIbc"]
    nan = np.full(3, np.nan)
    probabilities = np.array([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], nan])
    status = np.array(["ok", "ok", "ok", "ok", "cut:min_bands"], dtype=object)
    truth = ["SNIa", "SNII", "SNII", "SNIa", "SNIbc"]
    result = metrics(truth, probabilities, status, classes)
    # predicted: SNIa, SNIa, SNII, SNIbc, unclassified -> 2 right out of 5
    assert result["accuracy"] == pytest.approx(2 / 5)
    assert result["coverage"] == pytest.approx(4 / 5)
    assert result["accuracy_classified"] == pytest.approx(2 / 4)
    assert result["per_class"]["SNIa"] == {"support": 2, "recall": 0.5, "recall_classified": 0.5, "precision": 0.5}
    assert result["per_class"]["SNII"] == {"support": 2, "recall": 0.5, "recall_classified": 0.5, "precision": 1.0}
    # the SN Ibc is unclassified: recall 0, and no recall among classified objects
    assert result["per_class"]["SNIbc"]["recall"] == 0.0 and result["per_class"]["SNIbc"]["recall_classified"] is None
    assert result["mean_recall_SNIa_SNII_SNIbc"] == pytest.approx(1 / 3)
    assert result["balanced_accuracy"] == pytest.approx((0.5 + 0.5 + 0.0) / 3)
    # F1: SNIa 2 (0.5)(0.5) / 1 = 0.5, SNII 2 (1)(0.5) / 1.5 = 2/3, SNIbc predicted once, wrongly: 0
    assert result["macro_f1_SNIa_SNII_SNIbc_SLSN"] == pytest.approx((0.5 + 2 / 3 + 0.0) / 3)
    assert result["log_loss"] == pytest.approx(-np.mean(np.log([0.7, 0.3, 0.8, 0.2])))
    confusion = result["confusion"]
    assert confusion["predicted"] == classes + ["unclassified"]
    row = confusion["true"].index("SNIbc")
    assert confusion["counts"][row] == [0, 0, 0, 1]
    assert sum(map(sum, confusion["counts"])) == 5
    # separation over the 4 classified objects, pairs (positive, negative) ranked right counted by hand:
    # p(SNIa) 0.7, 0.2 for the SN Ia against 0.6, 0.1: 3 of 4 pairs; p(II) / (p(II) + p(Ia)) 0.333, 0.889
    # for the SN II against 0.222, 0.5: 3 of 4; SNIbc has no classified object and no AUROC
    assert result["separation"] == {"one_vs_rest": {}, "SNII_vs_SNIa": pytest.approx(3 / 4)}  # 2 < 20 per class
    one_vs_rest = separation(truth, probabilities, status, classes, min_support=1)["one_vs_rest"]
    assert one_vs_rest == {"SNIa": pytest.approx(3 / 4), "SNII": pytest.approx(1.0)}


@requires_train_extra
def test_evaluate_writes_metrics_and_plots(tmp_path):
    path = shared_path("bts_dev/bts_dev_lightcurves.parquet")
    result = evaluate("fink-gr-noz", "bts", days=10, out=tmp_path, path=path)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["objects"] == result["objects"] > 700 and saved["days"] == 10
    assert not saved["cross_validated"]
    for name in ("confusion.png", "precision_recall.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_default_model_card_figures_reproduce_and_meet_the_targets():
    """The cross-validated bts figures recorded in the default card come back from a fresh evaluation
    (no object scored by a model that saw it) and meet the project's targets."""
    from fink_t2.models import DEFAULT_MODEL, read_card

    path = shared_path("bts_dev/bts_dev_lightcurves.parquet")
    result = evaluate(DEFAULT_MODEL, "bts", path=path)
    recorded = read_card(DEFAULT_MODEL)["metrics"]["bts, all days"]
    assert result["cross_validated"] and recorded["cross_validated"]
    for key in ("coverage", "accuracy", "mean_recall_SNIa_SNII_SNIbc", "log_loss"):
        assert result[key] == pytest.approx(recorded[key], abs=1e-3), key
    # calibrated (temperatures fitted without the scored fold): ECE <= 0.03; the uncertainty ranks errors
    assert result["calibrated"] and result["calibration"]["ece"] == pytest.approx(recorded["ece"], abs=1e-3)
    assert result["calibration"]["ece"] <= 0.03 < result["calibration"]["ece_uncalibrated"]
    assert result["uncertainty"]["auroc_misclassified"] >= 0.75
    assert result["uncertainty"]["accuracy_most_certain_half"] >= 0.95
    tns = result["tns_uncertainty"]
    if tns is not None:  # real non-supernovae are less certain than supernovae
        assert all(tns[name]["median"] > tns["supernovae"]["median"] for name in ("CV", "Varstar", "AGN"))
    always_snia = result["per_class"]["SNIa"]["support"] / result["objects"]  # 0.749 on bts_dev
    assert result["accuracy"] > always_snia + 0.05
    assert result["coverage"] >= 0.95 and result["accuracy"] >= 0.85 and result["mean_recall_SNIa_SNII_SNIbc"] >= 0.65


def test_alert_level_score_on_real_tns_alerts():
    """Every real alert whose TNS type is a t2 class is scored from its own history, by the fold model that did
    not see its object (some objects are in bts_dev)."""
    import glob

    import pandas as pd

    from fink_t2.datasets import TNS_TYPES
    from fink_t2.models import DEFAULT_MODEL

    folder = shared_path("tns_alerts/alerts")
    alerts = pd.concat([pd.read_parquet(f, columns=["objectId", "TNS"]) for f in glob.glob(str(folder / "*.parquet"))])
    typed = alerts.TNS.str.replace("(TNS) ", "", regex=False).isin(list(TNS_TYPES))
    result = evaluate(DEFAULT_MODEL, "tns-alerts")
    assert result["objects"] == typed.sum() > 1500 and result["cross_validated"]
    assert 0.5 < result["coverage"] < 1.0  # alerts carry 30 days, often one band
    # normal SN Ia and their 91T-like and peculiar kin (not 91bg-like, not Iax, not Ia-CSM: other or no t2 class)
    assert result["per_class"]["SNIa"]["support"] == alerts.TNS.isin(["SN Ia", "SN Ia-91T-like", "SN Ia-pec"]).sum()


def test_evaluate_with_one_band_classifies_every_object_with_two_points():
    """``min_bands=1`` lifts the band cut: coverage becomes the share of objects with >= 2 points, counted here
    from the points table."""
    from fink_t2.datasets import read_ztf_table
    from fink_t2.models import DEFAULT_MODEL

    path = shared_path("bts_dev/bts_dev_lightcurves.parquet")
    data = read_ztf_table(path)
    points = data.points.groupby("object_id").size().reindex(data.labels.index, fill_value=0)
    result = evaluate(DEFAULT_MODEL, "bts", path=path, min_bands=1)
    assert result["min_bands"] == 1
    assert result["coverage"] == pytest.approx((points >= 2).mean(), abs=1e-4)
    assert result["coverage"] > evaluate(DEFAULT_MODEL, "bts", path=path)["coverage"]
