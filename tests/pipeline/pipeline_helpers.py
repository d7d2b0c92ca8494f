"""Shared helpers of the pipeline tests: small tables, a tiny search space, kfp.local."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Two trials of one lattice each, three epochs: a search in seconds on two cores.
TINY_SPACE = """\
name: tiny
objective: {metric: val-rmse, type: minimize}
additional_metrics: [val-mae, param-count]
budget: {max_trials: 2, parallel_trials: 2, max_failed_trials: 1}
fixed:
  data: example:ames
  target: price
  epochs: 3
  patience: 0
  number_of_architecture_moities_to_try: 1
  number_of_tries_per_architecture_moity: 1
  minimum_levels: 1
  minimum_units_per_level: 1
  minimum_neurons_per_unit: 4
  seed: 0
parameters:
  maximum_levels: {type: int, min: 1, max: 2}
  maximum_neurons_per_unit: {type: int, min: 8, max: 16, step: 8}
  learning_rate: {type: double, min: 0.001, max: 0.01, distribution: logUniform}
algorithms:
  random: {random_state: 1}
"""


def executor_output(step_dir: Path) -> dict:
    """The executor_output.json kfp wrote for one step (artifact metadata, parameters)."""
    return json.loads((Path(step_dir) / "executor_output.json").read_text())


def artifact_metadata(step_dir: Path, name: str) -> dict:
    [artifact] = executor_output(step_dir)["artifacts"][name]["artifacts"]
    return artifact.get("metadata", {})


def step_dir(run_dir: Path, prefix: str) -> Path:
    [found] = [p for p in Path(run_dir).iterdir() if p.is_dir() and (p.name == prefix or p.name.startswith(prefix + "-"))]
    return found


def only_run(pipeline_root: Path) -> Path:
    [run] = [p for p in Path(pipeline_root).iterdir() if p.is_dir()]
    return run
