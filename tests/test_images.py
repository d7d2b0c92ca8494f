"""The container images: their Dockerfiles, docker/build.sh and latticenas.images agree.

No Docker daemon is needed (nor used): the Dockerfiles are linted with hadolint and read as
text, build.sh runs with --dry-run, and each image's command runs from this test's own venv,
where the package is installed as it is in the images.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from latticenas.images import IMAGES, image_ref

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BUILD_SH = REPO / "docker" / "build.sh"
IMAGE_DIRS = ("trial_image", "docker")
TRIAL_IMAGES = ("trial-cpu", "trial-gpu", "trial-tpu")
# The images whose builder must not install tensorflow-cpu (see trial_image/README.md).
ACCELERATOR_IMAGES = ("trial-gpu", "trial-tpu")

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


# --- a small Dockerfile reader ------------------------------------------------------------------


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # comments may sit between continuation lines too
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    assert not pending, f"{dockerfile}: dangling line continuation"
    return result


def stages(dockerfile: Path) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage (each starting with its FROM); ARGs before the
    first FROM are left out."""
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions(dockerfile):
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def final_stage(dockerfile: Path) -> list[tuple[str, str]]:
    return stages(dockerfile)[-1]


def values(stage: list[tuple[str, str]], keyword: str) -> list[str]:
    return [rest for kw, rest in stage if kw == keyword]


def dockerfile_of(name: str) -> Path:
    return REPO / IMAGES[name].dockerfile


def exec_form(arguments: str) -> list[str]:
    """The JSON (exec) form of CMD/ENTRYPOINT; the shell form would run through /bin/sh -c."""
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        pytest.fail(f"not in exec (JSON array) form: {arguments}")
    assert isinstance(parsed, list) and parsed and all(isinstance(a, str) for a in parsed)
    return parsed


def cmd_of(name: str) -> list[str]:
    cmds = values(final_stage(dockerfile_of(name)), "CMD")
    assert len(cmds) == 1, f"{name}: the final stage should have exactly one CMD"
    return exec_form(cmds[0])


# --- hadolint -----------------------------------------------------------------------------------


def hadolint() -> Path:
    path = BIN / "hadolint"
    if not path.exists():
        pytest.fail(f"hadolint not found next to {sys.executable}: install the dev extra")
    return path


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_hadolint_passes(name):
    # Run from the root so a .hadolint.yaml there (none is needed now) would apply.
    proc = subprocess.run(
        [str(hadolint()), "--no-color", IMAGES[name].dockerfile],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- latticenas.images <-> the files ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_every_image_has_its_dockerfile(name):
    image = IMAGES[name]
    assert image.name == name
    path = REPO / image.dockerfile
    assert path.is_file(), f"{name}: {image.dockerfile} is missing"
    assert path.parent.name in IMAGE_DIRS


def test_every_dockerfile_is_an_image():
    listed = {Path(image.dockerfile) for image in IMAGES.values()}
    present = {
        path.relative_to(REPO)
        for directory in IMAGE_DIRS
        for path in (REPO / directory).glob("Dockerfile*")
    }
    assert present - listed == set(), "Dockerfiles that latticenas.images does not name"
    assert listed <= present


def test_images_module_prints_every_image(monkeypatch):
    monkeypatch.delenv("LATTICENAS_REGISTRY", raising=False)
    monkeypatch.delenv("LATTICENAS_TAG", raising=False)
    proc = subprocess.run(
        [sys.executable, "-m", "latticenas.images"],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
        timeout=60,
    )
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert rows == [[i.name, image_ref(i.name), i.dockerfile] for i in IMAGES.values()]


# --- docker/build.sh ----------------------------------------------------------------------------


def _env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LATTICENAS_")}
    env["PYTHON"] = sys.executable
    env.update(overrides)
    return env


def run_build_sh(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(BUILD_SH), *args],
        cwd=REPO / "tests",  # not the root: the script must find the root itself
        capture_output=True,
        text=True,
        env=_env(**env),
        timeout=120,
    )


def docker_commands(stdout: str, verb: str) -> list[list[str]]:
    return [
        words
        for words in map(shlex.split, stdout.splitlines())
        if words[:2] == ["docker", verb]
    ]


def option(words: list[str], name: str) -> str:
    found = [words[i + 1] for i, word in enumerate(words[:-1]) if word == name]
    assert len(found) == 1, f"{name} in {words}"
    return found[0]


