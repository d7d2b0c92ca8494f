"""load_dataset end to end, data_fingerprint, and the bundled Ames example."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latticenas.data import Dataset, Task, data_fingerprint, load_dataset
from latticenas.datasets import available, example_path
from latticenas.errors import DataError, LeakageError


def _write(tmp_path, df: pd.DataFrame, name: str = "t.csv") -> str:
    path = tmp_path / name
    df.to_csv(path, index=False) if name.endswith(".csv") else df.to_parquet(path)
    return str(path)


def _table(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {"id": np.arange(n), "x": x, "c": rng.choice(["a", "b"], n), "y": x + rng.normal(size=n)}
    )


def test_load_dataset_reads_infers_and_splits(tmp_path):
    df = _table()
    df.loc[[3, 7], "y"] = np.nan
    ds = load_dataset(_write(tmp_path, df), "y", drop_columns=["id"])
    assert isinstance(ds, Dataset) and ds.schema.task is Task.REGRESSION
    assert ds.schema.feature_names == ("x", "c")
    parts = (ds.train, ds.val, ds.test)
    assert all(list(p.columns) == ["x", "c", "y"] for p in parts)
    assert sum(len(p) for p in parts) == 298  # rows with a missing target are dropped
    assert not set(ds.train.index) & set(ds.test.index)


def test_load_dataset_is_reproducible(tmp_path):
    uri = _write(tmp_path, _table())
    a, b = load_dataset(uri, "y", drop_columns=["id"]), load_dataset(uri, "y", drop_columns=["id"])
    assert data_fingerprint(a.test) == data_fingerprint(b.test)
    pd.testing.assert_frame_equal(a.train, b.train)


def test_leak_stops_the_run_unless_allowed(tmp_path):
    uri = _write(tmp_path, _table().assign(leak=lambda d: d["y"]), "t.parquet")
    with pytest.raises(LeakageError, match="--drop-columns=leak"):
        load_dataset(uri, "y")
    assert "leak" in load_dataset(uri, "y", allow_leakage=["leak"]).schema.feature_names


def test_too_few_rows(tmp_path):
    uri = _write(tmp_path, _table(3).drop(columns="id"))
    with pytest.raises(DataError, match=r"too few rows \(3\)"):
        load_dataset(uri, "y")
    assert load_dataset(uri, "y", val_fraction=0, test_fraction=0).val.empty


def test_bad_fraction_fails_before_reading(tmp_path):
    with pytest.raises(DataError, match="test_fraction"):
        load_dataset(str(tmp_path / "absent.csv"), "y", test_fraction=1.0)


def test_fingerprint_tracks_content():
    df = _table(50)
    assert data_fingerprint(df) == data_fingerprint(df.copy())
    assert len(data_fingerprint(df)) == 64
    changed = df.copy()
    changed.loc[0, "c"] = "z"
    assert data_fingerprint(changed) != data_fingerprint(df)
    assert data_fingerprint(df.rename(columns={"x": "w"})) != data_fingerprint(df)


def test_bundled_ames_example():
    assert "ames" in available()
    ds = load_dataset(example_path(), "price", drop_columns=("Order", "PID"))
    schema = ds.schema
    assert schema.task is Task.REGRESSION and schema.output_size == 1
    assert {"price", "Order", "PID"}.isdisjoint(schema.feature_names)
    assert "area" in schema.numeric and "Neighborhood" in schema.categorical
    assert len(ds.train) + len(ds.val) + len(ds.test) == 2930
    assert 0.6 < len(ds.train) / 2930 < 0.8


def test_unknown_example():
    with pytest.raises(DataError, match="no bundled example 'iris'.*ames"):
        example_path("iris")
