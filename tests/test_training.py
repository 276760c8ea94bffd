"""Training data: readers, ZTF-like draws, folds, and the preprocessing shared with inference."""
import json

import numpy as np
import pandas as pd
import pytest

from conftest import requires_train_extra, shared_path
from fink_t2 import rubin, training, ztf
from fink_t2.classify import GPPreparation
from fink_t2.datasets import (BTS_TYPES, TNS_TYPES, DataError, LabelledPoints, plasticc_dir, read_elasticc,
                              read_plasticc, read_ztf_table, read_ztf_tables)


def _plasticc():
    if not (plasticc_dir() / "plasticc_train_lightcurves.csv").is_file():
        pytest.skip(f"PLAsTiCC is not in {plasticc_dir()}: run `fink-t2 data plasticc`")
    return read_plasticc("train")


def test_read_ztf_table_maps_types_and_units(bts_table):
    data = read_ztf_table(shared_path("bts_dev/bts_dev_lightcurves.parquet"))
    types = bts_table.groupby("objectId")["type"].first()
    assert set(data.labels.index) == set(types[types.isin(list(BTS_TYPES))].index)
    assert (data.labels == types.loc[data.labels.index].map(BTS_TYPES)).all()
    # 18 mag is 10**(-0.4*18+11) = 10**3.8 FLUXCAL (zero point 27.5)
    row = bts_table[bts_table.objectId.isin(data.labels.index) & bts_table.band.isin(["g", "r"])].iloc[0]
    flux = data.points[(data.points.object_id == row.objectId) & (data.points.mjd == row.mjd)].flux_fluxcal.iloc[0]
    assert flux == pytest.approx(10 ** 3.8 * 10 ** (-0.4 * (row.mag - 18.0)))


def test_read_ztf_table_names_missing_column(tmp_path):
    path = tmp_path / "table.parquet"
    pd.DataFrame({"objectId": ["a"], "mjd": [1.0]}).to_parquet(path)
    with pytest.raises(DataError, match="missing column.*band"):
        read_ztf_table(path)


def test_read_plasticc_keeps_detected_g_and_r():
    data = _plasticc()
    assert len(data.labels) == 7848 and data.labels.nunique() == 14
    assert set(data.points.band.unique()) == {0, 1}
    raw = pd.read_csv(plasticc_dir() / "plasticc_train_lightcurves.csv")
    assert len(data.points) == ((raw.detected_bool == 1) & raw.passband.isin([1, 2])).sum()


def test_read_plasticc_forced_keeps_the_epochs_an_alert_can_hold():
    """Forced photometry: every g/r epoch from 30 days before the first detection to the last one, counted
    object by object from the raw table."""
    _plasticc()
    data = read_plasticc("train", bands=("g", "r"), forced=True)
    raw = pd.read_csv(plasticc_dir() / "plasticc_train_lightcurves.csv")
    raw = raw[raw.passband.isin([1, 2])]
    expected = 0
    for _, epochs in list(raw.groupby("object_id"))[:300]:
        detected = epochs.mjd[epochs.detected_bool == 1]
        expected += ((epochs.mjd >= detected.min() - 30.0) & (epochs.mjd <= detected.max())).sum()
    first_objects = data.points.object_id.isin(raw.object_id.drop_duplicates().sort_values().iloc[:300])
    assert first_objects.sum() == expected
    assert data.points.detected.sum() == ((raw.detected_bool == 1)).sum()  # no detection is lost
    assert 0.2 < data.points.detected.mean() < 0.9  # undetected epochs come along


def test_ztf_like_points_are_detections_at_ztf_brightness():
    data = _plasticc()
    rng = np.random.default_rng(1)
    points = training.ztf_like_points(data.points, rng)
    assert (np.abs(points.flux_fluxcal) >= training.DETECTION_SNR * points.fluxerr_fluxcal).all()
    peak_mag = 27.5 - 2.5 * np.log10(np.abs(points.flux_fluxcal).groupby(points.object_id).max())
    low, high = training.PEAK_MAG_RANGE
    # the peak was put in the range before noise: allow a few percent of noise on the brightest point
    assert ((peak_mag > low - 0.3) & (peak_mag < high + 0.3)).mean() > 0.95
    # ZTF depth: nothing fainter than ~2 sigma beyond the deepest 5-sigma limit survives
    assert (27.5 - 2.5 * np.log10(np.abs(points.flux_fluxcal))).max() < 20.5 + 5 * 0.4


