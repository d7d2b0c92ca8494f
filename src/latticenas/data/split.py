"""Deterministic train/validation/test split by hashing row content.

Each row's canonical text (its values in column order, see :mod:`latticenas.data.canonical`)
is hashed with blake2b keyed by ``salt`` and mapped to a number ``u`` in [0, 1): rows with
``u < test_fraction`` go to test, the next ``val_fraction`` to validation, the rest to train.
So the assignment depends only on a row's values and the salt: identical rows always land in
the same part (no duplicate crosses from train to test), and the split is the same in every
process, on every machine, whatever the row order. Parts keep the original row order and index.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
import pandas as pd

from latticenas.data.canonical import digest_rows, row_texts
from latticenas.errors import DataError

DEFAULT_SALT = "latticenas"


@dataclass(frozen=True)
class Split:
    """The three parts of a table."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame


def validate_fractions(val_fraction: float, test_fraction: float) -> None:
    """DataError unless each fraction is a number in [0, 1) and their sum is below 1."""
    for option, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        flag = "--" + option.replace("_", "-")
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < 1:
            raise DataError(f"{option} must be a number >= 0 and < 1, got {value!r}: fix {flag}")
    if val_fraction + test_fraction >= 1:
        raise DataError(
            f"val_fraction + test_fraction = {val_fraction + test_fraction:g} leaves no training "
            "rows: make --val-fraction plus --test-fraction less than 1"
        )


def row_positions(df: pd.DataFrame, salt: str = DEFAULT_SALT) -> np.ndarray:
    """Each row's position in [0, 1), from the hash of its content and ``salt``."""
    digests = digest_rows(row_texts(df), salt)
    ints = np.array([int.from_bytes(d, "big") >> 11 for d in digests], dtype=np.float64)
    return ints / float(2**53)


TRAIN, VALIDATION, TEST = 0, 1, 2  # the part codes of :func:`part_codes`


def part_codes(positions: np.ndarray, val_fraction: float = 0.15, test_fraction: float = 0.15) -> np.ndarray:
    """Each row's part (``TRAIN``, ``VALIDATION`` or ``TEST``, int8) from its :func:`row_positions`:
    a row's part depends on that row alone, so a table can be split chunk by chunk."""
    codes = np.full(len(positions), TRAIN, dtype=np.int8)
    codes[positions < test_fraction + val_fraction] = VALIDATION
    codes[positions < test_fraction] = TEST
    return codes


def hash_split(
    df: pd.DataFrame,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    salt: str = DEFAULT_SALT,
) -> Split:
    """Split ``df`` into train/val/test by content hash (see the module docstring)."""
    validate_fractions(val_fraction, test_fraction)
    codes = part_codes(row_positions(df, salt), val_fraction, test_fraction)
    return Split(train=df.loc[codes == TRAIN], val=df.loc[codes == VALIDATION], test=df.loc[codes == TEST])
