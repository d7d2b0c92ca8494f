"""Kubeflow Model Registry backend: the client calls, an absent server, an absent package."""

from __future__ import annotations

import sys

import pytest

from latticenas.registry import KubeflowModelRegistry, LocalRegistry, ModelEntry, RegistryError


class FakeModelRegistry:
    """Stands in for model_registry.ModelRegistry (whose server cannot run here)."""

    instances: list = []

    def __init__(self, server_address, port=None, *, author, **kwargs):
        self.address, self.port, self.author, self.kwargs = server_address, port, author, kwargs
        self.calls = []
        FakeModelRegistry.instances.append(self)

    def register_model(self, name, uri, **kwargs):
        self.calls.append((name, uri, kwargs))
        return object()


def test_register_stores_files_then_records_the_version(tmp_path, model_dir, lineage):
    storage = LocalRegistry(tmp_path / "store")
    registry = KubeflowModelRegistry("http://mr.kubeflow:8080", author="pipeline", storage=storage,
                                     client_factory=FakeModelRegistry)
    first = registry.register(ModelEntry("house-prices", str(model_dir), lineage))
    second = registry.register(ModelEntry("house-prices", str(model_dir), lineage))

    client = registry.client()
    assert client.address == "http://mr.kubeflow:8080" and client.author == "pipeline"
    assert [c[0] for c in client.calls] == ["house-prices", "house-prices"]
    name, uri, kwargs = client.calls[1]
    assert uri == second.uri and kwargs["version"] == "v2"
    assert kwargs["model_format_name"] == "keras" and kwargs["model_format_version"] == "3.99.0"
    metadata = kwargs["metadata"]
    assert metadata["data_fingerprint"] == lineage.data_fingerprint
    assert metadata["trial_name"] == "ames-nas-trial-7" and metadata["metric_rmse"] == 21000.5
    assert metadata["param_maximum_levels"] == 3 and metadata["saved_model_uri"] == second.uri + "/saved_model"
    assert all(isinstance(v, (str, int, float, bool)) for v in metadata.values())
    assert registry.list_versions("house-prices") == ["v1", "v2"] == storage.list_versions("house-prices")
    assert registry.latest("house-prices") == second and first.version == "v1"


def test_unreachable_server_stops_before_any_copy(tmp_path, model_dir, lineage):
    pytest.importorskip("model_registry")
    storage = LocalRegistry(tmp_path / "store")
    registry = KubeflowModelRegistry("http://127.0.0.1:1", author="me", storage=storage, is_secure=False)
    with pytest.warns(UserWarning), pytest.raises(RegistryError, match="cannot connect to the Kubeflow Model Registry at http://127.0.0.1:1") as info:
        registry.register(ModelEntry("m", str(model_dir), lineage))
    assert "\n" not in str(info.value)
    assert storage.list_versions("m") == []


def test_without_the_client_package_the_error_names_the_extra(tmp_path, model_dir, lineage, monkeypatch):
    monkeypatch.setitem(sys.modules, "model_registry", None)  # import fails as if not installed
    registry = KubeflowModelRegistry("http://mr:8080", author="me", storage=LocalRegistry(tmp_path / "s"))
    with pytest.raises(RegistryError, match=r"latticenas\[registry\]"):
        registry.register(ModelEntry("m", str(model_dir), lineage))
