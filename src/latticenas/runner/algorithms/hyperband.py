"""Katib's ``hyperband``, request by request, as its suggestion service answers Katib's
controller (:mod:`latticenas.katib.rules.hyperband` holds the rules; this module applies them
to the trial history).

Settings: ``r_l`` (the largest resource, required), ``eta`` (default 3), ``resource_name`` (the
parameter that receives the resource, required). Each call is one GetSuggestions request for
``count`` assignments, ``count`` being what the orchestrator may start, which is what Katib's
controller asks for (``min(parallelTrialCount, maxTrialCount - finished) - running``):

* the service's state (its algorithm settings after the last accepted request) is stored with
  each trial it created, so the schedule is a function of the history;
* a new rung 0 is ``count`` random configurations drawn as the service draws them (uniform,
  step and distribution ignored, seeded locally by the trial count);
* a promotion waits until the rung's trials have finished (the service raises meanwhile), then
  copies the best of them (by objective, ties in creation order) with the next resource;
* a reply whose length differs from ``count`` is what Katib's controller rejects: nothing is
  created and, once nothing runs, the engine says it has stalled (``Suggestions.stalled``),
  where a cluster would leave the Experiment Running for ever. A rung with a trial that did not
  succeed stalls the same way (the service raises for it on every request).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from latticenas.errors import ManifestError
from latticenas.katib.rules import hyperband as hb
from latticenas.runner.algorithms.base import Suggestion, SuggestionEngine, Suggestions
from latticenas.runner.experiment import Experiment, ParameterType
from latticenas.runner.trials import TrialRecord, TrialState

KATIB_BOOKKEEPING = {"s_max", "b_l", "r", "n", "current_s", "current_i", "evaluating_trials"}


class HyperbandEngine(SuggestionEngine):
    names = ("hyperband",)
    allowed_settings = frozenset({"r_l", "eta", "resource_name"} | KATIB_BOOKKEEPING)
    KEY = "hyperband"

    def __init__(self, experiment: Experiment) -> None:
        super().__init__(experiment)
        r_l = self.float_setting("r_l", minimum=1.0)
        eta = self.float_setting("eta", 3.0, minimum=-float("inf"))
        self.resource_name = experiment.algorithm.setting("resource_name")
        if r_l is None or not self.resource_name:
            raise ManifestError("spec.algorithm: hyperband needs the settings r_l and resource_name")
        if 0 < eta < 2:
            raise ManifestError("spec.algorithm: hyperband eta must be a whole number >= 2")
        try:
            self.resource = experiment.parameter(self.resource_name)
        except KeyError:
            raise ManifestError(
                f"spec.algorithm: resource_name {self.resource_name!r} is not a parameter"
            ) from None
        self.initial = {name: value for name, value in experiment.algorithm.settings}
        self.dimensions = [self._dimension(p) for p in experiment.parameters]

    def suggest(self, history: Sequence[TrialRecord], count: int) -> Suggestions:
        state = hb.HyperbandState.convert(self._settings(history))
        answer = hb.reply(state, count)
        running = any(not t.state.finished for t in history)
        ranked: list[TrialRecord] = []
        if answer.promote:
            ranked = list(history[-answer.ranked:]) if answer.ranked else []
            if any(not t.state.finished for t in ranked):
                return Suggestions()  # the service raises until the rung has finished
            failed = [t.name for t in ranked if t.state is not TrialState.SUCCEEDED]
            if failed:
                return self._stalled(f"{', '.join(failed)} did not succeed, and Katib's hyperband "
                                     "service refuses to promote a rung with such a trial")
        if answer.count != count:
            if running:
                return Suggestions()
            return self._stalled(self._mismatch(answer, count, history))
        if answer.promote:
            configs = [(self._config(t), dict(t.params)) for t in self._best(ranked)[: answer.count]]
        else:
            rng = np.random.RandomState(len(history))
            configs = [(len(history) + k, hb.random_configuration(self.dimensions, rng))
                       for k in range(answer.count)]
        stored = hb.round_trip(answer.state).generate()
        return Suggestions(tuple(
            Suggestion({**params, self.resource_name: self._resource(answer.resource)},
                       {self.KEY: {"bracket": answer.bracket, "rung": answer.rung, "config": config,
                                   "state": stored}})
            for config, params in configs))

    def _settings(self, history: Sequence[TrialRecord]) -> dict[str, str]:
        for record in reversed(history):
            tag = record.engine_attrs.get(self.KEY)
            if tag is not None and "state" in tag:
                return {**self.initial, **tag["state"]}
        return dict(self.initial)

    def _best(self, trials: list[TrialRecord]) -> list[TrialRecord]:
        # service.py _get_top_trial: sorted by objective (reversed when maximizing), stable
        return sorted(trials, key=lambda t: t.objective, reverse=not self.experiment.objective.minimize)

    def _config(self, trial: TrialRecord) -> int:
        return trial.engine_attrs.get(self.KEY, {}).get("config", trial.index)

    def _resource(self, value: int) -> int | float:
        return value if self.resource.type is ParameterType.INT else float(value)

    def _stalled(self, why: str) -> Suggestions:
        return Suggestions(exhausted=True, stalled=f"{why}; on a Katib cluster this hyperband "
                                                    "Experiment would stay Running")

    def _mismatch(self, answer: hb.Reply, count: int, history: Sequence[TrialRecord]) -> str:
        if answer.done:
            return (f"Katib's hyperband service has finished its brackets and answers nothing to "
                    f"the controller's request for {count} after {len(history)} trials")
        return (f"Katib's hyperband service answers {answer.count} assignment(s) to the "
                f"controller's request for {count} after {len(history)} trials, and the "
                "controller rejects the reply")

    @staticmethod
    def _dimension(parameter) -> hb.Dimension:
        kind = parameter.type.value
        if parameter.type is ParameterType.CATEGORICAL:
            return hb.Dimension(parameter.name, kind, values=tuple(parameter.choices))
        if parameter.type is ParameterType.DISCRETE:
            return hb.Dimension(parameter.name, kind, values=tuple(int(v) for v in parameter.choices))
        return hb.Dimension(parameter.name, kind, float(parameter.low), float(parameter.written_max))