def test_history_draws_follow_alert_rules():
    mjd = np.arange(0.0, 100.0, 2.0)
    points = pd.DataFrame({"object_id": np.repeat(np.arange(200), len(mjd)), "mjd": np.tile(mjd, 200),
                           "band": 0, "flux_fluxcal": 1.0, "fluxerr_fluxcal": 0.1})
    drawn = training.history_draw(points, np.random.default_rng(0), ztf.HISTORY_DAYS)
    span = drawn.groupby("object_id").mjd.agg(["min", "max"])
    starts_at_first = span["min"] == 0.0
    # every draw is either an alert window (< 30 days) or starts at the first detection
    assert ((span["max"] - span["min"] < ztf.HISTORY_DAYS) | starts_at_first).all()
    assert (~starts_at_first).any() and (span["max"] == mjd[-1]).any()
    # draws are contiguous runs of the original points: no point skipped inside the window
    counts = drawn.groupby("object_id").size()
    assert (counts == (span["max"] - span["min"]) / 2 + 1).all()


@requires_train_extra
def test_history_draws_remember_their_object_first_detection():
    """Every draw keeps its object's first detection (by hand: object k is detected from day k on), so an
    alert window that starts later is older than its span."""
    mjd = np.arange(0.0, 100.0, 2.0)
    points = pd.DataFrame({"object_id": np.repeat(np.arange(50), len(mjd)),
                           "mjd": np.tile(mjd, 50) + np.repeat(np.arange(50.0), len(mjd)), "band": 0,
                           "flux_fluxcal": 1.0, "fluxerr_fluxcal": 0.1})
    data = LabelledPoints(points, pd.Series("SNIa", index=np.arange(50)), ("g", "r"))
    draws, origin = training.training_draws(data, 3, np.random.default_rng(0), False, ztf.HISTORY_DAYS)
    first = draws.first_detection()
    np.testing.assert_array_equal(first, origin.to_numpy().astype(float))
    drawn_first = draws.points.groupby("object_id")["mjd"].min().reindex(draws.labels.index).to_numpy()
    assert (drawn_first >= first).all() and (drawn_first > first + 1.0).any()


def test_first_days_draws_start_at_the_first_detection_and_stay_early():
    mjd = np.arange(0.0, 100.0, 0.5)
    points = pd.DataFrame({"object_id": np.repeat(np.arange(300), len(mjd)), "mjd": np.tile(mjd, 300),
                           "band": 0, "flux_fluxcal": 1.0, "fluxerr_fluxcal": 0.1})
    drawn = training.history_draw(points, np.random.default_rng(0), ztf.HISTORY_DAYS, {"first_days": 1.0})
    span = drawn.groupby("object_id").mjd.agg(["min", "max"])
    low, high = training.FIRST_DAYS
    assert (span["min"] == 0.0).all() and (span["max"] <= high).all()
    # log-uniform in [1, 60] days: the median end is near sqrt(60) ~ 7.7 days, not 30
    assert 5.0 < span["max"].median() < 11.0


def test_forced_photometry_draws_end_at_a_detection_and_keep_the_epochs_before():
    """Epochs every 2 days, detections on days 20-40 only: an alert is drawn at a detection, the first-days
    draws count from the first detection, and undetected epochs in the window come along."""
    mjd = np.arange(0.0, 100.0, 2.0)
    points = pd.DataFrame({"object_id": np.repeat(np.arange(300), len(mjd)), "mjd": np.tile(mjd, 300),
                           "band": 0, "flux_fluxcal": 1.0, "fluxerr_fluxcal": 0.1,
                           "detected": np.tile((mjd >= 20) & (mjd <= 40), 300)})
    kinds = {"alert": 0.5, "early": 0.5}
    drawn = training.history_draw(points, np.random.default_rng(0), ztf.HISTORY_DAYS, kinds)
    span = drawn.groupby("object_id").mjd.agg(["min", "max", "size"])
    assert span["max"].between(20, 40).all() and (span["min"] < 20).any() and len(span) == 300
    assert set(span["max"]) == set(mjd[(mjd >= 20) & (mjd <= 40)])  # every detection can be the alert
    first = training.history_draw(points, np.random.default_rng(1), ztf.HISTORY_DAYS, {"first_days": 1.0})
    assert first.groupby("object_id").mjd.max().between(20, 20 + training.FIRST_DAYS[1]).all()


