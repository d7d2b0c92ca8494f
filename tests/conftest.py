"""Shared fixtures.

Cloud Storage: ``gcs_emulator`` runs a real ``gcp-storage-emulator`` (in memory) for the whole
session and points ``STORAGE_EMULATOR_HOST`` at it, so code that builds
``google.cloud.storage`` clients talks to it; ``make_gcs_bucket`` creates buckets there and
``gcs_bucket`` gives each test a fresh one.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from emulator_process import free_port, running

EMULATOR_PROJECT = "latticenas-test"
_bucket_numbers = itertools.count()




def _emulator_executable() -> str | None:
    beside_python = Path(sys.executable).parent / "gcp-storage-emulator"
    return str(beside_python) if beside_python.exists() else shutil.which("gcp-storage-emulator")




@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """Host URL (``http://127.0.0.1:<port>``) of a running in-memory Cloud Storage emulator.

    While the session lasts, ``STORAGE_EMULATOR_HOST`` points at it and
    ``GOOGLE_CLOUD_PROJECT`` is set if it was not; both are restored at the end.
    """
    executable = _emulator_executable()
    if executable is None:
        pytest.skip("gcp-storage-emulator is not installed (pip install gcp-storage-emulator)")
    port = free_port()
    host = f"http://127.0.0.1:{port}"
    cmd = [
        executable,
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--in-memory",
        "--quiet",
    ]
    with running(cmd, host), pytest.MonkeyPatch.context() as mp:
        mp.setenv("STORAGE_EMULATOR_HOST", host)
        mp.setenv("GOOGLE_CLOUD_PROJECT", os.environ.get("GOOGLE_CLOUD_PROJECT", EMULATOR_PROJECT))
        yield host


def emulator_client():
    """A storage client for the emulator (anonymous credentials); needs ``gcs_emulator``."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(project=EMULATOR_PROJECT, credentials=AnonymousCredentials())


@pytest.fixture(scope="session")
def make_gcs_bucket(gcs_emulator: str) -> Callable[..., str]:
    """``make_gcs_bucket(name=None) -> name``: create a bucket in the emulator.

    A unique name is chosen when none is given; an existing bucket is reused.
    """
    client = emulator_client()

    def make(name: str | None = None) -> str:
        name = name or f"test-bucket-{os.getpid()}-{next(_bucket_numbers)}"
        if client.lookup_bucket(name) is None:
            client.create_bucket(name)
        return name

    return make


@pytest.fixture
def gcs_bucket(make_gcs_bucket: Callable[..., str]) -> str:
    """Name of a fresh, empty bucket in the emulator."""
    return make_gcs_bucket()
