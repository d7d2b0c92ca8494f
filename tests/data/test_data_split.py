"""hash_split: deterministic by content, across processes; fractions honoured and validated."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from latticenas.data import hash_split
from latticenas.errors import DataError


def _table(n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {"x": rng.normal(size=n), "k": rng.integers(0, 5, n), "c": rng.choice(["a", "b", None], n)}
    )


def _assignment(split) -> dict[int, str]:
    return {int(i): name for name in ("train", "val", "test") for i in getattr(split, name).index}


_CHILD = """
import json, sys
import numpy as np, pandas as pd
from latticenas.data import hash_split
rng = np.random.default_rng(7)
n = 2000
df = pd.DataFrame(
    {"x": rng.normal(size=n), "k": rng.integers(0, 5, n), "c": rng.choice(["a", "b", None], n)}
)
s = hash_split(df)
print(json.dumps({str(i): p for p in ("train", "val", "test") for i in getattr(s, p).index}))
"""


def test_same_assignment_in_another_process():
    mine = _assignment(hash_split(_table()))
    out = subprocess.run(
        [sys.executable, "-c", _CHILD],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    ).stdout
    assert {int(k): v for k, v in json.loads(out).items()} == mine


def test_fractions_roughly_honoured_and_order_kept():
    split = hash_split(_table(), val_fraction=0.2, test_fraction=0.1)
    sizes = [len(split.train), len(split.val), len(split.test)]
    assert sum(sizes) == 2000
    assert abs(sizes[1] - 400) < 60 and abs(sizes[2] - 200) < 45
    for part in (split.train, split.val, split.test):
        assert part.index.is_monotonic_increasing


def test_identical_rows_land_together_whatever_the_order():
    df = _table(300)
    perm = np.random.default_rng(3).permutation(300)
    doubled = pd.concat([df, df.iloc[perm]], ignore_index=True)  # row 300+j copies row perm[j]
    where = _assignment(hash_split(doubled))
    assert all(where[int(perm[j])] == where[300 + j] for j in range(300))
    assert _assignment(hash_split(df)) == {i: where[i] for i in range(300)}


def test_equal_values_read_differently_hash_alike():
    ints = pd.DataFrame({"a": [1, 2, 3, 4] * 50, "b": ["u", "v"] * 100})
    floats = ints.astype({"a": float})
    assert _assignment(hash_split(ints)) == _assignment(hash_split(floats))


def test_salt_changes_the_split():
    df = _table(500)
    assert _assignment(hash_split(df, salt="one")) != _assignment(hash_split(df, salt="two"))


def test_zero_fractions():
    split = hash_split(_table(100), val_fraction=0.0, test_fraction=0.0)
    assert len(split.train) == 100 and split.val.empty and split.test.empty


@pytest.mark.parametrize(
    ("val", "test", "match"),
    [
        (1.0, 0.1, "val_fraction .* --val-fraction"),
        (-0.1, 0.1, "val_fraction"),
        (0.1, 1.5, "test_fraction .* --test-fraction"),
        (0.1, "0.2", "test_fraction"),
        (True, 0.1, "val_fraction"),
        (0.6, 0.4, "leaves no training rows"),
    ],
)
def test_bad_fractions(val, test, match):
    with pytest.raises(DataError, match=match) as info:
        hash_split(_table(10), val_fraction=val, test_fraction=test)
    assert "\n" not in str(info.value)
