"""Helpers for the local runner's tests: Katib Experiment manifests whose trial program is the
real script ``fake_trials/quadratic.py``, run by this interpreter."""

from __future__ import annotations

import copy
import sqlite3
import sys
from pathlib import Path
from typing import Any

import yaml

FAKE_TRIAL = Path(__file__).parent / "fake_trials" / "quadratic.py"

DEFAULT_PARAMETERS = [
    {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.0", "max": "1.0"}},
    {"name": "y", "parameterType": "int", "feasibleSpace": {"min": "0", "max": "4"}},
    {"name": "opt", "parameterType": "categorical", "feasibleSpace": {"list": ["a", "b"]}},
]


def experiment_manifest(
    name: str = "quad",
    algorithm: str = "random",
    settings: dict[str, Any] | None = None,
    parameters: list[dict] | None = None,
    max_trials: int | None = 4,
    parallel: int = 1,
    max_failed: int | None = None,
    goal: float | None = None,
    trial_args: tuple[str, ...] = (),
    early_stopping: dict[str, Any] | None = None,
    objective_type: str = "minimize",
) -> dict:
    """A valid Katib Experiment running the fake trial with every parameter as a flag."""
    parameters = copy.deepcopy(parameters or DEFAULT_PARAMETERS)
    objective = {"type": objective_type, "objectiveMetricName": "loss", "additionalMetricNames": ["accuracy"]}
    if goal is not None:
        objective["goal"] = goal
    spec: dict[str, Any] = {
        "objective": objective,
        "algorithm": {
            "algorithmName": algorithm,
            "algorithmSettings": [{"name": k, "value": str(v)} for k, v in (settings or {}).items()],
        },
        "parallelTrialCount": parallel,
        "parameters": parameters,
        "trialTemplate": {
            "primaryContainerName": "training-container",
            "trialParameters": [
                *({"name": p["name"], "reference": p["name"], "description": p["name"]} for p in parameters),
                {"name": "trialName", "reference": "${trialSpec.Name}", "description": "trial name"},
            ],
            "trialSpec": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "training-container",
                                    "image": "docker.io/example/latticenas:test",
                                    "command": [
                                        sys.executable,
                                        str(FAKE_TRIAL),
                                        *(f"--{p['name']}=${{trialParameters.{p['name']}}}" for p in parameters),
                                        "--trial-name=${trialParameters.trialName}",
                                        "--output-dir=/tmp/not-used/${trialParameters.trialName}",
                                        *trial_args,
                                    ],
                                }
                            ],
                        }
                    }
                },
            },
        },
    }
    if max_trials is not None:
        spec["maxTrialCount"] = max_trials
    if max_failed is not None:
        spec["maxFailedTrialCount"] = max_failed
    if early_stopping is not None:
        spec["earlyStopping"] = {
            "algorithmName": "medianstop",
            "algorithmSettings": [{"name": k, "value": str(v)} for k, v in early_stopping.items()],
        }
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name, "namespace": "kubeflow"},
        "spec": spec,
    }


def write_manifest(directory: Path, manifest: dict, filename: str = "experiment.yaml") -> Path:
    path = directory / filename
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return path


def trial_rows(directory: Path) -> list[dict]:
    """The experiment's trials table, in creation order (as plain dicts)."""
    with sqlite3.connect(Path(directory) / "experiment.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM trials ORDER BY idx")]


def experiment_row(directory: Path) -> dict:
    with sqlite3.connect(Path(directory) / "experiment.db") as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM experiment").fetchone())
