"""Rubin/LSST alerts: light curves from the alert schema, reading (parquet, Avro), Spark and the command line."""
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import shared_path
from fink_t2 import rubin
from fink_t2.alerts_io import InputError, check_parquet_alerts, read_alerts, read_avro_table
from fink_t2.cli import main
from fink_t2.cuts import apply_cuts
from fink_t2.models import DEFAULT_MODELS, available_models
from fink_t2.spark import add_t2_columns, key_columns

LSST_MODEL = DEFAULT_MODELS["lsst"]
requires_lsst_model = pytest.mark.skipif(LSST_MODEL not in available_models(), reason=f"{LSST_MODEL} not installed")
REAL_ALERTS = "rubin_alerts/fink_lsst_2026-03-27"


def _lightcurves(arrays):
    return rubin.lightcurves_from_alerts(*(arrays[k] for k in rubin.ALERT_ROLES))


def test_njy_become_fluxcal_by_their_ab_magnitude():
    """An AB magnitude m is 10**(-0.4 (m - 31.4)) nJy and 10**(-0.4 (m - 27.5)) FLUXCAL."""
    mag = np.array([18.0, 21.5, 23.0])
    flux_njy = 10 ** (-0.4 * (mag - 31.4))
    lc = rubin.lightcurves_from_alerts([np.array([60000.0, 60001.0, 60002.0])], [np.array(["g", "r", "i"])],
                                       [flux_njy], [0.1 * flux_njy])
    np.testing.assert_allclose(lc.flux_fluxcal[0], 10 ** (-0.4 * (mag - 27.5)), rtol=1e-12)
    assert lc.jd_first[0] == 60000.0 + 2400000.5  # MJD -> JD


def test_bands_by_name_signed_flux_kept_duplicates_and_unknown_bands_dropped():
    time = np.array([60000.0, 60001.0, 60002.0, 60003.0, 60002.0])
    band = np.array(["u", "Y", "r", "VR", "r"])  # ELAsTiCC writes y as Y; VR is no LSST band
    flux = np.array([100.0, -50.0, 80.0, 70.0, 80.0])
    # the last source is the third one again (same diaSourceId: same time and band), as history and alert
    lc = rubin.lightcurves_from_alerts([time], [band], [flux], [np.full(5, 10.0)])
    assert lc.n_points.tolist() == [3] and lc.n_bands == 6
    assert [rubin.BANDS[b] for b in lc.band[0, :3]] == ["u", "y", "r"]
    assert lc.flux_fluxcal[0, 1] < 0  # a negative difference flux is a measurement


def test_bands_as_one_string_of_letters_per_alert_read_as_the_band_names():
    """The Spark edge sends an alert's bands as one string, a letter per source ("?" for a null name): the light
    curves equal those from the arrays of names, non-LSST letters and non-ASCII characters dropped alike."""
    time = [np.arange(6.0) + 60000.0, np.arange(3.0) + 60000.0, np.zeros(0)]
    names = [np.array(["u", "g", "Y", None, "x", "\u00e9"], dtype=object), np.array(["z", "z", "i"]),
             np.array([], dtype=object)]
    letters = ["ugY?x\u00e9", "zzi", ""]
    flux = [np.arange(len(t), dtype=float) + 100.0 for t in time]
    by_names = rubin.lightcurves_from_alerts(time, names, flux, [f / 10 for f in flux])
    by_letters = rubin.lightcurves_from_alerts(time, letters, flux, [f / 10 for f in flux])
    assert by_names.n_points.tolist() == [3, 3, 0]
    for field in ("time_days", "band", "flux_fluxcal", "fluxerr_fluxcal", "mask", "jd_first", "n_points"):
        np.testing.assert_array_equal(getattr(by_letters, field), getattr(by_names, field))
    # a string longer than the alert's times is malformed, as an array of names would be
    assert rubin.lightcurves_from_alerts(time[1:2], ["zzii"], flux[1:2], flux[1:2]).n_points.tolist() == [0]


def test_malformed_alert_gets_no_points_and_the_batch_goes_on():
    good = (np.array([60000.0, 60001.0]), np.array(["g", "r"]), np.array([1e3, 2e3]), np.array([10.0, 10.0]))
    lc = rubin.lightcurves_from_alerts([good[0], good[0]], [good[1], good[1][:1]], [good[2], good[2]],
                                       [good[3], good[3]])
    assert lc.n_points.tolist() == [2, 0]