def test_earlier_elasticc_alerts_end_at_a_detection_of_the_alert():
    """Each earlier alert drawn from a real ELAsTiCC alert holds points of that alert only, up to one of its
    detections (from its first detection on, |flux| >= 5 errors), with the alert's class and SNID."""
    alerts = read_elasticc(shared_path("rubin_alerts/elasticc"), forced=True)
    points = training.alert_points(alerts).points
    draws, origin = training.earlier_alert_draws(alerts, 2, np.random.default_rng(0), rubin.HISTORY_DAYS)
    assert len(draws.labels) == 2 * len(alerts.labels) and (origin.to_numpy() == np.tile(alerts.labels.index, 2)).all()
    assert (draws.labels.to_numpy() == np.tile(alerts.labels.to_numpy(), 2)).all()
    drawn = draws.points.assign(alert=draws.points["object_id"] % len(alerts.labels))
    key = ["mjd", "band", "flux_fluxcal"]
    merged = drawn.merge(points.rename(columns={"object_id": "alert"}), on=["alert", *key], how="left",
                         suffixes=("", "_alert"), indicator=True)
    assert (merged["_merge"] == "both").all()  # no point that its alert lacks
    end = drawn.groupby("object_id")["mjd"].transform("max") == drawn["mjd"]
    last = drawn[end]
    first_mjd = alerts.first_detection_jd[last["alert"]] - rubin.MJD_TO_JD
    assert (last["mjd"] >= first_mjd - 1e-6).all()
    assert (np.abs(last["flux_fluxcal"]) >= training.DETECTION_SNR * last["fluxerr_fluxcal"]).groupby(
        last["object_id"]).any().all()
    assert drawn.groupby("object_id").size().median() < points.groupby("object_id").size().median()


def test_labelled_tables_join_by_object_and_the_first_table_wins():
    bts_path, tns_path = shared_path("bts_dev/bts_dev_lightcurves.parquet"), shared_path("tns_alerts/tns_lightcurves.parquet")
    bts, tns = pd.read_parquet(bts_path), pd.read_parquet(tns_path)
    both = read_ztf_tables([bts_path, tns_path])
    bts_types = bts.groupby("objectId").type.first().map(TNS_TYPES).dropna()
    tns_types = tns.groupby("objectId").type.first().str.replace("(TNS) ", "", regex=False).map(TNS_TYPES).dropna()
    assert set(both.labels.index) == set(bts_types.index) | set(tns_types.index)
    shared = bts_types.index.intersection(tns_types.index)
    assert len(shared) > 10 and (both.labels[shared] == bts_types[shared]).all()
    # a shared object's points are those of bts_dev only
    first = shared[0]
    assert (both.points.object_id == first).sum() == ((bts.objectId == first) & bts.band.isin(["g", "r"])).sum()


def test_real_non_supernovae_join_as_their_closest_class_and_no_supernova_of_their_table_does():
    bts_path = shared_path("bts_dev/bts_dev_lightcurves.parquet")
    tns_path = shared_path("tns_alerts/tns_lightcurves.parquet")
    tns_types = pd.read_parquet(tns_path).groupby("objectId").type.first().str.replace("(TNS) ", "", regex=False)
    both, bts_only = read_ztf_tables([bts_path], [tns_path]), read_ztf_tables([bts_path])
    added = both.labels[~both.labels.index.isin(bts_only.labels.index)]
    # counted from the raw table: every CV, Varstar, AGN and M dwarf not already in bts_dev, and nothing else
    non_supernova = tns_types.isin(["CV", "Varstar", "AGN", "M dwarf"])
    expected = tns_types[non_supernova & ~tns_types.index.isin(bts_only.labels.index)]
    assert len(added) == len(expected) > 150 and set(added.index) == set(expected.index)
    assert (added[expected.index[expected == "CV"]] == "M-dwarf").all()
    assert (added[expected.index[expected == "Varstar"]] == "Mira").all()
    assert set(added[expected.index[expected == "AGN"]]) == {"AGN"}


def test_folds_are_stable_and_balanced():
    ids = [f"ZTF{i:08d}" for i in range(2000)]
    folds = training.fold_of(ids, 5)
    assert (folds == training.fold_of(list(reversed(ids)), 5)[::-1]).all()
    assert np.bincount(folds, minlength=5).min() > 300


