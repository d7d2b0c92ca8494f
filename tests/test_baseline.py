"""The HistGradientBoosting baseline on the bundled Ames data and tables derived from it."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest

from latticenas.baseline import NAME, BaselineResult, fit_baseline, run_baseline
from latticenas.data import load_dataset, read_table
from latticenas.datasets import example_path
from latticenas.errors import DataError, LatticeNASError
from latticenas.evaluation import CLASSIFICATION_METRICS, REGRESSION_METRICS
from latticenas.features import TargetTransform

AMES_DROP = ("Order", "PID")
SMALL_COLUMNS = [
    "area", "Overall.Qual", "Year.Built", "Lot.Area", "Neighborhood", "Kitchen.Qual", "price"
]


@pytest.fixture(scope="module")
def ames_table() -> pd.DataFrame:
    return read_table(example_path("ames"))


@pytest.fixture(scope="module")
def small_table(ames_table) -> pd.DataFrame:
    """Six Ames features, two of them categorical, and the sale price."""
    return ames_table[SMALL_COLUMNS]


def _load(tmp_path_factory, frame: pd.DataFrame, target: str, **options):
    path = tmp_path_factory.mktemp("baseline") / "table.csv"
    frame.to_csv(path, index=False)
    return load_dataset(str(path), target, **options)


@pytest.fixture(scope="module")
def small(tmp_path_factory, small_table):
    return _load(tmp_path_factory, small_table, "price")


@pytest.fixture(scope="module")
def small_baseline(small):
    return fit_baseline(small)


def test_ames_regression_matches_the_trials_metrics():
    dataset = load_dataset(example_path("ames"), "price", drop_columns=AMES_DROP)
    result = run_baseline(dataset)
    assert result.name == NAME
    assert tuple(result.val_metrics) == REGRESSION_METRICS
    assert tuple(result.test_metrics) == REGRESSION_METRICS
    assert result.val_metrics["rmsle"] < 0.2 and result.val_metrics["r2"] > 0.85
    assert result.fit_seconds > 0


def test_no_test_rows_gives_no_test_metrics(tmp_path_factory, small_table):
    dataset = _load(tmp_path_factory, small_table, "price", test_fraction=0)
    result = run_baseline(dataset)
    assert result.test_metrics is None
    assert np.isfinite(list(result.val_metrics.values())).all()


def test_log_target_is_decided_as_the_networks_decide(small, small_baseline):
    expected = TargetTransform.fit(small.train["price"].to_numpy()).log
    assert small_baseline.transform.log is expected is True
    assert fit_baseline(small, log_target=False).transform.log is False


def test_regression_predicts_target_units(small, small_baseline):
    predictions = small_baseline.predict(small.test)
    assert predictions.shape == (len(small.test),)
    assert 0.8 < np.median(predictions) / small.test["price"].median() < 1.25


def test_unseen_categories_and_unparsable_numbers_become_missing(small, small_baseline):
    unseen = small.test.assign(Neighborhood="Atlantis", **{"Lot.Area": "unknown"})
    missing = small.test.assign(Neighborhood=np.nan, **{"Lot.Area": np.nan})
    predictions = small_baseline.predict(unseen)
    assert np.isfinite(predictions).all()
    np.testing.assert_array_equal(predictions, small_baseline.predict(missing))


def test_missing_feature_column_is_named(small, small_baseline):
    with pytest.raises(DataError, match="lacks feature columns.*Neighborhood"):
        small_baseline.predict(small.test.drop(columns="Neighborhood"))


def test_high_cardinality_column_is_ordinal(tmp_path_factory, ames_table):
    frame = ames_table[SMALL_COLUMNS].assign(PID="pid-" + ames_table["PID"].astype(str))
    dataset = _load(tmp_path_factory, frame, "price")
    baseline = fit_baseline(dataset)
    flags = baseline.estimator.is_categorical_
    is_categorical = dict(zip(dataset.schema.feature_names, flags, strict=True))
    assert is_categorical["Neighborhood"] and not is_categorical["PID"]
    assert np.isfinite(list(baseline.evaluate(dataset.val).values())).all()


@pytest.mark.parametrize("n_classes", [2, 3])
def test_classification_reports_the_trials_metrics(tmp_path_factory, small_table, n_classes):
    labels = ["low", "mid", "high"] if n_classes == 3 else ["low", "high"]
    band = pd.qcut(small_table["price"], n_classes, labels=labels).astype(str)
    dataset = _load(tmp_path_factory, small_table.assign(band=band).drop(columns="price"), "band")
    result = run_baseline(dataset)
    for metrics in (result.val_metrics, result.test_metrics):
        assert tuple(metrics) == CLASSIFICATION_METRICS
        assert 0.6 < metrics["accuracy"] <= 1 and 0.8 < metrics["auc"] <= 1
        assert 0 < metrics["logloss"] < 1
    proba = fit_baseline(dataset).predict(dataset.test)
    assert proba.shape == (len(dataset.test), 1 if n_classes == 2 else 3)
    assert ((proba >= 0) & (proba <= 1)).all()
    if n_classes == 3:
        np.testing.assert_allclose(proba.sum(axis=1), 1)


def test_result_round_trips_through_json():
    result = BaselineResult(NAME, {"rmse": 1.5, "r2": 0.9}, None, 0.25)
    assert BaselineResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    with_test = BaselineResult(NAME, {"auc": 0.8}, {"auc": 0.75}, 1.0)
    assert BaselineResult.from_dict(json.loads(json.dumps(with_test.to_dict()))) == with_test
    with pytest.raises(DataError, match="invalid baseline record"):
        BaselineResult.from_dict({"name": NAME})


def test_missing_sklearn_names_the_fix(small, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(LatticeNASError, match=r"pip install 'latticenas\[search\]'"):
        fit_baseline(small)
