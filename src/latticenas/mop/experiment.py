"""A MOP run as an experiment directory the rest of latticenas already reads.

Model ``k`` of a run is exactly the network that a one-network trial with ``seed = s + k``
samples and initializes (``s``: the run's ``--seed``; one lattice, one try). So the run is a
Katib Experiment over one parameter, ``seed`` (a grid of K values), built by the same
generator as every other search (:func:`latticenas.katib.generate.build_experiment`), and each
model is one of its trials:

* ``<dir>/experiment.db``: the runner's durable state (:mod:`latticenas.runner.state`), so
  ``latticenas experiment status <dir>`` shows the run;
* ``<dir>/trials/<trial>/output/``: the trial artifacts (:mod:`latticenas.artifacts`);
* ``<dir>/leaderboard.*``, ``progress.*``, ``best/``: the runner's report
  (:mod:`latticenas.runner.report`);
* ``<dir>/trials.json``: the run as :class:`latticenas.aggregate.SearchResults` (backend
  ``mop``), the document the pipeline's aggregate step reads;
* ``<dir>/mop/``: the partitioned table and the checkpoints.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from pathlib import Path

from latticenas.errors import LatticeNASError
from latticenas.metrics import parse_metric_lines
from latticenas.params import ParameterSet
from latticenas.runner.process import ProcessResult, classify
from latticenas.runner.report import write_report
from latticenas.runner.workspace import open_for_run
from latticenas.space import TRIAL_METRICS
from latticenas.trial_loop import resolve_objective

TRIALS_DOCUMENT = "trials.json"
BACKEND = "mop"


def model_params(params: ParameterSet, seed: int) -> ParameterSet:
    """The parameter set of one model: the run's, with its own seed, one lattice, one try."""
    return replace(params, seed=seed, number_of_architecture_moities_to_try=1,
                   number_of_tries_per_architecture_moity=1)


def mop_manifest(config, task, models: int, workers: int, name: str) -> dict:
    """The Katib Experiment of the run (see the module doc)."""
    from latticenas.katib.generate import build_experiment
    from latticenas.space import parse_space

    objective = resolve_objective(config.objective, task)
    family = TRIAL_METRICS[objective][0]
    fixed = {k: v for k, v in model_params(config.params, 0).to_dict().items() if v is not None and k != "seed"}
    fixed.update({"data": config.data, "target": config.target, "task": task.value})
    if config.drop_columns:
        fixed["drop_columns"] = list(config.drop_columns)
    seed = config.params.seed
    space = {
        "name": name,
        "objective": {"metric": objective, "type": TRIAL_METRICS[objective][1].value},
        "additional_metrics": [m for m, (f, _) in TRIAL_METRICS.items() if f in (None, family) and m != objective],
        "budget": {"max_trials": models, "parallel_trials": max(1, min(models, workers)), "max_failed_trials": models},
        "fixed": fixed,
        "parameters": {"seed": {"type": "discrete", "values": [seed + k for k in range(models)]}},
        "algorithms": {"grid": {}},
    }
    experiment = build_experiment(parse_space(space, source="<latticenas mop>"), "grid")
    experiment["metadata"]["name"] = name  # the run's own name, not the generator's "<name>-grid"
    return experiment


class RunDirectory:
    """The experiment directory of one MOP run: its trials, their outputs and the report."""

    def __init__(self, directory: Path, manifest: dict):
        from latticenas.runner.experiment import parse_experiment

        experiment = parse_experiment(manifest)
        self.workspace, self.store, self.experiment = open_for_run(experiment, Path(directory))
        existing = len(self.store.trials())
        if existing:
            self.store.close()
            raise LatticeNASError(f"{directory} already holds a run ({existing} trials): pass a new --dir")
        self.run_id = uuid.uuid4().hex[:8]

    @property
    def mop_dir(self) -> Path:
        return self.workspace.directory / "mop"

    def add_trials(self, seeds: list[int]) -> list[str]:
        names = []
        for seed in seeds:
            record = self.store.create_trial(self.experiment.name, {"seed": seed}, {"backend": BACKEND})
            self.store.mark_running(record.name, os.getpid(), self.run_id)
            names.append(record.name)
        return names

    def output_dir(self, trial: str) -> Path:
        return self.workspace.output_dir(trial)

    def record(self, trial: str, artifacts, epoch_lines: list[str]) -> None:
        """Store a model's artifact files and finish its trial from the lines it printed."""
        out = self.output_dir(trial)
        for relative, data in artifacts.files.items():
            path = out / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        lines = [*epoch_lines, *artifacts.lines]
        self.workspace.log_path(trial).write_text("\n".join(lines) + "\n")
        result = ProcessResult(exit_code=1 if artifacts.error else 0,
                               metrics={k: tuple(v) for k, v in parse_metric_lines(lines).items()},
                               message=artifacts.error or "")
        state, value = classify(result, self.experiment.objective)
        self.store.finish(trial, state, result.metrics, value, result.exit_code, result.message)

    def report(self) -> str:
        from latticenas.aggregate import SearchResults

        trials = self.store.trials()
        failed = all(t.objective is None for t in trials)
        status = "Failed" if failed else "Succeeded"
        self.store.set_status(status, "no model reported the objective" if failed else "")
        SearchResults(manifest=self.experiment.manifest, trials=tuple(trials), backend=BACKEND,
                      status=status).write(self.workspace.directory / TRIALS_DOCUMENT)
        return write_report(self.workspace, self.experiment, trials, status)

    def close(self) -> None:
        self.store.close()
