"""The registry contract (latticenas.registry.base), run against every storage backend.

``registry`` is parametrized: a LocalRegistry in a temporary directory and a GcsRegistry in a
fresh bucket of the real gcp-storage-emulator. ``concurrent_registry`` uses, for Cloud
Storage, the same emulator with the ``ifGenerationMatch`` precondition enforced, since the
plain emulator ignores it (real Cloud Storage enforces it).
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from registry_helpers import make_model_dir, tree_digest

from latticenas.registry import (
    LATEST,
    LINEAGE,
    MANIFEST,
    Lineage,
    ModelEntry,
    RegisteredModel,
    RegistryError,
)

EXPECTED_FILES = (
    "diagram.svg", LINEAGE, MANIFEST, "metrics.json", "model.keras", "preprocessing.json",
    "saved_model/1/saved_model.pb", "saved_model/1/variables/variables.index", "spec.json",
)


def test_two_registrations_give_v1_then_v2_with_complete_files(registry, model_dir, tmp_path, lineage):
    second_dir = make_model_dir(tmp_path / "second", marker="b")
    assert registry.latest("house-prices") is None and registry.list_versions("house-prices") == []

    first = registry.register(ModelEntry("house-prices", str(model_dir), lineage))
    second = registry.register(ModelEntry("house-prices", str(second_dir), lineage))

    assert isinstance(first, RegisteredModel)
    assert (first.version, second.version) == ("v1", "v2")
    assert first.uri.startswith(registry.root) and first.uri.endswith("/models/house-prices/v1")
    assert first.files == EXPECTED_FILES == second.files
    assert registry.list_versions("house-prices") == ["v1", "v2"]
    assert registry.latest("house-prices") == second
    assert registry.get("house-prices", 1) == first == registry.get("house-prices", "v1")
    # every file arrived byte for byte, each version with its own content
    for version, source in (("v1", model_dir), ("v2", second_dir)):
        for relative, digest in tree_digest(source).items():
            assert hashlib.sha256(registry.read_bytes("house-prices", version, relative)).hexdigest() == digest
    assert json.loads(registry.read_bytes("house-prices", "v1", "spec.json"))["marker"] == "a"
    assert json.loads(registry.read_bytes("house-prices", "v2", "spec.json"))["marker"] == "b"
    manifest = json.loads(registry.read_bytes("house-prices", "v2", MANIFEST))
    assert manifest["version"] == "v2" and set(manifest["files"]) == set(EXPECTED_FILES) - {LINEAGE, MANIFEST}
    assert registry.lineage("house-prices", "v2") == lineage


def test_latest_pointer_file_holds_the_version(registry, model_dir, lineage):
    registry.register(ModelEntry("m", str(model_dir), lineage))
    registry.register(ModelEntry("m", str(model_dir), lineage))
    assert registry._read_bytes("m", None, LATEST).decode().strip() == "v2"


def test_lineage_round_trips_with_defaults(registry, model_dir):
    lineage = Lineage("d.csv", "f" * 64, "exp", "trial", {"epochs": 3}, {"rmse": 2.0}, "h" * 64)
    assert lineage.package_version and lineage.created_at.endswith("Z")
    registry.register(ModelEntry("m", str(model_dir), lineage))
    assert registry.lineage("m", "v1") == lineage


def test_models_are_versioned_independently(registry, model_dir, lineage):
    assert registry.register(ModelEntry("a", str(model_dir), lineage)).version == "v1"
    assert registry.register(ModelEntry("b", str(model_dir), lineage)).version == "v1"
    assert registry.register(ModelEntry("a", str(model_dir), lineage)).version == "v2"
    assert registry.list_versions("b") == ["v1"]


def test_model_dir_is_only_read(registry, model_dir, lineage):
    before = tree_digest(model_dir)
    registry.register(ModelEntry("m", str(model_dir), lineage))
    assert tree_digest(model_dir) == before


def test_concurrent_registrations_in_threads_never_collide(concurrent_registry, tmp_path, lineage):
    registry = concurrent_registry
    dirs = [make_model_dir(tmp_path / f"m{i}", marker=str(i)) for i in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda d: registry.register(ModelEntry("busy", str(d), lineage)), dirs))
    assert sorted(r.number for r in results) == [1, 2, 3, 4, 5, 6]
    assert registry.list_versions("busy") == [f"v{i}" for i in range(1, 7)]
    assert registry.latest("busy").version == "v6"
    # no version was overwritten: each holds the spec of exactly one source directory
    markers = {json.loads(registry.read_bytes("busy", r.version, "spec.json"))["marker"] for r in results}
    assert markers == {str(i) for i in range(6)}


@pytest.mark.parametrize("missing", ["model.keras", "preprocessing.json"])
def test_incomplete_model_dir_is_refused_before_anything_is_written(registry, model_dir, lineage, missing):
    (model_dir / missing).unlink()
    with pytest.raises(RegistryError, match=f"lacks {missing}.*retrain"):
        registry.register(ModelEntry("m", str(model_dir), lineage))
    assert registry.list_versions("m") == [] and registry.latest("m") is None


def test_missing_model_dir_and_bad_names_are_one_line_errors(registry, tmp_path, model_dir, lineage):
    with pytest.raises(RegistryError, match="does not exist"):
        registry.register(ModelEntry("m", str(tmp_path / "nowhere"), lineage))
    for bad in ("", "../escape", "a/b", "latest", "-dash"):
        with pytest.raises(RegistryError, match="not allowed") as info:
            registry.register(ModelEntry(bad, str(model_dir), lineage))
        assert "\n" not in str(info.value)
    with pytest.raises(RegistryError, match="no complete version v3"):
        registry.get("m", "v3")
    with pytest.raises(RegistryError, match="not a version"):
        registry.get("m", "latest")


def test_latest_never_moves_backwards(registry, model_dir, lineage):
    registry.register(ModelEntry("m", str(model_dir), lineage))
    registry.register(ModelEntry("m", str(model_dir), lineage))
    registry._advance_latest("m", 1)  # a slower registration of v1 finishing last
    assert registry.latest("m").version == "v2"


def test_failed_registration_leaves_no_complete_version(registry, model_dir, lineage, monkeypatch):
    registry.register(ModelEntry("m", str(model_dir), lineage))
    real_put = type(registry)._put_file

    def failing_put(self, name, version, relative, source):
        if relative.startswith("saved_model/"):
            raise RegistryError("storage went away")
        real_put(self, name, version, relative, source)

    monkeypatch.setattr(type(registry), "_put_file", failing_put)
    with pytest.raises(RegistryError, match="storage went away"):
        registry.register(ModelEntry("m", str(model_dir), lineage))
    assert registry.list_versions("m") == ["v1"] and registry.latest("m").version == "v1"
    monkeypatch.undo()
    again = registry.register(ModelEntry("m", str(model_dir), lineage))
    assert registry.list_versions("m") == ["v1", again.version] and registry.latest("m") == again
