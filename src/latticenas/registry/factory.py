"""Pick a registry backend from a target string."""

from __future__ import annotations

from latticenas.data.io import is_gcs_uri
from latticenas.registry.base import Registry, RegistryError


def registry_for(
    target: str,
    model_registry_address: str | None = None,
    *,
    author: str | None = None,
    retries: int = 3,
    backoff: float = 0.5,
) -> Registry:
    """The registry for ``target``: ``gs://bucket/prefix`` -> :class:`GcsRegistry`, anything
    else -> :class:`LocalRegistry` (a directory). With ``model_registry_address`` the files go
    there and each version is also recorded in the Kubeflow Model Registry at that address
    (:class:`KubeflowModelRegistry`; ``author`` defaults to ``$USER``)."""
    from latticenas.registry.gcs import GcsRegistry
    from latticenas.registry.kubeflow import KubeflowModelRegistry, default_author
    from latticenas.registry.local import LocalRegistry

    target = str(target or "").strip()
    if not target:
        raise RegistryError(
            "no registry target given: pass a directory or gs://<bucket>/<prefix>"
        )
    storage: Registry
    if is_gcs_uri(target):
        storage = GcsRegistry(target, retries=retries, backoff=backoff)
    else:
        storage = LocalRegistry(target)
    if model_registry_address:
        return KubeflowModelRegistry(
            model_registry_address, author=author or default_author(), storage=storage
        )
    return storage


__all__ = ["registry_for"]
