"""An experiment directory: its layout, and opening it for a run or for ``status``.

Layout::

    <dir>/experiment.db             durable state (runner.state)
    <dir>/trials/<trial>/logs.txt   the trial's stdout+stderr
    <dir>/trials/<trial>/command.json   the exact argv and extra environment it ran with
    <dir>/trials/<trial>/output/    the trial's --output-dir
    <dir>/leaderboard.{csv,json}, progress.{png,html}, best/   (runner.report)

Contract of :func:`open_for_run`: a new directory records the manifest; an existing one must
hold the same experiment (``metadata.name`` and ``spec`` equal, except the budget fields
``maxTrialCount``, ``parallelTrialCount``, ``maxFailedTrialCount`` and ``resumePolicy``, which a
user may change between runs as Katib allows); its manifest is then updated. A directory where
no trial was created yet takes any manifest (a fixed one after a refused start). Command-line
budget overrides are remembered in the directory and apply until overridden again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from latticenas.errors import LatticeNASError
from latticenas.runner.experiment import Experiment, parse_experiment
from latticenas.runner.state import ExperimentStore

BUDGET_FIELDS = ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount", "resumePolicy")


@dataclass(frozen=True)
class Workspace:
    directory: Path

    def trial_dir(self, name: str) -> Path:
        return self.directory / "trials" / name

    def log_path(self, name: str) -> Path:
        return self.trial_dir(name) / "logs.txt"

    def output_dir(self, name: str) -> Path:
        return self.trial_dir(name) / "output"

    def command_path(self, name: str) -> Path:
        return self.trial_dir(name) / "command.json"

    @property
    def best_dir(self) -> Path:
        return self.directory / "best"


def open_for_run(
    experiment: Experiment | None,
    directory: Path,
    max_trials: int | None = None,
    parallel: int | None = None,
) -> tuple[Workspace, ExperimentStore, Experiment]:
    """Create or reopen ``directory`` for ``experiment`` (``None``: resume the stored one)."""
    if experiment is None and not (directory / "experiment.db").is_file():
        raise LatticeNASError(f"{directory}: no experiment to resume here; pass a MANIFEST")
    directory.mkdir(parents=True, exist_ok=True)
    store = ExperimentStore(directory)
    stored = store.experiment()
    if stored is None:
        store.initialize(experiment.name, experiment.manifest)
    else:
        experiment = _reconcile(experiment, stored["manifest"], directory, store)
    store.set_overrides(max_trials, parallel)
    return Workspace(directory), store, _with_overrides(experiment, store)


def open_for_status(directory: Path) -> tuple[Workspace, ExperimentStore, Experiment]:
    store = ExperimentStore.open_existing(directory)
    stored = store.experiment()
    if stored is None:
        raise LatticeNASError(f"{directory}: the experiment database is empty")
    return Workspace(directory), store, _with_overrides(parse_experiment(stored["manifest"]), store)


def _reconcile(experiment, stored_manifest, directory, store) -> Experiment:
    if experiment is None:
        return parse_experiment(stored_manifest)
    difference = first_difference(_identity(stored_manifest), _identity(experiment.manifest))
    if difference is not None and not store.trials():  # nothing ran yet: take the new manifest
        store.update_manifest(experiment.manifest, experiment.name)
        return experiment
    if difference is not None:
        raise LatticeNASError(
            f"{directory} holds a different experiment ({difference} changed); "
            "use another --dir or the manifest it was started with"
        )
    store.update_manifest(experiment.manifest)
    return experiment


def _with_overrides(experiment: Experiment, store: ExperimentStore) -> Experiment:
    row = store.experiment() or {}
    return experiment.with_budget(max_trials=row.get("max_trials"), parallel=row.get("parallel"))


def _identity(manifest: Mapping[str, Any]) -> dict:
    manifest = json.loads(json.dumps(manifest, default=str))  # compare as stored
    spec = {k: v for k, v in dict(manifest.get("spec") or {}).items() if k not in BUDGET_FIELDS}
    return {"metadata.name": (manifest.get("metadata") or {}).get("name"), "spec": spec}


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """The path of the first place two JSON-like values differ, or ``None``."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b), key=str):
            found = first_difference(a.get(key), b.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else (path or "the manifest")
