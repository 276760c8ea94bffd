"""The UDF in a real local Spark session, on the real shared alerts."""
import numpy as np
import pytest
from pyspark.sql import functions as F

from conftest import shared_path
from fink_t2.alerts_io import read_alerts
from fink_t2.cuts import SelectionCuts
from fink_t2.spark import add_t2_columns, history_columns


def _check_output(pdf, classes):
    ok = pdf["t2_status"] == "ok"
    for probabilities in pdf.loc[ok, "t2"]:
        assert set(probabilities) == set(classes)
        values = np.array(list(probabilities.values()))
        assert np.isfinite(values).all()
        assert abs(values.sum() - 1.0) < 1e-4
    assert (pdf.loc[ok, "t2_class"].isin(classes)).all()
    assert pdf.loc[ok, "t2_class"].tolist() == [max(p, key=p.get) for p in pdf.loc[ok, "t2"]]
    if "t2_uncertainty" in pdf:  # the normalised predictive entropy of the map, by hand
        for probabilities, uncertainty in zip(pdf.loc[ok, "t2"], pdf.loc[ok, "t2_uncertainty"]):
            p = np.clip(np.array(list(probabilities.values())), 1e-30, 1)
            assert uncertainty == pytest.approx(-(p * np.log(p)).sum() / np.log(len(p)), abs=1e-5)
        assert pdf.loc[~ok, "t2_uncertainty"].isna().all()
    # the sentinel of an alert that is not classified
    assert pdf.loc[~ok, "t2"].isna().all()
    assert (pdf.loc[~ok, "t2_class"] == "").all()
    assert pdf.loc[~ok, "t2_status"].str.match(r"^(cut:|error:)").all()


@pytest.mark.parametrize("folder, n_alerts", [("ztf_alerts/parquet", 124), ("ztf_alerts/avro", 110)])
def test_every_alert_gets_one_row(spark, model, folder, n_alerts):
    alerts = read_alerts(spark, shared_path(folder))
    pdf = add_t2_columns(alerts).select("candid", "t2", "t2_class", "t2_uncertainty", "t2_status").toPandas()
    assert len(pdf) == n_alerts and pdf["candid"].is_unique
    _check_output(pdf, model.classes)
    assert (pdf["t2_status"] == "ok").sum() >= 3


def test_without_cuts_most_alerts_are_classified(spark, model):
    alerts = read_alerts(spark, shared_path("ztf_alerts/parquet"))
    pdf = add_t2_columns(alerts, cuts=SelectionCuts.none()).select("t2", "t2_class", "t2_status").toPandas()
    assert len(pdf) == 124
    _check_output(pdf, model.classes)
    assert (pdf["t2_status"] == "ok").mean() > 0.8


def test_ensemble_uncertainty_keeps_the_probabilities(spark, model):
    """uncertainty="ensemble": the same t2 maps, and the fold models' mutual information in [0, 1]."""
    alerts = read_alerts(spark, shared_path("ztf_alerts/parquet"))
    columns = ("candid", "t2", "t2_uncertainty", "t2_status")
    default = add_t2_columns(alerts, cuts=SelectionCuts.none()).select(*columns).toPandas().set_index("candid")
    ensemble = add_t2_columns(alerts, cuts=SelectionCuts.none(), uncertainty="ensemble").select(*columns) \
        .toPandas().set_index("candid").loc[default.index]
    ok = default.t2_status == "ok"
    assert (ensemble.t2_status == default.t2_status).all() and ok.sum() > 100
    for a, b in zip(default.t2[ok], ensemble.t2[ok]):
        assert a == pytest.approx(b, abs=1e-6)
    assert ensemble.t2_uncertainty[ok].between(0, 1).all() and ensemble.t2_uncertainty[~ok].isna().all()
    assert (ensemble.t2_uncertainty[ok] < default.t2_uncertainty[ok] + 1e-6).mean() > 0.9  # the epistemic part is smaller


def test_fink_history_columns_give_the_same_result(spark):
    alerts = read_alerts(spark, shared_path("ztf_alerts/parquet"))
    built = history_columns(alerts)
    with_fink_columns = alerts.select("candid", "roid", "cdsxmatch", "candidate", *[c.alias(n) for n, c in built.items()])
    ours = add_t2_columns(alerts).select("candid", "t2_class").orderBy("candid").toPandas()
    fink = add_t2_columns(with_fink_columns.drop("prv_candidates")).select("candid", "t2_class").orderBy("candid").toPandas()
    assert ours.equals(fink)


def test_history_is_in_time_order_current_alert_last(spark):
    alerts = read_alerts(spark, shared_path("ztf_alerts/parquet"))
    row = alerts.select(history_columns(alerts)["cjd"].alias("cjd"), F.col("candidate.jd").alias("jd")).first()
    assert row["cjd"][-1] == row["jd"]


def test_missing_context_columns_skip_their_cuts(spark, caplog):
    alerts = read_alerts(spark, shared_path("ztf_alerts/parquet")).drop("roid", "cdsxmatch")
    with caplog.at_level("WARNING"):
        pdf = add_t2_columns(alerts).select("t2_status").toPandas()
    assert len(pdf) == 124
    assert not pdf["t2_status"].isin(["cut:host", "cut:solar_system"]).any()
    assert "'roid' is absent" in caplog.text and "'cdsxmatch' is absent" in caplog.text


