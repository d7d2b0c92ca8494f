"""The pipeline's last steps as library calls: retrain the best network, register it.

* :func:`retrain` reads the prepared data (:mod:`latticenas.pipeline.prepared`), the search's
  best parameters and best network, and runs :func:`latticenas.retrain.retrain_best` into a
  local directory (the KFP ``Model`` artifact). The regression target's log choice is the one
  the best trial made.
* :func:`log_retrain_metrics` puts the test metrics on a KFP ``Metrics`` artifact and, for
  classification, the confusion matrix and (binary) the ROC curve on a
  ``ClassificationMetrics`` artifact (KFP shows one curve; the multiclass one-vs-rest curves
  stay in the model's ``roc.json``).
* :func:`register` registers the model directory with :func:`latticenas.registry.registry_for`
  and a :class:`~latticenas.registry.base.Lineage` that names the data (URI and fingerprint),
  the experiment and trial, the parameters, the metrics (``test-*`` from the retrain, ``val-*``
  from the search) and the network's spec hash.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["aggregate_search", "log_retrain_metrics", "register", "retrain"]


def _copy(source, target: str) -> None:
    import shutil

    Path(target).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def aggregate_search(*, trials: str, best_spec: str | None, leaderboard: str, summary: str, progress_plot: str,
                     diagram: str | None, leaderboard_table: str) -> dict[str, float]:
    """:func:`latticenas.aggregate.write_report` on the search's outputs, its files copied to
    the given paths (``leaderboard``: report.html, ``summary``: report.md, ``progress_plot``:
    progress.png, ``diagram``: diagram.html, ``leaderboard_table``: leaderboard.csv); returns
    the best trial's metrics."""
    import tempfile

    from latticenas.aggregate import SearchResults, write_report
    from latticenas.arch import ArchitectureSpec
    from latticenas.data import read_bytes

    results = SearchResults.read(trials)
    spec = ArchitectureSpec.from_json(read_bytes(best_spec)) if best_spec else None
    with tempfile.TemporaryDirectory() as tmp:
        report = write_report(results, tmp, spec)
        _copy(report.html, leaderboard)
        _copy(report.markdown, summary)
        _copy(report.progress_png, progress_plot)
        _copy(report.leaderboard_csv, leaderboard_table)
        if diagram and report.diagram_html is not None:
            _copy(report.diagram_html, diagram)
    return {k: float(v) for k, v in report.best_metrics.items() if _finite(v)}


def _json(uri: str) -> dict[str, Any]:
    from latticenas.data import read_bytes

    return json.loads(read_bytes(str(uri)))


def retrain(*, record: str, train: str, val: str, test: str, best_parameters: str, best_spec: str,
            output_dir: str, seed: int = 0):
    """Retrain the search's best network on the prepared data; returns the RetrainResult."""
    from latticenas.arch import ArchitectureSpec
    from latticenas.data import read_bytes
    from latticenas.params import ParameterSet
    from latticenas.pipeline.prepared import read_prepared
    from latticenas.retrain import retrain_best

    prepared = read_prepared(record=record, train=train, val=val, test=test)
    best = _json(best_parameters)
    spec = ArchitectureSpec.from_json(read_bytes(str(best_spec)))
    params = ParameterSet.from_mapping(best["parameters"])
    log_target = (best.get("trial_config") or {}).get("log_target")
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    return retrain_best(spec, params, prepared.dataset, str(output_dir), seed=seed, log_target=log_target)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def log_retrain_metrics(result, metrics, classification=None) -> None:
    """Test metrics -> ``metrics.log_metric``; confusion matrix / ROC -> ``classification``."""
    for name, value in sorted(result.test_metrics.items()):
        if _finite(value):
            metrics.log_metric(name, float(value))
    if classification is None or result.confusion_matrix is None:
        return
    classification.log_confusion_matrix(list(result.classes), [list(map(int, row)) for row in result.confusion_matrix])
    roc = result.roc or {}
    if roc.get("kind") == "binary" and roc.get("fpr"):
        classification.log_roc_curve(list(roc["fpr"]), list(roc["tpr"]), list(roc["thresholds"]))


def _lineage_metrics(model_dir: Path, best: Mapping[str, Any]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    record = json.loads((model_dir / "metrics.json").read_text())
    for name, value in (record.get("metrics") or {}).items():
        if _finite(value):
            metrics[f"test-{name}"] = float(value)
    for name, value in (best.get("metrics") or {}).items():
        if _finite(value):
            metrics[name] = float(value)
    return metrics


def register(*, model_dir: str, record: str, best_parameters: str, registry_target: str, model_name: str,
             model_registry_address: str = ""):
    """Register the retrained model with its lineage; returns the registration as JSON
    (name, version, uri, files, registry, lineage)."""
    from latticenas.arch import ArchitectureSpec
    from latticenas.pipeline.prepared import read_record
    from latticenas.registry import registry_for
    from latticenas.registry.base import Lineage, ModelEntry

    if not registry_target:
        from latticenas.errors import LatticeNASError

        raise LatticeNASError("no registry target: set registry_target to a directory or a gs:// prefix")
    root = Path(model_dir)
    data = read_record(record)
    best = _json(best_parameters)
    spec = ArchitectureSpec.from_json((root / "spec.json").read_text())
    lineage = Lineage(
        data_uri=data["data_uri"],
        data_fingerprint=data["data_fingerprint"],
        experiment_name=best["experiment"],
        trial_name=best["trial"],
        parameters=dict(best["parameters"]),
        metrics=_lineage_metrics(root, best),
        spec_hash=spec.content_hash,
    )
    registry = registry_for(registry_target, model_registry_address or None)
    registered = registry.register(ModelEntry(model_name, str(root), lineage))
    return {
        "name": registered.name,
        "version": registered.version,
        "uri": registered.uri,
        "files": list(registered.files),
        "registry": str(registry_target),
        "model_registry_address": model_registry_address or None,
        "lineage": lineage.to_dict(),
    }
