"""Fixtures for the Katib manifest tests: the repository's committed manifests and spaces."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "manifests"
BASE = MANIFESTS / "base"
SPACES = (REPO / "search_spaces" / "ames.yaml", REPO / "search_spaces" / "ames-grid.yaml")


@pytest.fixture(autouse=True)
def default_images(monkeypatch: pytest.MonkeyPatch) -> None:
    """The committed manifests use the default image references."""
    monkeypatch.delenv("LATTICENAS_REGISTRY", raising=False)
    monkeypatch.delenv("LATTICENAS_TAG", raising=False)


def load_experiment(algorithm: str) -> dict[str, Any]:
    """A fresh copy of the committed Experiment for ``algorithm``."""
    with (BASE / f"experiment-{algorithm}.yaml").open(encoding="utf-8") as handle:
        return copy.deepcopy(yaml.safe_load(handle))


@pytest.fixture
def experiment() -> dict[str, Any]:
    """The committed random-search Experiment (a fresh copy)."""
    return load_experiment("random")


@pytest.fixture
def load() -> Any:
    """``load(algorithm)``: a fresh copy of a committed Experiment."""
    return load_experiment