def test_missing_alert_column_is_a_clear_error(spark):
    alerts = read_alerts(spark, shared_path("ztf_alerts/parquet")).drop("prv_candidates")
    with pytest.raises(ValueError, match="missing column 'prv_candidates'"):
        add_t2_columns(alerts)


def test_a_host_redshift_column_updates_the_probabilities_by_bayes_rule(spark):
    """Half of the real alerts get a host at z = 0.03 (a struct field, as a catalogue join would add it), the
    others none: the first are the no-redshift probabilities times the card's densities at 0.03 (SciPy's
    estimate from the card's values), renormalised; the second are unchanged; no row is lost."""
    from scipy.stats import gaussian_kde

    from fink_t2.models import read_card
    from fink_t2.redshift import LOG10_Z_RANGE, MIN_OBJECTS, OUTLIER_FRACTION

    alerts = read_alerts(spark, shared_path("ztf_alerts/parquet"))
    hosts = alerts.withColumn("host", F.struct(F.when(F.col("candid") % 2 == 0, F.lit(0.03)).alias("z")))
    with_z = add_t2_columns(hosts, cuts=SelectionCuts.none(), redshift_column="host.z") \
        .select("candid", "t2", "t2_status").toPandas().set_index("candid")
    without = add_t2_columns(alerts, cuts=SelectionCuts.none()).select("candid", "t2").toPandas().set_index("candid")
    assert len(with_z) == alerts.count()
    ok = (with_z["t2_status"] == "ok").to_numpy()
    assert ok.sum() > 100
    card = read_card("t2-ztf-gr-v3")
    classes = list(with_z["t2"][ok].iloc[0])
    p_with = np.array([[p[c] for c in classes] for p in with_z["t2"][ok]])
    p_without = np.array([[p[c] for c in classes] for p in without["t2"].loc[with_z.index[ok]]])
    log10_z, names = np.asarray(card["host_redshift"]["log10_z"]), np.asarray(card["host_redshift"]["class"])
    density = np.array([(1 - OUTLIER_FRACTION) * gaussian_kde(
        log10_z[names == c] if (names == c).sum() >= MIN_OBJECTS else log10_z)(np.log10(0.03))[0]
        + OUTLIER_FRACTION / (LOG10_Z_RANGE[1] - LOG10_Z_RANGE[0]) for c in classes])
    even = (with_z.index[ok].to_numpy() % 2) == 0
    assert 0 < even.sum() < len(even)
    expected = p_without[even] * density
    np.testing.assert_allclose(p_with[even], expected / expected.sum(axis=1, keepdims=True), atol=1e-5)
    np.testing.assert_allclose(p_with[~even], p_without[~even], atol=1e-6)
    with pytest.raises(ValueError, match="host.zz"):
        add_t2_columns(hosts, redshift_column="host.zz")
    with pytest.raises(ValueError, match="no host-redshift densities"):
        add_t2_columns(hosts, model_name="t2-ztf-gr", redshift_column="host.z")


def test_a_model_that_reads_the_age_takes_it_from_jdstarthist(spark):
    """t2-ztf-gr-v5 reads each alert's age from ``candidate.jdstarthist``: the UDF gives what
    ``ztf.classify_alerts`` gives with those dates, not what it gives without them (these alerts' sources were
    first detected years before their 30-day histories), and a model without the age input ignores them."""
    from fink_t2.models import load_model
    from fink_t2.realdata import alert_histories
    from fink_t2.ztf import classify_alerts

    alerts = read_alerts(spark, shared_path("ztf_alerts/parquet"))
    histories = alert_histories(shared_path("ztf_alerts/parquet"))
    history = [histories[f] for f in ("jd", "fid", "magpsf", "sigmapsf", "isdiffpos")]
    jdstarthist = np.array(histories["jdstarthist"], dtype=float)
    udf = add_t2_columns(alerts, model_name="t2-ztf-gr-v5", cuts=SelectionCuts.none()) \
        .select("candid", "t2", "t2_status").toPandas().set_index("candid").loc[histories["candid"]]
    ok = (udf["t2_status"] == "ok").to_numpy()
    assert ok.sum() > 100
    udf_probabilities = np.array([list(p.values()) for p in udf["t2"][ok]])
    for name, ages_matter in (("t2-ztf-gr-v5", True), ("t2-ztf-gr-v3", False)):
        model = load_model(name)
        with_dates, _, _ = classify_alerts(*history, jdstarthist=jdstarthist, cuts=SelectionCuts.none(), model=model)
        without, _, _ = classify_alerts(*history, cuts=SelectionCuts.none(), model=model)
        changed = np.abs(with_dates[ok] - without[ok]).max(axis=1) > 1e-3
        assert changed.mean() > 0.5 if ages_matter else not changed.any()
        if ages_matter:
            order = [model.classes.index(c) for c in udf["t2"][ok].iloc[0]]
            np.testing.assert_allclose(udf_probabilities, with_dates[ok][:, order], atol=1e-5)
