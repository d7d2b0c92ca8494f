"""Permutation feature importance of a trained model, in the units of its metric.

Contract:

* :func:`permutation_importance` scores ``predict`` on model ``inputs`` (at most ``max_rows``
  rows, a seeded draw when there are more), then shuffles one feature at a time, ``repeats``
  times, and scores again. A feature is a group of inputs shuffled together; for a model
  (:func:`model_importance`) it is a raw table column, so a categorical column is one feature
  (the rows are converted to model inputs once, and the model encodes it inside). Its importance is the mean
  worsening of the metric over the repeats, in the metric's units: an increase of rmse or mae
  (the target's units), of logloss; a decrease of r2, auc or accuracy. Negative values mean
  the model did better without the column. All permuted copies are predicted together, in
  batches of at most ``batch_rows`` rows, so a table of many columns costs a few model calls.
* :class:`FeatureImportance` is the result, most important first; it round-trips through JSON
  (:data:`FORMAT`).
* :func:`model_importance` does it for a :class:`~latticenas.predict.Predictor` (a model
  directory): every feature of its schema, the truth from the frame's target column.
* :func:`importance_chart` draws it as a horizontal bar chart (SVG text or PNG bytes);
  :func:`write_importance` writes ``importance.json``, ``importance.svg`` and ``importance.png``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from latticenas.data import Task
from latticenas.evaluation import DIRECTIONS, Direction, task_metrics, truth
from latticenas.extras import require
from latticenas.features import input_name, model_inputs
from latticenas.fileio import atomic_write

FORMAT = "latticenas-importance/1"
JSON, SVG, PNG = "importance.json", "importance.svg", "importance.png"
REPEATS = 3
MAX_ROWS = 1000
BATCH_ROWS = 100_000
CHART_FEATURES = 20  # bars drawn at most

__all__ = ["FORMAT", "FeatureImportance", "FeatureScore", "importance_chart", "model_importance",
           "permutation_importance", "write_importance"]


@dataclass(frozen=True)
class FeatureScore:
    name: str
    mean: float  # mean worsening of the metric when the column is shuffled
    std: float


@dataclass(frozen=True)
class FeatureImportance:
    metric: str  # the bare metric, e.g. rmse
    score: float  # the metric on the unshuffled rows
    rows: int
    repeats: int
    features: tuple[FeatureScore, ...]  # most important first
    split: str = "validation"

    @property
    def change(self) -> str:
        """What a positive importance means: ``rmse increase``, ``auc decrease``."""
        worse = "increase" if DIRECTIONS[self.metric] is Direction.MINIMIZE else "decrease"
        return f"{self.metric} {worse}"

    def to_dict(self) -> dict:
        return {"format": FORMAT, "metric": self.metric, "score": self.score, "rows": self.rows,
                "repeats": self.repeats, "split": self.split,
                "features": [{"name": f.name, "mean": f.mean, "std": f.std} for f in self.features]}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureImportance:
        return cls(metric=data["metric"], score=float(data["score"]), rows=int(data["rows"]),
                   repeats=int(data["repeats"]), split=str(data.get("split", "validation")),
                   features=tuple(FeatureScore(f["name"], float(f["mean"]), float(f["std"])) for f in data["features"]))

    def line(self, top: int = 5) -> str:
        shown = ", ".join(f"{f.name} {f.mean:+.4g}" for f in self.features[:top])
        return f"feature importance ({self.change} when shuffled, {self.split} rows): {shown}"


def permutation_importance(
    predict: Callable[[dict[str, np.ndarray]], np.ndarray], inputs: Mapping[str, np.ndarray], y_true: np.ndarray, *,
    task: Task, metric: str, groups: Mapping[str, Sequence[str]] | None = None, n_classes: int = 0,
    repeats: int = REPEATS, max_rows: int = MAX_ROWS, seed: int = 0, batch_rows: int = BATCH_ROWS,
    split: str = "validation",
) -> FeatureImportance:
    """Shuffle each feature of ``inputs`` (``{input name: array}``, rows first) and measure how
    much ``metric`` worsens (see the module doc). A feature is a group of inputs shuffled with
    one permutation (``groups``: ``{feature: input names}``; default: each input alone).
    ``y_true``: the truth as :func:`latticenas.evaluation.task_metrics` takes it."""
    inputs = {name: np.asarray(values) for name, values in inputs.items()}
    n = len(next(iter(inputs.values()), ()))
    if metric not in DIRECTIONS or repeats < 1 or max_rows < 1 or n == 0:
        raise ValueError(f"permutation_importance: metric {metric!r}, repeats {repeats}, max_rows {max_rows}, {n} rows")
    groups = {name: (name,) for name in inputs} if groups is None else groups
    rng = np.random.default_rng(seed)
    y_true = np.asarray(y_true)
    if n > max_rows:
        keep = np.sort(rng.choice(n, size=max_rows, replace=False))
        inputs, y_true, n = {name: values[keep] for name, values in inputs.items()}, y_true[keep], max_rows

    def score(predictions: np.ndarray) -> float:
        return task_metrics(task, y_true, predictions, n_classes)[metric]

    base = score(predict(inputs))
    jobs = [feature for feature in groups for _ in range(repeats)]
    per_batch = max(1, batch_rows // n)
    scores: dict[str, list[float]] = {feature: [] for feature in groups}
    for start in range(0, len(jobs), per_batch):
        chunk = jobs[start:start + per_batch]
        batch = {name: np.concatenate([values] * len(chunk)) for name, values in inputs.items()}
        for i, feature in enumerate(chunk):
            order = rng.permutation(n)
            for name in groups[feature]:
                batch[name][i * n:(i + 1) * n] = inputs[name][order]
        predictions = np.asarray(predict(batch))
        for i, feature in enumerate(chunk):
            scores[feature].append(score(predictions[i * n:(i + 1) * n]))
    sign = 1.0 if DIRECTIONS[metric] is Direction.MINIMIZE else -1.0
    ranked = [FeatureScore(feature, float(np.mean(sign * (np.array(v) - base))), float(np.std(v)))
              for feature, v in scores.items()]
    ranked.sort(key=lambda f: (-f.mean, f.name))
    return FeatureImportance(metric, float(base), n, repeats, tuple(ranked), split)


def model_importance(predictor, frame: pd.DataFrame, metric: str, *, split: str = "validation",
                     **options) -> FeatureImportance:
    """:func:`permutation_importance` of ``predictor`` (a :class:`~latticenas.predict.Predictor`)
    on ``frame``: the rows are converted to model inputs once, each feature column is one input."""
    schema, stats = predictor.schema, predictor.stats
    groups = {column: (input_name(column),) for column in schema.feature_names
              if column in stats.numeric or column in stats.categorical}
    return permutation_importance(predictor.predict_inputs, model_inputs(frame, stats), truth(frame, schema),
                                  task=schema.task, metric=metric, groups=groups, n_classes=len(schema.classes or ()),
                                  split=split, **options)


def importance_chart(importance: FeatureImportance, fmt: str = "svg", top: int = CHART_FEATURES) -> str | bytes:
    """The bar chart of the ``top`` most important features: SVG text or PNG bytes."""
    require("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = list(importance.features[:top])[::-1]  # the most important at the top
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.3 * max(len(shown), 1)), dpi=100)
    values = [f.mean for f in shown]
    ax.barh([f.name for f in shown], values, xerr=[f.std for f in shown],
            color=["tab:blue" if v >= 0 else "tab:gray" for v in values], capsize=2)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"{importance.change} when the column is shuffled ({importance.split} rows, "
                  f"{importance.metric} {importance.score:.4g})")
    more = len(importance.features) - len(shown)
    ax.set_title("feature importance" + (f" (top {len(shown)}; {more} more in importance.json)" if more else ""))
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO() if fmt == "png" else io.StringIO()
    fig.savefig(buffer, format=fmt)
    plt.close(fig)
    return buffer.getvalue()


def write_importance(importance: FeatureImportance, directory: str | Path) -> Path:
    """``importance.json``, ``importance.svg`` and ``importance.png`` in ``directory``; returns the JSON path."""
    directory = Path(directory)
    atomic_write(directory / SVG, importance_chart(importance, "svg"))
    atomic_write(directory / PNG, importance_chart(importance, "png"))
    atomic_write(directory / JSON, json.dumps(importance.to_dict(), indent=2) + "\n")
    return directory / JSON
