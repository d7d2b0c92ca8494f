"""Katib's ``bayesianoptimization``: scikit-optimize's ``Optimizer``, as Katib's skopt
suggestion service uses it, rebuilt from the trial history on every request.

Settings (Katib's names and defaults): ``base_estimator`` GP|RF|ET|GBRT (GP), ``n_initial_points``
(10), ``acq_func`` gp_hedge|LCB|EI|PI|EIps|PIps (gp_hedge), ``acq_optimizer`` auto|sampling|lbfgs
(auto), ``random_state``. Where scikit-optimize cannot honour a setting here the engine says so
in ``warnings`` and uses the nearest one: GBRT -> ET (skopt's GBRT is broken under NumPy 2),
EIps/PIps -> EI/PI (they need per-trial run times as a second objective), lbfgs with a tree
estimator -> sampling (skopt only optimises a GP's acquisition with L-BFGS).

As Katib's skopt service, every ``double`` range is searched log-uniformly (whatever its
``distribution``; Katib's validation requires ``min > 0``) and ``int`` ranges uniformly. One
difference, on purpose: a ``step`` is honoured by searching over step indices, so values stay
on the grid the manifest asks for (Katib's service ignores steps). Succeeded and EarlyStopped trials are told their objective
(negated when maximizing); running trials are told the best value so far (a constant liar) so
parallel requests spread out; failed trials are not told.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

from latticenas.extras import require
from latticenas.runner.algorithms.base import Suggestion, SuggestionEngine, Suggestions, told_value
from latticenas.runner.experiment import Experiment, Parameter, ParameterType, ParamValue
from latticenas.runner.trials import TrialRecord


class BayesianOptimizationEngine(SuggestionEngine):
    names = ("bayesianoptimization",)
    allowed_settings = frozenset(
        {"base_estimator", "n_initial_points", "acq_func", "acq_optimizer", "random_state"}
    )

    def __init__(self, experiment: Experiment) -> None:
        super().__init__(experiment)
        self.estimator = self.choice_setting("base_estimator", ("GP", "RF", "ET", "GBRT"), "GP")
        self.n_initial_points = self.int_setting("n_initial_points", 10)
        self.acq_func = self.choice_setting(
            "acq_func", ("gp_hedge", "LCB", "EI", "PI", "EIps", "PIps"), "gp_hedge"
        )
        self.acq_optimizer = self.choice_setting("acq_optimizer", ("auto", "sampling", "lbfgs"), "auto")
        self._substitute_unsupported()

    def _substitute_unsupported(self) -> None:
        if self.estimator == "GBRT":
            self.estimator = "ET"
            self.warnings.append("bayesianoptimization base_estimator=GBRT runs as ET locally")
        if self.acq_func in ("EIps", "PIps"):
            self.warnings.append(f"bayesianoptimization acq_func={self.acq_func} runs as {self.acq_func[:2]}")
            self.acq_func = self.acq_func[:2]
        if self.estimator != "GP" and self.acq_optimizer == "lbfgs":
            self.warnings.append(f"acq_optimizer=lbfgs needs base_estimator=GP; {self.estimator} uses sampling")
            self.acq_optimizer = "sampling"

    def suggest(self, history: Sequence[TrialRecord], count: int) -> Suggestions:
        from threadpoolctl import threadpool_limits

        # the matrices are tiny: BLAS threads only add overhead (several times slower)
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore")
            points = self._ask(history, count)
        params = self.experiment.parameters
        return Suggestions(
            tuple(Suggestion({p.name: decode(p, x) for p, x in zip(params, point)}) for point in points)
        )

    def _ask(self, history: Sequence[TrialRecord], count: int) -> list[list]:
        """``count`` points; each one after the first is asked once the previous one has been
        told the best value so far (the constant liar skopt's own batch ask uses, without
        refitting a copy of the optimizer)."""
        require("skopt")
        import skopt

        optimizer = skopt.Optimizer(
            [dimension(p) for p in self.experiment.parameters],
            base_estimator=self.estimator,
            n_initial_points=self.n_initial_points,
            acq_func=self.acq_func,
            acq_optimizer=self.acq_optimizer,
            random_state=self.seed_for(history),
        )
        xs, ys = self._observations(history)
        if xs:
            optimizer.tell(xs, ys)
        points = []
        for k in range(max(0, count)):
            points.append(optimizer.ask())
            if ys and k + 1 < count:
                optimizer.tell(points[-1], min(ys))
        return points

    def _observations(self, history: Sequence[TrialRecord]) -> tuple[list, list]:
        sign = 1.0 if self.experiment.objective.minimize else -1.0
        params = self.experiment.parameters
        xs, ys, pending = [], [], []
        for record in history:
            point = [encode(p, record.params[p.name]) for p in params]
            value = told_value(record)
            if value is not None:
                xs.append(point)
                ys.append(sign * value)
            elif not record.state.finished:
                pending.append(point)
        if ys:  # constant liar for running trials: pretend they match the best so far
            xs.extend(pending)
            ys.extend([min(ys)] * len(pending))
        return xs, ys


def _steps(parameter: Parameter) -> int | None:
    """The number of values of a stepped range (searched by index), or None."""
    if parameter.is_log or not parameter.step or parameter.type not in (ParameterType.DOUBLE, ParameterType.INT):
        return None
    if parameter.type is ParameterType.INT and parameter.step == 1:
        return None
    return int(math.floor((parameter.high - parameter.low) / parameter.step + 1e-9)) + 1


def dimension(parameter: Parameter):
    require("skopt")
    from skopt.space import Categorical, Integer, Real

    steps = _steps(parameter)
    if steps is not None:
        return Integer(0, steps - 1, name=parameter.name)
    if parameter.type is ParameterType.DOUBLE:
        prior = "log-uniform" if parameter.low > 0 else "uniform"  # Katib: log-uniform (min > 0)
        return Real(float(parameter.low), float(parameter.high), prior=prior, name=parameter.name)
    if parameter.type is ParameterType.INT:
        prior = "log-uniform" if parameter.is_log else "uniform"
        return Integer(int(parameter.low), int(parameter.high), prior=prior, name=parameter.name)
    return Categorical(list(parameter.choices), name=parameter.name)


def encode(parameter: Parameter, value: ParamValue):
    if _steps(parameter) is not None:
        return int(round((float(value) - parameter.low) / parameter.step))
    return value


def decode(parameter: Parameter, raw) -> ParamValue:
    if _steps(parameter) is not None:
        value = parameter.low + int(raw) * parameter.step
        return int(value) if parameter.type is ParameterType.INT else float(f"{value:.12g}")
    if parameter.type is ParameterType.DOUBLE:
        return float(raw)
    if parameter.type is ParameterType.INT:
        return int(raw)
    for choice in parameter.choices:  # back to the exact Python value of the choice
        if choice == raw or str(choice) == str(raw):
            return choice
    return raw
