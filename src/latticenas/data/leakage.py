"""Stop a run whose features reproduce the target.

:func:`check_leakage` flags a feature when, on the rows where both are present:

* it is a copy of the target (equal canonical text in every row: ``"3"`` copies ``3.0``);
* for regression, it is numeric and its Pearson correlation with the target has
  ``|r| >= 0.99``;
* for classification, its values map one-to-one onto all the classes (each value goes with
  exactly one class and each class with exactly one value), e.g. a recoding of the label.

A feature counts only when it is present in at least half of the rows with a target, and the
correlation and one-to-one tests need at least ``MIN_ROWS`` such rows, so that a column is not
flagged by chance (a tiny table or an almost always missing column). Leaking features stop the run
with one LeakageError naming every such column and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd

from latticenas.data.canonical import canonical_strings
from latticenas.data.schema import ColumnKind, TableSchema, Task, drop_missing_target
from latticenas.errors import DataError, LeakageError

CORRELATION_THRESHOLD = 0.99
MIN_COVERAGE = 0.5
MIN_ROWS = 20


@dataclass(frozen=True)
class Leak:
    """A feature that reproduces the target, and why."""

    column: str
    reason: str


def check_leakage(df: pd.DataFrame, schema: TableSchema, allow: Iterable[str] = ()) -> None:
    """Raise LeakageError if a feature of ``schema`` (not in ``allow``) reproduces the target.

    ``allow`` naming a column absent from ``df`` raises DataError.
    """
    check_allowed(list(df.columns), allow)
    raise_leaks(find_leaks(df, schema, allow))


def check_allowed(columns: list, allow: Iterable[str]) -> None:
    """DataError when ``allow`` names a column not among ``columns``."""
    absent = sorted(set(allow) - set(map(str, columns)))
    if absent:
        raise DataError(
            f"--allow-leakage names columns not in the data: {', '.join(map(repr, absent))}; "
            "check the spelling"
        )


def raise_leaks(leaks: list[Leak]) -> None:
    """One LeakageError naming every leaking column and the fix (nothing when there is none)."""
    if leaks:
        names = ",".join(leak.column for leak in leaks)
        detail = "; ".join(f"{leak.column!r} {leak.reason}" for leak in leaks)
        raise LeakageError(
            f"target leakage: {detail}: drop it with --drop-columns={names} "
            f"or, if intended, pass --allow-leakage={names}"
        )


def find_leaks(df: pd.DataFrame, schema: TableSchema, allow: Iterable[str] = ()) -> list[Leak]:
    """Every feature of ``schema`` not in ``allow`` that reproduces the target, in table order."""
    rows = drop_missing_target(df, schema.target)
    return leaks_by_column(rows[schema.target], lambda name: rows[name], schema, allow)


def leaks_by_column(target: pd.Series, column: Callable[[str], pd.Series], schema: TableSchema,
                    allow: Iterable[str] = ()) -> list[Leak]:
    """:func:`find_leaks` on a table read one column at a time: ``target`` on the rows that have
    one and ``column(name)`` a feature on the same rows (one feature in memory at a time)."""
    allowed = set(allow)
    if target.empty:
        return []
    target_text = canonical_strings(target)
    leaks = []
    for info in schema.features:
        if info.name in allowed or info.name == schema.target:
            continue
        reason = _leak_reason(column(info.name), target, info.kind, schema, target_text)
        if reason:
            leaks.append(Leak(info.name, reason))
    return leaks


def _leak_reason(
    feature: pd.Series, target: pd.Series, kind: ColumnKind, schema: TableSchema, target_text: pd.Series
) -> str | None:
    """Why ``feature`` leaks the target, or None when it does not."""
    present = feature.notna()
    if present.mean() < MIN_COVERAGE:
        return None
    feature_text = canonical_strings(feature.loc[present])
    if feature_text.equals(target_text.loc[present]):
        return "is a copy of the target"
    if len(feature_text) < MIN_ROWS:
        return None
    if schema.task is Task.REGRESSION:
        if kind is ColumnKind.NUMERIC:
            return _correlated(feature.loc[present], target.loc[present])
        return None
    if _one_to_one(feature_text, target_text.loc[present], len(schema.classes or ())):
        return "maps one-to-one onto the classes"
    return None


def _correlated(feature: pd.Series, target: pd.Series) -> str | None:
    """'has |correlation| r' when |Pearson r| >= the threshold, else None."""
    if feature.nunique() < 2 or target.nunique() < 2:
        return None
    r = feature.astype(float).corr(target.astype(float))
    if pd.notna(r) and abs(r) >= CORRELATION_THRESHOLD:
        return f"has correlation {r:.4f} with the target"
    return None


def _one_to_one(feature_text: pd.Series, target_text: pd.Series, n_classes: int) -> bool:
    """True when feature values and all ``n_classes`` classes are in bijection."""
    pairs = pd.DataFrame(
        {"f": feature_text.to_numpy(), "t": target_text.to_numpy()}
    ).drop_duplicates()
    return len(pairs) == n_classes and pairs["f"].is_unique and pairs["t"].is_unique
