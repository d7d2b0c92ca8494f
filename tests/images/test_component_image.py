"""The component image, built with docker/build.sh, running the executor commands of
pipelines/latticenas_pipeline.yaml as KFP runs them: prepare-data -> search (the local backend,
two tiny trials in the same container) -> aggregate -> retrain-best -> register, each step in its
own container, its arguments read from its task in the compiled DAG (the local-backend
branch's parameters given), the artifacts passed from step to step through the mounted
pipeline root."""

from __future__ import annotations

import json
import math
from pathlib import Path

from image_tools import IMAGE_TEST, REPO, writable_dir
from kfp_steps import StepRunner, load_pipeline, task_arguments

pytestmark = IMAGE_TEST

PIPELINE = REPO / "pipelines" / "latticenas_pipeline.yaml"
STEPS = ("prepare-data", "search", "aggregate", "retrain-best", "register")


def pipeline_defaults(document: dict) -> dict:
    parameters = document["root"]["inputDefinitions"]["parameters"]
    return {name: p["defaultValue"] for name, p in parameters.items() if "defaultValue" in p}


def tiny_search_space(defaults: dict) -> str:
    space = json.loads(defaults["search_space"])
    space["fixed"].update(epochs=3, patience=2)
    space["budget"].update(max_trials=2, parallel_trials=1)
    return json.dumps(space)


def test_pipeline_steps_run_in_the_component_image(tools, component_image, tmp_path):
    pipeline, document = load_pipeline(PIPELINE)
    defaults = pipeline_defaults(document)
    root = writable_dir(tmp_path / "pipeline-root")
    registry = root / "registry"
    parameters = {**defaults, "search_backend": "local", "accelerator": "cpu", "max_trials": 2,
                  "parallel_trials": 1, "search_space": tiny_search_space(defaults), "registry_target": str(registry)}
    steps = StepRunner(tools, component_image, pipeline, root)
    produced: dict[str, dict] = {}
    for step in STEPS:
        produced[step], proc = steps.run(step, task_arguments(document, step, parameters, produced))
        # matplotlib's font cache is built into the image: no step rebuilds it or warns about it
        assert "fontManager" not in proc.stderr and "Matplotlib created" not in proc.stderr, (step, proc.stderr[-3000:])

    prepared, searched, aggregated = produced["prepare-data"], produced["search"], produced["aggregate"]
    for name in ("train", "val", "test", "schema"):
        assert Path(prepared[name].path).stat().st_size > 0, name

    search = json.loads(Path(searched["trials"].path).read_text())
    assert search["backend"] == "local" and search["status"].startswith("Succeeded"), search["status"]
    assert len(search["trials"]) == 2
    assert searched["best_trial"] in {trial["name"] for trial in search["trials"]}
    assert math.isfinite(searched["best_objective"])

    assert "<html" in Path(aggregated["leaderboard"].path).read_text().lower()
    assert Path(aggregated["progress_plot"].path).read_bytes().startswith(b"\x89PNG")
    final_metrics = aggregated["final_metrics"].metadata
    assert any(name.startswith("final-val-") for name in final_metrics), final_metrics

    model_dir = Path(produced["retrain-best"]["model"].path)
    for name in ("model.keras", "metrics.json", "preprocessing.json"):
        assert (model_dir / name).is_file(), sorted(p.name for p in model_dir.iterdir())

    registered = produced["register"]
    record = json.loads(Path(registered["registration"].path).read_text())
    assert record["uri"] == registered["uri"] and record["version"] == registered["version"]
    assert record["uri"].startswith(str(registry)), record
