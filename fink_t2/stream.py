"""Real-time mode: a Structured Streaming query that classifies alert files as they land.

File source over an input folder (parquet alert files, nested folders such as
Fink's ``year=/month=/day=`` layout included) -> the same t2 UDF -> parquet
sink. Exactly once across crashes comes from Spark: the checkpoint records
which files each micro-batch read, and the sink's ``_spark_metadata`` log
records which output files each committed batch wrote. Read the output with
Spark (which honours that log): files left by a killed batch are not listed
there and are ignored, and the batch is redone on restart.

Files must appear atomically in the input folder (write elsewhere or under a
name starting with ``.`` or ``_``, then rename), as with any Spark file source.
"""
import logging
import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from .alerts_io import data_files
from .cuts import SelectionCuts
from .spark import OUTPUT_COLUMNS, add_t2_columns, key_columns

log = logging.getLogger(__name__)

METRICS_NAME = "t2_batch"


def alert_schema(spark, input_dir: Path, schema_file=None, poll_seconds: float = 1.0, stop=lambda: False):
    """Schema of the alerts: that of ``schema_file``, or of the first parquet file in ``input_dir``
    (waiting for one to land). None if ``stop()`` turns true while waiting."""
    if schema_file:
        return spark.read.parquet(str(schema_file)).schema
    announced = False
    while not stop():
        parquet = [file for file in data_files(input_dir) if file.suffix == ".parquet"]
        if parquet:
            return spark.read.parquet(str(parquet[0])).schema
        if not announced:
            log.info("no alert file in %s yet: waiting for the first one to take the schema from", input_dir)
            announced = True
        time.sleep(poll_seconds)
    return None


def classified_stream(spark, input_dir: Path, schema, model_name=None, cuts: Optional[SelectionCuts] = None):
    """Streaming DataFrame of the alerts' identifiers (``spark.key_columns``: ZTF or Rubin, as the schema says)
    and the t2 columns (``spark.OUTPUT_COLUMNS``) over ``input_dir``, observed (per micro-batch) as
    ``METRICS_NAME``: alerts and classified counts."""
    from pyspark.sql import functions as F

    alerts = (spark.readStream.schema(schema).option("recursiveFileLookup", "true")
              .option("pathGlobFilter", "*.parquet").parquet(str(input_dir)))
    result = add_t2_columns(alerts, model_name, cuts).select(*key_columns(alerts), *OUTPUT_COLUMNS)
    return result.observe(METRICS_NAME, F.count(F.lit(1)).alias("alerts"),
                          F.sum(F.when(F.col("t2_status") == "ok", 1).otherwise(0)).alias("classified"))


def _progress_listener():
    from pyspark.sql.streaming import StreamingQueryListener

    class Progress(StreamingQueryListener):
        """Logs one line per micro-batch: alerts, classified, seconds."""

        def onQueryStarted(self, event):
            pass

        def onQueryProgress(self, event):
            progress = event.progress
            metrics = progress.observedMetrics.get(METRICS_NAME)
            if metrics is None or progress.numInputRows == 0:
                return
            log.info("batch %d: %d alerts, %d classified, %.1f s", progress.batchId, metrics["alerts"],
                        metrics["classified"] or 0, progress.batchDuration / 1000.0)

        def onQueryIdle(self, event):
            pass

        def onQueryTerminated(self, event):
            pass

    return Progress()


def start(spark, input_dir, output_dir, checkpoint_dir, trigger_seconds: float = 10.0, schema=None,
          model_name=None, cuts: Optional[SelectionCuts] = None):
    """Start the query; returns the ``StreamingQuery`` (stop it with ``query.stop()``)."""
    spark.streams.addListener(_progress_listener())
    stream = classified_stream(spark, Path(input_dir), schema, model_name, cuts)
    return (stream.writeStream.format("parquet").option("path", str(output_dir))
            .option("checkpointLocation", str(checkpoint_dir))
            .trigger(processingTime=f"{trigger_seconds} seconds").queryName("fink_t2").start())


@contextmanager
def stop_on_signals():
    """Within the block, SIGINT and SIGTERM only set a flag: yields a function telling whether one came.

    Enter it before the Spark session starts, so that a signal during start-up is not lost."""
    received = []
    previous = {sig: signal.signal(sig, lambda *_: received.append(sig)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: bool(received)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(spark, input_dir, output_dir, checkpoint_dir, stopping, trigger_seconds: float = 10.0, schema_file=None,
        model_name=None, cuts: Optional[SelectionCuts] = None) -> int:
    """Run until ``stopping()`` (see ``stop_on_signals``) turns true, then stop cleanly (the running
    micro-batch is abandoned and redone on restart). Returns 0 on a clean stop."""
    schema = alert_schema(spark, Path(input_dir), schema_file, stop=stopping)
    if schema is None:
        return 0
    query = start(spark, input_dir, output_dir, checkpoint_dir, trigger_seconds, schema, model_name, cuts)
    log.info("streaming %s -> %s (checkpoint %s), trigger %g s", input_dir, output_dir, checkpoint_dir,
             trigger_seconds)
    while query.isActive and not stopping():
        query.awaitTermination(0.5)
    if query.isActive:
        query.stop()
        log.info("stopped")
    elif query.exception() is not None:
        raise RuntimeError(f"streaming query failed: {query.exception().desc}")
    return 0
