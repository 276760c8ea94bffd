"""The command line, run in-process on the shared session."""
import os
import subprocess
import sys

import pandas as pd
import pytest

from conftest import shared_path
from fink_t2.bench import SINGLE_THREAD_ENV
from fink_t2.cli import SAMPLE_ALERTS, main
from fink_t2.models import DEFAULT_MODEL


def test_classify_shared_parquet(spark, tmp_path, capsys):
    out = tmp_path / "out.parquet"
    assert main(["classify", str(shared_path("ztf_alerts/parquet")), str(out), "--master", "local[2]"]) == 0
    result = pd.read_parquet(out)
    assert len(result) == 124
    assert list(result.columns) == ["candid", "objectId", "t2", "t2_class", "t2_uncertainty", "t2_status"]
    summary = capsys.readouterr().out
    assert f"124 alerts in, {(result.t2_status == 'ok').sum()} classified" in summary
    assert not any(p.name.endswith(".incomplete") for p in tmp_path.iterdir())


def test_archival_t2_columns_are_replaced_or_kept(spark, tmp_path, caplog):
    """Fink's science parquet of 2023-2025 carries the previous module's t2 (a struct of 14 zeros)."""
    from pyspark.sql import functions as F

    classes = ["AGN", "EB", "KN", "M-dwarf", "Mira", "RRL", "SLSN-I", "SNII", "SNIa", "SNIa-91bg", "SNIax", "SNIbc",
               "TDE", "mu-Lens-Single"]
    archival = tmp_path / "archival.parquet"
    (spark.read.parquet(str(shared_path("ztf_alerts/parquet")))
     .withColumn("t2", F.struct(*[F.lit(0.0).cast("float").alias(c) for c in classes]))
     .withColumn("t2_class", F.lit("old")).write.parquet(str(archival)))

    out = tmp_path / "out.parquet"
    with caplog.at_level("WARNING", logger="fink_t2"):
        assert main(["classify", str(archival), str(out)]) == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "input column" in r.getMessage()]
    assert len(warnings) == 1 and "t2, t2_class replaced" in warnings[0], warnings
    result = pd.read_parquet(out)
    assert list(result.columns) == ["candid", "objectId", "t2", "t2_class", "t2_uncertainty", "t2_status"] and len(result) == 124
    ok = result[result.t2_status == "ok"]
    assert len(ok) > 0 and all(abs(sum(p for _, p in m) - 1) < 1e-4 for m in ok.t2) and "old" not in set(result.t2_class)

    kept = tmp_path / "kept.parquet"
    assert main(["classify", str(archival), str(kept), "--keep-existing"]) == 0
    result = pd.read_parquet(kept)
    assert list(result.columns) == ["candid", "objectId", "t2_input", "t2_class_input", "t2", "t2_class", "t2_uncertainty",
                                     "t2_status"]
    assert set(result.t2_class_input) == {"old"} and result.t2_input.iloc[0]["SNIa"] == 0.0


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


def _alerts_table(**candidate_overrides):
    import pyarrow as pa

    point = {"jd": 2459000.0, "fid": 1, "magpsf": 18.0, "sigmapsf": 0.1, "isdiffpos": "t"}
    candidate = dict(point, **candidate_overrides)
    return pa.Table.from_pylist([{"candid": i, "objectId": "ZTF1", "candidate": candidate, "prv_candidates": [point]}
                                 for i in range(3)])


def _broken_inputs(tmp_path):
    import pyarrow.parquet as pq

    text = tmp_path / "notes.parquet"
    text.write_text("not an alert file")
    truncated = tmp_path / "truncated.parquet"
    pq.write_table(_alerts_table(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:-20])
    empty = tmp_path / "empty.parquet"
    pq.write_table(_alerts_table().slice(0, 0), empty)
    no_history = tmp_path / "no_history.parquet"
    pq.write_table(_alerts_table().drop(["prv_candidates"]), no_history)
    wrong_type = tmp_path / "wrong_type.parquet"
    pq.write_table(_alerts_table(magpsf="18.0"), wrong_type)
    empty_folder = tmp_path / "empty_folder"
    empty_folder.mkdir()
    return {text: "neither parquet nor Avro", truncated: "unreadable parquet", empty: "no alerts",
            no_history: "missing column 'prv_candidates'", wrong_type: "'candidate.magpsf' has type string",
            empty_folder: "holds no data files", tmp_path / "absent": "no such file"}


