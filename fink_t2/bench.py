"""Benchmarks as commands: figures side by side in one run, ratios against a baseline.

- ``fink-t2 bench gp``: george per object vs the batched engine on the same real light curves.
- ``fink-t2 bench pipeline``: the full UDF path in local Spark on replicated, jittered real
  alerts (cuts off and on) with each model engine (ONNX Runtime, Keras), the cost of each
  stage, a worker's cold start, and an anchor-style path (george + one model call per object).
- ``fink-t2 bench stream``: delay from an alert file landing in the streaming stage's input
  folder to its rows being committed in the output.

Run single-threaded (the CLI pins BLAS/OpenMP/TF to one thread and Spark to ``local[1]``).
"""
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from . import gp
from .lightcurves import LightCurves
from .ztf import WAVELENGTHS_A as ZTF_WAVELENGTHS_A
from .models import DEFAULT_MODELS, ONNX_THREADS_ENV
from .realdata import HISTORY_FIELDS, alert_histories, alert_lightcurves, bts_windows, shared_data_dir

SINGLE_THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                            "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", ONNX_THREADS_ENV)}


def pin_single_thread() -> None:
    """One compute thread in this process and in the processes it starts.

    NumPy's BLAS pools already exist once the package is imported, so they are limited
    at run time (threadpoolctl); the environment covers TensorFlow, which reads it when
    it starts, and child processes (Spark's Python workers, training workers).
    """
    os.environ.update(SINGLE_THREAD_ENV)
    threadpool_limits(1)


def real_lightcurves(n: int) -> LightCurves:
    """``n`` real light curves with >= 2 points: the shared alerts first, then 30-day BTS windows."""
    data = shared_data_dir()
    alerts = alert_lightcurves(data / "ztf_alerts" / "parquet")
    alerts = alerts.subset(np.flatnonzero(alerts.n_points >= 2))
    if n <= len(alerts):
        return alerts.subset(np.arange(n))
    table = pd.read_parquet(data / "bts_dev" / "bts_dev_lightcurves.parquet")
    windows = bts_windows(table, 2 * n, seed=1)
    windows = windows.subset(np.flatnonzero(windows.n_points >= 2)[: n - len(alerts)])
    return _concat(alerts, windows)


def _concat(a: LightCurves, b: LightCurves) -> LightCurves:
    width = max(a.mask.shape[1], b.mask.shape[1])
    pad = lambda x: np.pad(x, ((0, 0), (0, width - x.shape[1])))  # noqa: E731
    fields = ("time_days", "flux_fluxcal", "fluxerr_fluxcal", "band", "mask")
    return LightCurves(*(np.concatenate([pad(getattr(a, f)), pad(getattr(b, f))]) for f in fields),
                       np.concatenate([a.jd_first, b.jd_first]), np.concatenate([a.jd_last, b.jd_last]), a.n_bands)


def _timed(function, *args):
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def _median_timed(repeats, function, *args):
    """The result of ``function(*args)`` and the median of ``repeats`` timings (seconds): a
    short run is at the mercy of one scheduler hiccup on a shared machine."""
    runs = [_timed(function, *args) for _ in range(repeats)]
    return runs[0][0], float(np.median([seconds for _, seconds in runs]))


