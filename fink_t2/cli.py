"""Command line: ``fink-t2 classify`` (alerts -> parquet) and ``fink-t2 bench``.

Also runnable as ``spark-submit fink_t2/cli.py classify INPUT OUTPUT`` (imports are
absolute so that the file works as a script once the package is installed).
"""
import argparse
import logging
import os
import shutil
import sys
import time
from pathlib import Path

SAMPLE_ALERTS = Path(__file__).resolve().parent / "data" / "sample_alerts.parquet"
DEFAULT_OUTPUT = "t2_classified.parquet"


def is_url(path) -> bool:
    """True for a Hadoop-style URL (hdfs://, s3a://, file://) rather than a local path."""
    return "://" in str(path)


def classify_command(args) -> int:
    from fink_t2.alerts_io import read_alerts
    from fink_t2.cuts import SelectionCuts
    from fink_t2.spark import add_t2_columns, get_spark

    if is_url(args.output):  # hdfs://, s3a://: Spark's own writer and existence check
        output = args.output
    else:
        output = Path(args.output).resolve()  # the JVM may run in another working directory
    if isinstance(output, Path) and output.exists() and not args.overwrite:
        print(f"fink-t2: {output} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    start = time.perf_counter()
    spark = get_spark(args.master)
    if sys.stderr.isatty():
        spark.conf.set("spark.ui.showConsoleProgress", "true")
    alerts = read_alerts(spark, args.input if is_url(args.input) else Path(args.input).resolve())
    cuts = SelectionCuts.none() if args.no_cuts else None
    keep = [c for c in ("candid", "objectId") if c in alerts.columns]
    result = add_t2_columns(alerts, args.model, cuts, args.gp_backend).select(*keep, "t2", "t2_class", "t2_status")

    if isinstance(output, Path):
        # Write beside the target, then rename: a failed run leaves no OUTPUT that looks complete.
        staging = output.with_name(f".{output.name}.incomplete")
        shutil.rmtree(staging, ignore_errors=True)
        result.write.parquet(str(staging))
        if output.exists():
            shutil.rmtree(output) if output.is_dir() else output.unlink()
        staging.rename(output)
    else:
        result.write.mode("overwrite" if args.overwrite else "errorifexists").parquet(output)

    counts = spark.read.parquet(str(output)).groupBy("t2_status").count().collect()
    n_in = sum(row["count"] for row in counts)
    n_ok = sum(row["count"] for row in counts if row["t2_status"] == "ok")
    seconds = time.perf_counter() - start
    print(f"fink-t2: {n_in} alerts in, {n_ok} classified, {seconds:.1f} s -> {output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from fink_t2.gp import BACKENDS
    from fink_t2.models import DEFAULT_MODEL

    parser = argparse.ArgumentParser(prog="fink-t2", description="Classify ZTF alerts with the t2 transformer.")
    sub = parser.add_subparsers(dest="command", required=True)

    classify = sub.add_parser("classify", help="add t2 class probabilities to alerts (parquet or Avro)")
    classify.add_argument("input", nargs="?", default=str(SAMPLE_ALERTS),
                          help="parquet file/folder of Fink/ZTF alerts, or Avro alert files (default: bundled sample)")
    classify.add_argument("output", nargs="?", default=DEFAULT_OUTPUT,
                          help=f"output parquet folder: candid, objectId, t2, t2_class, t2_status (default: {DEFAULT_OUTPUT})")
    classify.add_argument("--master", help="Spark master URL (default: local[*], or spark-submit's)")
    classify.add_argument("--model", default=DEFAULT_MODEL, help=f"model name (default: {DEFAULT_MODEL})")
    classify.add_argument("--gp-backend", default="batched", choices=BACKENDS, help="GP engine (default: batched)")
    classify.add_argument("--no-cuts", action="store_true", help="classify every alert with >= 1 g/r point")
    classify.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    classify.set_defaults(run=classify_command)

    from fink_t2 import bench

    bench.add_parser(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # before NumPy and TensorFlow start their thread pools
        from fink_t2.bench import SINGLE_THREAD_ENV

        os.environ.update(SINGLE_THREAD_ENV)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
