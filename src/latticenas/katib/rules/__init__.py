"""Katib's semantics, in one place: what Katib (kubeflow/katib at 33c8ff4) admits, rejects,
ignores or computes, written once and used by the validator, the search-space checks, the
generator and the local runner.

* :mod:`.names`: API names, enumerations, name limits, which service runs which algorithm;
* :mod:`.values`: how the services parse the numbers written as strings;
* :mod:`.settings`: each suggestion service's algorithm settings (defaults, checks, what it
  ignores) and medianstop's;
* :mod:`.grid`: grid points as Katib's optuna service enumerates and orders them;
* :mod:`.hyperband`: the hyperband service's schedule (truncations included) and its exchange
  with the experiment controller, which decides whether an Experiment completes or stalls;
* :mod:`.shell`: what ``sh -c`` does to the trial command the metrics collector wraps;
* :mod:`.filters`: the collector's metric filters (RE2 syntax, two groups, the ``;`` join).

Verdicts carry a :class:`Severity`: ``ERROR`` for what Katib rejects or what breaks on a
cluster, ``WARNING`` for what Katib admits but ignores or silently changes.
"""

from __future__ import annotations

from enum import Enum


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"

    def __str__(self) -> str:
        return self.value


__all__ = ["Severity"]