def test_a_forced_source_on_a_detection_visit_counts_as_the_detection():
    """An alert with a detection on days 1 and 3 and forced sources on days 0, 1 and 3 (days 1 and 3: the
    detections' visits, other fluxes): its light curve holds day 0 forced, days 1 and 3 as detected, and its
    first detection is day 1."""
    schema = rubin.avro_arrow_schema("rubin")

    def source(day, flux):
        return {"midpointMjdTai": 60000.0 + day, "band": "g", "psfFlux": flux, "psfFluxErr": 10.0}

    alert = {"diaSourceId": 1, "diaSource": source(3, 300.0), "prvDiaSources": [source(1, 100.0)],
             "prvDiaForcedSources": [source(3, 30.0), source(1, 10.0), source(0, 5.0)]}
    arrays = rubin.alert_arrays(pa.Table.from_pylist([alert], schema=schema), forced=True)
    assert arrays["first_detection_mjd"].tolist() == [60001.0]
    lc = _lightcurves(arrays)
    assert lc.time_days[0].tolist() == [0.0, 1.0, 3.0]
    np.testing.assert_allclose(lc.flux_fluxcal[0], np.array([5.0, 100.0, 300.0]) * 10 ** (-0.4 * (31.4 - 27.5)))


def test_real_alert_histories_are_read_as_a_loop_reads_them():
    """``alert_arrays`` (Arrow, vectorised) against a plain loop over the rows of the real Rubin alerts."""
    table = pq.read_table(shared_path(REAL_ALERTS), columns=["diaSourceId", "diaSource", "prvDiaSources", "pred"])
    arrays = rubin.alert_arrays(table)
    rows = table.to_pylist()
    assert len(arrays["time_mjd"]) == len(rows) == 82
    for i, row in enumerate(rows):
        sources = (row["prvDiaSources"] or []) + [row["diaSource"]]
        np.testing.assert_array_equal(arrays["time_mjd"][i], [s["midpointMjdTai"] for s in sources])
        np.testing.assert_array_equal(arrays["band"][i], [s["band"] for s in sources])
        np.testing.assert_allclose(arrays["flux_njy"][i], [s["psfFlux"] for s in sources])
        assert arrays["first_detection_mjd"][i] == min(s["midpointMjdTai"] for s in sources)
    lc = _lightcurves(arrays)
    # every real source is valid; a source repeated, or two sources of one visit in one band, count once
    distinct = [len({(s["midpointMjdTai"], s["band"]) for s in (r["prvDiaSources"] or []) + [r["diaSource"]]})
                for r in rows]
    assert lc.n_points.tolist() == distinct
    # the solar-system flag from ssObjectId agrees with Fink's own (pred.is_sso)
    assert arrays["solar_system"].tolist() == [r["pred"]["is_sso"] for r in rows] and arrays["solar_system"].any()


def test_real_alerts_binned_by_night_as_pandas_groups_them():
    """``LightCurves.binned`` on the real Rubin alerts against a pandas groupby by (alert, JD night, band)."""
    table = pq.read_table(shared_path(REAL_ALERTS), columns=["diaSource", "prvDiaSources"])
    lc = _lightcurves(rubin.alert_arrays(table))
    nightly = lc.binned(rubin.BIN_DAYS)
    row, column = np.nonzero(lc.mask)
    points = pd.DataFrame({"alert": row, "night": np.floor(lc.jd_first[row] + lc.time_days[row, column]),
                           "band": lc.band[row, column], "weight": lc.fluxerr_fluxcal[row, column] ** -2.0})
    points["weighted_flux"] = points["weight"] * lc.flux_fluxcal[row, column]
    bins = points.groupby(["alert", "night", "band"]).sum()
    assert nightly.n_points.sum() == len(bins) < lc.n_points.sum()
    np.testing.assert_array_equal(nightly.n_points, bins.groupby("alert").size().reindex(range(len(lc)), fill_value=0))
    row, column = np.nonzero(nightly.mask)
    ours = pd.DataFrame({"alert": row, "night": np.floor(nightly.jd_first[row] + nightly.time_days[row, column]),
                         "band": nightly.band[row, column], "flux": nightly.flux_fluxcal[row, column],
                         "error": nightly.fluxerr_fluxcal[row, column]}).set_index(["alert", "night", "band"]).sort_index()
    np.testing.assert_allclose(ours["flux"], bins["weighted_flux"] / bins["weight"], rtol=1e-12)
    np.testing.assert_allclose(ours["error"], bins["weight"] ** -0.5, rtol=1e-12)