def test_class_weights_are_tempered_inverse_frequency():
    weights = training.class_weights(np.array([0] * 400 + [2] * 100), 3)
    # (400 / n) ** 0.5: 1 for the largest class, 2 for a quarter of it, 20 for an absent class (n = 1)
    np.testing.assert_allclose(weights, [1.0, 20.0, 2.0])


def test_training_inputs_equal_inference_inputs(bts_table):
    """The training path (labelled points) and the light-curve-table API build the same model inputs, and read
    the same host redshifts (the table's ``redshift`` column)."""
    from fink_t2.ztf import classify_lightcurves
    from fink_t2.models import load_model

    model = load_model()  # the default, trained model
    data = read_ztf_table(shared_path("bts_dev/bts_dev_lightcurves.parquet"))
    first = LabelledPoints(data.points, data.labels.iloc[:50], data.bands, redshift=data.redshift)
    selected, gp_flux, span_days, _ = training.preprocess(first, model.wavelengths_a, training.gp_preparation("ztf"))
    via_training = model.predict_proba(gp_flux, span_days, redshift=first.host_redshift()[selected])
    table = bts_table[bts_table.objectId.isin(first.labels.index)]
    via_api = classify_lightcurves(table, model).set_index("objectId").loc[first.labels.index[selected], model.classes]
    np.testing.assert_allclose(via_api.to_numpy(), via_training, atol=1e-5)


def test_min_bands_one_keeps_single_band_light_curves():
    """With min_bands=1 the objects with points in one band only become training samples too; which objects
    pass is counted here from the points table itself."""
    data = read_ztf_table(shared_path("bts_dev/bts_dev_lightcurves.parquet"))
    first = data.labels.index[:60]
    # the first 20 objects keep their r points only: single-band light curves
    points = data.points[data.points.object_id.isin(first)]
    points = points[~(points.object_id.isin(first[:20]) & (points.band == 0))]
    subset = LabelledPoints(points, data.labels.loc[first], data.bands)
    per_object = points.groupby("object_id").agg(n=("band", "size"), bands=("band", "nunique")).reindex(first)
    expected = {k: np.flatnonzero(((per_object.n >= 2) & (per_object.bands >= k)).to_numpy()) for k in (1, 2)}
    preparation = training.gp_preparation("ztf")
    for min_bands in (1, 2):
        selected, gp_flux, _, _ = training.preprocess(subset, ztf.WAVELENGTHS_A, preparation, min_bands)
        np.testing.assert_array_equal(selected, expected[min_bands])
        assert np.isfinite(gp_flux).all()
    assert len(expected[1]) - len(expected[2]) >= 15


def test_fetch_checks_the_wheel_and_says_what_to_do_offline(tmp_path, monkeypatch):
    from fink_t2.datasets import fetch_plasticc

    fake = tmp_path / "snmachine-2.0.0.post3-py3-none-any.whl"
    fake.write_bytes(b"not the wheel")
    with pytest.raises(DataError, match="sha256"):
        fetch_plasticc(tmp_path / "a", wheel=fake)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip behaves as offline: no index to download from
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="could not download.*--wheel"):
        fetch_plasticc(tmp_path / "b")
    assert not (tmp_path / "b").exists()


