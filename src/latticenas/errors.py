"""User-facing errors.

Every mistake a user can make (a bad flag, a missing file, a leaking column, a broken
manifest) raises a :class:`LatticeNASError` subclass whose message is one line that names the
problem and the fix. Command-line entry points catch these, print ``error: <message>`` and exit
non-zero; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


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


class TrialFailedError(LatticeNASError, RuntimeError):
    """Every network of a trial failed (diverged or crashed)."""

    exit_code = 1
