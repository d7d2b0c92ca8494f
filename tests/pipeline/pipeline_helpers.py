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


def model_directory(path: Path, spec, metrics: dict) -> Path:
    """What a retrain writes, as far as registering it goes: the required files (placeholder
    model bytes), a SavedModel file, the network's spec and ``metrics.json`` of ``metrics``."""
    (path / "saved_model").mkdir(parents=True)
    (path / "model.keras").write_bytes(b"keras zip")
    (path / "saved_model" / "saved_model.pb").write_bytes(b"pb")
    (path / "spec.json").write_text(spec.to_json())
    (path / "preprocessing.json").write_text("{}")
    (path / "metrics.json").write_text(json.dumps(metrics))
    return path


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


#: Two trials that differ only in their seed (grid search over it): networks of the same size
#: and quality whose errors differ, so their mean validates better than either (greedy ensemble
#: selection takes both; checked to hold by a wide margin on ``houses_csv``, deterministically).
ENSEMBLE_SPACE = """\
name: duo
objective: {metric: val-rmse, type: minimize}
additional_metrics: [val-mae]
budget: {max_trials: 2, parallel_trials: 2, max_failed_trials: 1}
fixed:
  data: example:ames
  target: price
  epochs: 3
  patience: 0
  learning_rate: 0.02
  number_of_architecture_moities_to_try: 1
  number_of_tries_per_architecture_moity: 1
  minimum_levels: 1
  maximum_levels: 1
  minimum_units_per_level: 1
  maximum_units_per_level: 2
  minimum_neurons_per_unit: 8
  maximum_neurons_per_unit: 16
parameters:
  seed: {type: discrete, values: [1, 2]}
algorithms:
  grid: {}
"""

#: The fixed trial arguments of ENSEMBLE_SPACE, as trial flags.
ENSEMBLE_FLAGS = ("--epochs=3", "--patience=0", "--learning_rate=0.02", "--number_of_architecture_moities_to_try=1",
                  "--number_of_tries_per_architecture_moity=1", "--minimum_levels=1", "--maximum_levels=1",
                  "--minimum_units_per_level=1", "--maximum_units_per_level=2", "--minimum_neurons_per_unit=8",
                  "--maximum_neurons_per_unit=16")


def run_katib_style_trials(prepared, root: str, seeds=(1, 2)):
    """What a Katib search of ENSEMBLE_SPACE does, without a cluster: the search table at
    ``<root>/data/search.parquet``, one real trial program run per seed writing to
    ``<root>/<trial>`` (``root`` local or ``gs://``), and the SearchResults the katib backend
    would return (backend ``katib``, ``extra.output_root``)."""
    import yaml

    from latticenas.aggregate import SearchResults
    from latticenas.data import join_uri, read_bytes
    from latticenas.pipeline.prepared import trial_split_options, write_search_table
    from latticenas.runner.trials import TrialRecord, TrialState
    from latticenas.trial import main

    table = write_search_table(prepared, join_uri(root, "data", "search.parquet"))
    split = [f"--{k}={v}" for k, v in trial_split_options(prepared.record).items()]
    trials = []
    for index, seed in enumerate(seeds, start=1):
        name = f"duo-katib-{index:04d}"
        argv = [f"--data={table}", "--target=price", "--task=regression", f"--output-dir={join_uri(root, name)}",
                *split, *ENSEMBLE_FLAGS, f"--seed={seed}"]
        assert main(argv) == 0, name
        reported = json.loads(read_bytes(join_uri(root, name, "summary.json")))["metrics"]
        trials.append(TrialRecord(index=index, name=name, params={"seed": seed}, state=TrialState.SUCCEEDED,
                                  metrics={k: (float(reported[k]),) for k in ("val-rmse", "val-mae")},
                                  objective=float(reported["val-rmse"]), created=float(index),
                                  started=float(index), ended=float(index) + 10))
    manifest = yaml.safe_load((REPO / "manifests" / "base" / "experiment-random.yaml").read_text())
    manifest["metadata"]["name"] = "duo-katib"
    return SearchResults(manifest=manifest, trials=tuple(trials), backend="katib", status="Succeeded",
                         extra={"namespace": "test", "output_root": root})
