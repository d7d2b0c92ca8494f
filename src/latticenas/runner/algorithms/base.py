"""The contract every suggestion engine keeps.

An engine is built from the :class:`~latticenas.runner.experiment.Experiment` (it reads the
search space, the objective and ``spec.algorithm.algorithmSettings``) and then answers
:meth:`SuggestionEngine.suggest` as a function of the trial history alone:

* ``history`` holds every trial the experiment has ever created, as immutable
  :class:`~latticenas.runner.trials.TrialRecord` snapshots, finished or not, ordered by index;
* it returns at most ``count`` new parameter assignments, each with ``attrs``: JSON-serializable
  engine bookkeeping stored with the trial and handed back in later histories (so an engine
  rebuilt after a crash continues where it stopped);
* ``exhausted`` says the engine will never suggest anything again (a finished grid or
  hyperband); an empty answer that is not exhausted means "wait for running trials";
* ``stalled`` (with ``exhausted``) says why a Katib cluster would get stuck here instead of
  ending the Experiment: its controller rejects the service's reply, or Katib never ends an
  Experiment because its search space is done. The runner ends the experiment; the message
  says what the cluster would do.

Engines keep no state between calls that the history does not carry; settings problems raise
:class:`~latticenas.errors.ManifestError` when the engine is built, and notes the user should
see (a setting mapped approximately) are collected in ``warnings``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from latticenas.errors import ManifestError
from latticenas.runner.experiment import Experiment, ParamValue
from latticenas.runner.trials import TrialRecord, TrialState


@dataclass(frozen=True)
class Suggestion:
    params: Mapping[str, ParamValue]
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suggestions:
    items: tuple[Suggestion, ...] = ()
    exhausted: bool = False
    stalled: str = ""


class SuggestionEngine(ABC):
    """Base class: settings parsing helpers and the ``suggest`` contract."""

    #: the Katib ``algorithmName`` values this engine serves
    names: ClassVar[tuple[str, ...]] = ()
    #: the ``algorithmSettings`` names Katib accepts for them
    allowed_settings: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        self.warnings: list[str] = []
        unknown = [name for name, _ in experiment.algorithm.settings if name not in self.allowed_settings]
        if unknown:
            allowed = ", ".join(sorted(self.allowed_settings)) or "none"
            raise ManifestError(
                f"spec.algorithm.algorithmSettings: unknown setting {unknown[0]!r} for algorithm "
                f"{experiment.algorithm.name} (allowed: {allowed})"
            )

    @abstractmethod
    def suggest(self, history: Sequence[TrialRecord], count: int) -> Suggestions:
        """At most ``count`` new assignments given every trial so far."""

    # -- settings helpers -------------------------------------------------------------

    def int_setting(self, name: str, default: int | None = None, minimum: int = 0) -> int | None:
        raw = self.experiment.algorithm.setting(name)
        if raw is None:
            return default
        try:
            value = int(float(raw))
        except ValueError:
            raise ManifestError(self._bad_setting(name, raw, "an integer")) from None
        if value < minimum:
            raise ManifestError(self._bad_setting(name, raw, f"an integer >= {minimum}"))
        return value

    def float_setting(self, name: str, default: float | None = None, minimum: float = 0.0) -> float | None:
        raw = self.experiment.algorithm.setting(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ManifestError(self._bad_setting(name, raw, "a number")) from None
        if value < minimum:
            raise ManifestError(self._bad_setting(name, raw, f"a number >= {minimum}"))
        return value

    def choice_setting(self, name: str, allowed: Sequence[str], default: str) -> str:
        raw = self.experiment.algorithm.setting(name, default)
        if raw not in allowed:
            raise ManifestError(self._bad_setting(name, raw, "one of " + ", ".join(allowed)))
        return raw

    def _bad_setting(self, name: str, raw: str, expected: str) -> str:
        return (
            f"spec.algorithm.algorithmSettings: {name}={raw!r} for algorithm "
            f"{self.experiment.algorithm.name} must be {expected}"
        )

    def seed_for(self, history: Sequence[TrialRecord]) -> int | None:
        """``random_state`` advanced by the number of trials so far (``None`` without one).

        Re-seeding per request keeps a resumed run deterministic without replaying the first
        suggestions of the run again.
        """
        seed = self.int_setting("random_state")
        return None if seed is None else seed + len(history)


def told_value(trial: TrialRecord) -> float | None:
    """The value Katib's suggestion services learn from: Succeeded and EarlyStopped trials
    with an objective value (Failed and MetricsUnavailable trials teach nothing)."""
    if trial.state in (TrialState.SUCCEEDED, TrialState.EARLY_STOPPED):
        return trial.objective
    return None
