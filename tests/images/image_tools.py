"""The container tools the image tests use: one client that builds (docker/build.sh's DOCKER),
one that runs (docker or podman), found on PATH.

``DOCKER`` chooses the build client as it does for docker/build.sh; without it the first of
docker, podman, buildah on PATH builds. buildah builds but cannot run a container the way these
tests need (signals, a read-only root, mounts), so the runner is docker when docker builds and
podman otherwise (podman and buildah share one image store). Anything a machine needs at build
time (a base-image stand-in, CA mounts) comes from the environment: the words of
``LATTICENAS_IMAGE_BUILD_ARGS`` go to ``docker/build.sh -- ...`` unchanged.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from latticenas.images import image_ref

REPO = Path(__file__).resolve().parents[2]
BUILD_SH = REPO / "docker" / "build.sh"
BUILD_TAG = "image-test"  # the tag the tests build and run, so no released tag is overwritten
BUILD_TIMEOUT_S = 3000
# every image test: the marker (deselected by a plain run) and a timeout a cold build fits in
IMAGE_TEST = [pytest.mark.image, pytest.mark.timeout(3600)]


@dataclass(frozen=True)
class Tools:
    build: str  # the DOCKER of docker/build.sh
    run: str  # docker or podman


def find_tools() -> tuple[Tools | None, str]:
    """The tools, or ``None`` and the reason the image tests cannot run here."""
    wanted = os.environ.get("DOCKER")
    candidates = [wanted] if wanted else ["docker", "podman", "buildah"]
    build = next((c for c in candidates if shutil.which(c)), None)
    if build is None:
        return None, (f"DOCKER={wanted} is not on PATH" if wanted else
                      "no docker, podman or buildah on PATH; install one (docker/README.md: "
                      "'The image test') to build and run the images")
    run = "docker" if Path(build).name == "docker" else "podman"
    if not shutil.which(run):
        return None, f"{build} can build the images but running them needs {run}; install it"
    probe = subprocess.run([run, "info"], capture_output=True, text=True, timeout=120)
    if probe.returncode != 0:
        return None, f"`{run} info` failed ({(probe.stderr or probe.stdout).strip()[-300:]}); start its daemon"
    return Tools(build, run), ""


def build(tools: Tools, name: str, log_dir: Path) -> str:
    """Build image ``name`` with docker/build.sh (cached layers reused); returns its reference."""
    env = {**os.environ, "DOCKER": tools.build, "LATTICENAS_TAG": BUILD_TAG, "PYTHON": sys.executable}
    env.setdefault("BUILDAH_LAYERS", "true")  # buildah's default is to cache nothing
    extra = shlex.split(os.environ.get("LATTICENAS_IMAGE_BUILD_ARGS", ""))
    log = log_dir / f"build-{name}.log"
    started = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.run(["bash", str(BUILD_SH), "--only", name, *(["--", *extra] if extra else [])],
                              cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S)
    text = log.read_text()
    assert proc.returncode == 0, f"docker/build.sh --only {name} failed:\n{text[-4000:]}"
    print(f"built {name} in {time.monotonic() - started:.0f} s (log: {log})")
    return image_ref(name, tag=BUILD_TAG)


def run(tools: Tools, image: str, command: list[str], *options: str, timeout: float = 900,
        check: bool = False) -> subprocess.CompletedProcess:
    """``<run> run --rm [options] image command``, stdout and stderr apart."""
    proc = subprocess.run([tools.run, "run", "--rm", *options, image, *command],
                          capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"{command[:3]} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    return proc


def writable_dir(path: Path) -> Path:
    """A host directory the image's unprivileged user can write (mounted into a container)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o777)
    return path
