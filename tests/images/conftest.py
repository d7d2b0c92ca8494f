"""The image tests (marker ``image``, run by ``make image-test``): build trial-cpu and the
component image with docker/build.sh, then run them. Where no container tool is found they skip
with the reason; the plain test run (``make test``) deselects them (pyproject's addopts).
Each module sets ``pytestmark = image_tools.IMAGE_TEST`` (the marker, and a timeout a cold build fits)."""

from __future__ import annotations

from pathlib import Path

import pytest
from image_tools import Tools, build, find_tools


@pytest.fixture(scope="session")
def tools() -> Tools:
    found, reason = find_tools()
    if found is None:
        pytest.skip(reason)
    return found


@pytest.fixture(scope="session")
def build_logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("image-builds")


@pytest.fixture(scope="session")
def trial_image(tools, build_logs) -> str:
    return build(tools, "trial-cpu", build_logs)


@pytest.fixture(scope="session")
def component_image(tools, build_logs) -> str:
    return build(tools, "component", build_logs)
