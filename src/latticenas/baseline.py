"""A gradient-boosting baseline to show beside every search result.

:func:`fit_baseline` trains scikit-learn's HistGradientBoosting (regressor or classifier, all
defaults, ``random_state=seed``) on a :class:`~latticenas.data.Dataset`'s *train* split only,
the rows the networks train on, and returns a :class:`Baseline` that predicts raw tables the
way :class:`~latticenas.predict.Predictor` does: target units, shape (n,), for regression;
P(``classes[1]``), shape (n, 1), for binary; one column per class, shape (n, k), for
multiclass. :func:`run_baseline` fits and scores it on the validation and test splits with
the metric functions the trials use (:mod:`latticenas.evaluation`), so the numbers compare
directly, and returns a JSON-ready :class:`BaselineResult`.

Inputs as HistGradientBoosting takes them natively: numeric columns as floats (unparsable
values become NaN, which it handles), categorical columns as pandas ``category`` with the
training split's values as categories (unseen or missing values become NaN). A column with
more categories than HistGradientBoosting accepts (:data:`MAX_NATIVE_CATEGORIES`) is given as
its ordinal code instead. A regression target is trained through the networks' own
:class:`~latticenas.features.TargetTransform` (log1p for a positive, skewed target, unless
``log_target`` says otherwise), so both make the same choice. scikit-learn is an optional
dependency, imported only when a baseline is fitted.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from latticenas.extras import require
from latticenas.data import Dataset, TableSchema, Task
from latticenas.errors import DataError, LatticeNASError
from latticenas.evaluation import task_metrics
from latticenas.features import MISSING_TOKEN, TargetTransform, categorical_strings

NAME = "HistGradientBoosting"
MAX_NATIVE_CATEGORIES = 255  # HistGradientBoosting's default max_bins: it refuses more categories
MIN_SKLEARN = (1, 4)  # categorical_features="from_dtype"


@dataclass(frozen=True)
class BaselineResult:
    """The baseline's metrics (bare names, as the trials report them) and its fit time."""

    name: str
    val_metrics: dict[str, float]
    test_metrics: dict[str, float] | None  # None when the dataset has no test rows
    fit_seconds: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> BaselineResult:
        """Rebuild from :meth:`to_dict` output; DataError when it is malformed."""
        try:
            test = data["test_metrics"]
            return cls(
                name=str(data["name"]),
                val_metrics={str(k): float(v) for k, v in data["val_metrics"].items()},
                test_metrics=None if test is None else {str(k): float(v) for k, v in test.items()},
                fit_seconds=float(data["fit_seconds"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
            raise DataError(f"invalid baseline record ({problem}): rerun the baseline") from exc


@dataclass(frozen=True)
class Baseline:
    """A fitted HistGradientBoosting model and the input encoding learned from the train split."""

    schema: TableSchema
    estimator: object  # sklearn HistGradientBoostingRegressor / HistGradientBoostingClassifier
    categories: Mapping[str, tuple[str, ...]]  # every categorical column's training values
    transform: TargetTransform | None  # regression only
    fit_seconds: float

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Target units (n,) for regression; P(classes[1]) (n, 1) binary; (n, k) multiclass."""
        x = _features(df, self.schema, self.categories)
        if self.transform is not None:
            return self.transform.inverse(self.estimator.predict(x))
        proba = np.zeros((len(x), len(self.schema.classes)))
        proba[:, self.estimator.classes_] = self.estimator.predict_proba(x)  # classes_ are codes
        return proba[:, 1:] if self.schema.task is Task.BINARY else proba

    def evaluate(self, df: pd.DataFrame) -> dict[str, float]:
        """The trials' metrics on ``df`` (which must hold the target column)."""
        y = df[self.schema.target]
        truth = y.to_numpy(dtype="float64") if self.schema.task is Task.REGRESSION else self.schema.encode_target(y)
        return task_metrics(self.schema.task, truth, self.predict(df), len(self.schema.classes or ()))


def fit_baseline(dataset: Dataset, *, log_target: bool | None = None, seed: int = 0) -> Baseline:
    """HistGradientBoosting with scikit-learn defaults, fitted on ``dataset.train`` only."""
    ensemble = _sklearn_ensemble()
    schema, train = dataset.schema, dataset.train
    started = time.perf_counter()
    categories = {c: _training_categories(train[c]) for c in schema.categorical}
    x = _features(train, schema, categories)
    y = train[schema.target]
    transform = None
    if schema.task is Task.REGRESSION:
        transform = TargetTransform.fit(y.to_numpy(dtype="float64"), log=log_target)
        estimator = ensemble.HistGradientBoostingRegressor(
            categorical_features="from_dtype", random_state=seed
        )
        estimator.fit(x, transform.forward(y.to_numpy(dtype="float64")))
    else:
        estimator = ensemble.HistGradientBoostingClassifier(
            categorical_features="from_dtype", random_state=seed
        )
        estimator.fit(x, schema.encode_target(y))
    seconds = time.perf_counter() - started
    return Baseline(schema, estimator, categories, transform, seconds)


def run_baseline(
    dataset: Dataset, *, log_target: bool | None = None, seed: int = 0
) -> BaselineResult:
    """Fit on train, score on validation and (when it has rows) test."""
    if dataset.val.empty:
        raise DataError(
            "the dataset has no validation rows to score the baseline on: use --val-fraction > 0"
        )
    baseline = fit_baseline(dataset, log_target=log_target, seed=seed)
    test = None if dataset.test.empty else baseline.evaluate(dataset.test)
    return BaselineResult(NAME, baseline.evaluate(dataset.val), test, baseline.fit_seconds)


def _sklearn_ensemble():
    """``sklearn.ensemble``, or LatticeNASError naming the extra (or the version) to install."""
    sklearn = require("sklearn")
    from sklearn import ensemble
    version = tuple(int(p) for p in sklearn.__version__.split(".")[:2] if p.isdigit())
    if version < MIN_SKLEARN:
        raise LatticeNASError(
            f"the baseline needs scikit-learn >= 1.4, found {sklearn.__version__}: "
            "pip install -U 'scikit-learn>=1.4'"
        )
    return ensemble


def _training_categories(column: pd.Series) -> tuple[str, ...]:
    return tuple(sorted(set(_strings(column).dropna())))


def _strings(column: pd.Series) -> pd.Series:
    """Category text as the networks read it (stripped strings); missing values as NaN."""
    strings = categorical_strings(column)
    return strings.where(strings != MISSING_TOKEN)


def _features(
    df: pd.DataFrame, schema: TableSchema, categories: Mapping[str, tuple[str, ...]]
) -> pd.DataFrame:
    """The feature columns as HistGradientBoosting takes them (see the module docstring)."""
    missing = [c for c in schema.feature_names if c not in df.columns]
    if missing:
        raise DataError(
            f"the table lacks feature columns the baseline needs: {', '.join(missing[:10])}"
        )
    columns = {}
    for name in schema.feature_names:
        if name not in categories:
            columns[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
            continue
        strings = _strings(df[name])
        known = strings.where(strings.isin(categories[name]))  # unseen -> NaN
        values = pd.Categorical(known, categories=categories[name])
        if len(categories[name]) > MAX_NATIVE_CATEGORIES:
            codes = pd.Series(values.codes, index=df.index, dtype="float64")
            columns[name] = codes.where(codes >= 0)
        else:
            columns[name] = pd.Series(values, index=df.index)
    return pd.DataFrame(columns, index=df.index)
