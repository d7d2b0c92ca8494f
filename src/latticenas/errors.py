"""User-facing errors, their classification, and the one error boundary of every entry point.

Every mistake a user can make (a bad flag, a missing file, a leaking column, a broken
manifest) raises a :class:`LatticeNASError` subclass whose message is one line that names the
problem and the fix; so does every fault of the environment (a full disk, a read-only
location, a damaged database: :class:`StorageError`). :func:`storage_error` classifies an
``OSError``: one that is the environment's fault becomes a StorageError naming the path and
the fix; any other is a bug and is left alone.

:class:`ErrorBoundary` is where an entry point (``latticenas``, ``latticenas-trial``) turns
these into one ``error: <message>`` line on stderr and an exit code; anything else is a bug
and keeps its traceback.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path

__all__ = [
    "FAULTS",
    "DataError",
    "ErrorBoundary",
    "LatticeNASError",
    "LeakageError",
    "ManifestError",
    "ParameterError",
    "StorageError",
    "TrialFailedError",
    "remote_reason",
    "storage_error",
]


class LatticeNASError(Exception):
    """Base class: a user-facing error with a one-line message."""

    exit_code = 2


class ParameterError(LatticeNASError, ValueError):
    """An invalid search parameter (names the parameter, the value and the fix)."""


class DataError(LatticeNASError, ValueError):
    """A data file that cannot be used (missing, empty, unparsable, bad target, leakage)."""


class LeakageError(DataError):
    """A feature reproduces the target."""


class ManifestError(LatticeNASError, ValueError):
    """A Katib Experiment or search-space file that would be rejected."""


class StorageError(LatticeNASError):
    """A location that cannot be read or written: disk full, read-only, no permission, a file
    in the way, a damaged database. The message names the path and the fix."""


class TrialFailedError(LatticeNASError, RuntimeError):
    """Every network of a trial failed (diverged or crashed)."""

    exit_code = 1


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
# the faults that are never a bug, wherever they surface (EACCES or EISDIR may be one)
DISK_FAULTS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


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


class ErrorBoundary:
    """An entry point's error boundary: ``with ErrorBoundary() as boundary: ...``, then
    ``boundary.exit_code`` (``None`` when the block finished).

    In the block, a :class:`LatticeNASError` prints ``error: <message>`` on stderr and ends the
    block with its ``exit_code`` (2; 1 for a failed trial); so does an ``OSError`` that is a
    disk fault wherever it surfaced (full, quota, read-only, I/O error), as its StorageError.
    Ctrl-C prints ``interrupted`` and gives 130. Anything else is a programming error and
    leaves the block with its traceback; so does argparse's own ``SystemExit`` (usage, 2).
    """

    def __init__(self, interrupted: str = "interrupted") -> None:
        self.interrupted = interrupted
        self.exit_code: int | None = None

    def __enter__(self) -> ErrorBoundary:
        return self

    def __exit__(self, kind, exc, traceback) -> bool:
        if isinstance(exc, OSError) and exc.errno in DISK_FAULTS:
            exc = storage_error(exc)
        if isinstance(exc, LatticeNASError):
            print(f"error: {exc}", file=sys.stderr)
            self.exit_code = exc.exit_code
        elif isinstance(exc, KeyboardInterrupt):
            print(self.interrupted, file=sys.stderr)
            self.exit_code = 130
        return self.exit_code is not None


def remote_reason(exc: BaseException) -> str:
    """One line saying why a remote API (Kubernetes, Kubeflow Pipelines) refused or was not
    reached: the ``message`` of its JSON error body, else the exception's reason or text."""
    body = getattr(exc, "body", None)
    if body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        if message:
            return str(message)
    text = str(getattr(exc, "reason", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
