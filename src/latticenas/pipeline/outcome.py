"""What the search step hands on: :class:`SearchOutcome` (the trials, the best trial's
:class:`BestParameters` and its network) and its files.

* :class:`BestParameters` is the best trial as the search saw it: the experiment and backend,
  the trial, the objective (metric, type, value), its observed metrics, its parameter
  assignments as Katib formats them, the complete parameter set and the rest of the trial's
  configuration (``params.json``), and the content hash of its best network. Its JSON
  (:meth:`BestParameters.to_dict`) is the search step's ``best_parameters`` output, which the
  register step reads for the lineage; a document with only ``experiment``, ``trial``,
  ``parameters`` (and ``metrics``) is enough there.
* :meth:`SearchOutcome.write` writes the step's three files (``trials``, ``best_parameters``,
  ``best_spec``); :meth:`SearchOutcome.read` reads them back, with the search's ``work_dir``
  (the ``experiment`` output: where a local search's trials wrote).

Every record pickles (Kale hands notebook variables across steps as pickles); the trials go as
their JSON document (:class:`latticenas.aggregate.SearchResults`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latticenas.aggregate import SearchResults
from latticenas.arch import ArchitectureSpec
from latticenas.data import read_bytes
from latticenas.errors import LatticeNASError

__all__ = ["BestParameters", "SearchOutcome"]


@dataclass(frozen=True)
class BestParameters:
    """The search's best trial: what the register step's lineage and the notebook show."""

    experiment: str
    trial: str
    parameters: dict[str, Any]  # the complete ParameterSet of the trial
    metrics: dict[str, float] = field(default_factory=dict)  # observed, by the experiment's strategies
    backend: str = ""
    objective: str = ""  # the objective metric, e.g. val-rmse
    objective_type: str = ""  # minimize | maximize
    objective_value: float | None = None
    assignments: dict[str, str] = field(default_factory=dict)  # the searched parameters, as Katib formats them
    trial_config: dict[str, Any] = field(default_factory=dict)  # params.json without the parameters
    spec_hash: str = ""  # the best network's content hash

    @classmethod
    def of_trial(cls, results: SearchResults, best, params_json: Mapping[str, Any], spec_json: str) -> BestParameters:
        """The record of trial ``best`` of ``results``, from its ``params.json`` and best spec."""
        experiment = results.experiment
        return cls(
            experiment=experiment.name, trial=best.name, parameters=dict(params_json.get("parameters") or {}),
            metrics=results.observed(best), backend=results.backend, objective=experiment.objective.metric,
            objective_type=experiment.objective.type.value, objective_value=best.objective,
            assignments={p.name: p.format(best.params[p.name]) for p in experiment.parameters if p.name in best.params},
            trial_config={k: v for k, v in params_json.items() if k != "parameters"},
            spec_hash=ArchitectureSpec.from_json(spec_json).content_hash,
        )

    def describe(self) -> str:
        """``best trial <name>: <objective> = <value>``."""
        value = "-" if self.objective_value is None else f"{self.objective_value:.6g}"
        return f"best trial {self.trial}: {self.objective or 'objective'} = {value}"

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "backend": self.backend, "trial": self.trial,
                "objective": {"metric": self.objective, "type": self.objective_type, "value": self.objective_value},
                "metrics": dict(self.metrics), "assignments": dict(self.assignments),
                "parameters": dict(self.parameters), "trial_config": dict(self.trial_config), "spec_hash": self.spec_hash}

    @classmethod
    def from_dict(cls, data: Any, source: str = "best parameters") -> BestParameters:
        if not isinstance(data, Mapping):
            raise LatticeNASError(f"{source}: not the search step's best parameters (a {type(data).__name__}); "
                                  "pass its best_parameters output")
        objective = data.get("objective") or {}
        try:
            return cls(experiment=str(data["experiment"]), trial=str(data["trial"]), parameters=dict(data["parameters"]),
                       metrics=dict(data.get("metrics") or {}), backend=str(data.get("backend") or ""),
                       objective=str(objective.get("metric") or ""), objective_type=str(objective.get("type") or ""),
                       objective_value=objective.get("value"), assignments=dict(data.get("assignments") or {}),
                       trial_config=dict(data.get("trial_config") or {}), spec_hash=str(data.get("spec_hash") or ""))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LatticeNASError(f"{source}: not the search step's best parameters ({type(exc).__name__}: {exc}); "
                                  "pass its best_parameters output") from None

    @classmethod
    def read(cls, path: str | Path) -> BestParameters:
        try:
            data = json.loads(read_bytes(str(path)))
        except ValueError:
            data = None
        return cls.from_dict(data, source=str(path))


@dataclass(frozen=True)
class SearchOutcome:
    """A finished search: its results, the best trial's parameters and network, and where it
    worked (``work_dir``: ``experiment.yaml``, for the local backend the runner's ``run/``)."""

    results: SearchResults
    best_parameters: BestParameters
    best_spec_json: str
    work_dir: Path

    @property
    def best(self):
        """The best trial's runner ``TrialRecord``."""
        found = [t for t in self.results.trials if t.name == self.best_parameters.trial]
        if not found:
            raise LatticeNASError(f"the search's trials lack its best trial {self.best_parameters.trial}: "
                                  "pass the trials and best_parameters outputs of the same search step")
        return found[0]

    @property
    def best_spec(self) -> ArchitectureSpec:
        """The best trial's best network."""
        return ArchitectureSpec.from_json(self.best_spec_json)

    def describe(self) -> str:
        """One line: the best trial and its objective value, the trials and the status."""
        return f"{self.best_parameters.describe()} ({len(self.results.trials)} trials, {self.results.status})"

    def write(self, *, trials: str, best_parameters: str, best_spec: str) -> None:
        """The search step's files: the trials document, the best parameters, the best network."""
        self.results.write(trials)
        for path, text in ((best_parameters, json.dumps(self.best_parameters.to_dict(), indent=2, sort_keys=True,
                                                        default=str) + "\n"),
                           (best_spec, self.best_spec_json)):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text)

    @classmethod
    def read(cls, *, trials: str, best_parameters: str, best_spec: str, work_dir: str | Path) -> SearchOutcome:
        """What :meth:`write` wrote, with the search's ``work_dir``."""
        outcome = cls(SearchResults.read(trials), BestParameters.read(best_parameters), Path(best_spec).read_text(),
                      Path(work_dir))
        outcome.best  # noqa: B018 - the two files are of the same search
        return outcome
