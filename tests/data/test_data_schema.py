"""infer_schema: tasks, overrides, column kinds, bad targets, JSON round-trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from latticenas.data import ColumnKind, TableSchema, Task, drop_missing_target, infer_schema
from latticenas.errors import DataError


def _frame(y) -> pd.DataFrame:
    y = list(y)
    n = len(y)
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "num": rng.normal(size=n),
            "cat": rng.choice(["a", "b"], n),
            "flag": rng.random(n) > 0.5,
            "y": y,
        }
    )


def _bad(match: str, *args, **kwargs) -> str:
    with pytest.raises(DataError, match=match) as info:
        infer_schema(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_regression_from_continuous_target():
    schema = infer_schema(_frame(np.linspace(0, 1, 200)), "y")
    assert schema.task is Task.REGRESSION and schema.classes is None and schema.output_size == 1


def test_binary_from_strings_and_from_two_numbers():
    s = infer_schema(_frame(["yes", "no"] * 50), "y")
    assert s.task is Task.BINARY and s.classes == ("no", "yes") and s.output_size == 1
    s = infer_schema(_frame([0.0, 1.0] * 50), "y")
    assert s.task is Task.BINARY and s.classes == ("0", "1")


def test_multiclass_from_strings_and_few_integers():
    s = infer_schema(_frame(["a", "b", "c"] * 40), "y")
    assert s.task is Task.MULTICLASS and s.classes == ("a", "b", "c") and s.output_size == 3
    s = infer_schema(_frame([1, 2, 3, 10] * 100), "y")
    assert s.task is Task.MULTICLASS and s.classes == ("1", "10", "2", "3")  # sorted as strings


def test_many_integers_are_regression():
    assert infer_schema(_frame(list(range(30)) * 10), "y").task is Task.REGRESSION  # > 20 values
    assert infer_schema(_frame([1, 2, 3, 4, 5] * 10), "y").task is Task.REGRESSION  # 10% of rows


def test_explicit_task_overrides():
    df = _frame([1, 2, 3] * 50)
    assert infer_schema(df, "y", task="regression").task is Task.REGRESSION
    assert infer_schema(df, "y", task=Task.MULTICLASS).task is Task.MULTICLASS
    assert infer_schema(df, "y", task="auto").task is Task.MULTICLASS
    assert infer_schema(_frame(np.linspace(0, 1, 100)), "y", task=None).task is Task.REGRESSION


def test_explicit_task_that_does_not_fit():
    _bad("regression needs a numeric target", _frame(["a", "b"] * 5), "y", task="regression")
    _bad(
        "binary needs 2 classes .* has 3.*--task=multiclass",
        _frame(["a", "b", "c"] * 5),
        "y",
        task="binary",
    )
    _bad("unknown task 'ordinal'", _frame([0, 1]), "y", task="ordinal")


def test_column_kinds_and_target_excluded():
    schema = infer_schema(_frame([0.5, 1.5, 2.5, 3.5]), "y")
    assert schema.feature_names == ("num", "cat", "flag")
    assert schema.numeric == ("num",) and schema.categorical == ("cat", "flag")
    assert schema.features[0].kind is ColumnKind.NUMERIC


def test_counts_missing_and_unique_without_missing_target_rows():
    df = pd.DataFrame({"a": [1.0, None, 1.0, None, 2.0], "y": [1.0, 2.0, None, 3.0, 4.0]})
    (info,) = infer_schema(df, "y").features
    assert (info.n_missing, info.n_unique) == (2, 2)
    assert list(drop_missing_target(df, "y").index) == [0, 1, 3, 4]


def test_drop_columns():
    assert infer_schema(_frame([0.5, 1.5]), "y", drop_columns=("cat",)).feature_names == (
        "num",
        "flag",
    )
    _bad("--drop-columns .* 'nope'", _frame([0.5, 1.5]), "y", drop_columns=("nope",))
    _bad("also listed in --drop-columns", _frame([0.5, 1.5]), "y", drop_columns=("y",))


def test_missing_target_suggests_close_names():
    msg = _bad("target column 'Y' not found: did you mean 'y'", _frame([0.5, 1.5]), "Y")
    msg = _bad(
        "target column 'zzz' not found: the columns are 'num', 'cat'", _frame([0.5, 1.5]), "zzz"
    )
    assert "'y'" in msg


def test_all_missing_target():
    _bad("no values \\(all missing\\)", pd.DataFrame({"a": [1, 2], "y": [None, None]}), "y")


@pytest.mark.parametrize("task", [None, "binary", "multiclass", "regression"])
def test_single_valued_target(task):
    _bad("single value", _frame([1, 1, 1, None]), "y", task=task)


def test_no_features_left():
    _bad(
        "no feature columns", pd.DataFrame({"a": [1, 2], "y": [0.1, 0.2]}), "y", drop_columns=["a"]
    )


def test_json_round_trip_and_encode_target():
    df = _frame(["b", "a", "c"] * 10)
    schema = infer_schema(df, "y")
    again = TableSchema.from_dict(json.loads(json.dumps(schema.to_dict())))
    assert again == schema
    assert list(schema.encode_target(df["y"])[:3]) == [1, 0, 2]
    with pytest.raises(DataError, match="labels \\['z'\\]"):
        schema.encode_target(pd.Series(["a", "z"]))
    with pytest.raises(DataError, match="invalid schema"):
        TableSchema.from_dict({"target": "y"})
