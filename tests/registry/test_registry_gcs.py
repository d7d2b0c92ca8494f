"""Cloud Storage specifics: precondition conflicts, an unreachable server, a missing bucket."""

from __future__ import annotations

import pytest
from registry_helpers import tree_digest

from latticenas.registry import GcsRegistry, ModelEntry, RegistryError, RegistryUnreachableError, registry_for
from latticenas.registry import gcs as gcs_backend


def test_a_taken_version_number_moves_the_claim_to_the_next(strict_gcs_bucket, model_dir, lineage, monkeypatch):
    registry = GcsRegistry(f"gs://{strict_gcs_bucket}/r", retries=0)
    registry._upload(registry._key("m", "claims", "v1"), b"{}", if_generation_match=0)  # someone else's
    monkeypatch.setattr(GcsRegistry, "_scan", lambda self, name: ([], []))  # a listing that missed it
    assert registry.register(ModelEntry("m", str(model_dir), lineage)).version == "v2"


def test_emulator_down_gives_a_clear_error_after_the_retries(model_dir, lineage, monkeypatch):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "latticenas-test")
    sleeps = []
    monkeypatch.setattr(gcs_backend, "_sleep", sleeps.append)
    before = tree_digest(model_dir)
    registry = GcsRegistry("gs://models-bucket/prod", retries=2, backoff=0.01)

    with pytest.raises(RegistryUnreachableError) as info:
        registry.register(ModelEntry("house-prices", str(model_dir), lineage))

    message = str(info.value)
    assert isinstance(info.value, RegistryError) and "\n" not in message
    assert "gs://models-bucket/prod/models/house-prices/" in message
    assert "after 3 tries" in message and "Connection refused" in message
    assert f"STORAGE_EMULATOR_HOST (now http://127.0.0.1:{closed}" in message
    assert f"{model_dir} is unchanged" in message
    assert sleeps == [0.01, 0.02]  # exponential backoff between the 3 tries
    assert tree_digest(model_dir) == before


def test_missing_bucket_is_named(gcs_emulator, model_dir, lineage):
    registry = GcsRegistry("gs://no-such-bucket-here/r", retries=0)
    with pytest.raises(RegistryError, match="bucket 'no-such-bucket-here' does not exist"):
        registry.register(ModelEntry("m", str(model_dir), lineage))


def test_bad_uris_are_refused():
    with pytest.raises(RegistryError, match="lowercase bucket"):
        GcsRegistry("gs://Bad_Bucket/x")
    assert registry_for("gs://good-bucket/p").root == "gs://good-bucket/p"
    assert registry_for("gs://good-bucket").root == "gs://good-bucket"