def bench_gp(n_objects: int, repeats: int = 3) -> dict:
    lc = real_lightcurves(n_objects)
    for backend in gp.BACKENDS:  # warm-up: imports and first allocations, for both engines
        gp.interpolate(lc.subset(np.arange(min(20, len(lc)))), ZTF_WAVELENGTHS_A, backend)
    (mean_b, fit_b), batched_s = _median_timed(repeats, gp.interpolate, lc, ZTF_WAVELENGTHS_A, "batched")
    (mean_g, fit_g), reference_s = _median_timed(repeats, gp.interpolate, lc, ZTF_WAVELENGTHS_A, "george")
    curve_range = mean_g.max(axis=(1, 2)) - mean_g.min(axis=(1, 2))
    deviation = np.abs(mean_b - mean_g).max(axis=(1, 2)) / np.maximum(curve_range, 1e-300)
    agree = (fit_b.log_likelihood >= fit_g.log_likelihood - 0.01) & (deviation < 0.01)
    print(f"light curves: {len(lc)} (points per object: median {np.median(lc.n_points):.0f}, "
          f"max {lc.n_points.max()}); times are medians of {repeats} runs")
    print(f"george per object: {reference_s:.2f} s ({1e3 * reference_s / len(lc):.2f} ms/object)")
    print(f"batched engine:    {batched_s:.3f} s ({1e3 * batched_s / len(lc):.3f} ms/object)")
    print(f"speedup {reference_s / batched_s:.1f}x; agreement {agree.mean():.4f}; "
          f"batched likelihood higher by > 0.01 for {np.mean(fit_b.log_likelihood > fit_g.log_likelihood + 0.01):.4f}")
    return dict(objects=len(lc), reference_s=reference_s, batched_s=batched_s, speedup=reference_s / batched_s,
                agree_fraction=float(agree.mean()), max_deviation=float(deviation.max()), repeats=repeats)


