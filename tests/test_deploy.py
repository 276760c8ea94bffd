"""Deployment as a Fink operator does it: the wheel installed (not editable) in a fresh virtual environment,
run from outside the repository, and ``spark-submit`` on a real Spark standalone master and worker."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from conftest import shared_path

REPOSITORY = Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "keras", "tf_keras")


def _run(command, timeout, **kwargs):
    run = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert run.returncode == 0, f"{command}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    return run


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    """A fresh virtual environment where the project's wheel is installed with its run-time dependencies,
    at the versions of the test environment (the oldest or the newest stack CI runs)."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Java is missing: Spark cannot start")
    root = tmp_path_factory.mktemp("deploy")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(root / "dist"),
          str(REPOSITORY)], 600, cwd=root)
    [wheel] = (root / "dist").glob("fink_t2-*.whl")
    _run([sys.executable, "-m", "venv", str(root / "venv")], 120)
    python = root / "venv" / "bin" / "python"
    freeze = _run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"], 120).stdout
    (root / "constraints.txt").write_text("\n".join(line for line in freeze.splitlines() if " @ " not in line))
    _run([str(python), "-m", "pip", "install", "-q", "-c", str(root / "constraints.txt"), str(wheel)], 900)
    return root, wheel, python


def test_the_wheel_carries_the_models_and_classifies_from_anywhere(wheel_venv, tmp_path):
    import zipfile

    root, wheel, python = wheel_venv
    names = zipfile.ZipFile(wheel).namelist()
    assert "fink_t2/model_files/t2/t2-ztf-gr-v3.json" in names and "fink_t2/model_files/t2/t2-ztf-gr-v3/model.onnx" in names
    site = _run([str(python), "-c", "import fink_t2, fink_t2.models as m, importlib.util as u; "
                 "print(fink_t2.__file__); print(m.bundled_model_dir()); "
                 f"print([n for n in {HEAVY!r} if u.find_spec(n)])"], 60, cwd=tmp_path).stdout.splitlines()
    venv = str(root / "venv")
    assert site[0].startswith(venv) and site[1].startswith(venv), site   # the installed package, not the checkout
    assert site[2] == "[]"                                                 # no TensorFlow nor Keras installed
    # every bundled model's files are in the wheel, as its card lists them (an ensemble's members' folders too)
    _run([str(python), "-c", "import fink_t2.models as m; [m.check_model(n) for n in m.available_models() "
          "if 'package' not in m.read_card(n)['source']]"], 120, cwd=tmp_path)

    started = time.perf_counter()
    run = _run([str(python.parent / "fink-t2"), "classify"], 600, cwd=tmp_path)  # the bundled sample, default model
    seconds = time.perf_counter() - started
    result = pd.read_parquet(tmp_path / "t2_classified.parquet")
    ok = result[result.t2_status == "ok"]
    assert len(result) == 41 and len(ok) > 30
    assert all(abs(sum(p for _, p in m) - 1.0) < 1e-4 for m in ok.t2)
    # quiet: the summary line, no Spark WARN line, no CUDA line
    assert "41 alerts in" in run.stdout and " WARN " not in run.stderr and "cuInit" not in run.stderr, run.stderr
    size_mb = sum(f.stat().st_size for f in (root / "venv").rglob("*") if f.is_file()) / 2**20
    print(f"\nwheel {wheel.stat().st_size / 2**20:.1f} MB ({len(names)} files); runtime venv {size_mb:.0f} MB; "
          f"first classify {seconds:.1f} s")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, what, logs, timeout=180):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; logs:\n"
                        + "\n".join(f"{p.name}: " + (p.read_text()[-2000:] if p.exists() else "(none)") for p in logs))
        time.sleep(0.5)


def _alive_workers(ui_port) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as response:
            return int(json.load(response).get("aliveworkers", 0))
    except OSError:
        return 0


def test_spark_submit_on_a_standalone_cluster(wheel_venv, tmp_path):
    """A master and one worker on 127.0.0.1; the executors' Python is the wheel's venv, which loads the model."""
    root, _, python = wheel_venv
    bin_dir = python.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYSPARK", "SPARK", "PYTHONPATH"))}
    env.update(SPARK_LOCAL_IP="127.0.0.1", SPARK_LOG_DIR=str(tmp_path / "logs"), SPARK_WORKER_DIR=str(tmp_path / "work"),
               PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")  # spark-class finds Spark with `python3`
    port, ui_port = _free_port(), _free_port()
    logs = [tmp_path / "master.log", tmp_path / "worker.log"]
    daemons = []
    try:
        daemons.append(subprocess.Popen(
            [str(bin_dir / "spark-class"), "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(port), "--webui-port", str(ui_port)],
            stdout=logs[0].open("w"), stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True))
        _wait(lambda: "I have been elected leader" in logs[0].read_text(), "the master", logs)
        daemons.append(subprocess.Popen(
            [str(bin_dir / "spark-class"), "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}",
             "--host", "127.0.0.1", "--cores", "1", "--memory", "2g", "--webui-port", str(_free_port())],
            stdout=logs[1].open("w"), stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True))
        _wait(lambda: _alive_workers(ui_port) == 1, "the worker to register", logs)

        installed_cli = _run([str(python), "-c", "import fink_t2.cli as c; print(c.__file__)"], 60,
                             cwd=tmp_path).stdout.strip()
        alerts = shared_path("ztf_alerts/parquet")
        out = tmp_path / "t2.parquet"
        started = time.perf_counter()
        _run([str(bin_dir / "spark-submit"), "--master", f"spark://127.0.0.1:{port}",
              "--conf", f"spark.pyspark.python={python}", "--conf", f"spark.pyspark.driver.python={python}",
              "--conf", "spark.executor.memory=1g", installed_cli, "classify", str(alerts), str(out), "--no-cuts"],
             600, env=env, cwd=tmp_path)
        seconds = time.perf_counter() - started
    finally:
        for daemon in reversed(daemons):  # stop both daemons, whatever happened
            if daemon.poll() is None:
                os.killpg(daemon.pid, signal.SIGTERM)
                try:
                    daemon.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(daemon.pid, signal.SIGKILL)
    result = pd.read_parquet(out)
    source = pd.read_parquet(alerts, columns=["candid"])
    assert len(result) == len(source) == 124 and set(result.candid) == set(source.candid)  # one row per alert
    ok = result[result.t2_status == "ok"]
    assert len(ok) > 100
    assert all(abs(sum(p for _, p in m) - 1.0) < 1e-4 for m in ok.t2)
    executor_logs = list((tmp_path / "work").rglob("stderr"))
    assert executor_logs, "no executor ran on the worker"
    print(f"\nspark-submit on the standalone cluster: {len(result)} alerts, {len(ok)} classified, {seconds:.1f} s")
