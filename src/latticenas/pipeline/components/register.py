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
    from collections import namedtuple

    from latticenas.pipeline import steps
    from latticenas.pipeline.outcome import BestParameters
    from latticenas.pipeline.outputs import write_json
    from latticenas.pipeline.prepared import read_record

    registered = steps.register(model.path, read_record(schema.path), BestParameters.read(best_parameters.path),
                                registry_target=registry_target, model_name=model_name,
                                model_registry_address=model_registry_address)
    write_json(registration.path, registered.to_dict())
    registration.metadata.update({"uri": registered.uri, "version": registered.version})
    return namedtuple("Registration", ["uri", "version"])(registered.uri, registered.version)
