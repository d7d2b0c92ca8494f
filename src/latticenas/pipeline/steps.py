"""The pipeline's last steps as library calls: aggregate the search, retrain the final model,
register it.

* :func:`aggregate_search` chooses the final model (:mod:`latticenas.pipeline.choice`: an
  ensemble of trials when it validates better than the best trial, with the
  HistGradientBoosting baseline on the same rows) and writes the report with it.
* :func:`retrain` reads the prepared data (:mod:`latticenas.pipeline.prepared`) and that
  choice, and refits it into a local directory (the KFP ``Model`` artifact): the best network
  with :func:`latticenas.retrain.retrain_best`, or every member network of the ensemble with
  :func:`latticenas.retrain.retrain_ensemble`, each with its own trial's parameters and log
  choice; then the refit model's permutation feature importance on the test rows (the
  validation rows are in its training rows now; :mod:`latticenas.importance`) goes beside it
  (``importance.json``, ``.svg``, ``.png``) and, given ``importance_page``, into that HTML page.
* :func:`log_retrain_metrics` puts the test metrics on a KFP ``Metrics`` artifact and, for
  classification, the confusion matrix and (binary) the ROC curve on a
  ``ClassificationMetrics`` artifact (KFP shows one curve; the multiclass one-vs-rest curves
  stay in the model's ``roc.json``).
* :func:`register` registers the model directory with :func:`latticenas.registry.registry_for`
  and a :class:`~latticenas.registry.base.Lineage` that names the data (URI and fingerprint),
  the experiment and trial (for an ensemble: its trials, ``a+b``), the parameters (for an
  ensemble: ``final_model``, ``link`` and the members with their weights and parameters), the
  metrics (``test-*`` from the retrain, ``val-*`` of the final model, ``baseline-val-*`` and
  ``baseline-test-*``, ``ensemble-size``) and the network's spec hash (the ensemble's hash).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Aggregated", "aggregate_search", "build_lineage", "log_retrain_metrics", "register", "retrain"]


def _copy(source, target: str) -> None:
    import shutil

    Path(target).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


@dataclass(frozen=True)
class Aggregated:
    """What the aggregate step reports: the best trial's metrics, the final model's (and the
    baseline's) metrics (:meth:`~latticenas.pipeline.choice.FinalChoice.metrics`), the choice."""

    best_metrics: dict[str, float]
    final_metrics: dict[str, float]
    choice: Any  # FinalChoice


def aggregate_search(*, trials: str, best_spec: str | None, experiment: str | None, record: str, train: str, val: str,
                     test: str, leaderboard: str, summary: str, progress_plot: str, diagram: str | None,
                     leaderboard_table: str, final_model: str) -> Aggregated:
    """Choose the final model (:func:`latticenas.pipeline.choice.choose_final`: the trials
    ensembled or the best one, with the baseline, on the prepared data) and write it to
    ``final_model`` (JSON); then :func:`latticenas.aggregate.write_report` with it, its files
    copied to the given paths (``leaderboard``: report.html, ``summary``: report.md,
    ``progress_plot``: progress.png, ``diagram``: diagram.html, ``leaderboard_table``:
    leaderboard.csv). ``experiment`` is the search step's output of that name (where a local
    search's trials wrote)."""
    import tempfile

    from latticenas.aggregate import SearchResults, write_report
    from latticenas.arch import ArchitectureSpec
    from latticenas.data import read_bytes
    from latticenas.pipeline.choice import choose_final, trial_outputs
    from latticenas.pipeline.prepared import read_prepared

    results = SearchResults.read(trials)
    spec = ArchitectureSpec.from_json(read_bytes(best_spec)) if best_spec else None
    prepared = read_prepared(record=record, train=train, val=val, test=test)
    choice = choose_final(results, prepared, trial_outputs(results, experiment))
    choice.write(final_model)
    networks = [(f"{m.trial} (weight {m.weight:g}), network {n['id']}", ArchitectureSpec.from_json(json.dumps(n["spec"])))
                for m in choice.members for n in m.networks]
    with tempfile.TemporaryDirectory() as tmp:
        report = write_report(results, tmp, spec, final=choice.final_model(), networks=networks)
        _copy(report.html, leaderboard)
        _copy(report.markdown, summary)
        _copy(report.progress_png, progress_plot)
        _copy(report.leaderboard_csv, leaderboard_table)
        if diagram and report.diagram_html is not None:
            _copy(report.diagram_html, diagram)
    best = {k: float(v) for k, v in report.best_metrics.items() if _finite(v)}
    return Aggregated(best, choice.metrics(), choice)


def _json(uri: str) -> dict[str, Any]:
    from latticenas.data import read_bytes

    return json.loads(read_bytes(str(uri)))


def retrain(*, record: str, train: str, val: str, test: str, final_model: str, output_dir: str, seed: int = 0,
            importance_page: str | None = None):
    """Refit the aggregate step's final model (``final_model``, the choice JSON) on the
    prepared train + validation rows and test it: the best network alone as before, or every
    member of the ensemble (:func:`latticenas.pipeline.choice.retrain_choice`), then its
    feature importance (module doc); returns the RetrainResult."""
    from latticenas.importance import model_importance, write_importance
    from latticenas.pipeline.choice import FinalChoice, retrain_choice
    from latticenas.pipeline.prepared import read_prepared
    from latticenas.predict import Predictor
    from latticenas.search_report import importance_page as page

    prepared = read_prepared(record=record, train=train, val=val, test=test)
    choice = FinalChoice.read(final_model)
    result = retrain_choice(choice, prepared.dataset, str(output_dir), seed=seed)
    importance = model_importance(Predictor.load(result.output_dir), prepared.dataset.test, choice.metric, split="test")
    write_importance(importance, result.output_dir)
    if importance_page:
        Path(importance_page).parent.mkdir(parents=True, exist_ok=True)
        Path(importance_page).write_text(page(importance, f"feature importance of the retrained {choice.kind} model"))
    return result


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def log_retrain_metrics(result, metrics, classification=None) -> None:
    """Test metrics -> ``metrics.log_metric`` (and the baseline's test metrics, when the model
    directory records them, as ``baseline-*``); confusion matrix / ROC -> ``classification``."""
    for name, value in sorted(result.test_metrics.items()):
        if _finite(value):
            metrics.log_metric(name, float(value))
    record = json.loads(Path(result.metrics_path).read_text())
    baseline = ((record.get("final") or {}).get("baseline") or {}).get("test_metrics") or {}
    for name, value in sorted(baseline.items()):  # the baseline on the same test rows, beside
        if _finite(value):
            metrics.log_metric(f"baseline-{name}", float(value))
    if classification is None or result.confusion_matrix is None:
        return
    classification.log_confusion_matrix(list(result.classes), [list(map(int, row)) for row in result.confusion_matrix])
    roc = result.roc or {}
    if roc.get("kind") == "binary" and roc.get("fpr"):
        classification.log_roc_curve(list(roc["fpr"]), list(roc["tpr"]), list(roc["thresholds"]))


def _lineage_metrics(record: Mapping[str, Any], best: Mapping[str, Any]) -> dict[str, float]:
    """``test-*`` from the retrain; ``val-*`` of the final model (the best trial's observed
    metrics for a single network); ``baseline-val-*``/``baseline-test-*``; ``ensemble-size``."""
    metrics = {f"test-{k}": float(v) for k, v in (record.get("metrics") or {}).items() if _finite(v)}
    final = record.get("final") or {}
    if final.get("kind") == "ensemble" and final.get("val_metrics"):
        metrics.update({f"val-{k}": float(v) for k, v in final["val_metrics"].items() if _finite(v)})
    else:
        metrics.update({k: float(v) for k, v in (best.get("metrics") or {}).items() if _finite(v)})
    baseline = final.get("baseline") or {}
    for split in ("val", "test"):
        metrics.update({f"baseline-{split}-{k}": float(v) for k, v in (baseline.get(f"{split}_metrics") or {}).items()
                        if _finite(v)})
    if final.get("members"):
        metrics["ensemble-size"] = float(len(final["members"]))
    return metrics


def _lineage_model(root: Path, record: Mapping[str, Any], best: Mapping[str, Any]) -> tuple[str, dict, str]:
    """``(trial name, parameters, spec hash)``: the best trial's, or for an ensemble the
    members joined with ``+``, each member's weight and parameters, and the ensemble's hash."""
    from latticenas.arch import ArchitectureSpec
    from latticenas.retrain import ENSEMBLE

    if not (root / ENSEMBLE).is_file():
        return best["trial"], dict(best["parameters"]), ArchitectureSpec.from_json((root / "spec.json").read_text()).content_hash
    ensemble = json.loads((root / ENSEMBLE).read_text())
    members = ensemble["members"]
    parameters = {"final_model": (record.get("final") or {}).get("kind", "ensemble"), "link": ensemble["link"],
                  "members": [{"trial": m["trial"], "weight": m["weight"], "networks": len(m["networks"]),
                               "parameters": m.get("parameters", {})} for m in members]}
    return "+".join(m["trial"] for m in members), parameters, ensemble["spec_hash"]


def build_lineage(model_dir: str | Path, data: Mapping[str, Any], best: Mapping[str, Any]):
    """The :class:`~latticenas.registry.base.Lineage` of a retrained model directory: ``data``
    is the prepared record, ``best`` the search's best parameters (see the module docstring)."""
    from latticenas.registry.base import Lineage

    root = Path(model_dir)
    metrics = json.loads((root / "metrics.json").read_text())
    trial, parameters, spec_hash = _lineage_model(root, metrics, best)
    return Lineage(
        data_uri=data["data_uri"],
        data_fingerprint=data["data_fingerprint"],
        experiment_name=best["experiment"],
        trial_name=trial,
        parameters=parameters,
        metrics=_lineage_metrics(metrics, best),
        spec_hash=spec_hash,
    )


def register(*, model_dir: str, record: str, best_parameters: str, registry_target: str, model_name: str,
             model_registry_address: str = ""):
    """Register the retrained model with its lineage (:func:`build_lineage`); returns the
    registration as JSON (name, version, uri, files, registry, lineage). An ensemble's
    directory registers like a single network's; its lineage names the member trials
    (``a+b``), their weights and parameters, and the ensemble's hash."""
    from latticenas.pipeline.prepared import read_record
    from latticenas.registry import registry_for
    from latticenas.registry.base import ModelEntry

    if not registry_target:
        from latticenas.errors import LatticeNASError

        raise LatticeNASError("no registry target: set registry_target to a directory or a gs:// prefix")
    root = Path(model_dir)
    lineage = build_lineage(root, read_record(record), _json(best_parameters))
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
