"""Where a step or a Katib trial runs for each ``accelerator`` value: cpu, gpu or tpu.

One table (:data:`PLACEMENTS`) serves both places an accelerator is chosen:

* :func:`place_task` puts a KFP pipeline task on an accelerator node with ``kfp.kubernetes``
  (GKE node selector, a toleration of the device taint, the device limit via
  ``set_accelerator_type``/``set_accelerator_limit``) and gives it the image with the
  matching TensorFlow build (``trial-gpu``/``trial-tpu``: the library with CUDA / TPU
  TensorFlow and kfp);
* :func:`place_trials` does the same to a Katib Experiment's trial pod template (what the
  ``manifests/overlays/gpu|tpu`` patches do), for the ``katib`` search backend.

The node selectors are the ones the Katib overlays use
(:data:`latticenas.katib.generate.GPU_NODE_SELECTOR`, ``TPU_NODE_SELECTOR``): an NVIDIA T4
node pool and a single-chip TPU v5e slice. Change them there to target other machines.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from latticenas.extras import require
from latticenas.images import image_ref
from latticenas.katib.generate import CONTAINER_NAME, GPU_NODE_SELECTOR, TPU_NODE_SELECTOR

__all__ = ["ACCELERATORS", "PLACEMENTS", "Placement", "place_task", "place_trials"]


@dataclass(frozen=True)
class Placement:
    accelerator: str
    step_image: str  # image name (latticenas.images) of pipeline steps that train
    trial_image: str  # image name of Katib trials
    resource: str | None = None  # extended resource of the device
    count: int = 0
    node_selector: Mapping[str, str] = field(default_factory=dict)

    def toleration(self) -> dict[str, str] | None:
        if self.resource is None:
            return None
        return {"key": self.resource, "operator": "Exists", "effect": "NoSchedule"}


PLACEMENTS: dict[str, Placement] = {
    "cpu": Placement("cpu", "component", "trial-cpu"),
    "gpu": Placement("gpu", "trial-gpu", "trial-gpu", "nvidia.com/gpu", 1, dict(GPU_NODE_SELECTOR)),
    "tpu": Placement("tpu", "trial-tpu", "trial-tpu", "google.com/tpu", 1, dict(TPU_NODE_SELECTOR)),
}
ACCELERATORS: tuple[str, ...] = tuple(PLACEMENTS)


def placement(accelerator: str) -> Placement:
    try:
        return PLACEMENTS[accelerator]
    except KeyError:
        raise ValueError(f"accelerator {accelerator!r} is not one of {', '.join(ACCELERATORS)}") from None


def place_task(task, accelerator: str):
    """Run a KFP task on ``accelerator`` (nothing to do for cpu); returns the task."""
    chosen = placement(accelerator)
    if chosen.resource is None:
        return task
    require("kfp")
    from kfp import kubernetes

    task.set_container_image(image_ref(chosen.step_image))
    task.set_accelerator_type(chosen.resource).set_accelerator_limit(chosen.count)
    for key, value in chosen.node_selector.items():
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    kubernetes.add_toleration(task, **chosen.toleration())
    return task


def place_trials(experiment: Mapping[str, Any], accelerator: str, service_account: str = "") -> dict[str, Any]:
    """A copy of the Experiment whose trial pods run on ``accelerator`` (and, when given, as
    ``service_account``)."""
    chosen = placement(accelerator)
    out = copy.deepcopy(dict(experiment))
    pod = out["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c.get("name") == CONTAINER_NAME)
    container["image"] = image_ref(chosen.trial_image)
    if service_account:
        pod["serviceAccountName"] = service_account
    if chosen.resource is not None:
        container.setdefault("resources", {}).setdefault("limits", {})[chosen.resource] = str(chosen.count)
        pod["nodeSelector"] = dict(chosen.node_selector)
        pod["tolerations"] = [chosen.toleration()]
    return out
