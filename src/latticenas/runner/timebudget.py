"""The local runner's wall-clock budget (``--time-budget 10m``, ``time_budget=``): one home for
the rule, asked by the orchestrator.

Contract:

* :func:`parse_time_budget` reads ``90s``, ``10m``, ``1.5h``, ``1h30m``, a bare number of
  seconds (``"600"``, ``600``, ``600.0``); anything else, or a budget that is not positive,
  raises :class:`~latticenas.errors.LatticeNASError` with one line saying how to write it.
* A :class:`TimeBudget` counts wall-clock seconds from :meth:`TimeBudget.start`. It belongs to
  one run: running the same command again on an experiment directory gives the resumed run a
  fresh budget (nothing about it is stored in the directory).
* :meth:`TimeBudget.allows_start`: a trial may start while time is left and, once some trial
  has finished, only when the estimated duration of a trial (:func:`estimate_duration`: the
  mean duration of the finished trials that reported an objective, else of every finished
  trial) still fits before the deadline.
* :meth:`TimeBudget.expired`: at the deadline the orchestrator stops the running trials
  (SIGTERM, then SIGKILL) and puts them back to Created, so the next run runs them again.
  The experiment then ends (``ExperimentTimeBudgetReached``) with what finished.
* The budget covers the whole run: when a final model is built after the trials (``latticenas
  search``, ``experiment run``), the trials get :meth:`TimeBudget.for_trials`, the budget less
  :meth:`TimeBudget.final_reserve` (15%, at least 10 s, at most half) kept for the final
  model, the baseline and the report.

Katib has no wall-clock budget: on a cluster the pipeline's search step must enforce it.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from latticenas.errors import LatticeNASError
from latticenas.runner.trials import TrialRecord

REASON = "ExperimentTimeBudgetReached"
FINAL_SHARE, FINAL_MIN_S = 0.15, 10.0  # the final model's share of a budget (TimeBudget.final_reserve)
UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([smh])")
_HOW = "write it like 90s, 10m, 1.5h or 1h30m (or a number of seconds)"


def parse_time_budget(value: str | float | int) -> float:
    """Seconds of a budget written as ``90s``, ``10m``, ``1h30m`` or a number of seconds."""
    if isinstance(value, bool):
        raise LatticeNASError(f"time budget {value!r} is not a duration; {_HOW}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        seconds = _parse_text(str(value))
    if not math.isfinite(seconds) or seconds <= 0:
        raise LatticeNASError(f"time budget {value!r} must be more than 0 seconds; {_HOW}")
    return seconds


def _parse_text(text: str) -> float:
    compact = text.strip().lower()
    try:
        return float(compact)
    except ValueError:
        pass
    parts = _PART.findall(compact)
    if not compact or _PART.sub("", compact).strip():
        raise LatticeNASError(f"time budget {text!r} is not a duration; {_HOW}")
    return sum(float(number) * UNITS[unit] for number, unit in parts)


def format_seconds(seconds: float) -> str:
    """``600`` -> ``10m``, ``90`` -> ``1m30s``, ``5400`` -> ``1h30m``, ``2.5`` -> ``2.5s``."""
    if seconds < 60:
        return f"{seconds:g}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


def estimate_duration(trials: Sequence[TrialRecord]) -> float | None:
    """The expected wall-clock seconds of the next trial, from the finished ones (None: no data)."""
    finished = [t for t in trials if t.state.finished and t.duration is not None]
    scored = [t.duration for t in finished if t.objective is not None]
    durations = scored or [t.duration for t in finished]
    return sum(durations) / len(durations) if durations else None


@dataclass(frozen=True)
class TimeBudget:
    """``seconds`` of wall-clock time from ``started`` (``time.time()``)."""

    seconds: float
    started: float

    @classmethod
    def start(cls, budget: str | float | int) -> TimeBudget:
        return cls(parse_time_budget(budget), time.time())

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    def remaining(self, now: float | None = None) -> float:
        return self.deadline - (time.time() if now is None else now)

    def expired(self, now: float | None = None) -> bool:
        return self.remaining(now) <= 0

    def allows_start(self, trials: Sequence[TrialRecord], now: float | None = None) -> bool:
        """Whether one more trial fits before the deadline (see the module doc)."""
        left = self.remaining(now)
        estimate = estimate_duration(trials)
        return left > 0 and (estimate is None or estimate <= left)

    def describe(self) -> str:
        return format_seconds(self.seconds)

    def final_reserve(self) -> float:
        """Seconds kept at the end for the final model, the baseline and the report: 15% of the
        budget, at least 10 s, at most half of it."""
        return min(max(FINAL_SHARE * self.seconds, FINAL_MIN_S), self.seconds / 2)

    def for_trials(self) -> TimeBudget:
        """The part of this budget the trials get when a final model follows them: the same
        start, a deadline :meth:`final_reserve` seconds earlier."""
        return TimeBudget(self.seconds - self.final_reserve(), self.started)
