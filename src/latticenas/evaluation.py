"""Metrics in the target's original units (framework-free, numpy only).

Regression: rmse, rmsle, mae, r2. Classification: accuracy, auc (binary; macro one-vs-rest for
multiclass), logloss. :data:`DIRECTIONS` says which way each is better, so the trial and the
search agree on what "best" means.
"""

from __future__ import annotations

import numpy as np

from latticenas.data.schema import Task
from latticenas.katib.types import ObjectiveType as Direction  # one enum for "which way is better"


DIRECTIONS: dict[str, Direction] = {
    "rmse": Direction.MINIMIZE,
    "rmsle": Direction.MINIMIZE,
    "mae": Direction.MINIMIZE,
    "r2": Direction.MAXIMIZE,
    "accuracy": Direction.MAXIMIZE,
    "auc": Direction.MAXIMIZE,
    "logloss": Direction.MINIMIZE,
}
REGRESSION_METRICS = ("rmse", "rmsle", "mae", "r2")
CLASSIFICATION_METRICS = ("accuracy", "auc", "logloss")


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    y_true = np.asarray(y_true, dtype="float64").ravel()
    y_pred = np.asarray(y_pred, dtype="float64").ravel()
    error = y_pred - y_true
    total = np.sum((y_true - y_true.mean()) ** 2)
    log_error = np.log1p(np.maximum(y_pred, 0)) - np.log1p(np.maximum(y_true, 0))
    return {
        "rmse": float(np.sqrt(np.mean(error**2))),
        "rmsle": float(np.sqrt(np.mean(log_error**2))),
        "mae": float(np.mean(np.abs(error))),
        "r2": float(1 - np.sum(error**2) / total) if total > 0 else 0.0,
    }


def truth(frame, schema) -> np.ndarray:
    """The target column of ``frame`` as :func:`task_metrics` takes it: values in original
    units (regression) or class codes (classification)."""
    y = frame[schema.target]
    if schema.task is Task.REGRESSION:
        return y.to_numpy(dtype="float64")
    return schema.encode_target(y)


def task_metrics(task: Task, y_true: np.ndarray, predictions: np.ndarray, n_classes: int = 0) -> dict[str, float]:
    """The task's metrics: regression on values in original units, classification on class
    codes and probabilities (the one place that picks between the two)."""
    if task is Task.REGRESSION:
        return regression_metrics(y_true, predictions)
    return classification_metrics(y_true, predictions, n_classes)


def classification_metrics(codes: np.ndarray, proba: np.ndarray, n_classes: int) -> dict[str, float]:
    """``codes``: true class indices; ``proba``: (n,) P(class 1) for binary or (n, k) rows."""
    codes = np.asarray(codes, dtype="int64").ravel()
    proba = np.asarray(proba, dtype="float64")
    if n_classes == 2:
        p1 = proba.reshape(-1)
        proba = np.stack([1 - p1, p1], axis=1)
    proba = np.clip(proba, 1e-7, 1.0)
    proba = proba / proba.sum(axis=1, keepdims=True)
    return {
        "accuracy": float(np.mean(proba.argmax(axis=1) == codes)),
        "auc": _macro_auc(codes, proba, n_classes),
        "logloss": float(-np.mean(np.log(proba[np.arange(len(codes)), codes]))),
    }


def _macro_auc(codes: np.ndarray, proba: np.ndarray, n_classes: int) -> float:
    classes = [1] if n_classes == 2 else range(n_classes)
    scores = [_binary_auc(codes == k, proba[:, k]) for k in classes]
    scores = [s for s in scores if s is not None]
    return float(np.mean(scores)) if scores else float("nan")


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float | None:
    """Mann-Whitney U form of the ROC AUC, with average ranks for ties."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    i = 0
    while i < len(score):
        j = i
        while j + 1 < len(score) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def is_better(metric: str, candidate: float, incumbent: float | None) -> bool:
    """Whether ``candidate`` beats ``incumbent`` for ``metric`` (a bare name like ``rmse``)."""
    if incumbent is None or not np.isfinite(incumbent):
        return bool(np.isfinite(candidate))
    if DIRECTIONS[metric] is Direction.MINIMIZE:
        return candidate < incumbent
    return candidate > incumbent
