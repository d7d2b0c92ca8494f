"""Helpers for the registry tests: a fake retrained model directory and a tree digest."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path


def make_model_dir(path: Path, marker: str = "a") -> Path:
    """A directory shaped like retrain_best's output (small fake files)."""
    path.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path / "model.keras", "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.99.0"}))
        archive.writestr("model.weights.h5", b"weights-" + marker.encode())
    (path / "spec.json").write_text(json.dumps({"levels": [[0], [4], [1]], "marker": marker}))
    (path / "metrics.json").write_text(json.dumps({"split": "test", "metrics": {"rmse": 1.5}}))
    (path / "preprocessing.json").write_text(json.dumps({"schema": {}, "features": {}}))
    (path / "diagram.svg").write_text("<svg/>")
    (path / "saved_model" / "1" / "variables").mkdir(parents=True, exist_ok=True)
    (path / "saved_model" / "1" / "saved_model.pb").write_bytes(b"\x08\x01" + marker.encode())
    (path / "saved_model" / "1" / "variables" / "variables.index").write_bytes(b"index")
    return path


def tree_digest(path: Path) -> dict[str, str]:
    """sha256 of every file under ``path`` (to prove a directory was not changed)."""
    return {
        p.relative_to(path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }
