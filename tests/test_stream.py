"""Real-time mode: the streaming stage run as a separate process, killed mid-batch and restarted."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from conftest import shared_path

TIMEOUT_S = 240


def _committed(folder, kind):
    """Batch ids with a file in the checkpoint's ``offsets`` (started) or ``commits`` (finished) log."""
    path = folder / kind
    return {int(p.name) for p in path.iterdir() if p.name.isdigit()} if path.is_dir() else set()


def _wait(condition, what, proc_log):
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; stream log:\n{proc_log.read_text()[-3000:]}")
        time.sleep(0.2)


def test_exactly_once_across_sigkill_and_process_group_sigterm(spark, tmp_path):
    """Killed mid-batch (SIGKILL), then stopped mid-batch by a SIGTERM to its whole process group (what
    systemd, Kubernetes and ``timeout`` send: the JVM gets it too), then restarted: every alert exactly once."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Java is missing: Spark cannot start")
    table = pq.read_table(shared_path("ztf_alerts/parquet"))
    inbox, out, checkpoint, log = (tmp_path / n for n in ("inbox", "out", "checkpoint", "stream.log"))
    inbox.mkdir()
    parts = [table.slice(i * 21, 21) for i in range(6)]  # 124 alerts in 6 files

    def drop(i):  # atomically, alternating flat files and Fink's nested online layout
        folder = inbox if i % 2 == 0 else inbox / "year=2026" / "month=11" / f"day={20 + i}"
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / f".part-{i}.parquet"
        pq.write_table(parts[i], staging)
        staging.rename(folder / f"part-{i}.parquet")

    def launch():
        command = [sys.executable, "-m", "fink_t2.cli", "stream", "--input", str(inbox), "--output", str(out),
                   "--checkpoint", str(checkpoint), "--trigger", "1", "--master", "local[1]"]
        return subprocess.Popen(command, stdout=log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)

    def running_batch(done):
        return lambda: _committed(checkpoint, "offsets") - _committed(checkpoint, "commits") - done

    proc = launch()
    try:
        drop(0)
        drop(1)
        _wait(lambda: len(_committed(checkpoint, "commits")) >= 1, "a first committed batch", log)
        done = _committed(checkpoint, "commits")
        drop(2)
        drop(3)
        # kill while a batch has started (offsets written) but is not committed
        _wait(running_batch(done), "a running batch", log)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)

        proc = launch()
        _wait(lambda: _committed(checkpoint, "offsets") <= _committed(checkpoint, "commits"), "the redone batch", log)
        done = _committed(checkpoint, "commits")
        drop(4)
        _wait(running_batch(done), "a running batch after the restart", log)
        before = len(log.read_text())
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()[-3000:]
        stopped = log.read_text()[before:]
        assert "Traceback" not in stopped and "ConnectionRefused" not in stopped, stopped

        proc = launch()
        drop(5)
        expected = set(table.column("candid").to_pylist())

        def all_there():
            try:
                return set(r.candid for r in spark.read.parquet(str(out)).select("candid").collect()) >= expected
            except Exception:  # the sink folder may not be readable yet
                return False

        _wait(all_there, "every alert in the output", log)
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)

    result = spark.read.parquet(str(out)).toPandas()
    assert len(result) == len(expected) == 124  # exactly once: no duplicate from the redone batch
    assert set(result.candid) == expected
    ok = result[result.t2_status == "ok"]
    assert len(ok) > 0
    assert all(abs(sum(m.values()) - 1) < 1e-3 for m in ok.t2)
    assert "alerts" in log.read_text() and "classified" in log.read_text()