@requires_train_extra
def test_train_writes_a_verified_card_and_cross_validated_folds(tmp_path, monkeypatch):
    """A one-epoch run of the real recipe, with the real non-supernovae of tns_alerts for the general network
    only and a redshifted copy of each bts object: weights, ONNX graphs and card load back, each fold model
    scores its own fold, and ONNX Runtime gives Keras's probabilities."""
    from fink_t2.evaluate import evaluate
    from fink_t2.models import load_model, read_card

    _plasticc()
    bts, tns = shared_path("bts_dev/bts_dev_lightcurves.parquet"), shared_path("tns_alerts/tns_lightcurves.parquet")
    card = training.train(tmp_path / "tiny", seed=3, ztf_tables=[bts], n_folds=2, epochs=1, expert_epochs=1,
                          ztf_draws=1, non_supernova_tables=[tns], expert_non_supernovae=False, redshift_draws=1)
    monkeypatch.setenv("FINK_T2_MODEL_DIR", str(tmp_path))
    assert read_card("tiny") == json.loads(json.dumps(card)) and card["format"] == "keras3_weights"
    general = {"model.weights.h5", "fold0.weights.h5", "fold1.weights.h5"}
    graphs = {"model.onnx", "fold0.onnx", "fold1.onnx"}
    assert set(card["source"]["sha256"]) == general | {"expert_" + f for f in general} | graphs
    assert card["onnx"]["files"] == {f: f.replace(".weights.h5", ".onnx") for f in general}
    assert card["onnx"]["opset"] <= 19  # loadable by ONNX Runtime 1.16
    bts_classes = set(read_ztf_table(bts, TNS_TYPES).labels)  # no class of the non-supernovae
    assert set(card["expert"]["classes"]) <= bts_classes and "SNIa" in card["expert"]["classes"]
    tns_types = pd.read_parquet(tns).groupby("objectId").type.first().str.replace("(TNS) ", "", regex=False)
    in_bts = tns_types.index.isin(read_ztf_table(bts, TNS_TYPES).labels.index)
    added = tns_types.isin(["CV", "Varstar", "AGN", "M dwarf"]) & ~in_bts
    non_supernovae = card["training_data"]["ztf"]["non_supernovae"]
    assert non_supernovae["objects_of_these_classes"] == added.sum() and not non_supernovae["in_expert"]
    assert card["training_data"]["ztf"]["objects"] == len(read_ztf_table(bts, TNS_TYPES).labels) + added.sum()
    redshift = pd.read_parquet(bts).groupby("objectId").redshift.first()  # one copy of each with a redshift
    in_table = redshift.index.isin(read_ztf_table(bts, TNS_TYPES).labels.index)
    assert card["training_data"]["ztf"]["redshifted"]["objects"] == (in_table & (redshift > 0)).sum()
    assert list(card["expert"]["classes"]) == [c for c in training.CLASSES if c in card["expert"]["classes"]]
    assert card["input_scaling"]["method"] == "peak_normalized_robust" and len(card["input_scaling"]["scale"]) == 2
    assert card["event_window_days"] == list(training.EVENT_WINDOW_DAYS)
    # each weight file keeps the class weights of its own fit: (n_max / n_class) ** 0.5 over its samples
    assert set(card["class_weights"]) == set(card["source"]["sha256"]) - graphs
    counts = np.array([card["expert"]["samples_per_class"][c] for c in card["expert"]["classes"]])
    np.testing.assert_allclose(card["class_weights"]["expert_model.weights.h5"], (counts.max() / counts) ** 0.5, rtol=1e-5)
    model = load_model("tiny")
    assert model.engine == "onnx"
    gp_flux = np.random.default_rng(0).normal(100, 30, (4, 100, 2))
    probabilities = model.predict_proba(gp_flux, np.full(4, 20.0))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    keras_probabilities = load_model("tiny", engine="keras").predict_proba(gp_flux, np.full(4, 20.0))
    np.testing.assert_allclose(probabilities, keras_probabilities, atol=1e-5)
    result = evaluate("tiny", "bts", path=bts)
    assert result["cross_validated"] and result["coverage"] > 0.95


