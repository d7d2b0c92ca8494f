"""Kubeflow Model Registry: record each version's metadata there, keep the files in a store.

The Kubeflow Model Registry holds metadata and a URI, not files. So
:class:`KubeflowModelRegistry` wraps a storage registry (:class:`~latticenas.registry.GcsRegistry`
or :class:`~latticenas.registry.LocalRegistry`, e.g. a PVC): ``register`` first checks that the
Model Registry server answers, then copies the files to a new version of the store (same
contract as the store), then calls the client's ``register_model`` with

* ``name`` = the model name, ``version`` = the store's version (``v1``, ``v2``, ...),
* ``uri`` = the version's directory in the store,
* ``model_format_name="keras"``, ``model_format_version`` = the Keras version recorded in
  ``model.keras``,
* ``metadata`` = the lineage flattened to strings and numbers (``metric_<name>``,
  ``param_<name>``) plus ``saved_model_uri`` (the SavedModel base for KServe / TF Serving).

Versions, ``latest`` and ``list_versions`` come from the store. The client comes from the
``model-registry`` package (the ``registry`` extra), imported only when used; without it, or
when the server does not answer, RegistryError says what to do.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any, Callable

from latticenas.registry.base import (
    Lineage,
    ModelEntry,
    RegisteredModel,
    Registry,
    RegistryError,
)

MODEL_FORMAT = "keras"
INSTALL_HINT = "install the client with `pip install 'latticenas[registry]'` (package model-registry)"


class KubeflowModelRegistry(Registry):
    """Files in ``storage``, metadata in the Kubeflow Model Registry at ``address``."""

    def __init__(
        self,
        address: str,
        *,
        author: str,
        storage: Registry,
        port: int | None = None,
        is_secure: bool | None = None,
        user_token: str | None = None,
        client_factory: Callable[..., Any] | None = None,
    ):
        if not address:
            raise RegistryError("the Kubeflow Model Registry address is empty: pass e.g. http://model-registry-service.kubeflow:8080")
        self.address, self.author, self.storage = str(address), str(author), storage
        self.port, self.is_secure, self.user_token = port, is_secure, user_token
        self.root = storage.root
        self._client_factory = client_factory
        self._client = None

    def __repr__(self) -> str:
        return f"KubeflowModelRegistry({self.address!r}, storage={self.storage!r})"

    # ------------------------------------------------------------------ the client

    def client(self):
        """The connected ``model_registry.ModelRegistry`` (created on first use)."""
        if self._client is not None:
            return self._client
        factory = self._client_factory or _import_client()
        kwargs: dict[str, Any] = {"author": self.author}
        if self.is_secure is not None:
            kwargs["is_secure"] = self.is_secure
        if self.user_token is not None:
            kwargs["user_token"] = self.user_token
        try:
            self._client = factory(self.address, self.port, **kwargs)
        except Exception as exc:  # the client raises many types (StoreError, aiohttp, ValueError)
            raise RegistryError(
                f"cannot connect to the Kubeflow Model Registry at {self.address}"
                f"{'' if self.port is None else f':{self.port}'} ({_reason(exc)}): check the "
                "address, the port and the token (KF_PIPELINES_SA_TOKEN_PATH), or register "
                "without --model-registry-address"
            ) from exc
        return self._client

    # ------------------------------------------------------------------ the API

    def register(self, entry: ModelEntry) -> RegisteredModel:
        client = self.client()  # fail before copying anything when the server is away
        registered = self.storage.register(entry)
        try:
            client.register_model(
                registered.name,
                registered.uri,
                version=registered.version,
                model_format_name=MODEL_FORMAT,
                model_format_version=keras_version(Path(entry.model_dir) / "model.keras"),
                author=self.author,
                version_description=f"latticenas {entry.lineage.experiment_name}/{entry.lineage.trial_name}",
                metadata=flat_metadata(entry.lineage, registered),
            )
        except Exception as exc:
            raise RegistryError(
                f"stored {registered.name} {registered.version} at {registered.uri} but the Kubeflow "
                f"Model Registry at {self.address} refused it ({_reason(exc)}): fix the server "
                "and register that URI by hand, or register again"
            ) from exc
        return registered

    # the store is the source of truth for versions and files
    def list_versions(self, name: str) -> list[str]:
        return self.storage.list_versions(name)

    def latest(self, name: str) -> RegisteredModel | None:
        return self.storage.latest(name)

    def get(self, name: str, version: str | int) -> RegisteredModel:
        return self.storage.get(name, version)

    def lineage(self, name: str, version: str | int) -> Lineage:
        return self.storage.lineage(name, version)

    def read_bytes(self, name: str, version: str | int, relative: str) -> bytes:
        return self.storage.read_bytes(name, version, relative)

    def _claim(self, name):  # pragma: no cover - register() delegates to the store
        return self.storage._claim(name)

    def _put_file(self, name, version, relative, source):  # pragma: no cover
        self.storage._put_file(name, version, relative, source)

    def _put_bytes(self, name, version, relative, data):  # pragma: no cover
        self.storage._put_bytes(name, version, relative, data)

    def _read_bytes(self, name, version, relative):  # pragma: no cover
        return self.storage._read_bytes(name, version, relative)

    def _list_complete(self, name):  # pragma: no cover
        return self.storage._list_complete(name)

    def _advance_latest(self, name, number):  # pragma: no cover
        self.storage._advance_latest(name, number)

    def _uri(self, name, version=None):  # pragma: no cover
        return self.storage._uri(name, version)


def _import_client():
    try:
        from model_registry import ModelRegistry
    except ImportError as exc:
        raise RegistryError(f"the Kubeflow Model Registry client is not installed: {INSTALL_HINT}") from exc
    return ModelRegistry


def keras_version(model_path: Path) -> str:
    """The Keras version stored in a ``.keras`` file (its ``metadata.json``), else installed."""
    try:
        with zipfile.ZipFile(model_path) as archive:
            version = json.loads(archive.read("metadata.json")).get("keras_version")
            if version:
                return str(version)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        pass
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("keras")
    except PackageNotFoundError:
        return "unknown"


def flat_metadata(lineage: Lineage, registered: RegisteredModel) -> dict[str, str | int | float | bool]:
    """The lineage as the flat str/int/float/bool mapping the Model Registry accepts."""
    data = lineage.to_dict()
    out: dict[str, str | int | float | bool] = {
        key: str(data[key])
        for key in ("data_uri", "data_fingerprint", "experiment_name", "trial_name",
                    "spec_hash", "package_version", "created_at")
    }
    out["storage_uri"] = registered.uri
    out["saved_model_uri"] = f"{registered.uri.rstrip('/')}/saved_model"
    out["registry_version"] = registered.version
    for key, value in (data.get("metrics") or {}).items():
        out[f"metric_{key}"] = _scalar(value)
    for key, value in (data.get("parameters") or {}).items():
        out[f"param_{key}"] = _scalar(value)
    return out


def _scalar(value: Any) -> str | int | float | bool:
    if isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, default=str, sort_keys=True)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    first = first if len(first) <= 160 else first[:157] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def default_author() -> str:
    return os.environ.get("USER") or "latticenas"


__all__ = ["KubeflowModelRegistry", "flat_metadata", "keras_version"]
