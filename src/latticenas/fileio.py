"""Local files: atomic writes, and where a file-system fault becomes a user-facing error.

* :func:`atomic_write` rewrites a file readers may be reading (the runner's report, the
  registry's pointers, predictions): they see the old file or the new one, never half of one.
* :func:`check_directory` and :func:`check_output_file` tell, before any work starts, whether
  an output location can be written (no file in the way, not read-only); they create nothing.
* :func:`storage_error` classifies an ``OSError``: one that is the environment's fault (disk
  full, read-only file system, permission denied, a file where a directory should be) becomes
  a :class:`StorageError` naming the path and the fix; any other is a bug and is left alone.
  :func:`storage_faults` applies it to a block, chaining the cause.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from latticenas.errors import LatticeNASError

# errno -> (the problem, the fix), for the faults a user or an operator can remedy
FAULTS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("no space left on the device", "free some space (or use a directory on another disk) and run again"),
    errno.EDQUOT: ("disk quota exceeded", "free some space (or use a directory on another disk) and run again"),
    errno.EROFS: ("read-only file system", "use a writable location"),
    errno.EACCES: ("permission denied", "make it writable for this user or use another location"),
    errno.EPERM: ("operation not permitted", "make it writable for this user or use another location"),
    errno.ENOTDIR: ("a part of the path is a file, not a directory", "pass a path whose parents are directories"),
    errno.EISDIR: ("it is a directory", "pass the path of a file"),
    errno.EIO: ("input/output error", "check the disk, then run again"),
}


class StorageError(LatticeNASError):
    """A location that cannot be read or written: disk full, read-only, no permission, a file
    in the way, a damaged database. The message names the path and the fix."""


def storage_error(exc: BaseException, path: str | Path | None = None) -> StorageError | None:
    """``exc`` as a :class:`StorageError` when it is an environment fault, else ``None``."""
    if not isinstance(exc, OSError) or exc.errno not in FAULTS:
        return None
    problem, fix = FAULTS[exc.errno]
    where = exc.filename or path or "a file"
    if exc.filename and os.path.basename(exc.filename).startswith(".") and str(exc.filename).endswith(".tmp"):
        where = os.path.dirname(exc.filename)  # an atomic write's temporary file: name its directory
    verb = "write" if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) else "use"
    return StorageError(f"cannot {verb} {where}: {problem}; {fix}")


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


def check_output_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path when a file can be written there (its directory exists and is
    writable, and it is not a directory); else a StorageError naming ``what``. Creates nothing."""
    path = Path(path)
    if os.path.isdir(path):
        raise StorageError(f"{what} {path} is a directory: pass a file path, e.g. {path / 'predictions.csv'}")
    parent = path.parent
    if not os.path.isdir(parent):
        if os.path.isdir(_nearest_existing(parent)):
            raise StorageError(f"the directory {parent} of {what} {path} does not exist: create it (mkdir -p {parent}) or pass another path")
        raise StorageError(f"{what} {path} lies under the file {_nearest_existing(parent)}: pass a path whose parents are directories")
    _probe(parent, what, path)
    return path


def _nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists (``.`` at the end of a relative path)."""
    while not os.path.exists(path) and path.parent != path:  # False also when unreadable
        path = path.parent
    return path


def _probe(directory: Path, what: str, path: Path) -> None:
    """StorageError unless a file can be created in ``directory`` (the probe leaves nothing)."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        error = storage_error(exc, directory)
        if error is None:
            raise
        problem, fix = FAULTS[exc.errno]
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