def test_rubin_cuts():
    arrays = rubin.alert_arrays(pq.read_table(shared_path(REAL_ALERTS), columns=["diaSource", "prvDiaSources"]))
    lc = _lightcurves(arrays)
    solar_system = arrays["solar_system"].copy()
    solar_system[np.flatnonzero(lc.n_points >= 2)[0]] = True  # one long history flagged too
    status = apply_cuts(lc, rubin.default_cuts(), solar_system=solar_system)
    # span of each alert's sources, from the raw MJDs (a second computation)
    span_days = np.array([np.ptp(t) if t is not None and len(t) else 0.0 for t in arrays["time_mjd"]])
    expected = np.select([lc.n_points < 2, (lc.n_points_per_band > 0).sum(axis=1) < 2, span_days < 0.5, solar_system],
                         ["cut:min_points", "cut:min_bands", "cut:min_span", "cut:solar_system"], "ok")
    assert status.tolist() == expected.tolist() and (status == "cut:solar_system").sum() >= 1
    assert rubin.is_solar_system([None, 0, 12, "7"]).tolist() == [False, False, True, True]


def _fake_alerts(tmp_path):
    """The sample packet of every Rubin alert schema (``schema/<major>/<minor>/sample_data/fakeAlert.avro``), from
    the installed ``lsst-alert-packet`` or its wheel in the cache (``.ci/run`` downloads it); skip without."""
    import zipfile

    from fink_t2.datasets import cache_dir

    try:
        import lsst.alert.packet as packet
    except ImportError:
        packet = None
    if packet is not None:
        root = Path(packet.__file__).parent / "schema"
    else:
        wheels = sorted((cache_dir() / "lsst-alert-packet").glob("lsst_alert_packet-*.whl"))
        if not wheels:
            pytest.skip("no lsst-alert-packet: `pip download --no-deps -d ~/.cache/fink-t2/lsst-alert-packet "
                        "lsst-alert-packet` (or pip install it)")
        with zipfile.ZipFile(wheels[-1]) as archive:
            archive.extractall(tmp_path / "packet", [n for n in archive.namelist() if n.endswith("fakeAlert.avro")])
        root = tmp_path / "packet" / "lsst" / "alert" / "packet" / "schema"
    return sorted(root.glob("*/*/sample_data/fakeAlert.avro"), key=lambda p: [int(x) for x in p.parts[-4:-2]])


def test_avro_packets_of_every_schema_version_are_read_by_name(tmp_path):
    files = [f for f in _fake_alerts(tmp_path) if int(f.parts[-4]) >= 7]
    assert {f.parts[-4] for f in files} >= {"7", "8", "9", "10", "11"}
    for file in files:
        table = read_avro_table(file)
        arrays = rubin.alert_arrays(table)
        import fastavro

        with open(file, "rb") as f:
            record = next(fastavro.reader(f))
        sources = (record["prvDiaSources"] or []) + [record["diaSource"]]
        assert table.num_rows == 1 and "cutoutDifference" not in table.column_names, file
        np.testing.assert_allclose(arrays["flux_njy"][0], [s["psfFlux"] for s in sources], rtol=1e-6)
        assert arrays["band"][0].tolist() == [s["band"] for s in sources]


