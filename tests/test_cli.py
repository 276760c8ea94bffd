"""The command line, run in-process on the shared session."""
import pandas as pd

from conftest import shared_path
from fink_t2.cli import SAMPLE_ALERTS, main


def test_classify_shared_parquet(spark, tmp_path, capsys):
    out = tmp_path / "out.parquet"
    assert main(["classify", str(shared_path("ztf_alerts/parquet")), str(out), "--master", "local[2]"]) == 0
    result = pd.read_parquet(out)
    assert len(result) == 124
    assert list(result.columns) == ["candid", "objectId", "t2", "t2_class", "t2_status"]
    summary = capsys.readouterr().out
    assert f"124 alerts in, {(result.t2_status == 'ok').sum()} classified" in summary
    assert not any(p.name.endswith(".incomplete") for p in tmp_path.iterdir())


def test_existing_output_needs_overwrite(spark, tmp_path, capsys):
    out = tmp_path / "out.parquet"
    out.mkdir()
    assert main(["classify", str(SAMPLE_ALERTS), str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["classify", str(SAMPLE_ALERTS), str(out), "--overwrite"]) == 0
    assert len(pd.read_parquet(out)) == 41


def test_bundled_sample_default_input(spark, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["classify"]) == 0
    result = pd.read_parquet(tmp_path / "t2_classified.parquet")
    assert len(result) == 41 and (result.t2_status == "ok").sum() > 30
