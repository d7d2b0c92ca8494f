"""MOP's partitions written from a streamed table equal those written from the table in memory."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from latticenas.data import load_dataset
from latticenas.data.streamed import stream_dataset
from latticenas.errors import DataError
from latticenas.mop.partitions import TEST, VALIDATION, partition_file, read_manifest, read_partition, write_partitions
from latticenas.mop.streamed import write_streamed_partitions

sys.path.insert(0, str(Path(__file__).parent / "data"))
from test_data_streamed import mixed_table, write  # noqa: E402


def both(tmp_path, uri: str, partitions: int, encoding: str, **options):
    whole = write_partitions(load_dataset(uri, **options), str(tmp_path / "whole"), partitions, seed=4,
                             numeric_encoding=encoding)
    data = stream_dataset(uri, **options, chunk_rows=50, workdir=tmp_path)
    try:
        streamed = write_streamed_partitions(data, str(tmp_path / "streamed"), partitions, seed=4,
                                             numeric_encoding=encoding)
    finally:
        data.close()
    return whole, streamed


@pytest.mark.parametrize("encoding", ["standard", "quantile"])
def test_streamed_partitions_equal_the_in_memory_ones(tmp_path, encoding):
    uri = write(mixed_table(), tmp_path / "t.csv")
    whole, streamed = both(tmp_path, uri, 3, encoding, target="target", infinite="missing")
    assert streamed.to_dict() == whole.to_dict()  # schema, encoder statistics, target transform, row counts
    assert read_manifest(streamed.root).to_dict() == whole.to_dict()
    for name in [partition_file(i) for i in range(3)] + [VALIDATION, TEST]:
        pd.testing.assert_frame_equal(read_partition(streamed, name), read_partition(whole, name))


def test_streamed_partitions_of_a_classification_parquet_table(tmp_path):
    frame = mixed_table(rows=300).dropna(subset=["target"])
    frame["target"] = pd.cut(frame["target"], 3, labels=["low", "mid", "high"]).astype(str)
    uri = write(frame, tmp_path / "t.parquet")
    whole, streamed = both(tmp_path, uri, 2, "robust", target="target", infinite="missing")
    assert streamed.schema.classes == ("high", "low", "mid") and streamed.to_dict() == whole.to_dict()
    for name in [partition_file(0), partition_file(1), VALIDATION]:
        pd.testing.assert_frame_equal(read_partition(streamed, name), read_partition(whole, name))


def test_streamed_partitions_refuse_what_the_in_memory_ones_refuse(tmp_path):
    uri = write(mixed_table(rows=100), tmp_path / "t.csv")
    data = stream_dataset(uri, "target", infinite="missing", chunk_rows=30, workdir=tmp_path)
    try:
        with pytest.raises(DataError, match="cannot fill 1000 partitions"):
            write_streamed_partitions(data, str(tmp_path / "p"), 1000)
        write_streamed_partitions(data, str(tmp_path / "p"), 2)
        with pytest.raises(DataError, match="already exists"):
            write_streamed_partitions(data, str(tmp_path / "p"), 2)
    finally:
        data.close()
