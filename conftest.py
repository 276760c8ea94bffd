"""Shared test fixtures: one local Spark session per test run, and paths to the real shared data."""
import importlib.util
import os
import sys
from pathlib import Path

import pytest

#: Tests of training, the ONNX export and the Keras engine (fink-gr-noz too) need the train extra.
TRAIN_EXTRA = ("tensorflow", "keras", "tf_keras", "tf2onnx", "fink_science", "astropy")
requires_train_extra = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in TRAIN_EXTRA),
    reason="needs the train extra (TensorFlow, Keras, tf2onnx, fink-science, astropy): pip install -e '.[train]'")


def shared_path(relative: str) -> Path:
    """Path under the shared data folder (``realdata.shared_data_dir``), or skip with the reason when absent."""
    from fink_t2.datasets import DataError
    from fink_t2.realdata import shared_data_dir

    try:
        path = shared_data_dir() / relative
    except DataError as error:
        pytest.skip(f"real data is absent: {error}")
    if not path.exists():
        pytest.skip(f"real data {path} is absent")
    return path


@pytest.fixture(scope="session")
def spark():
    """A real local Spark session (2 cores), shared by every test of the run."""
    from fink_t2.spark import get_spark

    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = get_spark("local[2]", app_name="fink-t2-tests")
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def model():
    from fink_t2.models import load_model

    return load_model()


@pytest.fixture(scope="session")
def bts_table():
    import pandas as pd

    return pd.read_parquet(shared_path("bts_dev/bts_dev_lightcurves.parquet"))
