"""Reading a table in chunks of rows, for tables larger than memory.

:func:`read_table_chunks` yields what :func:`~latticenas.data.io.read_table` would return, in
consecutive pieces of at most ``rows`` rows: the same column names and checks (at least one
column and one row, each column named once), the same errors (one :class:`DataError` line), and
each piece indexed by its rows' positions in the table (or by the index a Parquet file stores).
CSV is parsed by pandas ``read_csv(chunksize=...)``, Parquet by pyarrow ``iter_batches``. A
``gs://`` table is first downloaded to a local temporary file, never held in memory.

A column's dtype is inferred per piece; concatenating the pieces gives the dtype a whole read
gives (ints in one piece and floats in another give floats, as pandas does), except for a CSV
column whose text parses as numbers in some pieces only (pandas' DtypeWarning on a whole read).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from latticenas.data.io import (_check_unique_names, _on_gcs_blob, check_csv_header, check_shape, empty_table, is_gcs_uri,
                                local_file, parse_errors, table_format)

CHUNK_ROWS = 50_000


def read_table_chunks(uri: str, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """The table at ``uri`` in pieces of at most ``rows`` rows (module doc)."""
    uri = str(uri)
    fmt = table_format(uri)
    with _local_copy(uri) as path:
        if path.stat().st_size == 0:
            raise empty_table(uri)
        pieces = _parquet_pieces(uri, path, rows) if fmt == "parquet" else _csv_pieces(uri, path, rows)
        start = 0
        for piece in pieces:
            check_shape(uri, piece.shape[1], 1)
            piece.columns = [str(c) for c in piece.columns]
            if start == 0:
                _check_unique_names(uri, list(piece.columns))
            if isinstance(piece.index, pd.RangeIndex):
                piece.index = pd.RangeIndex(start, start + len(piece))
            start += len(piece)
            yield piece
        if start == 0:
            check_shape(uri, 1, 0)


@contextlib.contextmanager
def _local_copy(uri: str):
    if not is_gcs_uri(uri):
        yield local_file(uri)
        return
    with tempfile.TemporaryDirectory(prefix="latticenas-table-") as tmp:
        path = Path(tmp) / Path(uri).name
        _on_gcs_blob(uri, lambda blob: blob.download_to_filename(str(path)))
        yield path


def _csv_pieces(uri: str, path: Path, rows: int) -> Iterator[pd.DataFrame]:
    compression = "gzip" if uri.lower().endswith(".gz") else None
    with parse_errors(uri, "csv"):
        check_csv_header(uri, path, compression)
        reader = pd.read_csv(path, compression=compression, chunksize=rows)
    with reader:
        while True:
            with parse_errors(uri, "csv"):
                try:
                    piece = next(reader)
                except StopIteration:
                    return
            yield piece


def _parquet_pieces(uri: str, path: Path, rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    with parse_errors(uri, "parquet"):
        source = pq.ParquetFile(path)
        batches = source.iter_batches(batch_size=rows)
    while True:
        with parse_errors(uri, "parquet"):
            try:
                batch = next(batches)
            except StopIteration:
                return
            # the file's pandas metadata (a stored index, dtypes) applies as in a whole read
            piece = pa.Table.from_batches([batch], schema=source.schema_arrow).to_pandas()
        yield piece
