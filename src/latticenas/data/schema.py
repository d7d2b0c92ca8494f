"""Table schema: which columns are features of which kind, the target and the task.

:func:`infer_schema` looks at a DataFrame and a target column name and decides:

* the task, unless given: a non-numeric target is ``binary`` with 2 classes, else
  ``multiclass``; a numeric target with at most 2 distinct values is ``binary``; a
  whole-number target with at most 20 distinct values, fewer than 5% of the rows, is
  ``multiclass``; anything else is ``regression``. An explicit task overrides this, but
  ``regression`` needs a numeric target and ``binary`` needs exactly 2 classes.
* each feature's kind: numeric dtypes (not bool) are NUMERIC; object, string, bool and
  category columns are CATEGORICAL.
* the class labels of a classification task: the canonical text of each target value
  (see :mod:`latticenas.data.canonical`; ``1.0`` gives ``"1"``), sorted as strings.

Rows whose target is missing take no part: statistics are computed without them, and
:func:`drop_missing_target` removes them before training (``load_dataset`` does this).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import pandas as pd

from latticenas.data.canonical import canonical_strings
from latticenas.errors import DataError

MAX_AUTO_CLASSES = 20
MAX_AUTO_CLASS_RATIO = 0.05


class Task(str, Enum):
    """What the network predicts."""

    REGRESSION = "regression"
    BINARY = "binary"
    MULTICLASS = "multiclass"


class ColumnKind(str, Enum):
    """How a feature is encoded."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class ColumnInfo:
    """A feature column: its kind, missing-value count and distinct non-missing values."""

    name: str
    kind: ColumnKind
    n_missing: int
    n_unique: int


