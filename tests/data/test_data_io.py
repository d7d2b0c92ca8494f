"""read_table / read_bytes / write_bytes / join_uri on local files and gs:// (emulator)."""

from __future__ import annotations

import gzip

import pandas as pd
import pytest

from latticenas.data import exists, join_uri, read_bytes, read_table, write_bytes
from latticenas.errors import DataError

FRAME = pd.DataFrame({"x": [1.5, 2.5, None], "c": ["a", "b", "a"], "y": [0, 1, 0]})


def _raises_one_line(match: str, fn, *args) -> DataError:
    with pytest.raises(DataError, match=match) as info:
        fn(*args)
    assert "\n" not in str(info.value)
    return info.value


@pytest.mark.parametrize("name", ["t.csv", "t.CSV", "t.csv.gz"])
def test_reads_csv(tmp_path, name):
    path = tmp_path / name
    text = FRAME.to_csv(index=False).encode()
    path.write_bytes(gzip.compress(text) if name.endswith(".gz") else text)
    pd.testing.assert_frame_equal(read_table(str(path)), FRAME)


@pytest.mark.parametrize("name", ["t.parquet", "t.pq"])
def test_reads_parquet(tmp_path, name):
    FRAME.to_parquet(tmp_path / name)
    pd.testing.assert_frame_equal(read_table(str(tmp_path / name)), FRAME, check_dtype=False)


def test_missing_file(tmp_path):
    _raises_one_line(r"does not exist.*check the path", read_table, str(tmp_path / "nope.csv"))


def test_directory_is_not_a_file(tmp_path):
    (tmp_path / "d.csv").mkdir()
    _raises_one_line("is a directory", read_table, str(tmp_path / "d.csv"))


@pytest.mark.parametrize("content", [b"", b"  \n\n"])
def test_empty_file(tmp_path, content):
    (tmp_path / "e.csv").write_bytes(content)
    _raises_one_line("is empty", read_table, str(tmp_path / "e.csv"))


def test_empty_gzip(tmp_path):
    (tmp_path / "e.csv.gz").write_bytes(gzip.compress(b""))
    _raises_one_line("is empty", read_table, str(tmp_path / "e.csv.gz"))


def test_header_without_rows(tmp_path):
    (tmp_path / "h.csv").write_text("a,b\n")
    _raises_one_line("no rows", read_table, str(tmp_path / "h.csv"))


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("bad.csv", b"a,b\n1,2\n3,4,5,6\n"),
        ("bin.csv", b"\xff\xfe\x00\x81\x9a,\xc3\x28\n\x80\x81\n"),
        ("bad.parquet", b"this is not parquet"),
        ("bad.csv.gz", b"not gzip at all"),
    ],
)
def test_unparsable(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    _raises_one_line(
        r"cannot parse .* as (CSV|PARQUET): .*check the file format",
        read_table,
        str(tmp_path / name),
    )


@pytest.mark.parametrize("name", ["t.xlsx", "t.json", "noext", "t.csv.zip"])
def test_unsupported_extension(tmp_path, name):
    (tmp_path / name).write_text("a,b\n1,2\n")
    err = _raises_one_line("unsupported file type", read_table, str(tmp_path / name))
    assert ".parquet" in str(err)


@pytest.mark.parametrize(
    "uri", ["gs://", "gs://bucket", "gs://bucket/", "gs://Bad_Bucket/x.csv", "gs:///x.csv"]
)
def test_bad_gs_uri(uri):
    _raises_one_line("bad Cloud Storage URI", read_bytes, uri)


def test_write_creates_parents_and_round_trips(tmp_path):
    uri = join_uri(str(tmp_path), "a", "b", "blob.bin")
    assert not exists(uri)
    write_bytes(uri, b"\x00payload")
    assert exists(uri) and read_bytes(uri) == b"\x00payload"


def test_join_uri():
    assert join_uri("gs://b/runs/", "/exp/", "t1", "m.json") == "gs://b/runs/exp/t1/m.json"
    assert join_uri("gs://b", "x") == "gs://b/x"
    assert join_uri("/tmp/runs", "exp", "m.json") == "/tmp/runs/exp/m.json"


class TestGcs:
    """Against a real gcp-storage-emulator."""

    def test_reads_csv_and_parquet(self, gcs_bucket):
        csv_uri = f"gs://{gcs_bucket}/data/t.csv"
        write_bytes(csv_uri, FRAME.to_csv(index=False).encode())
        pd.testing.assert_frame_equal(read_table(csv_uri), FRAME)
        pq_uri = f"gs://{gcs_bucket}/data/t.parquet"
        write_bytes(pq_uri, FRAME.to_parquet())
        pd.testing.assert_frame_equal(read_table(pq_uri), FRAME, check_dtype=False)

    def test_bytes_round_trip_and_exists(self, gcs_bucket):
        uri = join_uri(f"gs://{gcs_bucket}", "runs", "a.bin")
        assert not exists(uri)
        write_bytes(uri, b"abc")
        assert exists(uri) and read_bytes(uri) == b"abc"

    def test_missing_object(self, gcs_bucket):
        err = _raises_one_line(
            "object .* does not exist", read_table, f"gs://{gcs_bucket}/nope.csv"
        )
        assert "nope.csv" in str(err)

    def test_missing_bucket(self, gcs_emulator):
        _raises_one_line(
            "bucket 'no-such-bucket' .* does not exist", read_table, "gs://no-such-bucket/t.csv"
        )

    def test_empty_object(self, gcs_bucket):
        write_bytes(f"gs://{gcs_bucket}/e.csv", b"")
        _raises_one_line("is empty", read_table, f"gs://{gcs_bucket}/e.csv")
