"""Local files: atomic writes, and where a file-system fault becomes a user-facing error.

* :func:`atomic_write` rewrites a file readers may be reading (the runner's report, the
  registry's pointers, predictions): they see the old file or the new one, never half of one.
* :func:`check_directory` and :func:`check_output_file` tell, before any work starts, whether
  an output location can be written (no file in the way, not read-only); they create nothing.
* :func:`storage_faults` applies :func:`latticenas.errors.storage_error` to a block: an
  ``OSError`` that is the environment's fault (disk full, read-only file system, permission
  denied, a file where a directory should be) leaves it as a
  :class:`~latticenas.errors.StorageError` naming the path and the fix, its cause chained;
  any other is a bug and is left alone.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from latticenas.errors import FAULTS, StorageError, storage_error


@contextlib.contextmanager
def storage_faults(path: str | Path | None = None) -> Iterator[None]:
    """Run the block; an environment fault leaves it as a StorageError (``from`` the OSError)."""
    try:
        yield
    except OSError as exc:
        error = storage_error(exc, path)
        if error is None:
            raise
        raise error from exc


def check_directory(path: str | Path, what: str) -> Path:
    """``path`` as a Path when it is, or can be created as, a writable directory; else a
    StorageError naming ``what`` (e.g. ``--output-dir``). Creates nothing."""
    path = Path(path)
    existing = _nearest_existing(path)
    if not os.path.isdir(existing):
        if existing == path:
            raise StorageError(f"{what} {path} is a file, not a directory: pass a directory (a new one is created)")
        raise StorageError(f"{what} {path} lies under the file {existing}: pass a path whose parents are directories")
    _probe(existing, what, path)
    return path


def check_output_file(path: str | Path, what: str, *, example: str = "predictions.csv",
                      new_parents: bool = False) -> Path:
    """``path`` as a Path when a file can be written there (its directory exists, or with
    ``new_parents`` can be created, and is writable, and it is not a directory); else a
    StorageError naming ``what`` (and a file name like ``example``). Creates nothing."""
    path = Path(path)
    if os.path.isdir(path):
        raise StorageError(f"{what} {path} is a directory: pass a file path, e.g. {path / example}")
    parent = path.parent
    existing = _nearest_existing(parent)
    if not os.path.isdir(existing):
        raise StorageError(f"{what} {path} lies under the file {existing}: pass a path whose parents are directories")
    if existing != parent and not new_parents:
        raise StorageError(f"the directory {parent} of {what} {path} does not exist: create it (mkdir -p {parent}) or pass another path")
    _probe(existing, what, path)
    return path


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (``.`` at the end of a relative path)."""
    while not os.path.exists(path) and path.parent != path:  # False also when unreadable
        path = path.parent
    return path


def _probe(directory: Path, what: str, path: Path) -> None:
    """StorageError unless a file can be created in ``directory`` (the probe leaves nothing;
    whatever keeps it from creating one, a pseudo file system too, is the location's fault)."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        problem, fix = FAULTS.get(exc.errno, (exc.strerror or type(exc).__name__, "use another location"))
        raise StorageError(f"{what} {path} cannot be written ({problem} in {directory}): {fix}") from exc


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
