"""stream_dataset: load_dataset's schema, checks and split, on a table read in chunks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latticenas.data import hash_split, load_dataset
from latticenas.data.chunks import read_table_chunks
from latticenas.data.split import TEST, TRAIN, VALIDATION
from latticenas.data.streamed import stream_dataset
from latticenas.errors import DataError


def mixed_table(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Missing values, a chunk (of 50 rows) where a column has none or only whole numbers, +inf,
    rows without a target and duplicate rows: what makes a chunk's dtypes differ from the table's."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=rows), "n": rng.integers(0, 50, size=rows).astype(float),
                          "kind": rng.choice(["x", "y", "z", "long value"], size=rows),
                          "flag": pd.Series(rng.choice([True, False], size=rows), dtype=object)})
    frame.loc[rng.random(rows) < 0.1, "a"] = np.nan
    frame.loc[100:160, "kind"] = None
    frame.loc[rng.random(rows) < 0.05, "n"] = np.nan
    frame.loc[210:270, "n"] = 7
    frame.loc[300:360, "flag"] = None
    frame["target"] = 2 * frame["a"].fillna(0) + frame["n"].fillna(0) / 10 + rng.normal(0, 0.1, size=rows)
    frame.loc[rng.random(rows) < 0.05, "target"] = np.nan
    frame.loc[[5, 6], "a"] = np.inf
    return pd.concat([frame, frame.iloc[[10, 11, 12]]], ignore_index=True)


def write(frame: pd.DataFrame, path) -> str:
    frame.to_csv(path, index=False) if ".csv" in str(path) else frame.to_parquet(path, index=False)
    return str(path)


def missing_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    """Missing values of object columns as None: a staged chunk gives None where a whole read
    gives NaN (both are missing to every rule: canonical text, notna, vocabularies)."""
    objects = [c for c in frame.columns if frame[c].dtype == object]
    return frame.astype({c: object for c in objects}).where(frame.notna(), None)


def part(data, code: int) -> pd.DataFrame:
    return pd.concat([chunk[codes == code] for chunk, codes in data.chunks()])


@pytest.mark.parametrize("name", ["t.csv", "t.parquet", "t.csv.gz"])
def test_streamed_parts_equal_load_datasets(tmp_path, name):
    uri = write(mixed_table(), tmp_path / name)
    options = {"target": "target", "infinite": "missing", "drop_columns": ["flag"]}
    whole = load_dataset(uri, **options)
    data = stream_dataset(uri, **options, chunk_rows=50, workdir=tmp_path)
    try:
        assert len(data.files) == 9 and data.schema == whole.schema
        for code, expected in ((TRAIN, whole.train), (VALIDATION, whole.val), (TEST, whole.test)):
            got = part(data, code)
            assert dict(got.dtypes) == dict(expected.dtypes)
            pd.testing.assert_frame_equal(missing_as_none(got), missing_as_none(expected), check_index_type=False)
            pd.testing.assert_series_equal(data.column("a", code), expected["a"], check_index_type=False)
    finally:
        data.close()
    assert not any(tmp_path.glob("latticenas-stream-*"))  # the staged chunks are gone


def test_the_split_chunk_by_chunk_is_the_hash_split_of_the_whole_table(tmp_path):
    frame = mixed_table(seed=3).dropna(subset=["target"])
    frame = frame[~np.isinf(frame["a"])]
    uri = write(frame, tmp_path / "t.csv")
    split = hash_split(pd.read_csv(uri), val_fraction=0.2, test_fraction=0.1)
    data = stream_dataset(uri, "target", val_fraction=0.2, test_fraction=0.1, chunk_rows=17, workdir=tmp_path)
    try:
        for code, expected in ((TRAIN, split.train), (VALIDATION, split.val), (TEST, split.test)):
            assert list(part(data, code).index) == list(expected.index)
        assert data.rows() == len(frame)
    finally:
        data.close()


def test_chunks_are_the_table_in_order_with_its_row_positions(tmp_path):
    frame = mixed_table(rows=120)
    pieces = list(read_table_chunks(write(frame, tmp_path / "t.parquet"), rows=50))
    assert [len(p) for p in pieces] == [50, 50, 23]
    pd.testing.assert_frame_equal(missing_as_none(pd.concat(pieces)), missing_as_none(pd.read_parquet(tmp_path / "t.parquet")))


@pytest.mark.parametrize("change, options", [
    (lambda f: f, {"target": "targte"}),  # an unknown target
    (lambda f: f, {"target": "target", "drop_columns": ["nope"]}),
    (lambda f: f, {"target": "target"}),  # +inf in 'a', refused
    (lambda f: f.assign(copy=f["target"] * 2), {"target": "target", "infinite": "missing"}),  # leakage
    (lambda f: f, {"target": "target", "infinite": "missing", "allow_leakage": ["zz"]}),
    (lambda f: f.assign(target=np.nan), {"target": "target"}),  # no target at all
    (lambda f: f.head(3), {"target": "target", "infinite": "missing"}),  # too few rows to split
])
def test_bad_tables_give_load_datasets_error(tmp_path, change, options):
    uri = write(change(mixed_table()), tmp_path / "t.csv")
    with pytest.raises(DataError) as whole:
        load_dataset(uri, **options)
    with pytest.raises(DataError) as streamed:
        stream_dataset(uri, **options, chunk_rows=40, workdir=tmp_path)
    assert type(streamed.value) is type(whole.value) and str(streamed.value) == str(whole.value)
    assert not any(tmp_path.glob("latticenas-stream-*"))


def test_unreadable_tables_are_one_line_errors(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,target\n")
    (tmp_path / "twice.csv").write_text("a,a,target\n1,2,3\n")
    for name, message in (("empty.csv", "is empty"), ("header.csv", "has a header but no rows"),
                          ("twice.csv", "names two columns 'a'"), ("absent.csv", "does not exist")):
        with pytest.raises(DataError, match=message):
            stream_dataset(str(tmp_path / name), "target", workdir=tmp_path)
