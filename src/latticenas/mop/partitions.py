"""A table as training partitions for Model Hopper Parallelism, and the manifest that ties them.

Layout of a partitioned table (a local directory or a ``gs://`` prefix)::

    <root>/manifest.json           format, source, row counts, schema, encoder statistics
    <root>/train-00000.parquet     training partition 0 (rows in a seeded random order)
    ...
    <root>/validation.parquet      the validation split (every epoch's validation)
    <root>/test.parquet            the test split (never read by training)

Contract:

* :func:`write_partitions` splits a checked :class:`~latticenas.data.Dataset` (the trials'
  loader: schema, leakage check and hash split) and fits the encoders **once**, on the union of
  the training partitions (:class:`~latticenas.features.FeatureStats` and the regression
  :class:`~latticenas.features.TargetTransform`, exactly what one trial fits on its training
  split). The manifest ships them, so every model on every worker encodes alike.
  :func:`latticenas.mop.streamed.write_streamed_partitions` writes the same files from a table
  streamed in chunks (what ``latticenas mop`` does: the driver never holds the table).
* It refuses a root that already holds a manifest (another run's table, which its workers may
  be reading): every run writes its own. Everything is written through
  :mod:`latticenas.data.io`, so a ``gs://`` root needs nothing else than Cloud Storage access
  (the driver writes, each worker reads its own files); a missing bucket or a denied write is
  one :class:`~latticenas.errors.DataError` line.
* :class:`PartitionManifest` round-trips through JSON; :func:`read_manifest` reads it back.
* :func:`read_partition` reads one file of the layout and nothing else (a worker calls it for
  the partitions it owns only).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from latticenas.data import Dataset, TableSchema, Task, exists, join_uri, read_bytes, write_bytes
from latticenas.errors import DataError
from latticenas.features import FeatureStats, TargetTransform

FORMAT = "latticenas-partitions/1"
MANIFEST = "manifest.json"
VALIDATION = "validation.parquet"
TEST = "test.parquet"


def partition_file(index: int) -> str:
    return f"train-{index:05d}.parquet"


@dataclass(frozen=True)
class PartitionManifest:
    """Where the partitions are and what every worker needs to encode them alike."""

    root: str
    source: str
    schema: TableSchema
    stats: FeatureStats
    transform: TargetTransform | None
    rows: tuple[int, ...]  # training rows per partition
    validation_rows: int
    test_rows: int
    seed: int = 0

    @property
    def partitions(self) -> tuple[int, ...]:
        return tuple(range(len(self.rows)))

    def uri(self, name: str) -> str:
        return join_uri(self.root, name)

    def to_dict(self) -> dict:
        return {
            "format": FORMAT, "source": self.source, "seed": self.seed,
            "schema": self.schema.to_dict(), "features": self.stats.to_dict(),
            "target_transform": self.transform.to_dict() if self.transform else None,
            "partitions": [{"file": partition_file(i), "rows": n} for i, n in enumerate(self.rows)],
            "validation": {"file": VALIDATION, "rows": self.validation_rows},
            "test": {"file": TEST, "rows": self.test_rows},
        }

    @classmethod
    def from_dict(cls, data: dict, root: str) -> PartitionManifest:
        if data.get("format") != FORMAT:
            raise DataError(f"{join_uri(root, MANIFEST)} is not a partition manifest ({FORMAT}): "
                            "write the partitions again with latticenas mop")
        transform = data.get("target_transform")
        return cls(
            root=root, source=str(data["source"]), seed=int(data.get("seed", 0)),
            schema=TableSchema.from_dict(data["schema"]), stats=FeatureStats.from_dict(data["features"]),
            transform=TargetTransform.from_dict(transform) if transform else None,
            rows=tuple(int(p["rows"]) for p in data["partitions"]),
            validation_rows=int(data["validation"]["rows"]), test_rows=int(data["test"]["rows"]),
        )


def write_partitions(dataset: Dataset, root: str, partitions: int, *, seed: int = 0,
                     numeric_encoding: str = "standard", log_target: bool | None = None) -> PartitionManifest:
    """Write ``dataset`` as ``partitions`` training files plus validation and test; see the module doc.

    The whole table is in memory here; :func:`latticenas.mop.streamed.write_streamed_partitions`
    writes the same files from a table staged in chunks."""
    train = dataset.train
    check_layout(root, partitions, len(train), len(dataset.val))
    schema = dataset.schema
    stats = FeatureStats.fit(train, schema, numeric_encoding)
    transform = None
    if schema.task is Task.REGRESSION:
        transform = TargetTransform.fit(train[schema.target].to_numpy(), log=log_target)
    pieces = partition_rows(len(train), partitions, seed)
    for index, rows in enumerate(pieces):
        _write_frame(train.iloc[np.sort(rows)], join_uri(root, partition_file(index)))
    _write_frame(dataset.val, join_uri(root, VALIDATION))
    _write_frame(dataset.test, join_uri(root, TEST))
    manifest = PartitionManifest(root=str(root), source=dataset.source_uri, schema=schema, stats=stats,
                                 transform=transform, rows=tuple(len(p) for p in pieces),
                                 validation_rows=len(dataset.val), test_rows=len(dataset.test), seed=seed)
    return write_manifest(manifest)


def check_layout(root: str, partitions: int, train_rows: int, validation_rows: int) -> None:
    """DataError unless ``train_rows`` fill ``partitions`` partitions, with validation rows, at a new ``root``."""
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise DataError(f"partitions must be a whole number >= 1, not {partitions!r}: fix --partitions")
    if exists(join_uri(root, MANIFEST)):
        raise DataError(f"{join_uri(root, MANIFEST)} already exists (another run's partitions): "
                        "pass a new --partition-root, or delete that one")
    if train_rows < partitions:
        raise DataError(f"{train_rows} training rows cannot fill {partitions} partitions: "
                        "lower --partitions or use a larger table")
    if validation_rows == 0:
        raise DataError("the validation split is empty: MOP validates every model after every epoch; "
                        "set --val-fraction above 0")


def partition_rows(train_rows: int, partitions: int, seed: int) -> list[np.ndarray]:
    """The training rows (ordinals in table order) of each partition: a seeded random share."""
    return np.array_split(np.random.default_rng(seed).permutation(train_rows), partitions)


def write_manifest(manifest: PartitionManifest) -> PartitionManifest:
    """Write ``manifest`` last, once every file it names is there."""
    write_bytes(manifest.uri(MANIFEST), (json.dumps(manifest.to_dict(), indent=2) + "\n").encode())
    return manifest


def read_manifest(root: str) -> PartitionManifest:
    try:
        data = json.loads(read_bytes(join_uri(root, MANIFEST)))
    except json.JSONDecodeError as exc:
        raise DataError(f"{join_uri(root, MANIFEST)} is not valid JSON ({exc.msg}): write the partitions again") from exc
    return PartitionManifest.from_dict(data, str(root))


def read_partition(manifest: PartitionManifest, name: str) -> pd.DataFrame:
    """One file of the layout (``partition_file(i)``, ``VALIDATION``), with its table index."""
    return pd.read_parquet(io.BytesIO(read_bytes(manifest.uri(name))))


def _write_frame(frame: pd.DataFrame, uri: str) -> None:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=True)
    write_bytes(uri, buffer.getvalue())
