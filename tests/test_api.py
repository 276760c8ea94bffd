"""classify_lightcurves on the real BTS light curves."""
import numpy as np
import pandas as pd

from fink_t2 import classify_lightcurves


def test_one_row_per_object_on_bts(bts_table, model):
    sample = bts_table[bts_table["objectId"].isin(bts_table["objectId"].unique()[:60])]
    out = classify_lightcurves(sample, model=model)
    assert len(out) == 60 and out["objectId"].is_unique
    assert list(out.columns) == ["objectId", *model.classes, "t2_class", "t2_uncertainty", "t2_status"]
    ok = out["t2_status"] == "ok"
    assert ok.mean() > 0.9
    np.testing.assert_allclose(out.loc[ok, model.classes].sum(axis=1), 1.0, atol=1e-4)
    assert out.loc[~ok, model.classes].isna().all().all() and (out.loc[~ok, "t2_class"] == "").all()


def test_i_band_rows_and_unknown_bands_are_ignored(model):
    lcs = pd.DataFrame({"objectId": ["a"] * 4 + ["b"] * 2, "mjd": [1.0, 2.0, 3.0, 4.0, 1.0, 2.0],
                        "band": ["g", "r", "g", "i", "i", "i"], "mag": [18.0, 18.2, 18.1, 17.0, 17.0, 17.1],
                        "magerr": [0.05] * 6})
    out = classify_lightcurves(lcs, model=model)
    assert out["t2_status"].tolist() == ["ok", "cut:no_points"]