def test_broken_rubin_parquet_gets_one_clear_error(tmp_path):
    table = pq.read_table(shared_path(REAL_ALERTS), columns=["diaSourceId", "diaSource", "prvDiaSources"])
    pq.write_table(table.drop(["prvDiaSources"]), tmp_path / "no_history.parquet")
    with pytest.raises(InputError, match="no_history.parquet: missing column 'prvDiaSources'"):
        check_parquet_alerts(tmp_path / "no_history.parquet")
    source = table.column("diaSource").combine_chunks()
    renamed = pa.StructArray.from_arrays(source.flatten(), [("flux" if f.name == "psfFlux" else f.name)
                                                           for f in source.type])
    pq.write_table(table.set_column(1, "diaSource", renamed), tmp_path / "renamed.parquet")
    with pytest.raises(InputError, match="renamed.parquet: column 'diaSource' lacks the fields of a Rubin alert"):
        check_parquet_alerts(tmp_path / "renamed.parquet")
    as_text = pa.StructArray.from_arrays([f.cast(pa.large_string()) if name == "psfFlux" else f for f, name in
                                          zip(source.flatten(), [f.name for f in source.type])],
                                         [f.name for f in source.type])
    pq.write_table(table.set_column(1, "diaSource", as_text), tmp_path / "text_flux.parquet")
    with pytest.raises(InputError, match="field 'diaSource.psfFlux' has type large_string, expected floating"):
        check_parquet_alerts(tmp_path / "text_flux.parquet")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    pq.write_table(pq.read_table(shared_path("ztf_alerts/parquet")), mixed / "a_ztf.parquet")
    pq.write_table(table, mixed / "b_rubin.parquet")
    with pytest.raises(InputError, match="mixes ZTF .* and Rubin"):
        check_parquet_alerts(mixed)


@requires_lsst_model
def test_every_real_rubin_alert_gets_one_row_and_no_nan(spark):
    alerts = spark.read.parquet(str(shared_path(REAL_ALERTS)))
    pdf = add_t2_columns(alerts).select(*key_columns(alerts), "t2", "t2_class", "t2_status").toPandas()
    assert len(pdf) == 82 and pdf["diaSourceId"].is_unique and pdf["diaObjectId"].notna().all()
    ok = pdf["t2_status"] == "ok"
    assert ok.sum() >= 40
    assert all(np.isfinite(list(m.values())).all() and abs(sum(m.values()) - 1) < 1e-4 for m in pdf.loc[ok, "t2"])
    assert pdf.loc[~ok, "t2"].isna().all() and pdf.loc[~ok, "t2_status"].str.startswith("cut:").all()


@requires_lsst_model
def test_a_batch_classified_in_chunks_as_in_one_call():
    """The UDF classifies an Arrow batch ``POINTS_PER_CALL`` history points at a time: the real Rubin alerts with
    their forced sources, about 5,000 points per call, get the statuses and probabilities of one call on all 82."""
    from fink_t2.models import load_model
    from fink_t2.spark import _in_chunks

    model = load_model(LSST_MODEL)
    arrays = rubin.alert_arrays(pq.read_table(shared_path(REAL_ALERTS)), forced=True)
    columns = [pd.Series(arrays[role]) for role in rubin.ALERT_ROLES]
    calls = []

    def classify(*columns):
        calls.append(len(columns[0]))
        return rubin.classify_alerts(*columns, model=model)

    chunked = _in_chunks(classify, *columns, points_per_call=5000)
    assert len(calls) > 5 and sum(calls) == 82
    whole = classify(*columns)
    assert chunked[2].tolist() == whole[2].tolist() and (whole[2] == "ok").sum() >= 40
    np.testing.assert_allclose(chunked[0], whole[0], atol=1e-6)  # NaN rows where not ok, in both
    np.testing.assert_allclose(chunked[1], whole[1], atol=1e-6)


@requires_lsst_model
def test_default_lsst_model_reads_the_forced_photometry_in_spark(spark):
    """The default LSST model was trained on forced photometry: the Spark path gives every classified real
    alert the probabilities of its sources and forced sources gathered by a plain loop (sources first: a
    forced source on a detection's visit counts as the detection), not those of its sources alone."""
    from fink_t2.models import load_model

    assert load_model(LSST_MODEL).card["forced_photometry"]
    alerts = spark.read.parquet(str(shared_path(REAL_ALERTS)))
    result = add_t2_columns(alerts).select("diaSourceId", "t2").toPandas().set_index("diaSourceId")
    rows = pq.read_table(shared_path(REAL_ALERTS), columns=["diaSourceId", "diaSource", "prvDiaSources",
                                                            "prvDiaForcedSources"]).to_pylist()
    model = load_model(LSST_MODEL)
    by_loop = {}
    for forced in (True, False):
        sources = [(r["prvDiaSources"] or []) + [r["diaSource"]] + ((r["prvDiaForcedSources"] or []) if forced else [])
                   for r in rows]
        arrays = [[np.array([s[field] for s in alert]) for alert in sources]
                  for field in ("midpointMjdTai", "band", "psfFlux", "psfFluxErr")]
        by_loop[forced] = rubin.classify_alerts(*arrays, model=model)[0]
    ids = [r["diaSourceId"] for r in rows]
    classified = [i for i, k in enumerate(ids) if result.loc[k, "t2"] is not None]
    assert len(classified) >= 40
    spark_probabilities = np.array([[result.loc[ids[i], "t2"][c] for c in model.classes] for i in classified])
    np.testing.assert_allclose(spark_probabilities, by_loop[True][classified], atol=1e-5)
    assert np.abs(spark_probabilities - by_loop[False][classified]).max() > 0.05


