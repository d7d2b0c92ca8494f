"""Canonical text of cell values, shared by hashing, leakage checks and class labels.

The text of a value depends only on the value, not on how the table was read: ``1``, ``1.0``
and ``numpy.int64(1)`` all give ``"1"``; floats that are not whole numbers use Python's
shortest round-trip ``repr``; booleans give ``"True"``/``"False"``; timestamps give ISO 8601;
strings are kept as they are; missing values (None, NaN, NA, NaT) give ``None``. This text is
stable across processes, machines and library versions, unlike Python's salted ``hash()``.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
from collections.abc import Iterable

import pandas as pd

_MAX_EXACT_INT = 2**53
MISSING_TOKEN = "\x00NA"


def canonical_value(value: object) -> str | None:
    """The canonical text of one cell value, or None when it is missing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer() and abs(value) < _MAX_EXACT_INT:
            return str(int(value))
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars left in object columns
        return canonical_value(value.item())
    return str(value)


def canonical_column(column: pd.Series) -> list[str | None]:
    """Canonical text of every value of a column, in row order."""
    return [canonical_value(v) for v in column.tolist()]


def canonical_strings(column: pd.Series) -> pd.Series:
    """Canonical text of a column as an object Series (missing stays missing), same index."""
    return pd.Series(canonical_column(column), index=column.index, dtype=object)


def row_texts(df: pd.DataFrame) -> list[str]:
    """One canonical text per row: each value length-prefixed, in column order."""
    if df.shape[1] == 0:
        return [""] * len(df)
    columns = [canonical_column(df[c]) for c in df.columns]
    return ["".join(_field(v) for v in row) for row in zip(*columns, strict=True)]


def _field(value: str | None) -> str:
    """Length-prefixed field so that no two different rows share a text."""
    text = MISSING_TOKEN if value is None else value
    return f"{len(text)}:{text};"


def digest_rows(texts: Iterable[str], salt: str) -> list[bytes]:
    """An 8-byte blake2b digest of each row text, keyed by ``salt``."""
    prefix = salt.encode("utf-8", "surrogatepass") + b"\x00"
    return [
        hashlib.blake2b(prefix + t.encode("utf-8", "surrogatepass"), digest_size=8).digest()
        for t in texts
    ]
