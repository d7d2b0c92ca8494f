"""Prepared data: CSV parts that come back exactly, and a search table that reproduces the split."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from latticenas.data import data_fingerprint, load_dataset
from latticenas.data.canonical import row_texts
from latticenas.errors import DataError
from latticenas.pipeline.prepared import (
    PREPARED_FORMAT,
    check_accelerator,
    check_trial_split,
    parse_columns,
    prepare,
    read_prepared,
    search_table,
    trial_split_options,
    write_prepared,
    write_search_table,
)


def tricky_frame(n: int = 240) -> pd.DataFrame:
    """Values a careless CSV round trip changes: codes with leading zeros, the text "NA",
    whole floats, NaN in numbers and text, booleans, long floats."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=n) * 1e-7 + 1 / 3
    rooms = rng.integers(1, 6, n).astype(float)
    rooms[::9] = np.nan
    code = rng.choice(["001", "010", "NA", "x"], n).astype(object)
    code[::11] = None
    flag = rng.random(n) < 0.5
    y = 3 * x * 1e7 + rooms.__abs__().clip(0, 9) + rng.normal(0, 1, n)
    y = np.where(np.isnan(y), 2.5, y)
    return pd.DataFrame({"id": np.arange(n), "x": x, "rooms": rooms, "code": code, "flag": flag, "y": y})


def write_parts(prepared, directory):
    paths = {name: str(directory / name) for name in ("train", "val", "test", "record", "profile")}
    write_prepared(prepared, **paths)
    return paths


def test_parts_come_back_exactly(tmp_path):
    source = tmp_path / "t.parquet"
    tricky_frame().to_parquet(source, index=False)
    prepared = prepare(str(source), "y", drop_columns="id")
    paths = write_parts(prepared, tmp_path)
    back = read_prepared(record=paths["record"], train=paths["train"], val=paths["val"], test=paths["test"])
    for name in ("train", "val", "test"):
        mine = prepared.part(name).reset_index(drop=True)
        theirs = back.part(name)
        assert list(theirs.columns) == list(mine.columns) == ["x", "rooms", "code", "flag", "y"]
        assert row_texts(theirs) == row_texts(mine), name
        assert data_fingerprint(theirs) == data_fingerprint(mine)
    assert back.schema == prepared.schema
    assert "NA" in set(back.dataset.train["code"].dropna()) and "001" in set(back.dataset.train["code"].dropna())


def test_record_describes_the_data(tmp_path, houses_csv):
    prepared = prepare(str(houses_csv), "price", task="auto", val_fraction=0.2, test_fraction=0.1)
    paths = write_parts(prepared, tmp_path)
    record = json.loads((tmp_path / "record").read_text())
    assert record["format"] == PREPARED_FORMAT
    assert record["task"] == "regression" and record["requested_task"] == "auto"
    assert record["rows"] == {"train": len(prepared.dataset.train), "val": len(prepared.dataset.val),
                              "test": len(prepared.dataset.test)}
    assert sum(record["rows"].values()) == 300
    assert [c["name"] for c in record["columns"]] == ["size", "rooms", "zone", "price"]
    assert {c["name"]: c["storage"] for c in record["columns"]}["zone"] == "text"
    from latticenas.profile import dataset_fingerprint

    assert record["data_fingerprint"] == dataset_fingerprint(prepared.dataset)
    profile = (tmp_path / "profile").read_text()
    assert record["data_fingerprint"] in profile and "price" in profile
    assert (tmp_path / "train").read_text().splitlines()[0] == "size,rooms,zone,price"
    assert paths  # written


def test_example_data_is_resolved():
    prepared = prepare("example:ames", "price", drop_columns=["Order", "PID"])
    assert prepared.record.data_uri == "example:ames"
    assert prepared.record.resolved_uri.endswith("ames.csv")
    assert "Order" not in prepared.dataset.train.columns


@pytest.mark.parametrize("fractions", [(0.15, 0.15), (0.1, 0.2), (0.2, 0.0), (0.1, 0.05)])
def test_the_search_table_reproduces_the_prepared_split(tmp_path, fractions):
    val_fraction, test_fraction = fractions
    source = tmp_path / "t.parquet"
    tricky_frame(400).to_parquet(source, index=False)
    prepared = prepare(str(source), "y", drop_columns="id", val_fraction=val_fraction, test_fraction=test_fraction)
    paths = write_parts(prepared, tmp_path)
    back = read_prepared(record=paths["record"], train=paths["train"], val=paths["val"])
    table = write_search_table(back, str(tmp_path / "search.parquet"))
    assert len(search_table(back)) == len(prepared.dataset.train) + len(prepared.dataset.val)
    assert check_trial_split(back, table) == []
    # what the trial program does with those options
    options = trial_split_options(back.record)
    assert options["test-fraction"] == "0"
    seen = load_dataset(table, "y", val_fraction=float(options["val-fraction"]), test_fraction=0.0)
    assert seen.test.empty
    assert data_fingerprint(seen.val.reset_index(drop=True)) == data_fingerprint(prepared.dataset.val.reset_index(drop=True))
    # no test row reaches the search
    test_rows = set(row_texts(prepared.dataset.test))
    assert not test_rows & set(row_texts(pd.read_parquet(table)))


def test_a_changed_table_is_reported(tmp_path, houses_csv):
    prepared = prepare(str(houses_csv), "price")
    table = search_table(prepared)
    table["size"] = table["size"] + 1.0
    path = tmp_path / "other.parquet"
    table.to_parquet(path, index=False)
    problems = check_trial_split(prepared, str(path))
    assert problems and "validation" in " ".join(problems)


def test_split_options_carry_allowed_leakage(houses_csv):
    record = replace(prepare(str(houses_csv), "price").record, val_fraction=0.1, test_fraction=0.2, allow_leakage=("a", "b"))
    assert trial_split_options(record) == {"val-fraction": repr(0.2 + 0.1), "test-fraction": "0", "allow-leakage": "a,b"}


def test_bad_input_is_one_clear_error(houses_csv):
    with pytest.raises(DataError, match="val_fraction must be above 0"):
        prepare(str(houses_csv), "price", val_fraction=0.0)
    with pytest.raises(DataError, match="accelerator 'gpus'"):
        check_accelerator("gpus")
    assert check_accelerator("tpu") == "tpu"
    assert parse_columns(" a, ,b ") == ("a", "b") and parse_columns(None) == () and parse_columns(["x"]) == ("x",)
