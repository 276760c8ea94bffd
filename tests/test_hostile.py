"""Hostile but well-formed alerts: property-based tests over the builder, the cuts, both GP
backends and the UDF, plus every named hostile case through Spark. No alert fails a batch,
none is lost, no NaN probability leaves the module."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fink_t2 import gp
from fink_t2.classify import STATUS_OK
from fink_t2.cuts import SelectionCuts, apply_cuts
from fink_t2.ztf import classify_alerts, default_cuts, lightcurves_from_alerts

HOSTILE_MAGS = st.one_of(st.floats(15.0, 21.0), st.sampled_from([math.nan, math.inf, -math.inf, -99.0, 99.0, 0.0]),
                         st.none())
HOSTILE_ERRORS = st.one_of(st.floats(0.01, 0.5), st.sampled_from([0.0, -0.1, math.nan, math.inf]), st.none())
ISDIFFPOS = st.sampled_from(["t", "f", "1", "0", "true", "false", True, False, 1, 0, None, "", "-"])


@st.composite
def alert_history(draw):
    """One alert's history arrays, with hostile values and occasionally mismatched lengths or none at all."""
    n = draw(st.integers(0, 12))
    jd = draw(st.lists(st.one_of(st.floats(2459000.0, 2459060.0), st.just(2459010.0), st.just(math.nan)),
                       min_size=n, max_size=n))
    fid = draw(st.lists(st.sampled_from([1, 2, 3, 0]), min_size=n, max_size=n))
    mag = draw(st.lists(HOSTILE_MAGS, min_size=n, max_size=n))
    err = draw(st.lists(HOSTILE_ERRORS, min_size=n, max_size=n))
    sign = draw(st.lists(ISDIFFPOS, min_size=n, max_size=n))
    if draw(st.booleans()) and n:
        mag = mag[:-1]  # a malformed alert: arrays of different lengths
    as_array = lambda values: np.array([np.nan if v is None else v for v in values], dtype=float)  # noqa: E731
    fields = [as_array(jd), np.array(fid, dtype=float), as_array(mag), as_array(err), np.array(sign, dtype=object)]
    return fields if n or draw(st.booleans()) else [None] * 5


BATCH = st.lists(alert_history(), min_size=1, max_size=8)
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _columns(batch):
    return [[alert[i] for alert in batch] for i in range(5)]


@PROPERTY_SETTINGS
@given(BATCH)
def test_builder_keeps_every_row_and_only_valid_points(batch):
    lc = lightcurves_from_alerts(*_columns(batch))
    assert len(lc) == len(batch)
    real = lc.mask
    assert np.isfinite(lc.flux_fluxcal[real]).all() and (lc.fluxerr_fluxcal[real] > 0).all()
    assert set(np.unique(lc.band[real])) <= {0, 1}
    assert (real[:, :-1] >= real[:, 1:]).all()  # points left-aligned, so each real point follows a real one
    assert (np.diff(lc.time_days, axis=1)[real[:, 1:]] >= 0).all() and (lc.time_days[real] >= 0).all()


@PROPERTY_SETTINGS
@given(BATCH, st.booleans())
def test_cuts_give_every_alert_a_status(batch, with_cuts):
    lc = lightcurves_from_alerts(*_columns(batch))
    status = apply_cuts(lc, default_cuts() if with_cuts else SelectionCuts.none(),
                        first_jd=np.full(len(batch), 2459000.0), solar_system=np.zeros(len(batch), bool),
                        host_class=np.array(["Unknown"] * len(batch), dtype=object))
    assert len(status) == len(batch)
    assert all(s == STATUS_OK or s.startswith("cut:") for s in status)
    assert (status[lc.n_points == 0] != STATUS_OK).all()


