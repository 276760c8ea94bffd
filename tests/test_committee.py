"""Committees (fink_t2.committee): the shipped t2-ztf-gr-v6 against the mean of its members run on their own,
its band cut, and the checks of what a committee pins."""
import json

import numpy as np
import pytest

from conftest import requires_train_extra, shared_path
from fink_t2 import classify_lightcurves
from fink_t2.alerts_io import read_alerts
from fink_t2.committee import build, check_members
from fink_t2.cuts import SelectionCuts
from fink_t2.models import ModelError, load_model, read_card
from fink_t2.realdata import alert_histories
from fink_t2.redshift import RedshiftPrior
from fink_t2.spark import add_t2_columns
from fink_t2.ztf import classify_alerts

COMMITTEE, MEMBERS = "t2-ztf-gr-v6", ("t2-ztf-gr-v3", "t2-ztf-gr-v5")


@pytest.mark.parametrize("weights", [None, "fold2.weights.h5"])
def test_the_committee_is_the_mean_of_its_members_then_one_redshift_update(bts_table, weights):
    """On real bts light curves: v6 (or its fold-2 model) gives the mean of v3's and v5's calibrated
    probabilities, each member run as a model of its own; with host redshifts, Bayes' rule applied once to that
    mean with the committee's densities (of the same fold)."""
    table = bts_table[bts_table["objectId"].isin(bts_table["objectId"].drop_duplicates().to_numpy()[:16])]
    committee = load_model(COMMITTEE, weights)
    members = [load_model(name, weights) for name in MEMBERS]
    assert [member.card["id"] for member in committee.committee] == list(MEMBERS)
    classes = committee.classes
    without_z = table.drop(columns="redshift")
    outputs = [classify_lightcurves(without_z, model) for model in (committee, *members)]
    ok = np.logical_and.reduce([(out["t2_status"] == "ok").to_numpy() for out in outputs])
    assert ok.sum() >= 12
    p = [out[classes].to_numpy()[ok] for out in outputs]
    np.testing.assert_allclose(p[0], (p[1] + p[2]) / 2, rtol=1e-5, atol=1e-7)
    assert not np.allclose(p[1], p[2], atol=1e-2)  # the members do differ: the mean is not one of them

    with_z = classify_lightcurves(table, committee)[classes].to_numpy()[ok]
    redshift = table.groupby("objectId", sort=False)["redshift"].first().reindex(outputs[0]["objectId"]).to_numpy()[ok]
    prior = RedshiftPrior.of_card(read_card(COMMITTEE), weights)
    np.testing.assert_allclose(with_z, prior.apply((p[1] + p[2]) / 2, redshift), rtol=1e-4, atol=1e-6)


def test_the_committee_classifies_a_single_band_alert_that_its_members_cut():
    """v6's card asks one band: a g-only alert gets the mean of what its members give when made to classify it."""
    jd = [np.array([2459000.5, 2459001.5, 2459003.5, 2459006.5])]
    history = (jd, [np.ones(4, int)], [np.array([19.0, 18.5, 18.2, 18.3])], [np.full(4, 0.1)])
    probabilities, _, status = classify_alerts(*history, model=load_model(COMMITTEE))
    assert list(status) == ["ok"]
    member_outputs = []
    for name in MEMBERS:
        _, _, cut = classify_alerts(*history, model=load_model(name))
        assert list(cut) == ["cut:min_bands"]
        member_outputs.append(classify_alerts(*history, model=load_model(name), cuts=SelectionCuts(min_bands=1))[0])
    np.testing.assert_allclose(probabilities, np.mean(member_outputs, axis=0), rtol=1e-5, atol=1e-7)


def test_a_committee_refuses_a_member_changed_since_it_was_built(tmp_path, monkeypatch):
    build("committee-under-test", MEMBERS, tmp_path, min_bands=1)
    card_file = tmp_path / "committee-under-test.json"
    card = json.loads(card_file.read_text())
    card["committee"]["members"][1]["temperature"]["model.weights.h5"] += 0.1  # as if v5 had been recalibrated
    card_file.write_text(json.dumps(card))
    monkeypatch.setenv("FINK_T2_MODEL_DIR", str(tmp_path))
    with pytest.raises(ModelError, match="member 't2-ztf-gr-v5' has other temperatures"):
        load_model("committee-under-test")


def test_members_must_share_what_one_gp_fit_and_one_mean_need():
    v3, v5 = (read_card(name) for name in MEMBERS)
    check_members([v3, v5])
    for changed, what in (({"n_times": 50}, "GP preparation"), ({"classes": v3["classes"][::-1]}, "classes"),
                          ({"cv": {**v3["cv"], "folds": 4}}, "cross-validation folds")):
        with pytest.raises(ModelError, match=what):
            check_members([v3, {**v5, **changed}])
    with pytest.raises(ModelError, match="at least two"):
        check_members([v3])
    with pytest.raises(ModelError, match="is a committee"):
        check_members([v3, read_card(COMMITTEE)])


def test_the_spark_udf_runs_the_committee_as_the_api_does(spark):
    """Real ZTF alerts through ``add_t2_columns`` with v6: one output row per alert, and the probabilities of
    ``ztf.classify_alerts`` with the alerts' own first-detection dates (v5, a member, reads the age)."""
    alerts = read_alerts(spark, shared_path("ztf_alerts/parquet"))
    histories = alert_histories(shared_path("ztf_alerts/parquet"))
    udf = add_t2_columns(alerts, model_name=COMMITTEE, cuts=SelectionCuts.none()) \
        .select("candid", "t2", "t2_status").toPandas()
    assert len(udf) == alerts.count()
    udf = udf.set_index("candid").loc[histories["candid"]]
    expected, _, status = classify_alerts(*(histories[f] for f in ("jd", "fid", "magpsf", "sigmapsf", "isdiffpos")),
                                          jdstarthist=np.array(histories["jdstarthist"], dtype=float),
                                          cuts=SelectionCuts.none(), model=load_model(COMMITTEE))
    ok = (udf["t2_status"] == "ok").to_numpy()
    np.testing.assert_array_equal(ok, status == "ok")
    assert ok.sum() > 100
    order = [load_model(COMMITTEE).classes.index(c) for c in udf["t2"][ok].iloc[0]]
    np.testing.assert_allclose(np.array([list(p.values()) for p in udf["t2"][ok]]), expected[ok][:, order], atol=1e-5)


def test_calibrate_points_a_committee_to_its_members():
    from fink_t2.calibrate import calibrate

    with pytest.raises(ModelError, match="committee: its members' temperatures calibrate it"):
        calibrate(COMMITTEE)


@requires_train_extra
def test_explain_points_a_committee_to_its_members():
    from fink_t2.explain import explain

    with pytest.raises(ValueError, match="committee: explain one of its members"):
        explain(shared_path("bts_dev/bts_dev_lightcurves.parquet"), "ZTF18aaaaaaa", COMMITTEE)
