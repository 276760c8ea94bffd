"""Shared test fixtures: one local Spark session per test run, and paths to the real shared data."""
import os
import sys
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"


def shared_path(relative: str) -> Path:
    """Path under ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real data {path} is absent (it lives in ../shared/data beside the repository)")
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
