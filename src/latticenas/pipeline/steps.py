"""The pipeline's five steps as typed library calls, one call a step:
``prepare_data`` -> ``search`` -> ``aggregate`` -> ``retrain_best`` -> ``register``.

>>> from latticenas.pipeline import steps                                       # doctest: +SKIP
>>> prepared = steps.prepare_data("example:ames", "price", drop_columns="Order,PID")
>>> searched = steps.search(prepared, search_space="search_spaces/ames.yaml", work_dir="runs/search",
...                         max_trials=2, epochs=5, networks_per_trial=1)
>>> aggregated = steps.aggregate(prepared, searched, "runs/report")
>>> retrained = steps.retrain_best(prepared, aggregated.choice, "runs/model")
>>> registered = steps.register(retrained.model_dir, prepared.record, searched.best_parameters,
...                             registry_target="runs/registry", model_name="ames")

Each returns a frozen record of plain data and paths that pickles (Kale hands a notebook
variable that a later step uses over as a pickle):

* :func:`prepare_data` -> :class:`~latticenas.pipeline.prepared.PreparedData`: ``.dataset``
  (train/validation/test), ``.record`` (:class:`~latticenas.pipeline.prepared.PreparedRecord`:
  ``.task``, ``.rows``, ``.data_fingerprint``, ...), ``.profile()`` (Markdown);
* :func:`search` -> :class:`~latticenas.pipeline.outcome.SearchOutcome`: ``.results`` (every
  trial), ``.best``, ``.best_parameters`` (:class:`~latticenas.pipeline.outcome.BestParameters`),
  ``.best_spec``, ``.work_dir``, ``.describe()``;
* :func:`aggregate` -> :class:`Aggregated`: ``.choice`` (the final model,
  :class:`~latticenas.pipeline.choice.FinalChoice`: an ensemble of trials when it validates
  better than the best trial, with the HistGradientBoosting baseline), ``.report`` (the report
  files, :class:`latticenas.aggregate.Report`), ``.leaderboard()``, ``.summary()``,
  ``.best_metrics``, ``.final_metrics``;
* :func:`retrain_best` -> :class:`Retrained`: the final model refit on train + validation and
  tested once (``.result``, ``.model_dir``, ``.test_metrics``, ``.test_objective``,
  ``.val_objective``), with its permutation feature importance on the test rows
  (``.importance``, also ``importance.*`` in the model directory);
* :func:`register` -> :class:`Registration`: ``.name``, ``.version``, ``.uri``, ``.lineage``
  (:func:`build_lineage`), ``.to_dict()`` (the register step's ``registration`` JSON).

Keyword arguments are named as the pipeline's parameters
(:class:`~latticenas.pipeline.parameters.PipelineParameters`) and take its defaults, but for
``search_backend`` (``local`` here, ``katib`` in the pipeline) and the data's own (no
default table or dropped columns); ``work_dir``, ``epochs`` and ``networks_per_trial`` are the
search call's own. The KFP components (:mod:`latticenas.pipeline.components`) call these same
functions on their input artifacts read back and write the records to their outputs
(:mod:`latticenas.pipeline.outputs`).

The lineage (:func:`build_lineage`) names the data (URI and fingerprint), the experiment and
trial (for an ensemble: its trials, ``a+b``), the parameters (for an ensemble: ``final_model``,
``link`` and the members with their weights and parameters), the metrics (``test-*`` from the
retrain, ``val-*`` of the final model, ``baseline-val-*`` and ``baseline-test-*``,
``ensemble-size``) and the network's spec hash (the ensemble's hash).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from latticenas.aggregate import Report, write_report
from latticenas.arch import ArchitectureSpec
from latticenas.errors import LatticeNASError
from latticenas.importance import FeatureImportance, model_importance, write_importance
from latticenas.pipeline.choice import FinalChoice, choose_final, finite, retrain_choice, trial_outputs
from latticenas.pipeline.outcome import BestParameters, SearchOutcome
from latticenas.pipeline.parameters import PipelineParameters
from latticenas.pipeline.prepared import PreparedData, PreparedRecord, check_accelerator, prepare
from latticenas.pipeline.search import run_search
from latticenas.predict import Predictor
from latticenas.registry import Lineage, ModelEntry, RegisteredModel, registry_for
from latticenas.retrain import ENSEMBLE, RetrainResult
from latticenas.search_report import importance_page

__all__ = ["Aggregated", "Registration", "Retrained", "aggregate", "build_lineage", "prepare_data", "register",
           "retrain_best", "search"]

_DEFAULTS = PipelineParameters()
NETWORKS = "number_of_architecture_moities_to_try"  # the trial parameter networks_per_trial sets



# ------------------------------------------------------------------------------ the records


@dataclass(frozen=True)
class Aggregated:
    """The aggregate step's result: the final model chosen and the search's report files."""

    choice: FinalChoice
    report: Report

    @property
    def best_metrics(self) -> dict[str, float]:
        """The best trial's objective and additional metrics (finite ones)."""
        return {k: float(v) for k, v in self.report.best_metrics.items() if finite(v)}

    @property
    def final_metrics(self) -> dict[str, float]:
        """:meth:`FinalChoice.metrics`: final model, best trial and baseline, validation and test."""
        return self.choice.metrics()

    def leaderboard(self) -> pd.DataFrame:
        """Every trial, best first, with the final model and the baseline as unranked rows."""
        return pd.read_csv(self.report.leaderboard_csv)

    def summary(self) -> str:
        """``final model: ...`` and its validation and test values beside the best trial's and
        the baseline's."""
        final = self.choice.final_model()
        return "\n".join(final.lines()[:-1]) if final else f"final model: {self.choice.kind}"


