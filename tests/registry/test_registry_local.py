"""Local specifics: concurrent processes, the on-disk layout, backend choice."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from latticenas.registry import (
    GcsRegistry,
    KubeflowModelRegistry,
    LocalRegistry,
    ModelEntry,
    RegistryError,
    registry_for,
)


def _register(args):
    root, model_dir, lineage = args
    return LocalRegistry(root).register(ModelEntry("shared", model_dir, lineage)).version


def test_concurrent_processes_get_distinct_versions(tmp_path, model_dir, lineage):
    root = str(tmp_path / "registry")
    with multiprocessing.get_context("fork").Pool(4) as pool:
        versions = pool.map(_register, [(root, str(model_dir), lineage)] * 8)
    assert sorted(versions, key=lambda v: int(v[1:])) == [f"v{i}" for i in range(1, 9)]
    assert LocalRegistry(root).latest("shared").version == "v8"


def test_on_disk_layout(tmp_path, model_dir, lineage):
    registry = LocalRegistry(tmp_path / "reg")
    registered = registry.register(ModelEntry("m", str(model_dir), lineage))
    base = tmp_path / "reg" / "models" / "m"
    assert registered.uri == str(base / "v1")
    assert (base / "latest").read_text() == "v1\n"
    assert (base / "v1" / "saved_model" / "1" / "saved_model.pb").is_file()
    leftovers = [p.name for p in base.rglob("*.tmp")]
    assert leftovers == []


def test_registry_for_picks_the_backend(tmp_path):
    assert isinstance(registry_for(str(tmp_path)), LocalRegistry)
    assert isinstance(registry_for("gs://bucket-x/models"), GcsRegistry)
    kf = registry_for("gs://bucket-x/models", "http://model-registry.kubeflow:8080", author="ci")
    assert isinstance(kf, KubeflowModelRegistry) and isinstance(kf.storage, GcsRegistry)
    assert kf.root == "gs://bucket-x/models" and kf.author == "ci"
    with pytest.raises(RegistryError, match="no registry target"):
        registry_for("")


def test_unwritable_root_is_a_registry_error(tmp_path, model_dir, lineage):
    root = tmp_path / "file-not-dir"
    root.write_text("x")
    with pytest.raises(RegistryError, match="cannot create"):
        LocalRegistry(root).register(ModelEntry("m", str(model_dir), lineage))
    assert Path(root).read_text() == "x"
