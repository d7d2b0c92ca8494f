"""Katib's ``hyperband``: successive halving in brackets over the ``resource_name`` parameter.

Settings: ``r_l`` (the largest resource, required), ``eta`` (the halving rate, a whole number,
default 3),
``resource_name`` (the parameter that receives the resource, required). With
``s_max = floor(log(r_l) / log(eta))``, brackets run one after another for ``s = s_max .. 0``:
bracket ``s`` samples ``n = ceil((s_max + 1) * eta**s / (s + 1))`` configurations at random
(rung 0) with resource ``r_l * eta**-s``; when every trial of a rung has finished, the best
``ceil(size / eta)`` configurations (by objective; trials without one rank last) run again as
new trials with the resource multiplied by ``eta`` (truncated to an integer, as Katib does),
until the rung with resource ``r_l``. This mirrors Katib's hyperband suggestion service; the
bracket, rung and configuration of every trial are stored with it, so the schedule is a pure
function of the history and a resumed run continues in the same rung. The random configurations
are seeded by the number of trials so far, so runs repeat.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import optuna

from latticenas.errors import ManifestError
from latticenas.runner.algorithms.base import Suggestion, SuggestionEngine, Suggestions
from latticenas.runner.algorithms.optuna_samplers import optuna_space
from latticenas.runner.experiment import Experiment, ParameterType
from latticenas.runner.trials import TrialRecord

KATIB_BOOKKEEPING = {"s_max", "b_l", "r", "n", "current_s", "current_i", "evaluating_trials"}


@dataclass(frozen=True)
class Rung:
    bracket: int
    rung: int
    size: int
    resource: float


def schedule(r_l: float, eta: float) -> tuple[tuple[Rung, ...], ...]:
    """Every bracket's rungs, in the order they run."""
    s_max = int(math.log(r_l) / math.log(eta) + 1e-9)
    brackets = []
    for s in range(s_max, -1, -1):
        size = int(math.ceil((s_max + 1) * eta**s / (s + 1)))
        rungs = []
        for i in range(s + 1):
            rungs.append(Rung(s, i, size, r_l * eta ** (i - s)))
            size = int(math.ceil(size / eta))
        brackets.append(tuple(rungs))
    return tuple(brackets)


class HyperbandEngine(SuggestionEngine):
    names = ("hyperband",)
    allowed_settings = frozenset({"r_l", "eta", "resource_name"} | KATIB_BOOKKEEPING)
    KEY = "hyperband"

    def __init__(self, experiment: Experiment) -> None:
        super().__init__(experiment)
        r_l = self.float_setting("r_l", minimum=1.0)
        eta = int(self.float_setting("eta", 3.0, minimum=-float("inf")))
        eta = 3 if eta <= 0 else eta  # Katib: eta = int(float(value)), eta <= 0 means 3
        self.resource_name = experiment.algorithm.setting("resource_name")
        if r_l is None or not self.resource_name:
            raise ManifestError("spec.algorithm: hyperband needs the settings r_l and resource_name")
        if eta == 1:
            raise ManifestError("spec.algorithm: hyperband eta must be a whole number >= 2")
        try:
            self.resource = experiment.parameter(self.resource_name)
        except KeyError:
            raise ManifestError(
                f"spec.algorithm: resource_name {self.resource_name!r} is not a parameter"
            ) from None
        self.brackets = schedule(r_l, eta)
        self.eta = eta

    @property
    def total_trials(self) -> int:
        return sum(rung.size for rungs in self.brackets for rung in rungs)

    def suggest(self, history: Sequence[TrialRecord], count: int) -> Suggestions:
        members = self._members(history)
        for rungs in self.brackets:
            for rung in rungs:
                mine = members.get((rung.bracket, rung.rung), [])
                if len(mine) < rung.size:
                    return Suggestions(tuple(self._fill(rung, mine, members, history, count)))
                if not all(t.state.finished for t in mine):
                    return Suggestions()  # the next rung needs this one's results
        return Suggestions(exhausted=True)

    def _members(self, history: Sequence[TrialRecord]) -> dict[tuple[int, int], list[TrialRecord]]:
        members: dict[tuple[int, int], list[TrialRecord]] = {}
        for record in history:
            tag = record.engine_attrs.get(self.KEY)
            if tag is not None:
                members.setdefault((tag["bracket"], tag["rung"]), []).append(record)
        return members

    def _fill(self, rung, mine, members, history, count) -> list[Suggestion]:
        wanted = min(count, rung.size - len(mine))
        if wanted <= 0:
            return []
        if rung.rung == 0:
            configs = [(len(mine) + k, params) for k, params in enumerate(self._sample(history, wanted))]
        else:
            previous = members.get((rung.bracket, rung.rung - 1), [])
            if not all(t.state.finished for t in previous):
                return []
            taken = {t.engine_attrs[self.KEY]["config"] for t in mine}
            ranked = [t for t in self._ranked(previous)[: rung.size] if t.engine_attrs[self.KEY]["config"] not in taken]
            configs = [(t.engine_attrs[self.KEY]["config"], dict(t.params)) for t in ranked[:wanted]]
        return [self._suggestion(rung, config, params) for config, params in configs]

    def _suggestion(self, rung: Rung, config: int, params: dict) -> Suggestion:
        resource = int(rung.resource + 1e-9)
        params = {**params, self.resource_name: resource if self.resource.type is ParameterType.INT else float(resource)}
        return Suggestion(params, {self.KEY: {"bracket": rung.bracket, "rung": rung.rung, "config": config}})

    def _ranked(self, trials: Sequence[TrialRecord]) -> list[TrialRecord]:
        sign = 1.0 if self.experiment.objective.minimize else -1.0
        return sorted(
            trials,
            key=lambda t: (t.objective is None, sign * t.objective if t.objective is not None else 0.0, t.index),
        )

    def _sample(self, history: Sequence[TrialRecord], count: int) -> list[dict]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=len(history)))
            space = optuna_space(self.experiment)
            return [dict(study.ask(space).params) for _ in range(count)]
