"""Katib's ``medianstop`` early stopping, applied while trials run.

Katib's semantics (``pkg/earlystopping/v1beta1/medianstop`` and the metrics collector):

* settings ``min_trials_required`` (default 3, > 0) and ``start_step`` (default 4, >= 1);
* for every Succeeded trial, the average of its first ``start_step`` reported objective values;
* once at least ``min_trials_required`` trials have succeeded, the threshold is the *mean* of
  those averages (Katib's service calls it the median and computes the arithmetic mean; the
  local runner matches the cluster);
* the rule is fixed when a trial is created; once that trial has reported ``start_step``
  objective values, it is stopped if its best value so far is worse than the threshold
  (greater when minimizing, less when maximizing). The best value only improves while the
  threshold stays fixed, so checking at every later step decides exactly as Katib's single
  check at ``start_step`` does.

A "step" is one reported value of the objective metric, in the order the trial printed them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from latticenas.errors import ManifestError
from latticenas.runner.experiment import AlgorithmSpec, Objective
from latticenas.runner.trials import TrialRecord, TrialState


@dataclass(frozen=True)
class StopRule:
    """The rule one trial runs under: stop once ``best so far`` is worse than ``threshold``."""

    metric: str
    threshold: float
    start_step: int
    minimize: bool

    def should_stop(self, values: Sequence[float]) -> bool:
        if len(values) < self.start_step:
            return False
        if self.minimize:
            return min(values) > self.threshold
        return max(values) < self.threshold


@dataclass(frozen=True)
class MedianStop:
    objective: Objective
    min_trials_required: int = 3
    start_step: int = 4

    def rule(self, history: Sequence[TrialRecord]) -> StopRule | None:
        """The rule for a trial created now, or ``None`` while too few trials succeeded."""
        averages = []
        for trial in history:
            values = trial.metrics.get(self.objective.metric, ())
            if trial.state is TrialState.SUCCEEDED and values:
                first = values[: self.start_step]
                averages.append(sum(first) / len(first))
        if len(averages) < self.min_trials_required:
            return None
        threshold = sum(averages) / len(averages)
        return StopRule(self.objective.metric, threshold, self.start_step, self.objective.minimize)


def create_early_stopping(spec: AlgorithmSpec | None, objective: Objective) -> MedianStop | None:
    """The early-stopping rule of ``spec.earlyStopping`` (``None`` when there is none)."""
    if spec is None:
        return None
    if spec.name != "medianstop":
        raise ManifestError(
            f"spec.earlyStopping.algorithmName: {spec.name!r} is not supported (use medianstop)"
        )
    settings = dict(spec.settings)
    unknown = set(settings) - {"min_trials_required", "start_step"}
    if unknown:
        raise ManifestError(f"spec.earlyStopping: unknown setting {sorted(unknown)[0]!r} for medianstop")
    return MedianStop(
        objective,
        min_trials_required=_count(settings, "min_trials_required", 3, minimum=1),
        start_step=_count(settings, "start_step", 4, minimum=1),
    )


def _count(settings: dict, name: str, default: int, minimum: int) -> int:
    raw = settings.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ManifestError(f"spec.earlyStopping: {name} must be an integer >= {minimum}, got {raw!r}")
    return value