@requires_train_extra
@pytest.mark.parametrize("in_general", [False, True])
def test_lsst_training_with_an_elasticc_expert(tmp_path, monkeypatch, in_general):
    """A one-epoch LSST run: six bands, the expert trained on labelled ELAsTiCC alerts with folds by SNID, the
    general network serving every fold (PLAsTiCC detections only) or fine-tuned per fold (the alerts in it too,
    with forced photometry, on a grid of 50 times), and cross-validated scores on ELAsTiCC."""
    from fink_t2.evaluate import evaluate
    from fink_t2.models import read_card

    _plasticc()
    elasticc = shared_path("rubin_alerts/elasticc")
    card = training.train(tmp_path / "tiny-lsst", survey="lsst", real_alerts=elasticc, n_folds=2, epochs=1,
                          expert_epochs=1, alerts_in_general=in_general, fine_tune_epochs=1, forced=in_general,
                          alert_draws=int(in_general), gp_fit_max_points=24 if in_general else None,
                          n_times=50 if in_general else 100)
    monkeypatch.setenv("FINK_T2_MODEL_DIR", str(tmp_path))
    assert read_card("tiny-lsst")["bands"] == list(rubin.BANDS) and len(card["input_scaling"]["scale"]) == 6
    assert card["wavelengths_a"] == list(rubin.WAVELENGTHS_A) and card["training_data"]["history_days"] == 365.0
    assert (card["bin_days"], card["gp_max_points"]) == (1.0, 48)  # nightly bins, as inference reads the card
    preparation = GPPreparation.of_card(read_card("tiny-lsst"))
    assert preparation.fit_max_points == (24 if in_general else None)
    assert card["n_times"] == preparation.n_times == (50 if in_general else 100)  # the networks' input length
    assert card["forced_photometry"] == in_general
    assert card["expert"]["classes"] == ["SNII", "SNIa"] and card["cv"]["assignment"].endswith("str(SNID)) % folds")
    sha, weights = card["source"]["sha256"], card["class_weights"]
    n_real = sum(n for c, n in card["expert"]["samples_per_class"].items())
    assert (n_real > 5282) == in_general  # the earlier alerts drawn from the alerts train the expert too
    if in_general:  # fold k's general network is fine-tuned without the alerts of fold k: fewer SN Ia, other weights
        assert len({sha["fold0.weights.h5"], sha["fold1.weights.h5"], sha["model.weights.h5"]}) == 3
        assert weights["fold0.weights.h5"] != weights["model.weights.h5"]
        assert not (tmp_path / "tiny-lsst" / training.PLASTICC_ONLY).exists()  # the starting point is not shipped
    else:
        assert sha["fold0.weights.h5"] == sha["fold1.weights.h5"] == sha["model.weights.h5"]
    assert sha["expert_fold0.weights.h5"] != sha["expert_model.weights.h5"]
    result = evaluate("tiny-lsst", "elasticc")
    assert result["cross_validated"] and result["objects"] == 5282 and set(result["per_class"]) == {"SNIa", "SNII"}
    assert result["data"] == ("elasticc+forced" if in_general else "elasticc")  # read as the model was trained


def _weight_arrays(path) -> dict:
    """Every array of a Keras weight file, by its path in the file."""
    import h5py

    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: arrays.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
    return arrays


@requires_train_extra
def test_an_ensemble_trained_in_one_run_has_the_networks_its_members_get_alone(tmp_path, monkeypatch):
    """``train_ensemble`` fits every member in one pool and combines them. Trained without folds, each
    member's shipped networks are those of the same seed trained alone with cross-validation folds: neither
    the folds nor sharing the pool change a weight, so the figures of a cross-validated run hold for them."""
    from fink_t2.models import load_model

    _plasticc()
    recipe = dict(survey="lsst", real_alerts=shared_path("rubin_alerts/elasticc"), epochs=1, expert_epochs=1,
                  alerts_in_general=True, fine_tune_epochs=1, forced=True, alert_draws=1, gp_fit_max_points=24,
                  n_times=50)
    with pytest.raises(ValueError, match="a seed of its own"):
        training.train_ensemble(tmp_path / "same", [4, 4], **recipe)
    with pytest.raises(ValueError, match="0 .no cross-validation. or at least 2"):
        training.train(tmp_path / "one-fold", n_folds=1, **recipe)
    training.train(tmp_path / "alone", seed=1, n_folds=2, **recipe)
    card = training.train_ensemble(tmp_path / "pair", [0, 1], n_folds=0, **recipe)
    assert "cv" not in card and [member["seed"] for member in card["ensemble"]["members"]] == [0, 1]
    shipped = ("model.weights.h5", "expert_model.weights.h5")
    assert {f for f in card["source"]["sha256"] if f.endswith(".h5")} == {f"seed{s}/{f}" for s in (0, 1) for f in shipped}
    assert not list(tmp_path.glob("pair.members-*"))  # the members' own folders are gone
    for filename in shipped:
        alone, member = _weight_arrays(tmp_path / "alone" / filename), _weight_arrays(tmp_path / "pair/seed1" / filename)
        other_seed = _weight_arrays(tmp_path / "pair/seed0" / filename)
        assert alone.keys() == member.keys() and len(alone) > 5
        assert all(np.array_equal(alone[name], member[name]) for name in alone)
        assert not all(np.array_equal(other_seed[name], member[name]) for name in member)
    monkeypatch.setenv("FINK_T2_MODEL_DIR", str(tmp_path))
    gp_flux = np.random.default_rng(0).normal(100, 30, (3, 50, 6))
    probabilities = load_model("pair").predict_proba(gp_flux, np.full(3, 40.0))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
