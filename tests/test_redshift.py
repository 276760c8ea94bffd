"""Host redshift as evidence (fink_t2.redshift): against SciPy's kernel estimate and Bayes' rule by hand, then
on the real bts_dev redshifts and the default model."""
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import gaussian_kde

from conftest import shared_path
from fink_t2.redshift import LOG10_Z_RANGE, MIN_OBJECTS, OUTLIER_FRACTION, RedshiftPrior, card_entry

CLASSES = ("SNIa", "SNII", "TDE")


def toy_prior():
    """SN Ia around z 0.07, SN II around z 0.03 (8 objects each), one TDE (too few for a density of its own)."""
    log10_z = np.concatenate([np.log10(np.linspace(0.05, 0.10, 8)), np.log10(np.linspace(0.015, 0.05, 8)), [-1.0]])
    return RedshiftPrior(CLASSES, log10_z, np.array([0] * 8 + [1] * 8 + [2]))


def test_densities_are_scipys_kernel_estimates_with_a_flat_part():
    prior = toy_prior()
    redshift = np.array([0.02, 0.04, 0.07, 0.2])
    x = np.log10(redshift)
    flat = OUTLIER_FRACTION / (LOG10_Z_RANGE[1] - LOG10_Z_RANGE[0])
    expected = np.column_stack([
        (1 - OUTLIER_FRACTION) * gaussian_kde(prior.log10_z[:8])(x) + flat,        # Scott's rule is SciPy's default
        (1 - OUTLIER_FRACTION) * gaussian_kde(prior.log10_z[8:16])(x) + flat,
        (1 - OUTLIER_FRACTION) * gaussian_kde(prior.log10_z)(x) + flat,            # the TDE: every object's density
    ])
    np.testing.assert_allclose(prior.densities(redshift), expected, rtol=1e-10)
    assert MIN_OBJECTS > 1


def test_the_update_is_bayes_rule_and_leaves_rows_without_a_redshift_alone():
    prior = toy_prior()
    p = np.array([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.6, 0.3, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6],
                  [0.2, 0.2, 0.6], [0.2, 0.7, 0.1], [0.2, 0.7, 0.1]], np.float32)
    redshift = np.array([0.02, 0.08, np.nan, 0.0, -0.1, np.inf, 1e-30, 1e30])
    updated = prior.apply(p, redshift)
    by_hand = p[:2] * prior.densities(redshift[:2])
    np.testing.assert_allclose(updated[:2], by_hand / by_hand.sum(axis=1, keepdims=True), rtol=1e-6)
    assert updated[0].argmax() == 1 and updated[1].argmax() == 0     # a near host favours SN II, a far one SN Ia
    np.testing.assert_array_equal(updated[2:], p[2:])      # unknown, zero, negative, beyond the densities: unchanged


def test_a_redshift_known_to_no_better_than_its_own_size_tells_nothing():
    prior = toy_prior()
    p = np.array([[0.5, 0.3, 0.2]], np.float32)
    sure = prior.apply(p, np.array([0.02]))
    vague = prior.apply(p, np.array([0.02]), np.array([10.0]))          # sigma_z of 10: every kernel flattens
    assert sure[0, 1] > 0.5
    np.testing.assert_allclose(vague, p, atol=1e-3)


def test_a_fold_model_uses_the_redshifts_of_the_other_folds_only():
    labels = np.array(["SNIa", "SNII", "SNIa", "KN-like", "SNII", "SNIa"])   # a type the model lacks is left out
    redshift = np.array([0.05, 0.02, np.nan, 0.1, 0.03, 0.07])
    folds = np.array([0, 1, 0, 1, 0, 1])
    card = {"classes": list(CLASSES), "cv": {"weights": ["fold0.weights.h5", "fold1.weights.h5"]},
            "host_redshift": card_entry(labels, redshift, folds, CLASSES, "a toy table")}
    assert card["host_redshift"]["objects_per_class"] == {"SNII": 2, "SNIa": 2}
    everyone = RedshiftPrior.of_card(card)
    fold0 = RedshiftPrior.of_card(card, "fold0.weights.h5")
    np.testing.assert_allclose(10 ** everyone.log10_z, [0.05, 0.02, 0.03, 0.07], rtol=1e-4)
    np.testing.assert_allclose(10 ** fold0.log10_z, [0.02, 0.07], rtol=1e-4)       # fold 1's objects only
    np.testing.assert_array_equal(fold0.class_index, [1, 0])
    assert RedshiftPrior.of_card({"classes": list(CLASSES)}) is None


def test_on_bts_the_redshift_alone_tells_sn_ii_from_sn_ia():
    """BTS keeps what peaks brighter than ~18.5 mag, and SN II are ~1.5 mag fainter than SN Ia: they are nearer.
    Each object is scored by the densities of the other folds' objects."""
    from fink_t2.datasets import read_ztf_table
    from fink_t2.evaluate import auroc
    from fink_t2.training import fold_of

    data = read_ztf_table(shared_path("bts_dev/bts_dev_lightcurves.parquet"))
    labels, redshift = data.labels.to_numpy(), data.host_redshift()
    folds = fold_of(data.labels.index, 5)
    card = {"classes": list(CLASSES), "cv": {"weights": [f"fold{k}" for k in range(5)]},
            "host_redshift": card_entry(labels, redshift, folds, CLASSES, "bts_dev")}
    p_snii = np.full(len(labels), np.nan)
    for k in range(5):
        rows = folds == k
        posterior = RedshiftPrior.of_card(card, f"fold{k}").apply(np.full((rows.sum(), 3), 1 / 3), redshift[rows])
        p_snii[rows] = posterior[:, 1] / (posterior[:, 0] + posterior[:, 1])
    pair = np.isin(labels, ["SNIa", "SNII"]) & np.isfinite(redshift)
    assert pair.sum() > 700
    assert auroc(p_snii[pair], labels[pair] == "SNII") > 0.8