@dataclass(frozen=True)
class Retrained:
    """The retrain_best step's result: the refit final model, its test scores, its importance."""

    result: RetrainResult  # the model directory's files, the test metrics, confusion matrix, ROC
    choice: FinalChoice
    importance: FeatureImportance

    @property
    def model_dir(self) -> Path:
        return Path(self.result.output_dir)

    @property
    def test_metrics(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.result.test_metrics.items()}

    @property
    def test_objective(self) -> float | None:
        """The refit model's test value of the search's objective (e.g. RMSE)."""
        return self.test_metrics.get(self.choice.objective_metric)

    @property
    def val_objective(self) -> float | None:
        """The final model's validation value of the objective (:attr:`FinalChoice.val_objective`)."""
        return self.choice.val_objective

    def importance_page(self) -> str:
        """The feature importance as a self-contained HTML page."""
        return importance_page(self.importance, f"feature importance of the retrained {self.choice.kind} model")


@dataclass(frozen=True)
class Registration:
    """The register step's result: the version registered and its lineage."""

    model: RegisteredModel
    lineage: Lineage
    registry: str
    model_registry_address: str | None = None

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def uri(self) -> str:
        return self.model.uri

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "uri": self.uri, "files": list(self.model.files),
                "registry": self.registry, "model_registry_address": self.model_registry_address,
                "lineage": self.lineage.to_dict()}


# ------------------------------------------------------------------------------ the steps


def prepare_data(data_uri: str, target: str, *, task: str = _DEFAULTS.task, drop_columns: str = "",
                 allow_leakage: str = _DEFAULTS.allow_leakage, val_fraction: float = _DEFAULTS.val_fraction,
                 test_fraction: float = _DEFAULTS.test_fraction, accelerator: str = _DEFAULTS.accelerator) -> PreparedData:
    """Load, check (target leakage; ``accelerator`` is one of cpu, gpu, tpu) and split the table
    once (:func:`latticenas.pipeline.prepared.prepare`)."""
    check_accelerator(accelerator)
    return prepare(data_uri, target, task=task, drop_columns=drop_columns, allow_leakage=allow_leakage,
                   val_fraction=val_fraction, test_fraction=test_fraction)


def search(prepared: PreparedData, *, search_space: str, work_dir: str | Path, algorithm: str = _DEFAULTS.algorithm,
           max_trials: int = _DEFAULTS.max_trials, parallel_trials: int = _DEFAULTS.parallel_trials,
           epochs: int | None = None, networks_per_trial: int | None = None, search_backend: str = "local",
           accelerator: str = _DEFAULTS.accelerator, katib_namespace: str = _DEFAULTS.katib_namespace,
           trial_output_root: str = _DEFAULTS.trial_output_root,
           trial_service_account: str = _DEFAULTS.trial_service_account,
           search_timeout_s: int = _DEFAULTS.search_timeout_s, time_budget: str = _DEFAULTS.time_budget,
           mop_scheduler: str = _DEFAULTS.mop_scheduler, mop_partitions: int = _DEFAULTS.mop_partitions,
           run_id: str = "") -> SearchOutcome:
    """Search ``search_space`` (YAML text, a path or ``gs://`` URI) on the prepared train and
    validation rows (:func:`latticenas.pipeline.search.run_search`); ``max_trials``,
    ``parallel_trials`` (0: the space's), ``epochs`` and ``networks_per_trial`` (None: the
    space's) set the budget. ``work_dir`` gets the Experiment (and a local or mop search's runs)."""
    overrides = {name: value for name, value in (("epochs", epochs), (NETWORKS, networks_per_trial)) if value is not None}
    return run_search(prepared, backend=search_backend, search_space=search_space, algorithm=algorithm,
                      max_trials=max_trials, parallel_trials=parallel_trials, accelerator=accelerator,
                      work_dir=work_dir, namespace=katib_namespace, trial_output_root=trial_output_root,
                      service_account=trial_service_account, run_id=run_id, timeout_s=search_timeout_s,
                      time_budget=time_budget or None, overrides=overrides, mop_scheduler=mop_scheduler,
                      mop_partitions=mop_partitions)


