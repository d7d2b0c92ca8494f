"""Fixtures for the pipeline tests."""

from __future__ import annotations

import pytest
from factories import classification_frame, regression_frame


@pytest.fixture(autouse=True)
def default_images(monkeypatch: pytest.MonkeyPatch) -> None:
    """Components and the committed YAML use the default image references."""
    monkeypatch.delenv("LATTICENAS_REGISTRY", raising=False)
    monkeypatch.delenv("LATTICENAS_TAG", raising=False)


@pytest.fixture
def houses_csv(tmp_path):
    """A small regression table (300 rows, a missing-value column, a categorical column)."""
    path = tmp_path / "houses.csv"
    regression_frame(300, seed=1).to_csv(path, index=False)
    return path


@pytest.fixture
def labels_csv(tmp_path):
    """A small binary classification table."""
    path = tmp_path / "labels.csv"
    classification_frame(300, classes=2, seed=2).to_csv(path, index=False)
    return path


@pytest.fixture
def kfp_local(tmp_path):
    """kfp.local with the SubprocessRunner in this Python; returns the pipeline root."""
    from kfp import local

    from latticenas.pipeline.build import _import_kfp_local

    _import_kfp_local()
    root = tmp_path / "kfp"
    root.mkdir()
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    return root


@pytest.fixture(scope="session")
def duo_search(tmp_path_factory, make_gcs_bucket):
    """A finished Katib-style search of ENSEMBLE_SPACE on ``houses_csv``'s table: the prepared
    data (also written as the prepare step's files), two real trials whose outputs are in the
    Cloud Storage emulator (``gs://<bucket>/trials/<trial>``) and their SearchResults."""
    from types import SimpleNamespace

    from pipeline_helpers import run_katib_style_trials

    from latticenas.pipeline.prepared import prepare, write_prepared

    directory = tmp_path_factory.mktemp("duo")
    regression_frame(300, seed=1).to_csv(directory / "houses.csv", index=False)
    prepared = prepare(str(directory / "houses.csv"), "price")
    files = {name: str(directory / name) for name in ("train", "val", "test", "record")}
    write_prepared(prepared, **files)
    root = f"gs://{make_gcs_bucket()}/trials"
    results = run_katib_style_trials(prepared, root)
    return SimpleNamespace(prepared=prepared, files=files, root=root, results=results, directory=directory)
