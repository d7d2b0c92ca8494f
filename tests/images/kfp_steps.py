"""One step of the compiled pipeline run in a container the way KFP runs it, with kfp.local's
own functions: the ExecutorInput from the component's spec and the arguments (an upstream
step's output artifacts among them), the executor's command and args from the YAML's
``deploymentSpec`` with their placeholders resolved, the pipeline root mounted at the same path
(what kfp.local's DockerRunner does), and the outputs read back from the executor's output file.

Unlike kfp.local, this runs the container with the tests' runner (docker or podman) rather than
docker's Python SDK, and runs the steps the caller names, in its order: each step's arguments are
read from its task in the compiled DAG (root or a condition's), a pipeline parameter from the
caller's arguments (else its default), an upstream artifact or parameter from the outputs of the
step that produced it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from image_tools import Tools, run
from kfp.local import executor_input_utils, executor_output_utils, placeholder_utils, utils
from kfp.pipeline_spec import pipeline_spec_pb2


def load_pipeline(path: Path) -> tuple[pipeline_spec_pb2.PipelineSpec, dict]:
    """The compiled pipeline (its first YAML document) as a PipelineSpec, and as a dict."""
    with open(path, encoding="utf-8") as handle:
        document = next(yaml.safe_load_all(handle))
    return json_format.ParseDict(document, pipeline_spec_pb2.PipelineSpec()), document


CHANNEL = "pipelinechannel--"


def find_task(document: dict, component: str) -> dict:
    """The first task, in the root DAG or a sub-DAG (a condition's), that runs ``comp-<component>``."""
    dags = [document["root"]["dag"], *(c["dag"] for c in document["components"].values() if "dag" in c)]
    for dag in dags:
        for task in dag["tasks"].values():
            if task["componentRef"]["name"] == f"comp-{component}":
                return task
    raise KeyError(f"no task runs comp-{component}")


def task_arguments(document: dict, component: str, parameters: dict[str, Any],
                   produced: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The arguments of ``component``'s task: ``parameters`` are the pipeline's (name -> value),
    ``produced`` the outputs of the steps run so far (task name -> output name -> value)."""
    inputs = find_task(document, component).get("inputs", {})

    def upstream(channel: str) -> Any:  # "<producer task>-<output>", as kfp names channels
        for producer, outputs in produced.items():
            key = channel.removeprefix(producer + "-")
            if channel.startswith(producer + "-") and key in outputs:
                return outputs[key]
        raise KeyError(f"{component}: no step so far produced {channel}")

    def value(source: dict) -> Any:
        if "runtimeValue" in source:
            return source["runtimeValue"]["constant"]
        if "taskOutputParameter" in source or "taskOutputArtifact" in source:
            ref = source.get("taskOutputParameter") or source["taskOutputArtifact"]
            key = ref.get("outputParameterKey") or ref["outputArtifactKey"]
            return produced[ref["producerTask"]][key]
        name = (source.get("componentInputParameter") or source["componentInputArtifact"]).removeprefix(CHANNEL)
        return parameters[name] if name in parameters else upstream(name)

    return {name: value(source) for kind in ("parameters", "artifacts") for name, source in inputs.get(kind, {}).items()}


@dataclass(frozen=True)
class StepRunner:
    tools: Tools
    image: str  # runs every step (the YAML names the released component image)
    pipeline: pipeline_spec_pb2.PipelineSpec
    root: Path  # the pipeline root, mounted into every step's container
    run_name: str = "image-test"

    def run(self, component: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], subprocess.CompletedProcess]:
        """Run ``comp-<component>``; its outputs (artifacts as ``dsl.Artifact``) and the process."""
        spec = self.pipeline.components[f"comp-{component}"]
        executor = utils.struct_to_executor_spec(self.pipeline.deployment_spec["executors"][spec.executor_label])
        task_root = executor_input_utils.construct_local_task_root(str(self.root), self.run_name, component)
        executor_input = executor_input_utils.construct_executor_input(
            component_spec=spec, arguments=arguments, task_root=task_root, block_input_artifact=False)
        command = placeholder_utils.replace_placeholders(
            full_command=[*executor.container.command, *executor.container.args],
            executor_input_dict=executor_input_utils.executor_input_to_dict(executor_input, spec),
            pipeline_resource_name=self.run_name, task_resource_name=component,
            pipeline_root=str(self.root), unique_pipeline_id=placeholder_utils.make_random_id(),
        )
        proc = run(self.tools, self.image, command, "--volume", f"{self.root}:{self.root}", timeout=1800)
        assert proc.returncode == 0, f"step {component} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        return executor_output_utils.get_outputs_for_task(executor_input, spec), proc