@dataclass(frozen=True)
class TableSchema:
    """Features (in table order), target, task and, for classification, sorted class labels;
    ``infinite``: what a numeric feature's +-inf is (``refuse``: an error; ``missing``: a missing
    cell), the loader's rule, kept so that a served model applies it to new rows too."""

    features: tuple[ColumnInfo, ...]
    target: str
    task: Task
    classes: tuple[str, ...] | None
    infinite: str = "refuse"

    @property
    def feature_names(self) -> tuple[str, ...]:
        """All feature names, in table order."""
        return tuple(c.name for c in self.features)

    @property
    def numeric(self) -> tuple[str, ...]:
        """Names of the NUMERIC features."""
        return tuple(c.name for c in self.features if c.kind is ColumnKind.NUMERIC)

    @property
    def categorical(self) -> tuple[str, ...]:
        """Names of the CATEGORICAL features."""
        return tuple(c.name for c in self.features if c.kind is ColumnKind.CATEGORICAL)

    @property
    def output_size(self) -> int:
        """Units of the output layer: 1 for regression and binary, one per class otherwise."""
        if self.task is Task.MULTICLASS:
            return len(self.classes or ())
        return 1

    def encode_target(self, y: pd.Series) -> np.ndarray:
        """Target values as float32 (regression) or class indices into ``classes`` (int64).

        Raises DataError for a missing value or a label not among ``classes``.
        """
        if y.isna().any():
            raise DataError(f"target {self.target!r} has missing values: drop those rows first")
        if self.task is Task.REGRESSION:
            return y.to_numpy(dtype=np.float32)
        index = {label: i for i, label in enumerate(self.classes or ())}
        labels = canonical_strings(y)
        unknown = sorted(set(labels) - index.keys())
        if unknown:
            raise DataError(
                f"target {self.target!r} has labels {unknown[:5]} not seen when the schema was "
                f"made (classes {list(self.classes or ())[:10]}): use data with the same classes"
            )
        return np.fromiter((index[v] for v in labels), dtype=np.int64, count=len(labels))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reverses it."""
        return {
            "target": self.target,
            "task": self.task.value,
            "classes": None if self.classes is None else list(self.classes),
            "infinite": self.infinite,
            "features": [
                {
                    "name": c.name,
                    "kind": c.kind.value,
                    "n_missing": c.n_missing,
                    "n_unique": c.n_unique,
                }
                for c in self.features
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TableSchema:
        """Rebuild a schema from :meth:`to_dict` output; DataError when it is malformed."""
        try:
            features = tuple(
                ColumnInfo(
                    str(f["name"]), ColumnKind(f["kind"]), int(f["n_missing"]), int(f["n_unique"])
                )
                for f in data["features"]
            )
            classes = data.get("classes")
            return cls(
                features=features,
                target=str(data["target"]),
                task=Task(data["task"]),
                classes=None if classes is None else tuple(str(c) for c in classes),
                infinite=str(data.get("infinite", "refuse")),  # contracts written before it was kept
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"invalid schema record ({type(exc).__name__}: {exc}): regenerate it"
            ) from exc


def parse_task(task: Task | str | None) -> Task | None:
    """A Task, or None for automatic inference (None or ``"auto"``); DataError otherwise."""
    if task is None or isinstance(task, Task):
        return task
    value = str(task).strip().lower()
    if value == "auto":
        return None
    try:
        return Task(value)
    except ValueError:
        raise DataError(
            f"unknown task {task!r}: use --task=auto, regression, binary or multiclass"
        ) from None


def drop_missing_target(df: pd.DataFrame, target: str) -> pd.DataFrame:
    """The rows whose target is present, in their original order and index."""
    return df.loc[df[target].notna()]


def infer_schema(
    df: pd.DataFrame,
    target: str,
    task: Task | str | None = None,
    drop_columns: Iterable[str] = (),
) -> TableSchema:
    """Infer the schema of ``df`` for predicting ``target`` (see the module docstring).

    ``drop_columns`` are left out of the features. Raises DataError when the target or a
    dropped column is absent, the target is entirely missing, a classification target has a
    single class, or the requested task does not fit the target.
    """
    drop = check_columns(list(df.columns), target, tuple(drop_columns))
    present = drop_missing_target(df, target)
    return schema_of_columns(list(df.columns), lambda name: present[name], target, task=task, drop=drop)


def schema_of_columns(
    columns: list[str],
    column: Callable[[str], pd.Series],
    target: str,
    task: Task | str | None = None,
    drop: Iterable[str] = (),
) -> TableSchema:
    """The schema :func:`infer_schema` infers, from a table read one column at a time.

    ``columns`` are the table's column names (already checked, e.g. by :func:`check_columns`)
    and ``column(name)`` that column's values on the rows whose target is present, so a table
    larger than memory can be inferred column by column (:mod:`latticenas.data.streamed`).
    """
    requested = parse_task(task)
    y = column(target)
    if y.empty:
        raise DataError(
            f"target column {target!r} has no values (all missing): choose another --target"
        )
    resolved = _resolve_task(y, requested, target)
    classes = None if resolved is Task.REGRESSION else tuple(sorted(set(canonical_strings(y))))
    drop = set(drop)
    names = [c for c in columns if c != target and c not in drop]
    if not names:
        raise DataError(f"no feature columns left besides target {target!r}: keep some columns")
    features = tuple(_column_info(column(c), c) for c in names)
    return TableSchema(features=features, target=target, task=resolved, classes=classes)


def check_columns(columns: list, target: str, drop: Iterable[str] = ()) -> set[str]:
    """Validate the column names, target and drop list (before any value is read); the drop set."""
    drop = tuple(drop)
    bad = [c for c in columns if not isinstance(c, str)]
    if bad:
        raise DataError(f"column names must be strings, got {bad[:3]!r}: rename the columns")
    if target not in columns:
        raise DataError(f"target column {target!r} not found: {_suggest(target, columns)}")
    absent = [c for c in drop if c not in columns]
    if absent:
        raise DataError(
            f"--drop-columns names columns not in the data: {', '.join(map(repr, absent))}; "
            f"{_suggest(absent[0], columns)}"
        )
    if target in drop:
        raise DataError(
            f"target {target!r} is also listed in --drop-columns: remove it from the list"
        )
    return set(drop)


def _suggest(name: str, columns: Iterable[str]) -> str:
    """'did you mean ...' from close column names, or the first few columns."""
    columns = [str(c) for c in columns]
    by_lower = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(repr(by_lower[c]) for c in close) + "?"
    shown = ", ".join(repr(c) for c in columns[:8])
    more = f" (and {len(columns) - 8} more)" if len(columns) > 8 else ""
    return f"the columns are {shown}{more}"


def _is_numeric(y: pd.Series) -> bool:
    """Numeric dtype that is not boolean."""
    return pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)


def _is_whole(y: pd.Series) -> bool:
    """Integer dtype, or floats that are all whole numbers (ints read next to NaNs)."""
    if pd.api.types.is_integer_dtype(y):
        return True
    values = y.to_numpy(dtype=float)
    return bool(np.all(np.isfinite(values)) and np.all(np.floor(values) == values))


def _resolve_task(y: pd.Series, requested: Task | None, target: str) -> Task:
    """Infer or validate the task for the (non-missing) target values ``y``."""
    numeric = _is_numeric(y)
    n_unique = int(canonical_strings(y).nunique())
    if n_unique < 2:
        raise DataError(
            f"target {target!r} has a single value ({y.iloc[0]!r}) in every row: "
            "nothing to predict; choose another --target"
        )
    if requested is Task.REGRESSION and not numeric:
        raise DataError(
            f"task regression needs a numeric target but {target!r} is {y.dtype}: "
            "use --task=binary or --task=multiclass"
        )
    if requested is Task.BINARY and n_unique != 2:
        raise DataError(
            f"task binary needs 2 classes but target {target!r} has {n_unique}: "
            "use --task=multiclass"
        )
    if requested is not None:
        return requested
    if not numeric or n_unique <= 2:
        return Task.BINARY if n_unique == 2 else Task.MULTICLASS
    if _is_whole(y) and n_unique <= MAX_AUTO_CLASSES and n_unique < MAX_AUTO_CLASS_RATIO * len(y):
        return Task.MULTICLASS
    return Task.REGRESSION


def _column_info(column: pd.Series, name: str) -> ColumnInfo:
    """Kind, missing count and distinct count of one feature."""
    kind = ColumnKind.NUMERIC if _is_numeric(column) else ColumnKind.CATEGORICAL
    return ColumnInfo(name, kind, int(column.isna().sum()), int(column.nunique(dropna=True)))
