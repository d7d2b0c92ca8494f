"""Fixtures for the Kale notebook tests: a Jupyter kernel for this Python, and the Kale venvs.

Kale is not a latticenas dependency (it pins its own Jupyter and kfp stack), so it lives in
environments of its own, created with uv and cached under ``.cache/`` at the repository root
(rebuilt when what they are made from changes):

* ``.cache/kale-venv``: ``tools/kale/requirements.txt`` only (kubeflow-kale 2.3.0): converts the
  notebook (``kale --nb ...``), compiles the generated KFP DSL with Kale's kfp;
* ``.cache/kale-run-venv``: latticenas (editable) at the versions of ``uv.lock`` plus Kale: what a
  Kale step image is (the component image with Kale in it), used to run the converted pipeline
  with ``kfp.local``.

uv is looked for in ``$LATTICENAS_UV``, the Makefile's ``.uvtool/bin/uv``, then ``PATH``. When uv is
missing or the install fails (no network, no Python >= 3.11), the tests that need the venv are
skipped with the reason (uv's error).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"
KALE_REQUIREMENTS = REPO / "tools" / "kale" / "requirements.txt"
# Kale needs Python >= 3.11; an older test Python gets a uv-managed 3.12 for the Kale venv.
KALE_PYTHON = sys.executable if sys.version_info >= (3, 11) else "3.12"
# kubeflow-katib pins protobuf<5; the project overrides it (pyproject [tool.uv]), and so do we.
PROTOBUF_OVERRIDE = "protobuf>=6.31.1,<7"

#: seconds each venv took to build in this session (0.0: reused from the cache)
VENV_SECONDS: dict[str, float] = {}


def find_uv() -> str | None:
    candidates = [os.environ.get("LATTICENAS_UV"), str(REPO / ".uvtool" / "bin" / "uv"), shutil.which("uv")]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


def _reason(text: str) -> str:
    """uv's error in one line: its first error line (``error:`` or ``×``) with the line after it."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for at, line in enumerate(lines):
        if line.startswith(("error:", "×")):
            return " ".join(lines[at:at + 2])
    return lines[-1] if lines else "(no output)"


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {_reason(done.stderr or done.stdout)}")


def _cached_venv(name: str, fingerprint: str, build) -> Path:
    """``.cache/<name>``, built by ``build(path, uv)`` unless it was built from ``fingerprint``."""
    target = CACHE / name
    stamp = target / ".latticenas-stamp"
    if stamp.is_file() and stamp.read_text() == fingerprint and (target / "bin" / "python").exists():
        VENV_SECONDS.setdefault(name, 0.0)
        return target
    uv = find_uv()
    if uv is None:
        pytest.skip(f"uv not found ($LATTICENAS_UV, {REPO / '.uvtool/bin/uv'}, PATH): cannot create .cache/{name}")
    CACHE.mkdir(exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    started = time.monotonic()
    try:
        build(target, uv)  # in place: a uv venv holds absolute paths, it cannot be moved afterwards
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(target, ignore_errors=True)
        pytest.skip(f"could not create .cache/{name}: {exc}")
    stamp.write_text(fingerprint)  # last: a half-built venv has no stamp and is rebuilt
    VENV_SECONDS[name] = time.monotonic() - started
    return target


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@pytest.fixture(scope="session")
def kale_venv() -> Path:
    """``.cache/kale-venv``: kubeflow-kale from tools/kale/requirements.txt, nothing else."""
    requirements = KALE_REQUIREMENTS.read_text()

    def build(path: Path, uv: str) -> None:
        _run([uv, "venv", "--quiet", "--python", KALE_PYTHON, str(path)], "uv venv")
        _run([uv, "pip", "install", "--quiet", "--python", str(path / "bin" / "python"),
              "-r", str(KALE_REQUIREMENTS)], f"uv pip install -r {KALE_REQUIREMENTS.relative_to(REPO)}")

    return _cached_venv("kale-venv", _fingerprint(requirements, KALE_PYTHON), build)


@pytest.fixture(scope="session")
def kale_run_venv() -> Path:
    """``.cache/kale-run-venv``: latticenas as locked in uv.lock (plus pip, as in the component
    image) and Kale: a Kale step image's Python, for running the converted pipeline locally."""
    lock = (REPO / "uv.lock").read_text()
    requirements = KALE_REQUIREMENTS.read_text()

    def build(path: Path, uv: str) -> None:
        constraints = path.parent / f"{path.name}.constraints.txt"
        override = path.parent / f"{path.name}.override.txt"
        _run([uv, "export", "--quiet", "--frozen", "--no-hashes", "--no-emit-project", "--extra", "dev",
              "--project", str(REPO), "--output-file", str(constraints)], "uv export (uv.lock as constraints)")
        override.write_text(PROTOBUF_OVERRIDE + "\n")
        try:
            _run([uv, "venv", "--quiet", "--seed", "--python", KALE_PYTHON, str(path)], "uv venv")
            # latticenas[all]: the core install is the trial's only; the notebook's steps use the
            # search tools and kfp (kubernetes-validate among the search extra's).
            _run([uv, "pip", "install", "--quiet", "--python", str(path / "bin" / "python"),
                  "--editable", f"{REPO}[all]", "-r", str(KALE_REQUIREMENTS),
                  "--constraint", str(constraints), "--override", str(override)],
                 "uv pip install latticenas + kubeflow-kale")
        finally:
            constraints.unlink(missing_ok=True)
            override.unlink(missing_ok=True)

    return _cached_venv("kale-run-venv", _fingerprint(lock, requirements, KALE_PYTHON, PROTOBUF_OVERRIDE), build)


@pytest.fixture(scope="session")
def venv_seconds() -> dict[str, float]:
    """Seconds each cached venv took to build in this session (0.0: it was reused)."""
    return VENV_SECONDS


@pytest.fixture
def venv_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Name of a Jupyter kernel running this Python (the project venv's), declared in a
    temporary JUPYTER_PATH so the user's own Jupyter set-up plays no part."""
    name = "latticenas-test-venv"
    spec_dir = tmp_path / "jupyter" / "kernels" / name
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "latticenas (test venv)",
        "language": "python",
        "env": {"MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "2"},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    return name
