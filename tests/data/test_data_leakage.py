"""check_leakage: copies, near-perfect correlation, one-to-one class recodings; allow=."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from latticenas.data import check_leakage, find_leaks, infer_schema, read_table
from latticenas.datasets import example_path
from latticenas.errors import DataError, LeakageError

N = 400


def _regression() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    x = rng.normal(size=N)
    return pd.DataFrame(
        {"x": x, "noise": rng.normal(size=N), "y": 3 * x + rng.normal(scale=2, size=N)}
    )


def _classification() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    y = rng.choice(["cat", "dog", "eel"], N)
    return pd.DataFrame({"x": rng.normal(size=N), "g": rng.choice(["p", "q"], N), "y": y})


def _leaks(df: pd.DataFrame, **kwargs) -> str:
    with pytest.raises(LeakageError) as info:
        check_leakage(df, infer_schema(df, "y"), **kwargs)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_clean_tables_pass():
    for df in (_regression(), _classification()):
        check_leakage(df, infer_schema(df, "y"))


def test_copy_of_target_is_caught_with_the_fix():
    df = _regression().assign(y_copy=lambda d: d["y"])
    msg = _leaks(df)
    assert "'y_copy' is a copy of the target" in msg
    assert "--drop-columns=y_copy" in msg and "--allow-leakage=y_copy" in msg


def test_copy_as_strings_is_caught():
    df = _regression().round({"y": 0})
    df["y_text"] = df["y"].map(lambda v: str(int(v)))
    assert "'y_text' is a copy" in _leaks(df)


def test_highly_correlated_feature_is_caught():
    df = _regression()
    rng = np.random.default_rng(5)
    df["y_noisy"] = 2 * df["y"] + 1 + rng.normal(scale=0.05 * df["y"].std(), size=N)
    assert df["y_noisy"].corr(df["y"]) > 0.99
    assert "'y_noisy' has correlation 0.99" in _leaks(df)
    df["y_noisy"] = -df["y_noisy"]
    assert "'y_noisy' has correlation -0.99" in _leaks(df)


def test_moderate_correlation_passes():
    df = _regression()
    assert 0.7 < abs(df["x"].corr(df["y"])) < 0.99
    assert find_leaks(df, infer_schema(df, "y")) == []


def test_one_to_one_recoding_of_the_label_is_caught():
    df = _classification()
    df["code"] = df["y"].map({"cat": "C-1", "dog": "D-2", "eel": "E-3"})
    df["num_code"] = df["y"].map({"cat": 10, "dog": 20, "eel": 30})
    msg = _leaks(df)
    assert "'code' maps one-to-one onto the classes" in msg and "'num_code'" in msg
    assert "--drop-columns=code,num_code" in msg


def test_coarser_or_partial_mappings_pass():
    df = _classification()
    df["two_groups"] = df["y"].map(
        {"cat": "pet", "dog": "pet", "eel": "fish"}
    )  # class -> value only
    df["mostly_missing"] = df["y"].where(np.arange(N) < N // 4)  # present in a quarter of rows
    check_leakage(df, infer_schema(df, "y"))


def test_allow_lets_a_leak_through():
    df = _regression().assign(y_copy=lambda d: d["y"])
    check_leakage(df, infer_schema(df, "y"), allow=("y_copy",))


def test_allow_naming_an_absent_column():
    df = _regression()
    with pytest.raises(DataError, match="--allow-leakage .* 'nope'"):
        check_leakage(df, infer_schema(df, "y"), allow=["nope"])


def test_bundled_ames_has_no_leak():
    df = read_table(example_path("ames"))
    schema = infer_schema(df, "price", drop_columns=("Order", "PID"))
    assert "price" not in schema.feature_names
    assert find_leaks(df, schema) == []
    check_leakage(df, schema)


def test_tiny_tables_are_not_flagged_by_chance():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "y": [1.1, 2.0, 3.05]})
    assert find_leaks(df, infer_schema(df, "y")) == []
