"""Katib's ``grid``, point for point: the points Katib's optuna service enumerates, in the order
its ``GridSampler`` (optuna 3.3.0, seeded by ``random_state``) assigns them, as
:mod:`latticenas.katib.rules.grid` describes.

Each trial stores its grid id and how many ids it was chosen among, so a rebuilt engine
replays the sampler's random state and continues the same sequence. Katib never ends a grid
Experiment because the grid is done (``maxTrialCount`` does, and may not exceed the grid);
without ``maxTrialCount`` the engine stops once every point has been assigned and says a
cluster would go on re-running points (``Suggestions.stalled``). Without ``random_state``
Katib's order is random; the runner then uses seed 0, so runs repeat.
"""

from __future__ import annotations

from collections.abc import Sequence

from latticenas.errors import ManifestError
from latticenas.katib.rules import grid as grid_rules
from latticenas.runner.algorithms.base import Suggestion, SuggestionEngine, Suggestions, told_value
from latticenas.runner.algorithms.optuna_samplers import refuse_normal
from latticenas.runner.experiment import Experiment, Parameter, ParameterType, ParamValue
from latticenas.runner.trials import TrialRecord


class GridEngine(SuggestionEngine):
    names = ("grid",)
    allowed_settings = frozenset({"random_state"})
    KEY = "grid"

    def __init__(self, experiment: Experiment) -> None:
        super().__init__(experiment)
        refuse_normal(experiment)  # Katib's grid runs on its optuna service
        self.values = {p.name: self._values(p) for p in experiment.parameters}
        self.points = grid_rules.grid_points(self.values)
        self.size = len(self.points)
        self.seed = self.int_setting("random_state", 0)
        max_trials = experiment.budget.max_trials
        if max_trials is not None and max_trials > self.size:
            self.warnings.append(
                f"grid: maxTrialCount {max_trials} exceeds the {self.size} grid points "
                "(Katib rejects this); the search ends when the grid is done"
            )

    @staticmethod
    def _values(parameter: Parameter) -> list[ParamValue]:
        if parameter.type in (ParameterType.CATEGORICAL, ParameterType.DISCRETE):
            return list(parameter.choices)
        if parameter.type is ParameterType.INT:
            return list(grid_rules.int_points(parameter.low, parameter.written_max, parameter.step))
        if not parameter.step:
            raise ManifestError(
                f"parameter {parameter.name!r}: a grid search needs feasibleSpace.step for double "
                "parameters; add a step or use another algorithm"
            )
        # the points Katib assigns (numpy.arange's, e.g. 0.30000000000000004); kept to 12
        # significant digits, as the runner writes stepped doubles on the command line
        points = grid_rules.double_points(parameter.low, parameter.written_max, parameter.step)
        return [float(f"{v:.12g}") for v in points]

    def suggest(self, history: Sequence[TrialRecord], count: int) -> Suggestions:
        order = grid_rules.GridOrder(self.size, self.seed)
        done: list[int] = []
        running: list[int] = []
        for record in history:
            tag = record.engine_attrs.get(self.KEY)
            if tag is None:
                continue
            order.skip(tag["population"])
            (done if told_value(record) is not None else running).append(tag["id"])
        items = []
        for _ in range(max(0, min(count, self.size - len(done) - len(running)))):
            grid_id, population = order.ask(done, running)
            running.append(grid_id)
            items.append(Suggestion(dict(self.points[grid_id]),
                                    {self.KEY: {"id": grid_id, "population": population}}))
        if len(done) + len(running) < self.size:
            return Suggestions(tuple(items))
        stalled = "" if self.experiment.budget.max_trials is not None else (
            f"every one of the {self.size} grid points has been assigned; Katib never ends a "
            "grid Experiment because the grid is done, so without maxTrialCount a cluster "
            "would go on re-running points")
        return Suggestions(tuple(items), exhausted=True, stalled=stalled)