def test_the_default_model_updates_a_table_with_redshifts_by_its_card(bts_table):
    """classify_lightcurves with a redshift column gives Bayes' rule on its probabilities without one, times the
    densities of the card's objects (SciPy's estimate from the card's values)."""
    from fink_t2 import classify_lightcurves
    from fink_t2.models import card_path, read_card

    card = read_card("t2-ztf-gr-v3")
    if "host_redshift" not in card:
        pytest.fail(f"{card_path('t2-ztf-gr-v3')} has no host_redshift")
    ids = bts_table["objectId"].drop_duplicates().to_numpy()[:12]
    table = bts_table[bts_table["objectId"].isin(ids)]
    without = classify_lightcurves(table.drop(columns="redshift"), "t2-ztf-gr-v3")
    with_z = classify_lightcurves(table, "t2-ztf-gr-v3")
    redshift = table.groupby("objectId", sort=False)["redshift"].first().reindex(without["objectId"]).to_numpy()
    entry = card["host_redshift"]
    log10_z, names = np.asarray(entry["log10_z"]), np.asarray(entry["class"])
    flat = OUTLIER_FRACTION / (LOG10_Z_RANGE[1] - LOG10_Z_RANGE[0])
    density = {c: (1 - OUTLIER_FRACTION) * gaussian_kde(log10_z[names == c] if (names == c).sum() >= MIN_OBJECTS
                                                        else log10_z)(np.log10(redshift)) + flat
               for c in card["classes"]}
    p = without[card["classes"]].to_numpy()
    posterior = p * np.column_stack([density[c] for c in card["classes"]])
    ok = (without["t2_status"] == "ok").to_numpy()
    assert ok.sum() >= 8
    np.testing.assert_allclose(with_z[card["classes"]].to_numpy()[ok],
                               (posterior / posterior.sum(axis=1, keepdims=True))[ok], rtol=1e-4, atol=1e-6)
    assert not np.allclose(with_z[card["classes"]].to_numpy()[ok], p[ok], atol=1e-3)


def test_fitting_the_densities_into_a_card_counts_the_table_by_hand(tmp_path):
    from fink_t2.calibrate import fit_host_redshift
    from fink_t2.datasets import BTS_TYPES, tns_type
    from fink_t2.models import card_path

    path = shared_path("bts_dev/bts_dev_lightcurves.parquet")
    card_file = tmp_path / "t2-ztf-gr-v3.json"
    card_file.write_text(card_path("t2-ztf-gr-v3").read_text())
    card = fit_host_redshift("t2-ztf-gr-v3", path, card_file)
    objects = pd.read_parquet(path).groupby("objectId").first()
    classes = tns_type(objects["type"]).map(BTS_TYPES)
    expected = classes[(objects["redshift"] > 0) & classes.isin(card["classes"])].value_counts().to_dict()
    assert card["host_redshift"]["objects_per_class"] == expected
    assert json.loads(card_file.read_text())["host_redshift"]["fold"] == card["host_redshift"]["fold"]


def test_each_fold_model_of_the_default_model_knows_the_redshifts_of_the_other_folds_only(bts_table):
    """Counted from the table: the bts objects with a redshift and a class of the model, fold by fold."""
    from fink_t2.datasets import BTS_TYPES, tns_type
    from fink_t2.models import load_model, read_card
    from fink_t2.training import fold_of

    card = read_card("t2-ztf-gr-v3")
    objects = bts_table.groupby("objectId").first()
    kept = objects[(objects["redshift"] > 0) & tns_type(objects["type"]).map(BTS_TYPES).isin(card["classes"])]
    folds = fold_of(kept.index, card["cv"]["folds"])
    assert len(load_model("t2-ztf-gr-v3").redshift_prior.log10_z) == len(kept)
    for k, weights in enumerate(card["cv"]["weights"]):
        prior = load_model("t2-ztf-gr-v3", weights).redshift_prior
        np.testing.assert_allclose(np.sort(prior.log10_z), np.sort(np.log10(kept["redshift"][folds != k])), atol=1e-5)


def test_a_model_without_densities_says_it_leaves_the_redshift_column_unused(bts_table, caplog):
    from fink_t2 import classify_lightcurves

    table = bts_table[bts_table["objectId"].isin(bts_table["objectId"].drop_duplicates().to_numpy()[:4])]
    with caplog.at_level("WARNING", logger="fink_t2.ztf"):
        with_z = classify_lightcurves(table, "t2-ztf-gr")
    assert "no host-redshift densities" in caplog.text
    without = classify_lightcurves(table.drop(columns="redshift"), "t2-ztf-gr")
    pd.testing.assert_frame_equal(with_z, without)
