"""Versioned model registry: local directory, Cloud Storage, Kubeflow Model Registry.

See :mod:`latticenas.registry.base` for the contract every backend keeps. Framework-free:
nothing here imports TensorFlow; the Cloud Storage and Model Registry clients are imported
when first used.
"""

from latticenas.registry.base import (
    LATEST,
    LINEAGE,
    MANIFEST,
    REQUIRED_FILES,
    Lineage,
    ModelEntry,
    RegisteredModel,
    Registry,
    RegistryError,
)
from latticenas.registry.factory import registry_for
from latticenas.registry.gcs import GcsRegistry, RegistryUnreachableError
from latticenas.registry.kubeflow import KubeflowModelRegistry
from latticenas.registry.local import LocalRegistry

__all__ = [
    "LATEST",
    "LINEAGE",
    "MANIFEST",
    "REQUIRED_FILES",
    "GcsRegistry",
    "KubeflowModelRegistry",
    "Lineage",
    "LocalRegistry",
    "ModelEntry",
    "RegisteredModel",
    "Registry",
    "RegistryError",
    "RegistryUnreachableError",
    "registry_for",
]
