"""Trial states and the immutable trial snapshot shared by the store, the algorithms, the
early-stopping rule, the orchestrator and the reports.

Contract: a :class:`TrialRecord` is a frozen snapshot read from the durable state; nothing
mutates it (new states are new records). Metric values are kept per metric name in the order
the trial printed them (the "steps" of Katib's early stopping); :func:`reduce_metric` applies
a Katib metric strategy to them. States mirror Katib's trial conditions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from latticenas.runner.experiment import MetricStrategy, Objective, ParamValue


class TrialState(str, Enum):
    CREATED = "Created"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    EARLY_STOPPED = "EarlyStopped"
    METRICS_UNAVAILABLE = "MetricsUnavailable"

    @property
    def finished(self) -> bool:
        return self not in (TrialState.CREATED, TrialState.RUNNING)

    @property
    def counts_as_failure(self) -> bool:
        """Katib counts Failed and MetricsUnavailable trials against maxFailedTrialCount."""
        return self in (TrialState.FAILED, TrialState.METRICS_UNAVAILABLE)


def _frozen(mapping: Mapping | None) -> Mapping:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the durable state knows it."""

    index: int
    name: str
    params: Mapping[str, ParamValue]
    state: TrialState = TrialState.CREATED
    metrics: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    objective: float | None = None
    created: float | None = None
    started: float | None = None
    ended: float | None = None
    exit_code: int | None = None
    attempts: int = 0
    message: str = ""
    engine_attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen(self.params))
        metrics = {name: tuple(values) for name, values in dict(self.metrics).items()}
        object.__setattr__(self, "metrics", _frozen(metrics))
        object.__setattr__(self, "engine_attrs", _frozen(self.engine_attrs))

    @property
    def duration(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started


def reduce_metric(values: Sequence[float], strategy: MetricStrategy) -> float | None:
    """Katib's observation value of one metric: its min, max or latest reported value."""
    if not values:
        return None
    if strategy is MetricStrategy.MIN:
        return min(values)
    if strategy is MetricStrategy.MAX:
        return max(values)
    return values[-1]


def observed(metrics: Mapping[str, Sequence[float]], objective: Objective) -> dict[str, float]:
    """The value of every objective/additional metric a trial reported, by its strategy."""
    values = {}
    for name in objective.metric_names:
        value = reduce_metric(metrics.get(name, ()), objective.strategy(name))
        if value is not None:
            values[name] = value
    return values


def best_trial(trials: Sequence[TrialRecord], objective: Objective) -> TrialRecord | None:
    """The trial with the best objective value (the first one on ties), like Katib's optimal trial."""
    best = None
    for trial in trials:
        if trial.objective is None:
            continue
        if best is None or objective.better(trial.objective, best.objective):
            best = trial
    return best