def builds(stdout: str) -> dict[str, str]:
    """Dockerfile -> tag of each `docker build` the dry run prints."""
    result: dict[str, str] = {}
    for words in docker_commands(stdout, "build"):
        dockerfile = option(words, "--file")
        assert dockerfile not in result, f"{dockerfile} built twice"
        assert words[-1] == ".", "the build context must be the repository root"
        result[dockerfile] = option(words, "--tag")
    return result


def test_build_sh_dry_run_builds_every_image_with_its_ref(monkeypatch):
    monkeypatch.delenv("LATTICENAS_REGISTRY", raising=False)
    monkeypatch.delenv("LATTICENAS_TAG", raising=False)
    proc = run_build_sh("--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert builds(proc.stdout) == {i.dockerfile: image_ref(i.name) for i in IMAGES.values()}
    assert docker_commands(proc.stdout, "push") == []
    # The printed script starts in the repository root, where --file and the context resolve.
    assert ["cd", str(REPO)] in [shlex.split(line) for line in proc.stdout.splitlines()]


def test_build_sh_honours_registry_and_tag_from_the_environment(monkeypatch):
    registry, tag = "registry.example.com:5000/team", "2099.1-rc1"
    proc = run_build_sh("--dry-run", LATTICENAS_REGISTRY=registry, LATTICENAS_TAG=tag)
    assert proc.returncode == 0, proc.stderr
    expected = {i.dockerfile: image_ref(i.name, registry, tag) for i in IMAGES.values()}
    assert builds(proc.stdout) == expected
    # ...which is what the manifests get from latticenas.images under the same environment.
    monkeypatch.setenv("LATTICENAS_REGISTRY", registry)
    monkeypatch.setenv("LATTICENAS_TAG", tag)
    assert expected == {i.dockerfile: image_ref(i.name) for i in IMAGES.values()}
    for words in docker_commands(proc.stdout, "build"):
        assert f"VERSION={tag}" in words


def test_build_sh_flags_override_the_environment():
    proc = run_build_sh(
        "--dry-run",
        "--registry",
        "europe-docker.pkg.dev/p/r",
        "--tag=flag",
        LATTICENAS_REGISTRY="env.example.com/x",
        LATTICENAS_TAG="env",
    )
    assert proc.returncode == 0, proc.stderr
    assert builds(proc.stdout) == {
        i.dockerfile: image_ref(i.name, "europe-docker.pkg.dev/p/r", "flag")
        for i in IMAGES.values()
    }


def test_build_sh_only_and_push():
    proc = run_build_sh("--dry-run", "--only", "trial-gpu", "--only=component", "--push")
    assert proc.returncode == 0, proc.stderr
    wanted = ("trial-gpu", "component")
    assert builds(proc.stdout) == {IMAGES[n].dockerfile: image_ref(n) for n in wanted}
    pushes = [words[2:] for words in docker_commands(proc.stdout, "push")]
    assert pushes == [[image_ref(n)] for n in wanted]


@pytest.mark.parametrize(
    "args", [("--only", "no-such-image"), ("--tag",), ("--frobnicate",)], ids=str
)
def test_build_sh_rejects_bad_arguments(args):
    proc = run_build_sh("--dry-run", *args)
    assert proc.returncode != 0
    assert "docker build" not in proc.stdout


def test_build_sh_is_strict_bash():
    text = BUILD_SH.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert os.access(BUILD_SH, os.X_OK), "docker/build.sh should be executable"
    shellcheck = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(BIN))
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (bash -n only)")
    proc = subprocess.run([shellcheck, str(BUILD_SH)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_build_sh_parses():
    subprocess.run(["bash", "-n", str(BUILD_SH)], check=True)


# --- the command each image runs ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_no_entrypoint(name):
    # Katib's trial Job (and KFP) set the container command; an ENTRYPOINT would be prepended
    # to `args` or silently dropped. See trial_image/entrypoint.md.
    assert values([i for s in stages(dockerfile_of(name)) for i in s], "ENTRYPOINT") == []


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_cmd_program_is_a_declared_console_script(name):
    program = cmd_of(name)[0]
    scripts = PYPROJECT["project"]["scripts"]
    assert program in scripts, f"{name}: CMD runs {program}, not a [project.scripts] entry"
    if name in TRIAL_IMAGES:
        # The trial images run what the Katib manifests run.
        assert program == "latticenas-trial"
    assert (BIN / program).exists(), f"{program} is not installed in {BIN}"


def _cmd_programs() -> list[str]:
    """The distinct CMD programs, read at collection time; a missing or unreadable Dockerfile
    is left to the tests above rather than breaking collection."""
    programs = set()
    for name in IMAGES:
        try:
            programs.add(cmd_of(name)[0])
        except (OSError, IndexError, AssertionError, pytest.fail.Exception):
            continue
    return sorted(programs)


@pytest.mark.parametrize("program", _cmd_programs())
def test_cmd_program_help_exits_zero(program):
    proc = subprocess.run(
        [str(BIN / program), "--help"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO / "tests",
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "usage" in proc.stdout.lower()


# --- what every image is built to ---------------------------------------------------------------

FROM_RE = re.compile(r"^(?:--platform=\S+\s+)?(?P<image>\S+?)(?:\s+AS\s+(?P<alias>\S+))?$", re.I)


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_dockerfile_standards(name):
    path = dockerfile_of(name)
    all_stages = stages(path)
    assert len(all_stages) >= 2, "multi-stage: a builder and a final stage"

    bases, aliases = [], []
    for stage in all_stages:
        match = FROM_RE.match(stage[0][1])
        assert match, stage[0]
        image = match["image"]
        aliases.append(match["alias"])
        if image in aliases[:-1]:
            continue  # a stage built on an earlier one
        assert "$" not in image, "spell the base image out, pinned"
        assert re.search(r":\d+\.\d+\.\d+", image) or "@sha256:" in image, (
            f"{image}: pin the base image to a full version tag or a digest"
        )
        bases.append(image)
    # The venv's interpreter link points into the base image, so builder and final must match.
    assert len(set(bases)) == 1, bases

    builder, final = all_stages[0], all_stages[-1]
    assert re.search(r"\buv==\d+\.\d+\.\d+\b", " ".join(values(builder, "RUN"))), "pin uv"

    # The final stage takes only the venv (the dependencies, then the project as a layer of its
    # own) from the earlier stages, and nothing from the context.
    copies = values(final, "COPY") + values(final, "ADD")
    assert [copy.split()[-2:] for copy in copies] == [["/opt/venv", "/opt/venv"], ["/project", "/opt/venv"]], copies
    for copy in copies:
        source = re.search(r"--from=(\S+)", copy)
        assert source and source.group(1) in aliases[:-1], copy

    users = values(final, "USER")
    assert users and re.fullmatch(r"[1-9]\d*(:\d+)?", users[-1]), (
        "USER must be a numeric non-root uid (runAsNonRoot can only verify a number)"
    )
    assert values(final, "WORKDIR")
    env = " ".join(values(final, "ENV"))
    assert "PYTHONUNBUFFERED=1" in env, "Katib's StdOut collector needs unbuffered stdout"
    assert "/opt/venv/bin" in env
    assert values(final, "HEALTHCHECK") == [], "a batch job has no health check"

    labels = " ".join(values(final, "LABEL"))
    for key in ("title", "description", "licenses", "version", "revision"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert f'org.opencontainers.image.title="{IMAGES[name].repository}"' in labels


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_version_and_revision_come_after_every_layer(name):
    # An ARG invalidates the cache of every RUN after it: declared before the venv's COPY, a
    # new revision would rebuild and re-ship the whole venv.
    final = final_stage(dockerfile_of(name))
    keywords = [keyword for keyword, _ in final]
    last_layer = max(i for i, keyword in enumerate(keywords) if keyword in ("RUN", "COPY", "ADD"))
    args = [i for i, (keyword, rest) in enumerate(final) if keyword == "ARG" and rest.split("=")[0] in ("VERSION", "REVISION")]
    assert len(args) == 2 and min(args) > last_layer, final


@pytest.mark.parametrize("name", TRIAL_IMAGES)
def test_trial_images_install_no_extra(name):
    # The trial needs the core only (tests/test_extras.py); without matplotlib nothing builds a
    # font cache at start, which a read-only root could not keep.
    text = " ".join(rest for _, rest in instructions(dockerfile_of(name)))
    assert "--extra" not in text and "--all-extras" not in text and "matplotlib" not in text


def test_component_font_cache_is_built_into_the_image():
    # The component image has matplotlib (the report's plots), and keras imports pyplot: without
    # a cache in MPLCONFIGDIR every step would rebuild it.
    final = final_stage(dockerfile_of("component"))
    env = " ".join(values(final, "ENV"))
    configdir = re.search(r"MPLCONFIGDIR=(\S+)", env)
    assert configdir, "set MPLCONFIGDIR"
    user = max(i for i, (keyword, _) in enumerate(final) if keyword == "USER")
    assert any(keyword == "RUN" and "matplotlib.font_manager" in rest for keyword, rest in final[user:]), (
        "build the font cache as the runtime user, who must own MPLCONFIGDIR"
    )
    assert configdir.group(1) in " ".join(values(final, "RUN"))


def test_all_images_share_base_and_tool_versions():
    def found(pattern: str) -> set[str]:
        return {
            match
            for image in IMAGES.values()
            for match in re.findall(pattern, (REPO / image.dockerfile).read_text())
        }

    assert len(found(r"(?m)^FROM (\S+:\S+)")) == 1  # stages built on earlier ones have no tag
    assert len(found(r"\buv==(\d+\.\d+\.\d+)")) == 1


def test_lock_pins_tensorflow_cpu_once():
    # Dockerfile.gpu installs tensorflow[and-cuda] at the version of the locked tensorflow-cpu.
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    versions = {p["version"] for p in lock["package"] if p["name"] == "tensorflow-cpu"}
    assert len(versions) == 1, versions


@pytest.mark.parametrize("name", ACCELERATOR_IMAGES)
def test_accelerator_images_do_not_install_tensorflow_cpu(name):
    text = " ".join(rest for _, rest in instructions(dockerfile_of(name)))
    assert "uv sync" not in text, "uv sync would install the locked tensorflow-cpu"
    assert text.count("--no-emit-package tensorflow-cpu") >= 2  # requirements and constraints
    assert "--require-hashes" in text
    assert re.search(r"uv pip install [^&]*--no-deps [^&]*/src\b", text), "the project without deps"


def test_cpu_and_component_images_install_the_lock():
    for name in ("trial-cpu", "component"):
        text = " ".join(rest for _, rest in instructions(dockerfile_of(name)))
        assert "uv sync --locked --no-dev --no-editable" in text, name


def test_tpu_tensorflow_is_in_the_project_range():
    text = dockerfile_of("trial-tpu").read_text()
    (version,) = re.findall(r"(?m)^ARG TF_TPU_VERSION=(\S+)$", text)
    ranges = [
        Requirement(dep).specifier
        for dep in PYPROJECT["project"]["dependencies"]
        if Requirement(dep).name in ("tensorflow", "tensorflow-cpu")
    ]
    assert ranges and all(Version(version) in spec for spec in ranges), (version, ranges)
    assert "--find-links" not in text and "--index-url" not in text, "both wheels are on PyPI"
    assert re.search(r"(?m)^ARG LIBTPU_VERSION=\d", text), "pin libtpu"


# --- the build context --------------------------------------------------------------------------


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern]]:
    patterns = []
    for raw in (REPO / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex += pattern[i : end + 1]
                i = end + 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        patterns.append((negated, re.compile(regex)))
    return patterns


def in_build_context(path: str) -> bool:
    """Whether docker would send `path` (relative to the root): the last matching pattern wins,
    and a pattern matching a directory matches everything under it."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for negated, regex in _dockerignore_patterns():
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            included = negated
    return included


def test_dockerignore_sends_what_the_dockerfiles_copy_and_nothing_else():
    sources = set()
    for image in IMAGES.values():
        for keyword, rest in instructions(REPO / image.dockerfile):
            if keyword in ("COPY", "ADD") and "--from=" not in rest:
                sources.update(rest.split()[:-1])
    assert sources == {"pyproject.toml", "uv.lock", "README.md", "src"}
    for source in sources:
        assert in_build_context(source), source
    assert in_build_context("src/latticenas/images.py")
    for kept_out in (
        ".venv/bin/python",
        ".git/HEAD",
        "experiments/e1/trial.json",
        "runs/r1/model.keras",
        "tests/test_images.py",
        "src/latticenas/__pycache__/images.cpython-311.pyc",
        ".env",
    ):
        assert not in_build_context(kept_out), kept_out
