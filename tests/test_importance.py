"""latticenas.importance: permutation importance in the metric's units, its chart and its files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latticenas.data import Task
from latticenas.importance import FeatureImportance, importance_chart, permutation_importance, write_importance

CITY = {"a": 0.0, "b": 5.0, "c": -5.0}


def _inputs(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return {"size": rng.normal(size=(n, 1)), "noise": rng.normal(size=(n, 1)),
            "city": rng.choice(list(CITY), size=(n, 1)).astype(object)}


def _model(x) -> np.ndarray:  # depends on size and city, not on noise
    return 10.0 * x["size"] + np.vectorize(CITY.get)(x["city"]).astype(float)


def test_importance_is_the_rmse_increase_in_target_units():
    inputs = _inputs()
    calls = []

    def predict(x):
        calls.append(len(x["size"]))
        return _model(x)

    result = permutation_importance(predict, inputs, _model(inputs).ravel(), task=Task.REGRESSION, metric="rmse",
                                    repeats=3, batch_rows=100_000)
    by_name = {f.name: f for f in result.features}
    assert [f.name for f in result.features] == ["size", "city", "noise"]
    assert result.score == 0.0 and result.rows == 400 and result.change == "rmse increase"
    # shuffling size: rmse ~ 10 * sqrt(2) * std(size)
    assert by_name["size"].mean == pytest.approx(10 * np.sqrt(2), rel=0.15)
    assert by_name["noise"].mean == 0.0 and by_name["city"].mean > 1.0
    assert calls == [400, 9 * 400]  # the rows once, then every permuted copy in one batch


def test_a_group_of_inputs_is_one_feature_shuffled_together():
    inputs = _inputs()
    inputs["size_again"] = inputs["size"].copy()
    model = lambda x: x["size"] - x["size_again"]  # noqa: E731  (zero unless the two are shuffled apart)
    together = permutation_importance(model, inputs, np.zeros(400), task=Task.REGRESSION, metric="rmse",
                                      groups={"size": ("size", "size_again"), "noise": ("noise",)})
    assert [f.mean for f in together.features] == [0.0, 0.0] and {f.name for f in together.features} == {"size", "noise"}
    apart = permutation_importance(model, inputs, np.zeros(400), task=Task.REGRESSION, metric="rmse")
    assert {f.name for f in apart.features if f.mean > 1.0} == {"size", "size_again"}


def test_a_row_cap_and_small_batches_give_the_same_kind_of_answer():
    inputs = _inputs(3000)
    calls = []

    def predict(x):
        calls.append(len(x["size"]))
        return _model(x)

    result = permutation_importance(predict, inputs, _model(inputs).ravel(), task=Task.REGRESSION, metric="mae",
                                    groups={"size": ("size",), "noise": ("noise",)}, repeats=2, max_rows=500,
                                    batch_rows=1000)
    assert result.rows == 500 and calls == [500, 1000, 1000]
    assert result.features[0].name == "size" and result.features[1].mean == 0.0


def test_a_metric_to_maximize_counts_its_decrease():
    inputs = _inputs()
    codes = (inputs["size"].ravel() > 0).astype(int)
    proba = lambda x: 1 / (1 + np.exp(-5 * x["size"]))  # noqa: E731
    result = permutation_importance(proba, inputs, codes, task=Task.BINARY, metric="auc", n_classes=2)
    assert result.change == "auc decrease" and result.features[0].name == "size" and result.features[0].mean > 0.3


def test_round_trip_chart_and_files(tmp_path):
    inputs = _inputs()
    result = permutation_importance(_model, inputs, _model(inputs).ravel(), task=Task.REGRESSION, metric="rmse")
    assert FeatureImportance.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    svg = importance_chart(result)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "rmse increase" in svg
    write_importance(result, tmp_path)
    assert (tmp_path / "importance.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "importance.json").read_text())["features"][0]["name"] == "size"
    assert "size" in result.line()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="metric 'nope'"):
        permutation_importance(_model, _inputs(), np.zeros(400), task=Task.REGRESSION, metric="nope")