@requires_lsst_model
def test_classify_command_on_rubin_and_elasticc_alerts(spark, tmp_path, capsys):
    out = tmp_path / "rubin.parquet"
    assert main(["classify", str(shared_path(REAL_ALERTS)), str(out)]) == 0
    result = pd.read_parquet(out)
    assert list(result.columns) == ["diaSourceId", "diaObjectId", "t2", "t2_class", "t2_uncertainty", "t2_status"]
    assert len(result) == 82
    out = tmp_path / "elasticc.parquet"
    assert main(["classify", str(shared_path("rubin_alerts/elasticc/classId=113")), str(out)]) == 0
    result = pd.read_parquet(out)
    assert list(result.columns)[:3] == ["diaSourceId", "diaObjectId", "alertId"] and len(result) == 2523
    assert main(["classify", str(shared_path(REAL_ALERTS)), str(tmp_path / "x"), "--model", "t2-ztf-gr-v3"]) == 1
    assert "takes bands g r; LSST alerts need a model of bands u g r i z y" in capsys.readouterr().err


@requires_lsst_model
def test_avro_rubin_alerts_through_spark(spark, tmp_path):
    """A Rubin Avro packet (schema 10, random values) goes through Spark: one row out, with a status."""
    files = [f for f in _fake_alerts(tmp_path) if f.parts[-4] == "10"]
    alerts = read_alerts(spark, files[0])
    assert alerts.count() == 1
    result = add_t2_columns(alerts).select(*key_columns(alerts), "t2_status").toPandas()
    assert len(result) == 1 and result["t2_status"].iloc[0].startswith(("ok", "cut:", "error:"))


@requires_lsst_model
def test_nesting_in_fink_clf_struct_as_the_readme_shows(spark):
    from pyspark.sql import functions as F

    from fink_t2.spark import OUTPUT_COLUMNS

    alerts = spark.read.parquet(str(shared_path(REAL_ALERTS)))
    df = add_t2_columns(alerts)
    df = df.withColumn("clf", F.col("clf").withField("t2_class", F.col("t2_class"))
                       .withField("t2_snia_score", F.coalesce(F.col("t2")["SNIa"], F.lit(-1.0)))
                       .withField("t2_status", F.col("t2_status"))).drop(*OUTPUT_COLUMNS)
    clf = df.select("clf.*").toPandas()
    assert {"cats_class", "snnSnVsOthers_score", "t2_class", "t2_snia_score"} <= set(clf.columns) and len(clf) == 82
    ok = clf.t2_status == "ok"
    assert (clf.t2_snia_score[~ok] == -1).all() and clf.t2_snia_score[ok].between(0, 1).all()


@requires_lsst_model
def test_stream_classifies_rubin_files_as_they_land(spark, tmp_path):
    import shutil
    import time

    from fink_t2 import stream

    files = sorted(shared_path(REAL_ALERTS).glob("*.parquet"))[:3]
    inbox, out, checkpoint = tmp_path / "inbox", tmp_path / "out", tmp_path / "checkpoint"
    inbox.mkdir()
    query = stream.start(spark, inbox, out, checkpoint, 1.0, spark.read.parquet(str(files[0])).schema)
    try:
        for file in files:
            shutil.copy(file, inbox / f".{file.name}")
            (inbox / f".{file.name}").rename(inbox / file.name)
        expected = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            committed = [p for p in (out / "_spark_metadata").glob("*") if p.name.isdigit()] if out.exists() else []
            if committed and spark.read.parquet(str(out)).count() >= expected:
                break
            time.sleep(0.5)
    finally:
        query.stop()
    result = spark.read.parquet(str(out)).toPandas()
    assert list(result.columns) == ["diaSourceId", "diaObjectId", "t2", "t2_class", "t2_uncertainty", "t2_status"]
    assert len(result) == expected and result.diaSourceId.is_unique
