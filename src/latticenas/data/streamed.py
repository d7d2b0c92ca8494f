"""Load a table larger than memory: :func:`load_dataset`'s checks and split, chunk by chunk.

:func:`stream_dataset` applies :func:`~latticenas.data.dataset.load_dataset`'s rules, through
the same functions, to a table it never holds whole:

1. it reads the table in chunks (:func:`~latticenas.data.chunks.read_table_chunks`), checks the
   column names, drops the rows without a target and stages each chunk as a Parquet file in
   ``workdir`` (a local temporary directory);
2. it infers the schema (:func:`~latticenas.data.schema.schema_of_columns`), refuses infinite
   values (:func:`~latticenas.data.dataset.check_finite`) and leaking features
   (:func:`~latticenas.data.leakage.leaks_by_column`) reading **one column at a time** (these
   rules need a whole column: distinct counts, the target's classes, correlations);
3. it assigns every row its part by the same content hash (:func:`~latticenas.data.split.row_positions`
   is per row), chunk by chunk, and checks that every part has rows.

The :class:`StreamedDataset` it returns reads a part's columns (:meth:`~StreamedDataset.column`)
or rows (:meth:`~StreamedDataset.chunks`) from the staged files, with the whole table's dtypes.
Its parts hold the rows, values, dtypes, index and order of ``load_dataset``'s (tested). Peak
memory is a chunk's (times the hash's ~16x) or one column's, with its canonical text for the
leakage check, whichever is larger; never the table's.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from latticenas.data.chunks import CHUNK_ROWS, read_table_chunks
from latticenas.data.dataset import check_finite, check_parts, finite_columns, infinite_as_missing
from latticenas.data.leakage import check_allowed, leaks_by_column, raise_leaks
from latticenas.data.schema import TableSchema, Task, check_columns, drop_missing_target, schema_of_columns
from latticenas.data.split import part_codes, row_positions, validate_fractions
from latticenas.errors import DataError


@dataclass
class StreamedDataset:
    """A checked, split table staged on disk in chunks (module doc); :meth:`close` removes them."""

    schema: TableSchema
    source_uri: str
    files: list[Path]  # the staged chunks, in table order
    codes: list[np.ndarray]  # per chunk: each row's part (split.TRAIN / VALIDATION / TEST)
    dtypes: dict[str, object]  # the whole table's dtype of every kept column
    infinite: str = "refuse"
    workdir: Path | None = None
    staged_columns: list[str] = field(default_factory=list)  # every column of the table, dropped ones too

    @property
    def columns(self) -> list[str]:
        """The kept columns (the features and the target), in table order."""
        return list(self.dtypes)

    def rows(self, part: int | None = None) -> int:
        return int(sum(len(c) if part is None else int((c == part).sum()) for c in self.codes))

    def column(self, name: str, part: int | None = None) -> pd.Series:
        """One column of one part (or of every row), in table order, as a whole read gives it."""
        pieces = []
        for file, codes in zip(self.files, self.codes):
            piece = self._prepared(pd.read_parquet(file, columns=[name]))[name]
            pieces.append(piece if part is None else piece[codes == part])
        return pd.concat(pieces).astype(self.dtypes[name]).rename(name)

    def chunks(self, columns: Iterable[str] | None = None) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
        """Every staged chunk (its ``columns``, default the kept ones, with the table's dtypes) and its rows' parts."""
        columns = list(columns or self.columns)
        for file, codes in zip(self.files, self.codes):
            piece = self._prepared(pd.read_parquet(file, columns=columns))
            yield piece.astype({c: self.dtypes[c] for c in columns}), codes

    def _prepared(self, piece: pd.DataFrame) -> pd.DataFrame:
        if self.infinite == "missing":
            for name in set(self.schema.numeric) & set(piece.columns):
                piece[name] = infinite_as_missing(piece[name])
        return piece

    def close(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)


def stream_dataset(uri: str, target: str, task: Task | str | None = "auto", drop_columns: Iterable[str] = (),
                   val_fraction: float = 0.15, test_fraction: float = 0.15, allow_leakage: Iterable[str] = (),
                   infinite: str = "refuse", *, chunk_rows: int = CHUNK_ROWS,
                   workdir: str | Path | None = None) -> StreamedDataset:
    """:func:`~latticenas.data.dataset.load_dataset`'s dataset of ``uri``, staged in chunks (module doc)."""
    validate_fractions(val_fraction, test_fraction)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise DataError(f"chunk_rows must be a whole number >= 1, not {chunk_rows!r}")
    staging = Path(tempfile.mkdtemp(prefix="latticenas-stream-", dir=workdir))
    try:
        data = _stage(uri, target, tuple(drop_columns), chunk_rows, staging)
        data.infinite = infinite
        schema = data.schema = replace(schema_of_columns(data.columns, lambda name: _whole(data, name), target, task=task),
                                       infinite=infinite)
        data.dtypes = {c: data.dtypes[c] for c in data.columns if c == target or c in set(schema.feature_names)}
        for name in finite_columns(schema):
            check_finite(data.column(name), schema)
        check_allowed(data.staged_columns, allow_leakage)
        raise_leaks(leaks_by_column(data.column(target), data.column, schema, allow_leakage))
        data.codes = [part_codes(row_positions(piece), val_fraction, test_fraction) for piece, _ in data.chunks()]
        check_parts((data.rows(0), data.rows(1), data.rows(2)), val_fraction, test_fraction)
        return data
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _whole(data: StreamedDataset, name: str) -> pd.Series:
    """A column for the schema; its dtype is learnt here: the dtype of all its chunks together."""
    pieces = [pd.read_parquet(f, columns=[name])[name] for f in data.files]
    dtype = data.dtypes[name] = whole_dtype(pieces)
    return pd.concat(pieces).astype(dtype)


def whole_dtype(pieces: list[pd.Series]):
    """The dtype a whole read gives a column read in ``pieces``: a piece with no value at all
    has no type of its own (a whole read infers from the values), but its missing values need
    one that holds them (whole numbers become floats, booleans objects, as pandas reads them)."""
    valued = [p for p in pieces if p.notna().any()]
    if not valued or len(valued) == len(pieces):
        return pd.concat(pieces).dtype
    dtype = pd.concat([p.iloc[:1] for p in valued]).dtype
    if dtype.kind in "biu":
        dtype = pd.concat([p.iloc[:1] for p in valued] + [pd.Series([np.nan])]).dtype
    return dtype


def _stage(uri: str, target: str, drop: tuple[str, ...], chunk_rows: int, staging: Path) -> StreamedDataset:
    files, columns = [], None
    for index, piece in enumerate(read_table_chunks(uri, chunk_rows)):
        if columns is None:
            columns = list(piece.columns)
            dropped = check_columns(columns, target, drop)
        rows = drop_missing_target(piece, target)
        file = staging / f"chunk-{index:05d}.parquet"
        try:
            rows.to_parquet(file, index=True)
        except (TypeError, ValueError) as exc:  # pyarrow's ArrowTypeError / ArrowInvalid: mixed types
            raise DataError(f"cannot stage rows {rows.index.min() + 1}-{rows.index.max() + 1} of {uri} as Parquet "
                            f"({str(exc).splitlines()[0][:200]}): give each column one type") from exc
        files.append(file)
    return StreamedDataset(schema=None, source_uri=str(uri), files=files, codes=[np.zeros(0, np.int8)] * len(files),
                           dtypes={c: None for c in columns if c not in dropped}, workdir=staging,
                           staged_columns=columns)