@pytest.mark.parametrize("backend", gp.BACKENDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(batch=BATCH)
def test_classification_never_leaks_nan(model, backend, batch):
    probabilities, uncertainty, status = classify_alerts(*_columns(batch), cuts=SelectionCuts.none(), model=model,
                                                         gp_backend=backend)
    assert probabilities.shape == (len(batch), len(model.classes))
    ok = status == STATUS_OK
    assert np.isfinite(probabilities[ok]).all() and ((uncertainty[ok] >= 0) & (uncertainty[ok] <= 1)).all()
    assert np.isnan(uncertainty[~ok]).all()
    np.testing.assert_allclose(probabilities[ok].sum(axis=1), 1.0, atol=1e-4)
    assert np.isnan(probabilities[~ok]).all()
    assert all(s == STATUS_OK or s.startswith(("cut:", "error:")) for s in status)


def _point(jd, fid=1, mag=18.0, err=0.05, sign="t"):
    return {"jd": jd, "fid": fid, "magpsf": mag, "sigmapsf": err, "isdiffpos": sign, "diffmaglim": 20.5}


def _good_history(start=2459000.0, n=6):
    return [_point(start + 2 * i, 1 + i % 2, 18.0 - 0.1 * i) for i in range(n)]


#: name -> (prv_candidates, candidate): every hostile case named in the issue.
HOSTILE_CASES = {
    "nan_magnitudes": (_good_history()[:5] + [_point(2459011.0, mag=math.nan)], _point(2459012.0, 2)),
    "inf_magnitudes": ([_point(2459000.0 + i, 1 + i % 2, mag=math.inf) for i in range(4)], _point(2459005.0)),
    "none_magnitudes": ([_point(2459000.0 + i, 1 + i % 2, mag=None) for i in range(4)], _point(2459005.0)),
    "nan_errors": ([_point(2459000.0 + i, 1 + i % 2, err=math.nan) for i in range(4)], _point(2459005.0)),
    "none_errors": (_good_history()[:3] + [_point(2459009.0, 2, err=None)], _point(2459010.0, 2)),
    "zero_errors": ([_point(2459000.0 + i, 1 + i % 2, err=0.0) for i in range(4)], _point(2459005.0)),
    "negative_errors": ([_point(2459000.0 + i, 1 + i % 2, err=-0.1) for i in range(4)], _point(2459005.0)),
    "null_prv_candidates": (None, _point(2459005.0)),
    "empty_prv_candidates": ([], _point(2459005.0)),
    "single_point": ([], _point(2459005.0, 2)),
    "duplicate_epochs": ([_point(2459001.0), _point(2459001.0), _point(2459002.0, 2), _point(2459002.0, 2)],
                         _point(2459003.0)),
    "unsorted_epochs": (list(reversed(_good_history())), _point(2459020.0, 2)),
    "only_one_band": ([_point(2459000.0 + i) for i in range(5)], _point(2459006.0)),
    "only_i_band": ([_point(2459000.0 + i, 3) for i in range(5)], _point(2459006.0, 3)),
    "absurd_magnitudes": ([_point(2459000.0, 1, -99.0), _point(2459001.0, 2, 99.0)] + _good_history(2459002.0),
                          _point(2459020.0, 2)),
    "thousands_of_points": ([_point(2459000.0 + 0.01 * i, 1 + i % 2, 18.0 + 0.3 * math.sin(i / 50))
                             for i in range(3000)], _point(2459031.0)),
    "all_non_detections": ([_point(2459000.0 + i, 1 + i % 2, mag=None, err=None) for i in range(6)],
                           _point(2459007.0, mag=None, err=None)),
    **{f"isdiffpos_{label}": ([_point(2459000.0 + i, 1 + i % 2, sign=value) for i in range(6)],
                              _point(2459007.0, sign=value))
       for label, value in [("t", "t"), ("f", "f"), ("1", "1"), ("0", "0"), ("none", None)]},
}


def test_every_named_hostile_case_through_spark(spark, model):
    """All hostile cases in one DataFrame, default cuts (those needing absent columns are skipped):
    one row out per row in, sentinel and reason where not classified."""
    from pyspark.sql import types as T

    from fink_t2.spark import add_t2_columns

    fields = [T.StructField("jd", T.DoubleType()), T.StructField("fid", T.IntegerType()),
              T.StructField("magpsf", T.FloatType()), T.StructField("sigmapsf", T.FloatType()),
              T.StructField("isdiffpos", T.StringType()), T.StructField("diffmaglim", T.FloatType())]
    point = T.StructType(fields)
    schema = T.StructType([T.StructField("objectId", T.StringType()), T.StructField("candidate", point),
                           T.StructField("prv_candidates", T.ArrayType(point))])
    rows = [(name, candidate, history) for name, (history, candidate) in HOSTILE_CASES.items()]
    alerts = spark.createDataFrame(rows, schema)
    out = add_t2_columns(alerts).select("objectId", "t2", "t2_class", "t2_status")
    pdf = out.toPandas().set_index("objectId")
    assert len(pdf) == len(HOSTILE_CASES) and set(pdf.index) == set(HOSTILE_CASES)
    for name, row in pdf.iterrows():
        if row.t2_status == STATUS_OK:
            values = np.array(list(row.t2.values()))
            assert np.isfinite(values).all() and abs(values.sum() - 1) < 1e-4, name
        else:
            assert row.t2 is None and row.t2_class == "" and row.t2_status.startswith(("cut:", "error:")), name
    # cases whose outcome follows from the rules, checked by hand
    for name in ("inf_magnitudes", "none_magnitudes", "nan_errors", "zero_errors", "negative_errors",
                 "null_prv_candidates", "empty_prv_candidates", "single_point", "only_i_band", "all_non_detections", "only_one_band"):
        assert pdf.loc[name, "t2_status"].startswith("cut:"), name
    for name in ("unsorted_epochs", "absurd_magnitudes", "thousands_of_points", "duplicate_epochs", "nan_magnitudes",
                 "none_errors", "isdiffpos_t", "isdiffpos_1", "isdiffpos_none"):
        assert pdf.loc[name, "t2_status"] == STATUS_OK, name


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=BATCH, with_cuts=st.booleans())
def test_udf_body_keeps_every_row_and_never_leaks_nan(batch, with_cuts):
    """The pandas UDF's own function on hostile Series (what Spark hands it per Arrow batch)."""
    import pandas as pd

    from fink_t2.models import load_model
    from fink_t2.spark import PROBABILITIES, t2_udf

    udf = t2_udf(cuts=default_cuts() if with_cuts else SelectionCuts.none())
    history = [pd.Series(column, dtype=object) for column in _columns(batch)]
    hostile_redshifts = [None, np.nan, np.inf, -1.0, 0.0, 1e-30, 1e30, 0.05]  # and errors: none, negative, infinite
    context = [pd.Series([2459000.0] * len(batch)), pd.Series([0] * len(batch)),
               pd.Series(["Unknown"] * len(batch)),
               pd.Series([hostile_redshifts[i % 8] for i in range(len(batch))], dtype=float),
               pd.Series([[None, -0.01, np.inf][i % 3] for i in range(len(batch))], dtype=float)]
    out = udf.func(*history, *context)
    assert len(out) == len(batch)
    classes = load_model().classes
    for values, label, status in zip(out[PROBABILITIES], out["t2_class"], out["t2_status"]):
        if status == STATUS_OK:
            assert len(values) == len(classes) and np.isfinite(values).all() and abs(values.sum() - 1) < 1e-4
            assert label == classes[int(np.argmax(values))]
        else:
            assert values is None and label == "" and status.startswith(("cut:", "error:"))