def test_broken_inputs_fail_fast_with_one_line(tmp_path, capsys):
    """Checked before Spark starts: exit 1, one line naming the file and the problem, no stack trace."""
    for path, problem in _broken_inputs(tmp_path).items():
        out = tmp_path / "out.parquet"
        assert main(["classify", str(path), str(out)]) == 1, path
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(path) in err and problem in err, err
        assert "Traceback" not in err and not out.exists()


def test_debug_shows_the_stack_trace(tmp_path):
    from fink_t2.alerts_io import InputError

    with pytest.raises(InputError):
        main(["--debug", "classify", str(tmp_path / "absent"), str(tmp_path / "out")])


def test_ensemble_uncertainty_needs_fold_models(tmp_path, capsys):
    assert main(["classify", str(SAMPLE_ALERTS), str(tmp_path / "o"), "--model", "fink-gr-noz",
                 "--uncertainty", "ensemble"]) == 1
    err = capsys.readouterr().err
    assert "needs cross-validation fold models" in err or "fink-t2[train]" in err, err  # no fink-science: says so


def test_missing_java_and_unknown_model_say_what_to_do(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit) as exit_info:
        main(["classify", str(SAMPLE_ALERTS), str(tmp_path / "o1"), "--model", "no-such-model"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "invalid choice: 'no-such-model'" in err and DEFAULT_MODEL in err
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert main(["classify", str(SAMPLE_ALERTS), str(tmp_path / "o2")]) == 1
    assert "Java is not installed" in capsys.readouterr().err


def test_failure_inside_the_spark_job_leaves_no_output(spark, tmp_path, capsys):
    """Footer intact (passes the pre-checks) but data pages corrupted: Spark fails mid-job."""
    import pyarrow.parquet as pq

    path = tmp_path / "corrupt.parquet"
    table = pq.read_table(shared_path("ztf_alerts/parquet"))
    pq.write_table(table, path, compression="snappy")
    data = bytearray(path.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    for i in range(4, len(data) - footer, 97):  # scramble the pages, keep the footer
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    out = tmp_path / "out.parquet"
    assert main(["classify", str(path), str(out), "--master", "local[2]"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fink-t2: error:") and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.parquet"]  # no OUTPUT, no staging folder


def test_bench_pins_blas_to_one_thread_after_numpy_started():
    # NumPy starts its BLAS pool (one thread per core) on import, before the CLI can set
    # the environment; the benchmarks must still run on one core. A fresh process, so the
    # limit does not leak into this test session.
    code = ("import numpy, threadpoolctl\n"
            "from fink_t2.bench import pin_single_thread\n"
            "before = max(p['num_threads'] for p in threadpoolctl.threadpool_info())\n"
            "pin_single_thread()\n"
            "print(before, max(p['num_threads'] for p in threadpoolctl.threadpool_info()))\n")
    env = {k: v for k, v in os.environ.items() if k not in SINGLE_THREAD_ENV}
    before, after = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                   check=True).stdout.split()
    assert int(after) == 1
    assert int(before) > 1 or os.cpu_count() == 1  # else the check above proves nothing


def test_bench_records_the_machine():
    import numpy
    import pyarrow

    from fink_t2.bench import machine

    info = machine()
    assert info["logical_cores"] == os.cpu_count() and info["cpu"]
    # versions from the installed distributions, checked against the modules' own
    assert info["numpy"] == numpy.__version__ and info["pyarrow"] == pyarrow.__version__


def test_bench_one_cpu_holds_the_processes_it_starts():
    # `bench --one-cpu` counts Spark's JVM with its Python worker: both are started after the hold, so a
    # process started after it must find itself on the same single CPU. A fresh process, so the hold does
    # not leak into this test session.
    code = ("import os, subprocess, sys\n"
            "from fink_t2.bench import hold_to_one_cpu\n"
            "cpu = hold_to_one_cpu()\n"
            "child = subprocess.run([sys.executable, '-c', 'import os; print(*os.sched_getaffinity(0))'],\n"
            "                       capture_output=True, text=True, check=True).stdout\n"
            "print(cpu, child)\n")
    cpu, *child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout.split()
    assert child == [cpu]
    assert int(cpu) in os.sched_getaffinity(0)