def aggregate(prepared: PreparedData, searched: SearchOutcome, directory: str | Path) -> Aggregated:
    """Choose the final model (:func:`latticenas.pipeline.choice.choose_final`, on the trials'
    outputs: the local search's ``work_dir``, or Katib's output root) and write the report
    (:func:`latticenas.aggregate.write_report`: leaderboard, progress plot, the final model's
    networks, the best network's diagram) into ``directory``."""
    results = searched.results
    choice = choose_final(results, prepared, trial_outputs(results, searched.work_dir))
    networks = [(f"{m.trial} (weight {m.weight:g}), network {n['id']}", ArchitectureSpec.from_json(json.dumps(n["spec"])))
                for m in choice.members for n in m.networks]
    report = write_report(results, directory, searched.best_spec, final=choice.final_model(), networks=networks)
    return Aggregated(choice, report)


def retrain_best(prepared: PreparedData, choice: FinalChoice, directory: str | Path, *,
                 seed: int = _DEFAULTS.seed) -> Retrained:
    """Refit the final model on the train + validation rows into ``directory`` and test it once
    (:func:`latticenas.pipeline.choice.retrain_choice`: the best network, or every member of the
    ensemble with its own trial's parameters); then its feature importance on the test rows
    (the validation rows are in its training rows now) beside it."""
    result = retrain_choice(choice, prepared.dataset, str(directory), seed=seed)
    importance = model_importance(Predictor.load(result.output_dir), prepared.dataset.test, choice.metric, split="test")
    write_importance(importance, result.output_dir)
    return Retrained(result, choice, importance)


def register(model_dir: str | Path, record: PreparedRecord, best: BestParameters, *, registry_target: str,
             model_name: str = _DEFAULTS.model_name,
             model_registry_address: str = _DEFAULTS.model_registry_address) -> Registration:
    """Register the retrained ``model_dir`` as a new version of ``model_name`` in
    ``registry_target`` (a directory or ``gs://`` prefix; :func:`latticenas.registry.registry_for`)
    with its lineage (:func:`build_lineage`). An ensemble's directory registers like a single
    network's."""
    if not registry_target:
        raise LatticeNASError("no registry target: set registry_target to a directory or a gs:// prefix")
    lineage = build_lineage(model_dir, record, best)
    registered = registry_for(registry_target, model_registry_address or None).register(
        ModelEntry(model_name, str(model_dir), lineage))
    return Registration(registered, lineage, str(registry_target), model_registry_address or None)


# ------------------------------------------------------------------------------ the lineage


def _lineage_metrics(record: Mapping[str, Any], best: BestParameters) -> dict[str, float]:
    """``test-*`` from the retrain; ``val-*`` of the final model (the best trial's observed
    metrics for a single network); ``baseline-val-*``/``baseline-test-*``; ``ensemble-size``."""
    metrics = {f"test-{k}": float(v) for k, v in (record.get("metrics") or {}).items() if finite(v)}
    final = record.get("final") or {}
    if final.get("kind") == "ensemble" and final.get("val_metrics"):
        metrics.update({f"val-{k}": float(v) for k, v in final["val_metrics"].items() if finite(v)})
    else:
        metrics.update({k: float(v) for k, v in best.metrics.items() if finite(v)})
    baseline = final.get("baseline") or {}
    for split in ("val", "test"):
        metrics.update({f"baseline-{split}-{k}": float(v) for k, v in (baseline.get(f"{split}_metrics") or {}).items()
                        if finite(v)})
    if final.get("members"):
        metrics["ensemble-size"] = float(len(final["members"]))
    return metrics


def _lineage_model(root: Path, record: Mapping[str, Any], best: BestParameters) -> tuple[str, dict, str]:
    """``(trial name, parameters, spec hash)``: the best trial's, or for an ensemble the
    members joined with ``+``, each member's weight and parameters, and the ensemble's hash."""
    if not (root / ENSEMBLE).is_file():
        return best.trial, dict(best.parameters), ArchitectureSpec.from_json((root / "spec.json").read_text()).content_hash
    ensemble = json.loads((root / ENSEMBLE).read_text())
    members = ensemble["members"]
    parameters = {"final_model": (record.get("final") or {}).get("kind", "ensemble"), "link": ensemble["link"],
                  "members": [{"trial": m["trial"], "weight": m["weight"], "networks": len(m["networks"]),
                               "parameters": m.get("parameters", {})} for m in members]}
    return "+".join(m["trial"] for m in members), parameters, ensemble["spec_hash"]


def build_lineage(model_dir: str | Path, record: PreparedRecord, best: BestParameters) -> Lineage:
    """The :class:`~latticenas.registry.base.Lineage` of a retrained model directory, from the
    prepared data's record and the search's best parameters (see the module docstring)."""
    root = Path(model_dir)
    metrics = json.loads((root / "metrics.json").read_text())
    trial, parameters, spec_hash = _lineage_model(root, metrics, best)
    return Lineage(data_uri=record.data_uri, data_fingerprint=record.data_fingerprint,
                   experiment_name=best.experiment, trial_name=trial, parameters=parameters,
                   metrics=_lineage_metrics(metrics, best), spec_hash=spec_hash)