def bench_gp_scaling(sizes=(5, 20, 100, 500), n_objects=20) -> dict:
    """Seconds per object of both engines on histories of exactly ``size`` points.

    Built from the ``n_objects`` longest full BTS light curves; beyond a curve's
    length, its points are repeated 0.01 day later with the flux jittered by its
    error (BTS curves hold at most ~250 points).
    """
    from .ztf import lightcurves_from_table

    table = pd.read_parquet(shared_data_dir() / "bts_dev" / "bts_dev_lightcurves.parquet")
    full, _ = lightcurves_from_table(table)
    longest = full.subset(np.argsort(full.n_points)[::-1][:n_objects])
    rng = np.random.default_rng(0)
    out = {}
    for size in sizes:
        points = [np.flatnonzero(m) for m in longest.mask]
        take = [np.resize(p, size) for p in points]                       # repeat the curve as needed
        repeat = [np.arange(size) // len(p) for p in points]
        pick = lambda a: np.stack([a[i, t] for i, t in enumerate(take)])  # noqa: E731
        err = pick(longest.fluxerr_fluxcal)
        lc = LightCurves(pick(longest.time_days) + 0.01 * np.stack(repeat),
                         pick(longest.flux_fluxcal) + (np.stack(repeat) > 0) * rng.normal(0, 1, err.shape) * err,
                         err, pick(longest.band), np.ones((len(take), size), bool), longest.jd_first, longest.jd_last,
                         longest.n_bands)
        _, batched_s = _timed(gp.interpolate, lc, ZTF_WAVELENGTHS_A, "batched")
        _, george_s = _timed(gp.interpolate, lc, ZTF_WAVELENGTHS_A, "george")
        out[size] = dict(objects=len(lc), batched_s_per_object=batched_s / len(lc),
                         george_s_per_object=george_s / len(lc))
        print(f"{size:4d} points: batched {1e3 * batched_s / len(lc):8.2f} ms/object, "
              f"george {1e3 * george_s / len(lc):8.2f} ms/object ({len(lc)} objects)")
    return out


def replicated_alerts(n_alerts: int, path: Path, seed: int = 0) -> None:
    """Write ``n_alerts`` alerts made by replicating the shared alerts with their magnitudes
    jittered by their errors, as parquet with Fink's history columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = alert_histories(shared_data_dir() / "ztf_alerts" / "parquet")
    rng = np.random.default_rng(seed)
    pick = np.arange(n_alerts) % len(source["jd"])
    cmag = [source["magpsf"][i] + rng.normal(0, 1, len(source["magpsf"][i])) * np.nan_to_num(source["sigmapsf"][i])
            for i in pick]
    table = pa.table({
        "candid": np.arange(n_alerts, dtype=np.int64),
        "objectId": [f"{source['objectId'][i]}_{k}" for k, i in enumerate(pick)],
        "candidate": pa.array([{"jdstarthist": source["jdstarthist"][i]} for i in pick],
                              pa.struct([("jdstarthist", pa.float64())])),
        "cjd": [source["jd"][i] for i in pick], "cfid": [source["fid"][i] for i in pick], "cmagpsf": cmag,
        "csigmapsf": [source["sigmapsf"][i] for i in pick],
        "cisdiffpos": [source["isdiffpos"][i].astype(str) for i in pick],
        "roid": [source["roid"][i] for i in pick], "cdsxmatch": [source["cdsxmatch"][i] for i in pick],
    })
    pq.write_table(table, path, row_group_size=10_000)


def _python_worker_peak_rss_mb() -> float:
    """Largest peak RSS (VmHWM) among the Python processes Spark started under this one."""
    import psutil

    peaks = [0.0]
    for child in psutil.Process().children(recursive=True):
        try:
            if "python" in child.name():
                status = Path(f"/proc/{child.pid}/status").read_text()
                peaks.append(int(status.split("VmHWM:")[1].split()[0]) / 1024)
        except (psutil.Error, OSError, IndexError):
            continue
    return max(peaks)


#: Passes of the UDF over a warm-up file of ``WARM_UP_ALERTS`` (at most as many as measured) before the
#: measured runs. A job classifying a night of alerts runs with the JVM's hot code compiled; a short benchmark
#: would time the compiling (2026-12-02, Intel Xeon, 5,000 Rubin alerts per pass, classified/s: 487, then
#: 983-1,161 in `local[1]`; held to one CPU 294, 705, 795, then 788-909).
WARM_UP_PASSES = 4
WARM_UP_ALERTS = 5_000


def _run_udf(spark, path, cuts, engine, uncertainty="entropy", model_name=None) -> tuple:
    from .spark import add_t2_columns

    start = time.perf_counter()
    counts = (add_t2_columns(spark.read.parquet(str(path)), model_name, cuts=cuts, engine=engine,
                             uncertainty=uncertainty)
              .groupBy("t2_status").count().collect())
    seconds = time.perf_counter() - start
    total = sum(r["count"] for r in counts)
    classified = sum(r["count"] for r in counts if r["t2_status"] == "ok")
    return total, classified, seconds


def _measured_run(spark, path, cuts, engine, model_name=None) -> dict:
    """One run of the UDF over ``path``: its alerts, classified alerts, seconds and the rates per core."""
    total, classified, seconds = _run_udf(spark, path, cuts, engine, model_name=model_name)
    return dict(alerts=total, classified=classified, seconds=seconds, alerts_per_s_per_core=total / seconds,
                classified_per_s_per_core=classified / seconds)


def _warm_up(spark, path, engine, label: str, passes: int = WARM_UP_PASSES, model_name=None) -> list:
    """Classified alerts/s of each of ``passes`` runs of the UDF over ``path`` (cuts off), printed after
    ``label``: the first starts the Python worker and loads the model (default: the survey's), the next ones
    run while the JVM compiles the code it runs hottest."""
    from .cuts import SelectionCuts

    rates = []
    for _ in range(passes):
        _, classified, seconds = _run_udf(spark, path, SelectionCuts.none(), engine, model_name=model_name)
        rates.append(classified / seconds)
    print(f"{label}, warm-up passes (cuts off): " + ", ".join(f"{r:.0f}" for r in rates) + " classified/s/core")
    return rates


def anchor_rate(n_alerts: int) -> float:
    """Classified alerts/s of the anchor-style path: george per object, one model call per object."""
    from .classify import STATUS_OK
    from .cuts import SelectionCuts, apply_cuts
    from .models import load_model
    from .ztf import lightcurves_from_alerts

    model = load_model()
    source = alert_histories(shared_data_dir() / "ztf_alerts" / "parquet")
    pick = np.arange(n_alerts) % len(source["jd"])
    start = time.perf_counter()
    lc = lightcurves_from_alerts(*([source[f][i] for i in pick] for f in HISTORY_FIELDS))
    selected = np.flatnonzero(apply_cuts(lc, SelectionCuts.none()) == STATUS_OK)
    for i in selected:
        flux, _ = gp.interpolate(lc.subset([i]), model.wavelengths_a, "george")
        model.predict_proba(flux, lc.jd_last[[i]] - lc.jd_first[[i]])
    return len(selected) / (time.perf_counter() - start)


def stage_costs(path: Path, engines, n_alerts: int = 20_000) -> dict:
    """Milliseconds per classified alert of each stage of the classify path, run in this process on the
    first ``n_alerts`` of the bench file (cuts off): reading the Arrow columns into pandas, light curves,
    cuts, GP, the model call of each engine, and the default uncertainty (predictive entropy)."""
    import pyarrow.parquet as pq

    from .classify import STATUS_OK, GPPreparation, gp_inputs
    from .cuts import SelectionCuts, apply_cuts
    from .models import load_model
    from .probabilities import normalized_entropy
    from .ztf import lightcurves_from_alerts

    columns = ["cjd", "cfid", "cmagpsf", "csigmapsf", "cisdiffpos"]
    arrow = pq.read_table(path, columns=columns).slice(0, n_alerts)
    series, seconds = _timed(lambda: [arrow.column(c).to_pandas() for c in columns])
    costs = {"arrow_to_pandas": seconds}
    lightcurves, costs["lightcurves"] = _timed(lightcurves_from_alerts, *series)
    status, costs["cuts"] = _timed(apply_cuts, lightcurves, SelectionCuts.none())
    model = load_model(engine=engines[0])
    (selected, gp_flux, span_days, _, _), costs["gp"] = _timed(
        gp_inputs, lightcurves, status, model.wavelengths_a, GPPreparation.of_card(model.card))
    for engine in engines:
        model = load_model(engine=engine)
        model.predict_proba(gp_flux[:64], span_days[:64])  # warm-up
        probabilities, costs[f"model_{engine}"] = _timed(model.predict_proba, gp_flux, span_days)
    _, costs["uncertainty_entropy"] = _timed(normalized_entropy, probabilities)
    n_ok = max(int(np.sum(status == STATUS_OK)), 1)
    return {stage: 1e3 * seconds / n_ok for stage, seconds in costs.items()}


COLD_START_SCRIPT = """
import resource, sys, time
start = time.perf_counter()
import numpy, pandas, pyarrow
imported = time.perf_counter()
from fink_t2.ztf import classify_alerts
from fink_t2.models import load_model
load_model(engine=sys.argv[1])
print(imported - start, time.perf_counter() - imported, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def cold_start(engine: str) -> dict:
    """What a new Spark Python worker pays before its first batch, in a fresh process: seconds to import
    NumPy, pandas and PyArrow (which an Arrow UDF worker imports whatever the module), then seconds to import
    the classify path and load the default model with ``engine``, and the peak RSS (MB)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", COLD_START_SCRIPT, engine], capture_output=True, text=True,
                         check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout.split()
    return {"arrow_pandas_import_s": float(out[-3]), "module_and_model_s": float(out[-2]),
            "peak_rss_mb": float(out[-1])}


def bench_pipeline(n_alerts: int, anchor_alerts: int = 200, engines=("onnx", "keras")) -> dict:
    """The UDF path in local Spark (one core) with each engine, each in a Spark session of its own (fresh
    Python workers, so that their peak memory is the engine's); then the per-stage costs, the cold start
    of a worker, and the anchor-style path."""
    from .cuts import SelectionCuts
    from .spark import get_spark

    out = {"alerts": n_alerts, "engines": {}}
    with tempfile.TemporaryDirectory() as tmp:
        path, warm_up = Path(tmp) / "alerts.parquet", Path(tmp) / "warm_up.parquet"
        replicated_alerts(n_alerts, path)
        replicated_alerts(min(n_alerts, WARM_UP_ALERTS), warm_up, seed=1)
        ensemble = Path(tmp) / "ensemble.parquet"
        replicated_alerts(min(n_alerts, 10_000), ensemble, seed=2)
        for engine in engines:
            spark = get_spark("local[1]", app_name=f"fink-t2-bench-{engine}")
            spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "10000")
            results = {"warm_up_classified_per_s_per_core": _warm_up(spark, warm_up, engine, engine)}
            for name, cuts in (("cuts_off", SelectionCuts.none()), ("cuts_on", None)):  # None: the model's defaults
                results[name] = _measured_run(spark, path, cuts, engine)
            results["peak_rss_mb"] = _python_worker_peak_rss_mb()
            if engine == engines[0]:  # the epistemic option: the five fold models run too
                _run_udf(spark, warm_up, SelectionCuts.none(), engine, "ensemble")
                _, classified, seconds = _run_udf(spark, ensemble, SelectionCuts.none(), engine, "ensemble")
                results["ensemble_uncertainty"] = dict(classified=classified, seconds=seconds,
                                                       classified_per_s_per_core=classified / seconds)
                print(f"{engine:5s} with the ensemble uncertainty: {classified / seconds:.0f} classified/s/core "
                      f"({classified} alerts)")
            spark.stop()
            results["cold_start"] = cold_start(engine)
            out["engines"][engine] = results
            off = results["cuts_off"]
            print(f"{engine:5s}: cuts off {off['classified']} classified in {off['seconds']:.1f} s: "
                  f"{off['classified_per_s_per_core']:.0f} classified/s/core; cuts on "
                  f"{results['cuts_on']['alerts_per_s_per_core']:.0f} alerts/s/core; Python worker peak RSS "
                  f"{results['peak_rss_mb']:.0f} MB; cold start: fink-t2 and model "
                  f"{results['cold_start']['module_and_model_s']:.2f} s after NumPy/pandas/PyArrow "
                  f"{results['cold_start']['arrow_pandas_import_s']:.2f} s, {results['cold_start']['peak_rss_mb']:.0f} MB")
        out["stages_ms_per_classified_alert"] = stages = stage_costs(path, engines)
    for engine in engines:
        udf_ms = 1e3 / out["engines"][engine]["cuts_off"]["classified_per_s_per_core"]
        in_process = sum(v for k, v in stages.items() if not k.startswith(("model_", "spark_rest_"))) \
            + stages[f"model_{engine}"]
        stages[f"spark_rest_{engine}"] = udf_ms - in_process
    print("ms per classified alert: " + ", ".join(f"{k} {v:.3f}" for k, v in stages.items())
          + " (spark_rest: the UDF's time per alert less the stages measured in-process: Arrow IPC, "
            "output maps, scheduling)")
    first, *others = engines
    for other in others:
        ratio = (out["engines"][first]["cuts_off"]["classified_per_s_per_core"]
                 / out["engines"][other]["cuts_off"]["classified_per_s_per_core"])
        out[f"ratio_{first}_vs_{other}"] = ratio
        print(f"{first} engine / {other} engine: {ratio:.2f}x classified alerts/s/core")
    out["anchor_classified_per_s_per_core"] = anchor = anchor_rate(anchor_alerts)
    out["ratio_vs_anchor"] = out["engines"][first]["cuts_off"]["classified_per_s_per_core"] / anchor
    print(f"anchor (george + one model call per object, {anchor_alerts} alerts): {anchor:.1f} classified/s/core; "
          f"{first} engine {out['ratio_vs_anchor']:.1f}x")
    return out


def replicated_rubin_alerts(n_alerts: int, path: Path, seed: int = 0) -> None:
    """Write ``n_alerts`` Rubin alerts made by replicating the real ones of the shared data (their
    ``diaSource``, ``prvDiaSources`` and ``prvDiaForcedSources``, fluxes jittered by their errors), as parquet
    with the fields the module reads (``rubin.avro_arrow_schema``): what Spark reads of a full alert, which it
    prunes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from . import rubin

    schema = rubin.avro_arrow_schema("rubin")
    real = pq.read_table(shared_data_dir() / "rubin_alerts" / "fink_lsst_2026-03-27",
                         columns=["diaSourceId", "diaSource", "prvDiaSources", "prvDiaForcedSources"]).to_pylist()
    source_fields = [f.name for f in schema.field("diaSource").type]
    forced_fields = [f.name for f in schema.field("prvDiaForcedSources").type.value_type]
    rng = np.random.default_rng(seed)

    def jittered(source, fields=source_fields):
        out = {name: source.get(name) for name in fields}
        if out["psfFlux"] is not None and out["psfFluxErr"] is not None:
            out["psfFlux"] += rng.normal() * out["psfFluxErr"]
        return out

    rows = [{"diaSourceId": k, "alertId": None, "diaSource": jittered(alert["diaSource"]),
             "prvDiaSources": [jittered(s) for s in alert["prvDiaSources"] or []],
             "prvDiaForcedSources": [jittered(s, forced_fields) for s in alert["prvDiaForcedSources"] or []]}
            for k, alert in ((k, real[k % len(real)]) for k in range(n_alerts))]
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=1_000)


def rubin_cost_by_history(model_name: str, lengths=(10, 100, 300, 1000), n_alerts: int = 1000,
                          n_longest: int = 30) -> dict:
    """Milliseconds per alert of ``rubin.classify_alerts`` with model ``model_name`` (light curves, cuts, GP,
    model; in this process, one core) on ``n_alerts`` copies of the ``n_longest`` real Rubin alerts (>= ~900
    detections), their history cut to its last ``length`` detections."""
    import pyarrow.parquet as pq

    from . import rubin
    from .cuts import SelectionCuts
    from .models import load_model

    arrays = rubin.alert_arrays(pq.read_table(shared_data_dir() / "rubin_alerts" / "fink_lsst_2026-03-27",
                                              columns=["diaSource", "prvDiaSources"]))
    longest = np.resize(np.argsort([-len(t) for t in arrays["time_mjd"]])[:n_longest], n_alerts)
    fields, model = rubin.ALERT_ROLES, load_model(model_name)
    rubin.classify_alerts(*([arrays[f][i][-10:] for i in longest] for f in fields), model=model)  # warm-up
    out = {}
    for length in lengths:
        columns = [[arrays[f][i][-length:] for i in longest] for f in fields]
        (_, _, status), seconds = _timed(rubin.classify_alerts, *columns, None, SelectionCuts.none(), model)
        out[length] = {"alerts": len(longest), "ms_per_alert": 1e3 * seconds / len(longest),
                       "median_points": float(np.median([len(c) for c in columns[0]])),
                       "classified": int(np.sum(status == "ok"))}
        print(f"history of {length:4d} detections (median {out[length]['median_points']:.0f} kept): "
              f"{out[length]['ms_per_alert']:.2f} ms per alert ({len(longest)} alerts)")
    return out


def bench_models(n_alerts: int, models, survey: str = "lsst", rounds: int = 2) -> dict:
    """The UDF path in local Spark (one core, ONNX Runtime) with each model of ``models`` on replicated real
    alerts of ``survey`` (Rubin: their history lengths, median ~140, max ~1,200 detections), the first model
    against the others; for Rubin, then each one's cost per alert by history length.

    One Spark session for all, so that every model runs on the same JVM, its hot code compiled by the warm-up
    passes (a second session in the same process would inherit them and favour the models run later); each
    model makes its own warm-up passes, then ``rounds`` rounds run the models in turn (cuts off, then on)."""
    from .cuts import SelectionCuts
    from .spark import get_spark

    replicate = replicated_rubin_alerts if survey == "lsst" else replicated_alerts
    out = {"alerts": n_alerts, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        path, warm_up = Path(tmp) / "alerts.parquet", Path(tmp) / "warm_up.parquet"
        replicate(n_alerts, path)
        replicate(min(n_alerts, WARM_UP_ALERTS), warm_up, seed=1)
        spark = get_spark("local[1]", app_name=f"fink-t2-bench-{survey}-models")
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "2000")
        for model_name in models:
            out["models"][model_name] = {"warm_up_classified_per_s_per_core": _warm_up(
                spark, warm_up, "onnx", model_name, model_name=model_name), "cuts_off": [], "cuts_on": []}
        for _ in range(rounds):
            for model_name in models:
                for name, cuts in (("cuts_off", SelectionCuts.none()), ("cuts_on", None)):  # None: its defaults
                    run = _measured_run(spark, path, cuts, "onnx", model_name)
                    out["models"][model_name][name].append(run)
                    print(f"{model_name}, {name}: {run['alerts']} alerts, {run['classified']} classified in "
                          f"{run['seconds']:.1f} s: {run['classified_per_s_per_core']:.0f} classified/s/core, "
                          f"{run['alerts_per_s_per_core']:.0f} alerts/s/core")
        out["peak_rss_mb"] = _python_worker_peak_rss_mb()
        print(f"Python worker peak RSS {out['peak_rss_mb']:.0f} MB (with every model compared loaded)")
        spark.stop()

    def mean_rate(model_name):
        return np.mean([run["classified_per_s_per_core"] for run in out["models"][model_name]["cuts_off"]])

    first, *others = models
    for other in others:
        out[f"ratio_{first}_vs_{other}"] = ratio = mean_rate(first) / mean_rate(other)
        print(f"{first} / {other}: {ratio:.2f}x classified alerts/s/core (cuts off, mean of {rounds} rounds)")
    for model_name in models if survey == "lsst" else ():
        print(f"{model_name}, in-process cost by history length:")
        out["models"][model_name]["cost_by_history"] = rubin_cost_by_history(model_name)
    return out


def bench_stream(n_files: int = 8, trigger_seconds: float = 1.0, pause_seconds: float = 3.0) -> dict:
    """Landing-to-committed delay of ``n_files`` alert files dropped one by one into a running stream.

    A batch is in the output once the sink's ``_spark_metadata`` log has its entry,
    which is when Spark readers see it. The first file also pays for the Python
    worker's start and the model load; it is reported apart.
    """
    import pyarrow.parquet as pq

    from . import stream
    from .spark import get_spark

    source = shared_data_dir() / "ztf_alerts" / "parquet"
    table = pq.read_table(source)
    spark = get_spark("local[1]", app_name="fink-t2-bench-stream")
    schema = spark.read.parquet(str(source)).schema
    with tempfile.TemporaryDirectory() as tmp:
        inbox, out, checkpoint = (Path(tmp) / name for name in ("inbox", "out", "checkpoint"))
        inbox.mkdir()
        query = stream.start(spark, inbox, out, checkpoint, trigger_seconds, schema)
        committed = lambda: len([p for p in (out / "_spark_metadata").glob("*") if p.name.isdigit()])  # noqa: E731
        delays = []
        try:
            for i in range(n_files):
                before = committed()
                pq.write_table(table, inbox / f".alerts-{i}.parquet")
                landed = time.perf_counter()
                (inbox / f".alerts-{i}.parquet").rename(inbox / f"alerts-{i}.parquet")
                while committed() == before:
                    if time.perf_counter() - landed > 300:
                        raise RuntimeError("bench stream: no batch committed within 300 s")
                    time.sleep(0.01)
                delays.append(time.perf_counter() - landed)
                print(f"file {i}: {table.num_rows} alerts committed {delays[-1]:.2f} s after landing")
                time.sleep(pause_seconds)
        finally:
            query.stop()
    warm = np.array(delays[1:])
    result = {"files": n_files, "alerts_per_file": table.num_rows, "trigger_s": trigger_seconds,
              "first_file_s": delays[0], "median_s": float(np.median(warm)), "max_s": float(warm.max())}
    print(f"delay landing -> committed, files 2..{n_files}: median {result['median_s']:.2f} s, max "
          f"{result['max_s']:.2f} s (trigger {trigger_seconds:g} s; first file {delays[0]:.2f} s, cold worker)")
    return result


def machine() -> dict:
    """What the figures were measured on: CPU model, logical cores, Python and the numeric libraries. Machines
    differ by up to 2x (``bench pipeline --survey lsst``: 736 classified alerts/s/core on an AMD EPYC, 377 on an
    Intel Xeon, with about the same code), so every run prints this first."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or platform.machine()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    versions = {}
    for package in ("numpy", "scipy", "onnxruntime", "pyspark", "pyarrow"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "python": platform.python_version(), **versions}


def hold_to_one_cpu() -> int:
    """Hold this process, and so the processes it starts (Spark's JVM, its Python workers), to one logical
    CPU: a figure per core then counts all of Spark's work for it, not only the Python worker's. Returns
    the CPU."""
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def run(args) -> int:
    if args.one_cpu:
        print(f"held to logical CPU {hold_to_one_cpu()} with the processes it starts")
    info = machine()
    print("machine: " + ", ".join(f"{key} {value}" for key, value in info.items()))
    if args.target == "gp":
        result = bench_gp(args.objects, args.repeats)
        if args.scaling:
            result["scaling"] = bench_gp_scaling()
    elif args.target == "pipeline" and (args.survey == "lsst" or args.models):
        result = bench_models(args.alerts or (10_000 if args.survey == "lsst" else 100_000),
                              tuple(args.models.split(",")) if args.models else (DEFAULT_MODELS["lsst"],), args.survey)
    elif args.target == "pipeline":
        result = bench_pipeline(args.alerts or 100_000, engines=tuple(args.engines.split(",")))
    else:
        result = bench_stream(args.files, args.trigger)
    result["machine"] = info
    if args.json:
        print(json.dumps(result))
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks on real light curves (single core; needs the "
                                                 "evaluate extra)")
    parser.add_argument("target", choices=["gp", "pipeline", "stream"],
                        help="gp: GP engines; pipeline: the UDF path with each model engine; stream: streaming delay")
    parser.add_argument("--objects", type=int, default=2000, help="light curves for 'gp' (default 2000)")
    parser.add_argument("--alerts", type=int, help="alerts for 'pipeline' (default 100000 ZTF, 10000 LSST)")
    parser.add_argument("--survey", default="ztf", choices=["ztf", "lsst"],
                        help="'pipeline': replicated real ZTF alerts, or real Rubin alerts with the LSST model "
                             "(ONNX Runtime only) and the cost per alert by history length (default ztf)")
    parser.add_argument("--engines", default="onnx,keras",
                        help="'pipeline': model engines compared, the first against the others (default onnx,keras; "
                             "keras needs the train extra)")
    parser.add_argument("--models", help="'pipeline': models of the survey compared in one Spark session, the first "
                                          "against the others, instead of the engines (ONNX Runtime; --survey lsst: "
                                          "default the Rubin default model)")
    parser.add_argument("--files", type=int, default=8, help="alert files for 'stream' (default 8)")
    parser.add_argument("--trigger", type=float, default=1.0, help="'stream': seconds between micro-batches")
    parser.add_argument("--repeats", type=int, default=3,
                        help="'gp': runs of each engine; the median time is reported (default 3)")
    parser.add_argument("--scaling", action="store_true", help="'gp': also time histories of 5, 20, 100, 500 points")
    parser.add_argument("--one-cpu", action="store_true",
                        help="hold the benchmark, Spark's JVM and its Python workers to one logical CPU (Linux); "
                             "by default Spark local[1] runs one task, and the JVM's reading, compiling and "
                             "collecting also use the other cores")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    parser.set_defaults(run=run)
