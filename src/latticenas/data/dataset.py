"""Load a table into a checked, split :class:`Dataset`.

:func:`load_dataset` reads the table (:func:`~latticenas.data.io.read_table`), infers its
schema (:func:`~latticenas.data.schema.infer_schema`), drops the rows whose target is missing
and the ``drop_columns``, stops on infinite numbers (a numeric feature or a regression target
holding +-inf; ``infinite="missing"`` makes a feature's +-inf cells missing instead), stops on
target leakage
(:func:`~latticenas.data.leakage.check_leakage`) and splits by content hash
(:func:`~latticenas.data.split.hash_split`). Each part holds the feature columns and the
target, in table order, with the original index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from latticenas.data.canonical import row_texts
from latticenas.data.io import read_table
from latticenas.data.leakage import check_leakage
from latticenas.data.schema import TableSchema, Task, drop_missing_target, infer_schema
from latticenas.data.split import hash_split, validate_fractions
from latticenas.errors import DataError


@dataclass(frozen=True)
class Dataset:
    """A table ready for training: schema plus train/validation/test parts."""

    schema: TableSchema
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    source_uri: str


def load_dataset(
    uri: str,
    target: str,
    task: Task | str | None = "auto",
    drop_columns: Iterable[str] = (),
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    allow_leakage: Iterable[str] = (),
    infinite: str = "refuse",
) -> Dataset:
    """Read, infer, check and split the table at ``uri`` (see the module docstring).

    Raises DataError (LeakageError for leakage) for any unusable input, including a table
    too small to give every part with a non-zero fraction (and train) at least one row.
    """
    validate_fractions(val_fraction, test_fraction)
    raw = read_table(uri)
    drop_columns = tuple(drop_columns)
    schema = replace(infer_schema(raw, target, task=task, drop_columns=drop_columns), infinite=infinite)
    rows = drop_missing_target(raw, target)
    if infinite == "missing":
        rows = _infinite_as_missing(rows, schema)
    _check_finite(rows, schema)
    check_leakage(rows, schema, allow=tuple(allow_leakage))
    kept = rows[[c for c in rows.columns if c == target or c in set(schema.feature_names)]]
    split = hash_split(kept, val_fraction=val_fraction, test_fraction=test_fraction)
    check_parts((len(split.train), len(split.val), len(split.test)), val_fraction, test_fraction)
    return Dataset(
        schema=schema, train=split.train, val=split.val, test=split.test, source_uri=str(uri)
    )


def _infinite_as_missing(rows: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """``rows`` with every +-inf of a numeric feature made missing (a target's stays)."""
    rows = rows.copy()
    for name in schema.numeric:
        rows[name] = infinite_as_missing(rows[name])
    return rows


def infinite_as_missing(column: pd.Series) -> pd.Series:
    """A numeric feature with its +-inf values made missing (``infinite="missing"``)."""
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64")
    return column.mask(np.isinf(values))


def finite_columns(schema: TableSchema) -> tuple[str, ...]:
    """The columns that must hold no +-inf, in the order they are checked: the numeric features,
    then a regression target."""
    return (*schema.numeric, *((schema.target,) if schema.task is Task.REGRESSION else ()))


def _check_finite(rows: pd.DataFrame, schema: TableSchema) -> None:
    for name in finite_columns(schema):
        check_finite(rows[name], schema)


def check_finite(column: pd.Series, schema: TableSchema) -> None:
    """DataError when ``column`` (a numeric feature or a regression target; its index the table's)
    holds +-inf: its statistics would be meaningless, so it is refused, as scikit-learn does."""
    name = column.name
    values = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64")
    infinite = np.flatnonzero(np.isinf(values))
    if not infinite.size:
        return
    where = ", ".join(str(column.index[i] + 1) for i in infinite[:5]) + (" ..." if infinite.size > 5 else "")
    fix = ("remove or fix those rows" if name == schema.target else
           f"replace them with numbers or empty cells (missing values are handled), set infinite_values=missing "
           f"to treat them as missing, or drop the column with --drop-columns={name}")
    kind = "target" if name == schema.target else "numeric column"
    raise DataError(f"{kind} {name!r} has infinite values in {infinite.size} row(s) (data row {where}): {fix}")


def check_parts(counts: tuple[int, int, int], val_fraction: float, test_fraction: float) -> None:
    """DataError when a part that should have rows has none (``counts``: train, validation, test rows)."""
    wanted = (("train", 1.0), ("validation", val_fraction), ("test", test_fraction))
    empty = [name for (name, fraction), n in zip(wanted, counts) if fraction > 0 and n == 0]
    if empty:
        raise DataError(
            f"too few rows ({sum(counts)}) to split: the {' and '.join(empty)} part is empty; "
            "use a larger table or change --val-fraction/--test-fraction"
        )


def data_fingerprint(df: pd.DataFrame) -> str:
    """sha256 (hex) of the column names and every row's canonical content, in order."""
    h = hashlib.sha256()
    for name in df.columns:
        h.update(f"{len(str(name))}:{name};".encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    for text in row_texts(df):
        h.update(text.encode("utf-8", "surrogatepass"))
        h.update(b"\n")
    return h.hexdigest()
