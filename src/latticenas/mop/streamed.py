"""MOP's partitions written from a table staged in chunks (the driver never holds the table).

:func:`write_streamed_partitions` writes the layout of :mod:`latticenas.mop.partitions` from a
:class:`~latticenas.data.streamed.StreamedDataset`, with the same contents as
:func:`~latticenas.mop.partitions.write_partitions` on the same table loaded whole (tested):

* the encoder statistics are fitted **column by column** on the training rows of that column
  (:meth:`FeatureStats.fit` on one column, :meth:`FeatureStats.combine`; every statistic is
  per column, the quantiles of ``numeric_encoding=quantile`` included, so they are exact), and
  the :class:`~latticenas.features.TargetTransform` on the training targets;
* each training row goes to the partition :func:`~latticenas.mop.partitions.partition_rows`
  gives it, and the staged chunks are appended, in table order, to one Parquet writer per file
  (a local temporary file, moved or uploaded to ``root`` when complete).

Peak memory: one staged chunk, or one whole training column (and what its statistic needs),
plus 8 bytes a training row for the partition assignment.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from latticenas.data import Task, join_uri
from latticenas.data.io import put_file
from latticenas.data.split import TEST, TRAIN, VALIDATION
from latticenas.data.streamed import StreamedDataset
from latticenas.errors import DataError
from latticenas.features import FeatureStats, TargetTransform
from latticenas.mop.partitions import (TEST as TEST_FILE, VALIDATION as VALIDATION_FILE, PartitionManifest,
                                       check_layout, partition_file, partition_rows, write_manifest)


def write_streamed_partitions(data: StreamedDataset, root: str, partitions: int, *, seed: int = 0,
                              numeric_encoding: str = "standard", log_target: bool | None = None) -> PartitionManifest:
    """Write ``data`` as ``partitions`` training files plus validation and test (module doc)."""
    train_rows, validation_rows, test_rows = data.rows(TRAIN), data.rows(VALIDATION), data.rows(TEST)
    check_layout(root, partitions, train_rows, validation_rows)
    schema = data.schema
    stats = FeatureStats.combine([FeatureStats.fit(data.column(info.name, TRAIN).to_frame(),
                                                   replace(schema, features=(info,)), numeric_encoding)
                                  for info in schema.features])
    transform = None
    if schema.task is Task.REGRESSION:
        transform = TargetTransform.fit(data.column(schema.target, TRAIN).to_numpy(), log=log_target)
    pieces = partition_rows(train_rows, partitions, seed)
    owner = np.empty(train_rows, dtype=np.int32)
    for index, rows in enumerate(pieces):
        owner[rows] = index
    names = [partition_file(i) for i in range(partitions)] + [VALIDATION_FILE, TEST_FILE]
    with tempfile.TemporaryDirectory(prefix="latticenas-partitions-") as tmp:
        writers = _Writers(Path(tmp), names, data)
        offset = 0
        for chunk, codes in data.chunks():
            train = chunk[codes == TRAIN]
            where = owner[offset:offset + len(train)]
            offset += len(train)
            for index in np.unique(where):
                writers.append(partition_file(int(index)), train[where == index])
            writers.append(VALIDATION_FILE, chunk[codes == VALIDATION])
            writers.append(TEST_FILE, chunk[codes == TEST])
        for name in names:
            put_file(writers.close(name), join_uri(root, name))
    manifest = PartitionManifest(root=str(root), source=data.source_uri, schema=schema, stats=stats,
                                 transform=transform, rows=tuple(len(p) for p in pieces),
                                 validation_rows=validation_rows, test_rows=test_rows, seed=seed)
    return write_manifest(manifest)


class _Writers:
    """One Parquet file per name, appended to piece by piece under one schema: each column's Arrow
    type is the one its non-missing values give (a piece whose values are all missing would give
    ``null``), as writing the whole file from one frame would."""

    def __init__(self, directory: Path, names: list[str], data: StreamedDataset):
        import pyarrow.parquet as pq

        self.directory, self.writers, self.schema = directory, {}, None
        self.types = {}  # column -> the first non-null Arrow type among the staged chunks
        for file in data.files:
            for f in pq.read_schema(file):
                if str(f.type) != "null":
                    self.types.setdefault(f.name, f.type)
        self.names = names

    def append(self, name: str, frame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=True)
        if self.schema is None:
            self.schema = pa.schema([f.with_type(self.types.get(f.name, f.type)) if str(f.type) == "null" else f
                                     for f in table.schema], metadata=table.schema.metadata)
        try:
            table = table.cast(self.schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise DataError(f"cannot write the partitions: a column's values have two types across the table "
                            f"({str(exc).splitlines()[0][:200]}): give each column one type") from exc
        if name not in self.writers:
            self.writers[name] = pq.ParquetWriter(self.directory / name, self.schema)
        self.writers[name].write_table(table)

    def close(self, name: str) -> Path:
        """The finished file (an empty one with the schema when no row went to it)."""
        import pyarrow.parquet as pq

        if name not in self.writers:
            self.writers[name] = pq.ParquetWriter(self.directory / name, self.schema)
        self.writers.pop(name).close()
        return self.directory / name
