"""Step 5: register the retrained model with its lineage."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Input, Model, Output

from latticenas.images import image_ref


@dsl.component(base_image=image_ref("component"), packages_to_install=None, install_kfp_package=False)
def register(
    model: Input[Model],
    schema: Input[Artifact],
    best_parameters: Input[Artifact],
    registry_target: str,
    model_name: str,
    model_registry_address: str,
    registration: Output[Artifact],
) -> NamedTuple("Registration", [("uri", str), ("version", str)]):
    """Register ``model`` as a new version of ``model_name`` in ``registry_target`` (a directory
    or gs:// prefix; ``model_registry_address`` optionally names a model registry service) with
    its lineage (data URI and fingerprint, experiment, trial, parameters, metrics, spec hash).
    ``registration`` is the record (JSON); returns the version's URI and version."""
    import json
    from collections import namedtuple

    from latticenas.pipeline.steps import register as register_model

    record = register_model(model_dir=model.path, record=schema.path, best_parameters=best_parameters.path,
                            registry_target=registry_target, model_name=model_name,
                            model_registry_address=model_registry_address)
    with open(registration.path, "w") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
    registration.metadata.update({"uri": record["uri"], "version": record["version"]})
    return namedtuple("Registration", ["uri", "version"])(record["uri"], record["version"])
