"""Registry fixtures: a retrained-looking model directory, a lineage, one registry per backend.

``registry`` is parametrized over the local and the Cloud Storage backend (the real
``gcp-storage-emulator`` through the shared ``gcs_bucket`` fixture), so the contract tests run
unchanged against both. ``strict_gcs_bucket`` is a bucket in the same emulator run with the
``ifGenerationMatch`` precondition enforced (see ``strict_gcs_emulator.py``), for concurrency.
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest
from emulator_process import free_port, running
from registry_helpers import make_model_dir

from latticenas.registry import GcsRegistry, Lineage, LocalRegistry

HERE = Path(__file__).parent
_strict_buckets = itertools.count()






@pytest.fixture
def model_dir(tmp_path) -> Path:
    return make_model_dir(tmp_path / "retrained")


@pytest.fixture
def lineage() -> Lineage:
    return Lineage(
        data_uri="gs://data/ames.csv",
        data_fingerprint="ab" * 32,
        experiment_name="ames-nas",
        trial_name="ames-nas-trial-7",
        parameters={"learning_rate": 0.003, "maximum_levels": 3, "activation": "relu"},
        metrics={"rmse": 21000.5, "r2": 0.91},
        spec_hash="cd" * 32,
    )


@pytest.fixture(params=["local", "gcs"])
def registry(request, tmp_path):
    if request.param == "local":
        return LocalRegistry(tmp_path / "registry")
    bucket = request.getfixturevalue("gcs_bucket")
    return GcsRegistry(f"gs://{bucket}/team/registry", retries=1, backoff=0.05)


@pytest.fixture(params=["local", "gcs-strict"])
def concurrent_registry(request, tmp_path):
    """Like ``registry``, with an emulator that enforces preconditions for Cloud Storage."""
    if request.param == "local":
        return LocalRegistry(tmp_path / "registry")
    bucket = request.getfixturevalue("strict_gcs_bucket")
    return GcsRegistry(f"gs://{bucket}/registry", retries=1, backoff=0.05)


@pytest.fixture(scope="session")
def strict_gcs_emulator(gcs_emulator) -> str:
    """Host of an emulator that enforces ``ifGenerationMatch`` (needs the emulator package)."""
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    with running([sys.executable, str(HERE / "strict_gcs_emulator.py"), str(port)], host, "strict emulator"):
        yield host


@pytest.fixture
def strict_gcs_bucket(strict_gcs_emulator, monkeypatch) -> str:
    """A fresh bucket in the strict emulator, with STORAGE_EMULATOR_HOST pointing at it."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", strict_gcs_emulator)
    client = storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT", "latticenas-test"),
                            credentials=AnonymousCredentials())
    name = f"strict-{os.getpid()}-{next(_strict_buckets)}"
    client.create_bucket(name)
    return name
