"""Command line: ``fink-t2 classify`` (alerts -> parquet), ``data``, ``train``, ``ensemble``, ``committee``,
``evaluate`` and ``bench``.

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


class UsageError(RuntimeError):
    """A problem the user can fix (input, output, environment); printed without a stack trace."""


def require_java():
    """Fail early and clearly where PySpark would die with a gateway error: Java 17 is needed."""
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and (Path(java_home) / "bin" / "java").exists()) and shutil.which("java") is None:
        raise UsageError("Java is not installed (PySpark 4 needs Java 17): install a JDK 17, e.g. "
                         "`apt install openjdk-17-jre-headless`, or set JAVA_HOME")


def classify_command(args) -> int:
    from fink_t2.alerts_io import check_parquet_alerts, input_format, read_alerts
    from fink_t2.cuts import SelectionCuts
    from fink_t2.models import check_model
    from fink_t2.models import DEFAULT_MODELS
    from fink_t2.redshift import check_host_redshift
    from fink_t2.spark import KEPT_SUFFIX, OUTPUT_COLUMNS, add_t2_columns, get_spark, key_columns
    from fink_t2.surveys import check_model_survey

    if is_url(args.output):  # hdfs://, s3a://: Spark's own writer and existence check
        output = args.output
    else:
        output = Path(args.output).resolve()  # the JVM may run in another working directory
    if isinstance(output, Path) and output.exists() and not args.overwrite:
        print(f"fink-t2: {output} exists; pass --overwrite to replace it", file=sys.stderr)
        return 2
    start = time.perf_counter()
    # Everything that can be checked without Spark is checked first: input, model, Java.
    survey = args.survey
    if not is_url(args.input) and input_format(args.input) == "parquet":
        _, survey = check_parquet_alerts(args.input, args.survey)
    model_name = args.model or DEFAULT_MODELS[survey or "ztf"]
    card, _ = check_model(model_name)  # the workers load it; the driver only checks it
    try:
        if survey:
            check_model_survey(card, survey)
        if args.redshift_column:
            check_host_redshift(card)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if args.uncertainty == "ensemble" and "cv" not in card:
        raise UsageError(f"--uncertainty ensemble needs cross-validation fold models; model '{model_name}' has none")
    require_java()
    spark = get_spark(args.master, quiet=not args.verbose)
    if not args.debug:  # the CLI reports a failed job in one line; Spark's own error log repeats it with traces
        spark.sparkContext.setLogLevel("OFF")
    if sys.stderr.isatty():
        spark.conf.set("spark.ui.showConsoleProgress", "true")
    alerts = read_alerts(spark, args.input if is_url(args.input) else Path(args.input).resolve(), args.survey)
    cuts = SelectionCuts.none() if args.no_cuts else None
    keep = key_columns(alerts, args.survey)
    if args.keep_existing:
        keep += [c + KEPT_SUFFIX for c in OUTPUT_COLUMNS if c in alerts.columns]
    result = add_t2_columns(alerts, model_name, cuts, args.gp_backend, args.keep_existing,
                            uncertainty=args.uncertainty, survey=args.survey, forced=args.forced,
                            redshift_column=args.redshift_column,
                            redshift_err_column=args.redshift_err_column).select(*keep, *OUTPUT_COLUMNS)

    if isinstance(output, Path):
        # Write beside the target, then rename: a failed run leaves no OUTPUT that looks complete.
        staging = output.with_name(f".{output.name}.incomplete")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            result.write.parquet(str(staging))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
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


def stream_command(args) -> int:
    from fink_t2 import stream
    from fink_t2.cuts import SelectionCuts
    from fink_t2.models import check_model
    from fink_t2.spark import get_spark

    logging.getLogger("fink_t2").setLevel(logging.INFO)
    if args.model:  # the workers load it; the driver only checks it (by default, the survey's model)
        check_model(args.model)
    require_java()
    paths = [Path(p).resolve() for p in (args.input, args.output, args.checkpoint)]
    paths[0].mkdir(parents=True, exist_ok=True)
    with stream.stop_on_signals() as stopping:  # before the JVM starts: a signal during start-up is kept
        spark = get_spark(args.master, app_name="fink-t2-stream", quiet=not args.verbose)
        try:
            return stream.run(spark, *paths, stopping, trigger_seconds=args.trigger, schema_file=args.schema,
                              model_name=args.model, cuts=SelectionCuts.none() if args.no_cuts else None)
        finally:
            spark.stop()


def data_command(args) -> int:
    from fink_t2.datasets import fetch_plasticc

    print(f"fink-t2: PLAsTiCC files in {fetch_plasticc(args.dir, args.wheel)}")
    return 0


def train_command(args) -> int:
    from fink_t2.training import train, train_ensemble

    logging.getLogger("fink_t2").setLevel(logging.INFO)
    kinds = None
    if args.history_kinds:
        kinds = {name: float(p) for name, p in (item.split("=") for item in args.history_kinds.split(","))}
    recipe = dict(ztf_tables=args.ztf_table, n_folds=args.folds, history_kinds=kinds, plasticc_dir=args.plasticc_dir,
                  plasticc_draws=args.plasticc_draws, epochs=args.epochs, ztf_draws=args.ztf_draws,
                  expert_epochs=args.expert_epochs, survey=args.survey, real_alerts=args.elasticc,
                  alerts_in_general=args.elasticc_in_general, fine_tune_epochs=args.fine_tune_epochs,
                  gp_fit_max_points=args.gp_fit_max_points, n_times=args.n_times, forced=args.forced,
                  alert_draws=args.elasticc_draws, min_bands=args.min_bands,
                  non_supernova_tables=args.non_supernovae_table or (),
                  expert_non_supernovae=not args.non_supernovae_general_only, redshift_draws=args.redshift_draws,
                  architecture={"head": args.head}, age_input=args.age_input)
    if len(args.seed) == 1:
        card = train(Path(args.out), args.seed[0], args.workers, **recipe)
    else:
        card = train_ensemble(Path(args.out), args.seed, args.workers, **recipe)
    print(f"fink-t2: model {card['id']} trained in {card['training']['seconds']} s -> {args.out}")
    return 0


def export_command(args) -> int:
    from fink_t2.models import card_path
    from fink_t2.onnx_export import export_onnx

    card = export_onnx(card_path(args.model))
    print(f"fink-t2: {args.model}: {len(card['onnx']['files'])} ONNX graph(s), opset {card['onnx']['opset']}, "
          f"recorded in {card_path(args.model)}")
    return 0


def ensemble_command(args) -> int:
    from fink_t2.ensemble import combine

    card = combine(args.members, Path(args.out))
    print(f"fink-t2: ensemble {card['id']} of {len(card['ensemble']['members'])} models, "
          f"{len(card['onnx']['files'])} ONNX graph(s) -> {args.out}; calibrate and evaluate it next")
    return 0


def committee_command(args) -> int:
    from fink_t2.committee import build
    from fink_t2.models import card_path

    out_dir = Path(args.out_dir) if args.out_dir else card_path(args.members[0]).parent
    card = build(args.name, args.members, out_dir, args.min_bands)
    print(f"fink-t2: committee {card['id']} of {', '.join(args.members)} (band cut {card['min_bands']}) -> "
          f"{out_dir / (card['id'] + '.json')}; fit its host-redshift densities and evaluate it next")
    return 0


def calibrate_command(args) -> int:
    from fink_t2.calibrate import calibrate

    card = calibrate(args.model, args.data_path)
    print(f"fink-t2: {args.model}: temperature {card['calibration']['temperature'][card['weights']]:.3f} "
          f"({card['calibration']['fitted_on']}), recorded in its card")
    return 0


def host_redshift_command(args) -> int:
    from fink_t2.calibrate import fit_host_redshift

    card = fit_host_redshift(args.model, args.data_path)
    counts = card["host_redshift"]["objects_per_class"]
    print(f"fink-t2: {args.model}: host-redshift densities of {sum(counts.values())} objects "
          f"({', '.join(f'{name} {n}' for name, n in counts.items())}), recorded in its card")
    return 0


def explain_command(args) -> int:
    import numpy as np

    from fink_t2.explain import explain, plot

    explanation = explain(args.input, args.object, args.model)
    plot(explanation, args.out)
    top = np.argsort(explanation["probabilities"])[::-1][:3]
    print(f"fink-t2: {args.object}: " + ", ".join(f"{explanation['classes'][k]} {explanation['probabilities'][k]:.3f}"
                                                  for k in top)
          + f" (uncertainty {explanation['uncertainty']:.3f}) -> {args.out}")
    return 0


def evaluate_command(args) -> int:
    import json

    from fink_t2.evaluate import data_label, evaluate, reads_forced, record, summary
    from fink_t2.models import DEFAULT_MODELS, read_card

    model = args.model or DEFAULT_MODELS["lsst" if args.data == "elasticc" else "ztf"]
    forced = reads_forced(read_card(model), args.data, args.forced)
    data = data_label(args.data, forced, args.host_redshift, args.photoz_scatter)  # as the card's metrics name it
    folder = data.replace(" ", "-").replace("(", "").replace(")", "")
    out = args.out or f"evaluation/{model}-{folder}-{'all' if args.days is None else f'{args.days:g}d'}"
    if args.record and args.min_bands is not None:
        print("fink-t2: --record stores the figures of the model's own cuts: leave out --min-bands", file=sys.stderr)
        return 2
    result = evaluate(model, args.data, args.days, out, args.data_path, forced, args.min_bands, args.host_redshift,
                      args.photoz_scatter)
    if args.record:  # before printing: a reader that closes the pipe early must not cancel it
        record(model, result)
    print(json.dumps({"model": model, "data": data, "days": args.days, **summary(result)}))
    print(f"fink-t2: metrics and plots in {out}{'; summary recorded in the model card' if args.record else ''}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from fink_t2 import training
    from fink_t2.evaluate import DATASETS
    from fink_t2.gp import BACKENDS, N_TIMES
    from fink_t2.surveys import SURVEYS
    from fink_t2.models import DEFAULT_MODELS, available_models
    from fink_t2.probabilities import UNCERTAINTY_KINDS

    models = available_models()
    model_help = (f"model name, one of: {', '.join(models)} (default: the survey's, "
                  f"{', '.join(f'{s}: {m}' for s, m in DEFAULT_MODELS.items())})")
    parser = argparse.ArgumentParser(prog="fink-t2", description="Classify ZTF and Rubin (LSST) alerts with the t2 transformer.")
    parser.add_argument("--debug", action="store_true", help="show full stack traces on errors")
    parser.add_argument("--verbose", action="store_true", help="show Spark's warnings and TensorFlow's log lines")
    sub = parser.add_subparsers(dest="command", required=True)

    classify = sub.add_parser("classify", help="add t2 class probabilities to alerts (parquet or Avro)")
    classify.add_argument("input", nargs="?", default=str(SAMPLE_ALERTS),
                          help="parquet file/folder of Fink/ZTF alerts, or Avro alert files (default: bundled sample)")
    classify.add_argument("output", nargs="?", default=DEFAULT_OUTPUT,
                          help=f"output parquet folder: candid, objectId, t2, t2_class, t2_uncertainty, t2_status "
                               f"(default: {DEFAULT_OUTPUT})")
    classify.add_argument("--master", help="Spark master URL (default: local[*], or spark-submit's)")
    classify.add_argument("--model", choices=models, metavar="NAME", help=model_help)
    classify.add_argument("--survey", choices=SURVEYS,
                          help="ztf or lsst (Rubin, ELAsTiCC): the alert schema (default: told by the columns, "
                               "diaSource -> lsst)")
    classify.add_argument("--forced", action=argparse.BooleanOptionalAction,
                          help="Rubin: add the forced photometry (prvDiaForcedSources) to the light curves "
                               "(default: as the model was trained, its card's forced_photometry)")
    classify.add_argument("--redshift-column", metavar="NAME",
                          help="ZTF: a column (a.b for a struct field) with each alert's host redshift (null where "
                               "unknown), for a model with host-redshift densities (t2-ztf-gr-v3 to -v6; -v6 is the one to use)")
    classify.add_argument("--redshift-err-column", metavar="NAME", help="ZTF: the column of its 1-sigma error")
    classify.add_argument("--gp-backend", default="batched", choices=BACKENDS,
                          help="GP engine: batched (all objects at once) or george (reference, needs the "
                               "evaluate extra) (default: batched)")
    classify.add_argument("--no-cuts", action="store_true", help="classify every alert with >= 1 point")
    classify.add_argument("--uncertainty", default="entropy", choices=UNCERTAINTY_KINDS,
                          help="t2_uncertainty: entropy (normalised predictive entropy) or ensemble (mutual "
                               "information of the cross-validation fold models, ~6x the model's cost) "
                               "(default: entropy)")
    classify.add_argument("--keep-existing", action="store_true",
                          help="input columns named like an output column (t2, t2_class, t2_uncertainty, "
                               "t2_status: archival Fink data) are written too, as t2_input, ... (default: replaced)")
    classify.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    classify.set_defaults(run=classify_command)

    stream = sub.add_parser("stream", help="classify alert files as they land in a folder (Structured Streaming)")
    stream.add_argument("--input", required=True, help="folder where parquet alert files land (nested folders too)")
    stream.add_argument("--output", required=True, help="output parquet folder (read it with Spark)")
    stream.add_argument("--checkpoint", required=True, help="checkpoint folder; reuse it to resume after a stop or crash")
    stream.add_argument("--trigger", type=float, default=10.0, help="seconds between micro-batches (default: 10)")
    stream.add_argument("--schema", help="parquet file whose schema the alerts have (default: the first input file's)")
    stream.add_argument("--master", help="Spark master URL (default: local[*])")
    stream.add_argument("--model", choices=models, metavar="NAME", help=model_help)
    stream.add_argument("--no-cuts", action="store_true", help="classify every alert with >= 1 point")
    stream.set_defaults(run=stream_command)

    data = sub.add_parser("data", help="fetch a training/evaluation data set into the cache")
    data.add_argument("dataset", choices=["plasticc"], help="plasticc: PLAsTiCC train set and held-out test supernovae")
    data.add_argument("--dir", help="where to put the files (default: ~/.cache/fink-t2/plasticc or $FINK_T2_CACHE)")
    data.add_argument("--wheel", help="a local copy of the snmachine wheel, for machines without network")
    data.set_defaults(run=data_command)

    train = sub.add_parser("train", help="train a t2 model on ZTF-like PLAsTiCC (+ labelled ZTF) light curves "
                                         "(needs the train extra)")
    train.add_argument("--out", required=True, help="weights folder, e.g. data/models/t2/NAME (card: NAME.json beside it)")
    train.add_argument("--seed", type=int, nargs="+", default=[0],
                       help="seed of the draws and of the fits (default: 0); several seeds train one member each, "
                            "fitted together, and write their ensemble (as `fink-t2 ensemble` does)")
    train.add_argument("--survey", default="ztf", choices=SURVEYS,
                       help="ztf: ZTF-like g r light curves; lsst: LSST-like u g r i z y (default: ztf)")
    train.add_argument("--plasticc-draws", type=int, default=1, help="history draws per PLAsTiCC object (default: 1)")
    train.add_argument("--ztf-table", action="append",
                       help="labelled real ZTF light curves (bts_dev format) to add, cross-validated by objectId; "
                            "repeat it for several tables (an object in two keeps the first one's)")
    train.add_argument("--non-supernovae-table", action="append",
                       help="a labelled ZTF table (bts_dev format) whose real non-supernovae (TNS types CV, Varstar, "
                            "AGN, M dwarf, as their closest class: M-dwarf, Mira, AGN) join --ztf-table's objects; "
                            "repeatable")
    train.add_argument("--non-supernovae-general-only", action="store_true",
                       help="the real non-supernovae (and any real object of their classes) train the general network "
                            "only; the real-data expert keeps to the other classes")
    train.add_argument("--redshift-draws", type=int, default=0,
                       help="copies of each --ztf-table object with a redshift (bts_dev's), moved to another redshift "
                            "(twice as near to twice as far), to add (default: 0)")
    train.add_argument("--elasticc", help="--survey lsst: a folder of labelled ELAsTiCC alerts (classId=111/, "
                                          "classId=113/) that trains the real-data expert, cross-validated by SNID")
    train.add_argument("--forced", action="store_true",
                       help="--survey lsst: train on forced photometry (every PLAsTiCC epoch from 30 days before the "
                            "first detection to the last one, the alerts' prvDiaForcedSources); inference with the "
                            "model then reads them")
    train.add_argument("--elasticc-in-general", action="store_true",
                       help="--elasticc: fine-tune the general network on PLAsTiCC and those alerts (the shipped one "
                            "and one per fold, each from the PLAsTiCC-only network)")
    train.add_argument("--fine-tune-epochs", type=int, default=training.FINE_TUNE_EPOCHS,
                       help=f"--elasticc-in-general: epochs of each fine-tuning (default: {training.FINE_TUNE_EPOCHS})")
    train.add_argument("--n-times", type=int, default=N_TIMES,
                       help=f"regular times of the GP mean, the networks' input length (default {N_TIMES}; inference "
                            "reads it from the card)")
    train.add_argument("--gp-fit-max-points", type=int,
                       help="fit the GP hyperparameters of each light curve on at most this many of its points, "
                            "evenly thinned; the mean still uses them all (default: all; inference reads it from the "
                            "card)")
    train.add_argument("--elasticc-draws", type=int, default=0,
                       help="--elasticc: earlier alerts drawn from each alert, its points up to a detection drawn at "
                            "random (default: 0)")
    train.add_argument("--history-kinds",
                       help=f"probabilities of the history draws, e.g. alert=0.3,early=0.2,full=0.2,first_days=0.3 "
                            f"(default: {','.join(f'{k}={v:g}' for k, v in training.HISTORY_KINDS.items())})")
    train.add_argument("--age-input", action="store_true",
                       help="ZTF: the networks also read the days since the object's first detection (an alert's "
                            "jdstarthist at inference), which tells an older object's last 30 days from a young one")
    train.add_argument("--min-bands", type=int, default=2,
                       help="bands a training sample needs points in, 1 to learn single-band light curves too "
                            "(default: 2)")
    train.add_argument("--folds", type=int, default=5,
                       help="cross-validation folds over --ztf-table or --elasticc (default: 5); 0: the shipped "
                            "networks alone, without cross-validation")
    train.add_argument("--epochs", type=int, default=30, help="epochs of the general network (default: 30)")
    train.add_argument("--ztf-draws", type=int, default=10, help="history draws per real ZTF object (default: 10)")
    train.add_argument("--expert-epochs", type=int, default=training.EXPERT_EPOCHS,
                       help=f"epochs of the real-data expert network, 0 for none (default: {training.EXPERT_EPOCHS})")
    train.add_argument("--head", choices=("average", "attention"), default="average",
                       help="pooling over time before the softmax: average (t2's) or attention (one learned query, "
                            "a one-query decoder block) (default: average)")
    train.add_argument("--plasticc-dir", help="where `fink-t2 data plasticc` put the files (default: the cache)")
    train.add_argument("--workers", type=int, help="networks fitted at once, one process each (default: CPU cores)")
    train.set_defaults(run=train_command)

    export = sub.add_parser("export-onnx", help="write the ONNX graphs of a trained model and record them in its "
                                                "card (needs the train extra; train does it itself)")
    export.add_argument("model", choices=models, metavar="NAME", help=f"model name, one of: {', '.join(models)}")
    export.set_defaults(run=export_command)

    ensemble = sub.add_parser("ensemble", help="one model whose probabilities are the mean of models trained by "
                                               "one recipe with different seeds (needs the train extra)")
    ensemble.add_argument("members", nargs="+", help="the members' model cards (NAME.json, as train wrote them)")
    ensemble.add_argument("--out", required=True, help="weights folder, e.g. data/models/t2/NAME (card: NAME.json "
                                                       "beside it)")
    ensemble.set_defaults(run=ensemble_command)

    committee = sub.add_parser("committee", help="one model whose probabilities are the mean of the calibrated "
                                                 "probabilities of models of different recipes that share their GP "
                                                 "preparation (writes a card only)")
    committee.add_argument("name", help="the committee's model name")
    committee.add_argument("members", nargs="+", choices=models, metavar="MEMBER", help="the members' model names")
    committee.add_argument("--min-bands", type=int, choices=(1, 2), help="fewest bands its default cuts ask "
                                                                         "(default: the members' common cut)")
    committee.add_argument("--out-dir", help="folder of its card (default: the first member's)")
    committee.set_defaults(run=committee_command)

    calibrate = sub.add_parser("calibrate", help="fit the temperature that calibrates a cross-validated model's "
                                                 "probabilities on its out-of-fold predictions; stored in its card")
    calibrate.add_argument("model", choices=models, metavar="NAME", help=f"model name, one of: {', '.join(models)}")
    calibrate.add_argument("--data-path", help="the labelled table it was cross-validated on (default: the shared "
                                               "bts_dev table)")
    calibrate.set_defaults(run=calibrate_command)

    host = sub.add_parser("host-redshift", help="fit the densities of the host redshift per class (a labelled ZTF "
                                                "table's redshift column) that a model's probabilities are then "
                                                "updated with where a redshift is given; stored in its card")
    host.add_argument("model", choices=models, metavar="NAME", help=f"model name, one of: {', '.join(models)}")
    host.add_argument("--data-path", help="a labelled ZTF table with a redshift column (default: the shared bts_dev "
                                          "table)")
    host.set_defaults(run=host_redshift_command)

    explain = sub.add_parser("explain", help="one figure of why an object got its class: points, GP, probabilities, "
                                             "class activation map (needs the train and evaluate extras)")
    explain.add_argument("input", help="an alert file or folder (parquet or Avro) or a light-curve table (parquet: "
                                       "objectId, mjd, band, mag, magerr)")
    explain.add_argument("--object", required=True, help="the objectId (from alerts: its alert with the longest history)")
    explain.add_argument("--model", default=DEFAULT_MODELS["ztf"], choices=models, metavar="NAME", help=model_help)
    explain.add_argument("--out", default="t2_explain.png", help="PNG to write (default: t2_explain.png)")
    explain.set_defaults(run=explain_command)

    evaluate = sub.add_parser("evaluate", help="metrics JSON and plots of a model on labelled light curves "
                                               "(needs the evaluate extra)")
    evaluate.add_argument("--model", choices=models, metavar="NAME",
                          help=f"model name, one of: {', '.join(models)} (default: the data set's survey's)")
    evaluate.add_argument("--data", required=True, choices=DATASETS, help=f"data set, one of: {', '.join(DATASETS)}")
    evaluate.add_argument("--forced", action=argparse.BooleanOptionalAction,
                          help="elasticc, plasticc-test: with forced photometry (prvDiaForcedSources; the PLAsTiCC "
                               "epochs an alert can hold) (default: as the model was trained)")
    evaluate.add_argument("--days", type=float, help="keep the first D days after the first detection (default: all)")
    evaluate.add_argument("--min-bands", type=int, help="bands an object needs detections in (default: as the "
                                                         "model was trained: 2 for every shipped model)")
    evaluate.add_argument("--host-redshift", action="store_true",
                          help="give the model each object's redshift (bts_dev's redshift column), for a model with "
                               "host-redshift densities (fink-t2 host-redshift)")
    evaluate.add_argument("--photoz-scatter", type=float, metavar="S",
                          help="with --host-redshift: move each redshift by a normal error of S(1+z), given as its "
                               "error, as a photometric redshift would be (seed 0)")
    evaluate.add_argument("--out", help="output folder (default: evaluation/MODEL-DATA-DAYS)")
    evaluate.add_argument("--record", action="store_true", help="store the headline figures in the model card")
    evaluate.add_argument("--data-path", help="read the data set from here (bts: a table; plasticc-test: a folder) "
                                              "(default: the shared data or the PLAsTiCC cache)")
    evaluate.set_defaults(run=evaluate_command)

    from fink_t2 import bench

    bench.add_parser(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        from fink_t2.bench import pin_single_thread

        pin_single_thread()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if not args.verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # fink-gr-noz and training: no TensorFlow log lines
    from fink_t2.alerts_io import InputError
    from fink_t2.datasets import DataError
    from fink_t2.models import ModelError

    try:
        return args.run(args)
    except (UsageError, InputError, ModelError, DataError) as error:
        if args.debug:
            raise
        print(f"fink-t2: error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # Spark/Java errors: one line, not a JVM stack trace
        if args.debug:
            raise
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        print(f"fink-t2: error: {type(error).__name__}: {first_line[:500]} (rerun with --debug for details)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
