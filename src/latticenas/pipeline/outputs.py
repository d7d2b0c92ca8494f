"""The components' side of the steps (:mod:`latticenas.pipeline.steps`): their typed records
written to KFP output artifacts.

* :func:`copy_report` copies the aggregate step's report files to its outputs;
* :func:`log_metrics` puts finite numbers on a KFP ``Metrics`` artifact;
* :func:`log_retrain_metrics` puts the retrained model's test metrics (and the baseline's on the
  same test rows, as ``baseline-*``) on a ``Metrics`` artifact and, for classification, the
  confusion matrix and (binary) the ROC curve on a ``ClassificationMetrics`` artifact (KFP
  shows one curve; the multiclass one-vs-rest curves stay in the model's ``roc.json``);
* :func:`write_json` and :func:`write_text` write a record or a page to an output path.

No kfp import: the artifacts are the objects KFP hands a component.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from latticenas.aggregate import Report
from latticenas.pipeline.choice import finite
from latticenas.pipeline.steps import Retrained

__all__ = ["copy_report", "log_metrics", "log_retrain_metrics", "write_json", "write_text"]



def _copy(source, target: str) -> None:
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def copy_report(report: Report, *, leaderboard: str, summary: str, progress_plot: str, diagram: str | None,
                leaderboard_table: str) -> None:
    """``leaderboard``: report.html, ``summary``: report.md, ``progress_plot``: progress.png,
    ``diagram``: diagram.html (when there is one), ``leaderboard_table``: leaderboard.csv."""
    _copy(report.html, leaderboard)
    _copy(report.markdown, summary)
    _copy(report.progress_png, progress_plot)
    _copy(report.leaderboard_csv, leaderboard_table)
    if diagram and report.diagram_html is not None:
        _copy(report.diagram_html, diagram)


def log_metrics(metrics, values: Mapping[str, Any], prefix: str = "") -> None:
    """Each finite value of ``values`` -> ``metrics.log_metric(prefix + name, value)``, by name."""
    for name, value in sorted(values.items()):
        if finite(value):
            metrics.log_metric(f"{prefix}{name}", float(value))


def log_retrain_metrics(retrained: Retrained, metrics, classification=None) -> None:
    """Test metrics (and the baseline's, as ``baseline-*``) -> ``metrics``; confusion matrix /
    ROC -> ``classification``."""
    result = retrained.result
    log_metrics(metrics, result.test_metrics)
    log_metrics(metrics, (retrained.choice.baseline or {}).get("test_metrics") or {}, prefix="baseline-")
    if classification is None or result.confusion_matrix is None:
        return
    classification.log_confusion_matrix(list(result.classes), [list(map(int, row)) for row in result.confusion_matrix])
    roc = result.roc or {}
    if roc.get("kind") == "binary" and roc.get("fpr"):
        classification.log_roc_curve(list(roc["fpr"]), list(roc["tpr"]), list(roc["thresholds"]))


def write_json(path: str, data: Mapping[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_text(path: str, text: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text)
