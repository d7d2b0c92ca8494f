"""The compiled pipeline: the committed YAML is a fresh compilation, and its branches put each
step where the accelerator and the search backend say."""

from __future__ import annotations

import dataclasses
import inspect
import re

import pytest
import yaml
from pipeline_helpers import REPO

from latticenas.images import image_ref
from latticenas.pipeline.build import COMPILED_FILE, compile_pipeline, pipeline_function
from latticenas.pipeline.parameters import PipelineParameters, names

COMMITTED = REPO / COMPILED_FILE
PARAMETERS = set(names())
GPU_SELECTOR = {"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}
TPU_SELECTOR = {"cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice", "cloud.google.com/gke-tpu-topology": "1x1"}


def load(path):
    spec, *platform = yaml.safe_load_all(path.read_text())
    executors = platform[0]["platforms"]["kubernetes"]["deploymentSpec"]["executors"] if platform else {}
    return spec, executors


def placements(path) -> dict[tuple[str, ...], dict[str, dict]]:
    """{conditions on the way to a task: {step: its image, accelerator, node selector, tolerations}}."""
    spec, platform = load(path)
    components, executors = spec["components"], spec["deploymentSpec"]["executors"]
    out: dict[tuple[str, ...], dict[str, dict]] = {}

    def walk(dag, conditions):
        for task in dag["tasks"].values():
            condition = task.get("triggerPolicy", {}).get("condition")
            here = (*conditions, re.sub(r"inputs\.parameter_values\['pipelinechannel--(\w+)'\]", r"\1", condition)) if condition else conditions
            component = components[task["componentRef"]["name"]]
            if "dag" in component:
                walk(component["dag"], here)
                continue
            executor = component["executorLabel"]
            container = executors[executor]["container"]
            step = re.sub(r"-\d+$", "", task["componentRef"]["name"].removeprefix("comp-"))
            out.setdefault(here, {})[step] = {
                "image": container["image"],
                "accelerator": container.get("resources", {}).get("accelerator"),
                "nodeSelector": platform.get(executor, {}).get("nodeSelector", {}).get("labels"),
                "tolerations": platform.get(executor, {}).get("tolerations"),
            }

    walk(spec["root"]["dag"], ())
    return out


def on_cpu(step):
    return step["image"] == image_ref("component") and not any((step["accelerator"], step["nodeSelector"], step["tolerations"]))


def on(step, resource, selector, image):
    return (step["image"] == image_ref(image) and step["accelerator"]["resourceType"] == resource
            and step["accelerator"]["resourceCount"] == "1" and step["nodeSelector"] == selector
            and step["tolerations"] == [{"effect": "NoSchedule", "key": resource, "operator": "Exists"}])


def test_the_committed_yaml_is_a_fresh_compilation(tmp_path):
    fresh = compile_pipeline(tmp_path / "pipeline.yaml")
    assert fresh.read_text() == COMMITTED.read_text(), "drift: run `latticenas pipeline compile` and commit the result"
    again = compile_pipeline(tmp_path / "again.yaml")
    assert again.read_text() == fresh.read_text()


def test_parameters():
    spec, _ = load(COMMITTED)
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert set(inputs) == PARAMETERS
    kinds = {"str": "STRING", "int": "NUMBER_INTEGER", "float": "NUMBER_DOUBLE"}
    for f in dataclasses.fields(PipelineParameters):  # the compiled pipeline is the typed definition
        assert inputs[f.name]["parameterType"] == kinds[f.type], f.name
        if f.name not in ("registry_target", "search_space"):
            assert inputs[f.name]["defaultValue"] == f.default, f.name
        assert inputs[f.name]["description"] == f.metadata["help"].replace("`", ""), f.name
    assert "defaultValue" not in inputs["registry_target"]  # required
    assert inputs["accelerator"]["defaultValue"] == "cpu" and inputs["search_backend"]["defaultValue"] == "katib"
    assert yaml.safe_load(inputs["search_space"]["defaultValue"]) == yaml.safe_load((REPO / "search_spaces" / "ames.yaml").read_text())
    assert "\n" not in inputs["search_space"]["defaultValue"]
    assert inputs["max_trials"]["parameterType"] == "NUMBER_INTEGER"
    assert spec["pipelineInfo"]["name"] == "latticenas"


def test_each_accelerator_branch_places_its_steps():
    branches = placements(COMMITTED)
    steps = {"search", "aggregate", "retrain-best", "register"}
    assert set(branches) == {(), ("accelerator == 'cpu'",)} | {
        (f"accelerator == '{accelerator}'", f"search_backend == '{backend}'")
        for accelerator in ("gpu", "tpu") for backend in ("local", "katib", "mop")}
    assert set(branches[()]) == {"prepare-data"} and on_cpu(branches[()]["prepare-data"])
    cpu = branches[("accelerator == 'cpu'",)]
    assert set(cpu) == steps and all(on_cpu(s) for s in cpu.values())
    for accelerator, resource, selector in (("gpu", "nvidia.com/gpu", GPU_SELECTOR), ("tpu", "google.com/tpu", TPU_SELECTOR)):
        local = branches[(f"accelerator == '{accelerator}'", "search_backend == 'local'")]
        katib = branches[(f"accelerator == '{accelerator}'", "search_backend == 'katib'")]
        mop = branches[(f"accelerator == '{accelerator}'", "search_backend == 'mop'")]
        assert set(local) == set(katib) == set(mop) == steps
        image = f"trial-{accelerator}"
        # trials train inside the search pod: it gets the device
        assert on(local["search"], resource, selector, image) and on(local["retrain-best"], resource, selector, image)
        # Katib runs the trials elsewhere: the search pod only waits, on a CPU node
        assert on_cpu(katib["search"]) and on(katib["retrain-best"], resource, selector, image)
        # MOP trains on the Dask cluster's workers: the search pod drives them from a CPU node
        assert on_cpu(mop["search"]) and on(mop["retrain-best"], resource, selector, image)
        assert all(on_cpu(b[s]) for b in (local, katib, mop) for s in ("aggregate", "register"))


def test_steps_are_wired_to_the_right_inputs():
    spec, _ = load(COMMITTED)
    dag = spec["components"]["comp-condition-1"]["dag"]["tasks"]
    search = dag["search"]["inputs"]
    assert search["parameters"]["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert search["parameters"]["accelerator"]["runtimeValue"]["constant"] == "cpu"
    assert dag["register"]["cachingOptions"] == {}  # never cached: registering has an effect
    retrain = dag["retrain-best"]["inputs"]["artifacts"]
    assert retrain["final_model"]["taskOutputArtifact"] == {"outputArtifactKey": "final_model", "producerTask": "aggregate"}
    aggregate = dag["aggregate"]["inputs"]["artifacts"]
    assert aggregate["experiment"]["taskOutputArtifact"] == {"outputArtifactKey": "experiment", "producerTask": "search"}
    for part in ("train", "val", "test", "schema"):  # the baseline and the final model on the prepared rows
        assert aggregate[part] == {"componentInputArtifact": f"pipelinechannel--prepare-data-{part}"}
    prepare = spec["root"]["dag"]["tasks"]["prepare-data"]["inputs"]["parameters"]
    assert prepare["accelerator"] == {"componentInputParameter": "accelerator"}


def test_components_install_nothing_at_run_time():
    text = COMMITTED.read_text()
    assert "pip install" not in text and "ensurepip" not in text
    spec, _ = load(COMMITTED)
    for executor in spec["deploymentSpec"]["executors"].values():
        code = executor["container"]["command"][-1]
        imports = [line for line in code.splitlines() if re.search(r"\b(from|import) latticenas", line)]
        assert imports and all(line.startswith("    ") for line in imports)  # inside the function body
        assert executor["container"]["image"].startswith("ghcr.io/latticenas/")


@pytest.mark.parametrize("accelerator", ["cpu", "gpu", "tpu"])
def test_compile_time_variants(tmp_path, accelerator):
    path = compile_pipeline(tmp_path / f"{accelerator}.yaml", accelerator)
    spec, _ = load(path)
    assert spec["pipelineInfo"]["name"] == f"latticenas-{accelerator}"
    assert set(spec["root"]["inputDefinitions"]["parameters"]) == PARAMETERS - {"accelerator"}
    branches = placements(path)
    if accelerator == "cpu":  # what `pipeline run --local` runs: no condition at all
        assert list(branches) == [()] and all(on_cpu(s) for s in branches[()].values())
        assert len(branches[()]) == 5
    else:
        local = branches[("search_backend == 'local'",)]
        assert local["search"]["image"] == image_ref(f"trial-{accelerator}")
        assert on_cpu(branches[("search_backend == 'katib'",)]["search"])
        assert on_cpu(branches[("search_backend == 'mop'",)]["search"])


def test_both_pipeline_signatures_agree():
    runtime = inspect.signature(pipeline_function().pipeline_func).parameters
    fixed = inspect.signature(pipeline_function("cpu").pipeline_func).parameters
    assert [p for p in runtime if p != "accelerator"] == list(fixed)
    for name, parameter in fixed.items():
        assert (parameter.default, parameter.annotation) == (runtime[name].default, runtime[name].annotation), name
