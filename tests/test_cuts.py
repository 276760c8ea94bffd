"""Selection cuts: each cut rejects what it should, a missing input skips it."""
import numpy as np

from fink_t2.cuts import SelectionCuts, apply_cuts
from fink_t2.ztf import default_cuts, lightcurves_from_alerts

JD0 = 2460000.0


def _alerts():
    """Five alerts: good, one point, g only, good, good."""
    two_bands = (np.array([JD0, JD0 + 1]), np.array([1, 2]))
    rows = [two_bands, (np.array([JD0]), np.array([1])), (np.array([JD0, JD0 + 1]), np.array([1, 1])),
            two_bands, two_bands]
    jd, fid = zip(*rows)
    mag = [np.full(len(j), 18.0) for j in jd]
    return lightcurves_from_alerts(jd, fid, mag, [np.full(len(j), 0.1) for j in jd])


def test_each_cut_names_its_reason():
    lc = _alerts()
    status = apply_cuts(lc, default_cuts(), first_jd=np.array([JD0, JD0, JD0, JD0 - 200, JD0]),
                        solar_system=np.array([False, False, False, False, True]),
                        host_class=np.array(["Unknown"] * 5, dtype=object))
    assert status.tolist() == ["ok", "cut:min_points", "cut:min_bands", "cut:too_old", "cut:solar_system"]


def test_host_cut_rejects_galactic_stars():
    lc = _alerts()
    status = apply_cuts(lc, default_cuts(), host_class=np.array(["Galaxy", "x", "x", "RRLyr", "Unknown"], dtype=object))
    assert status[0] == "ok" and status[3] == "cut:host" and status[4] == "ok"


def test_missing_context_skips_those_cuts_and_no_cuts_keeps_everything_with_points():
    lc = _alerts()
    assert apply_cuts(lc, default_cuts()).tolist() == ["ok", "cut:min_points", "cut:min_bands", "ok", "ok"]
    assert (apply_cuts(lc, SelectionCuts.none(), solar_system=np.full(5, True)) == "ok").all()


def test_min_span_asks_for_two_nights():
    """Two detections 0.1 day apart (one night, g then r) are cut; 1 day apart they pass."""
    lc = lightcurves_from_alerts([np.array([JD0, JD0 + 0.1]), np.array([JD0, JD0 + 1.0])], [np.array([1, 2])] * 2,
                                 [np.full(2, 18.0)] * 2, [np.full(2, 0.1)] * 2)
    assert apply_cuts(lc, SelectionCuts(min_span_days=0.5)).tolist() == ["cut:min_span", "ok"]


def test_the_default_band_cut_follows_what_the_model_learned():
    """A model whose card says it learned single-band light curves classifies a g-only alert; one trained on
    both bands (every shipped ZTF model so far) cuts it."""
    import dataclasses

    from fink_t2.models import default_min_bands, load_model
    from fink_t2.ztf import classify_alerts

    model = load_model("t2-ztf-gr-v3")
    card = {**model.card, "training_data": {**model.card["training_data"], "min_bands": 1}}
    single_band_model = dataclasses.replace(model, card=card)
    assert (default_min_bands(model.card), default_min_bands(card), default_min_bands({})) == (2, 1, 2)
    assert default_min_bands({**model.card, "min_bands": 1}) == 1  # a card's own choice (a committee's)
    jd = [np.array([JD0, JD0 + 1, JD0 + 3]), np.array([JD0, JD0 + 1, JD0 + 3])]
    fid = [np.array([1, 1, 1]), np.array([1, 2, 1])]
    mag = [np.array([19.0, 18.5, 18.2])] * 2
    args = (jd, fid, mag, [np.full(3, 0.1)] * 2)
    _, _, status = classify_alerts(*args, model=model)
    assert status.tolist() == ["cut:min_bands", "ok"]
    probabilities, _, status = classify_alerts(*args, model=single_band_model)
    assert status.tolist() == ["ok", "ok"] and np.isfinite(probabilities).all()
