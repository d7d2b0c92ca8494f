"""Atomic local file writes, shared by every module that rewrites a file readers may be reading
(the runner's report, the registry's pointers)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def atomic_write(path: str | Path, data: str | bytes, permissions: int = 0o644) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename: readers see the old file or
    the new one, never half of one. The file gets ``permissions`` (mkstemp's default is 0600)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as handle:
            handle.write(data)
        os.chmod(tmp, permissions)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
