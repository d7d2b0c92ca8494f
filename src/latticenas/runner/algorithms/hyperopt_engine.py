"""Katib's ``random`` and ``tpe``: hyperopt itself, driven the way Katib's hyperopt suggestion
service drives it (``pkg/suggestion/v1beta1/hyperopt/base_service.py`` at kubeflow/katib
33c8ff4), rebuilt from the trial history on every request.

The search space, as the service builds it (``int`` steps default to 1, so every ``int`` is
quantized):

* uniform: ``quniform(min, max, step)`` with a step (multiples of the step, rounded, so a
  value may fall a half step outside ``min..max``), else ``uniform(min, max)``;
* logUniform: ``qloguniform``/``loguniform`` over ``log(min)..log(max)``;
* normal: ``qnormal``/``normal`` with ``mu = (min + max) / 2``, ``sigma = (max - min) / 6``
  (unbounded: about 0.3% of the values fall outside ``min..max``);
* logNormal: the same on ``log(min)..log(max)``;
* categorical and discrete: ``choice`` over the list; ``int`` values are truncated with
  ``int()``.

The service's state is replayed from the history: one ``RandomState(random_state)`` draws each
request's seed, trial ids count up as hyperopt's ``Trials`` hands them out (an id for every
trial the service is told of, then one per new assignment), and a trial is told once, at the
first request after it Succeeded or EarlyStopped with an objective (the loss is negated when
maximizing; running and failed trials are not told). Each assignment stores its request number
and the names told at that request, so a rebuilt engine continues the same sequence.

``random`` samples every assignment of a request from one generator. ``tpe`` samples the first
request's assignments at random (``n_startup_jobs`` is the request size), and afterwards calls
hyperopt's TPE once per assignment with the same seed and history, which gives the same point
each time: a request for several assignments gets copies of one (kubeflow/katib#1329, still
so at 33c8ff4). The local runner does the same, and says so.

Without ``random_state`` Katib's sequence is random; the runner then uses seed 0, so runs
repeat. Katib's image pins hyperopt 0.2.5, which draws from ``numpy.random.RandomState(seed)``;
hyperopt >= 0.2.7 draws from ``numpy.random.default_rng(seed)`` and is otherwise the same
algorithm. The engine hands hyperopt a :class:`LegacyDraws` generator as the seed, so it draws
as 0.2.5 does: the same assignments as Katib's service for the same ``random_state`` and trials
(``tests/runner/test_runner_hyperopt.py`` checks a sequence recorded with hyperopt 0.2.5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from latticenas.extras import require
from latticenas.katib.rules.settings import ALGORITHM_SETTINGS
from latticenas.runner.algorithms.base import Suggestion, SuggestionEngine, Suggestions, told_value
from latticenas.runner.experiment import Distribution, Experiment, Parameter, ParameterType, ParamValue
from latticenas.runner.trials import TrialRecord

SEED_BOUND = 2**31 - 1  # base_service.py: self.fmin.rstate.randint(2**31 - 1)


class LegacyDraws(np.random.Generator):
    """A ``numpy.random.Generator`` whose draws are ``RandomState(seed)``'s, as hyperopt 0.2.5
    made them (``numpy.random.default_rng`` returns a Generator it is given unchanged, and
    hyperopt 0.3 calls only these four methods)."""

    def __init__(self, seed: int) -> None:
        super().__init__(np.random.PCG64(seed))
        self.legacy = np.random.RandomState(seed)

    def uniform(self, *args, **kwargs):
        return self.legacy.uniform(*args, **kwargs)

    def normal(self, *args, **kwargs):
        return self.legacy.normal(*args, **kwargs)

    def integers(self, low, high=None, size=None):
        return self.legacy.randint(low, high, size)

    def multinomial(self, *args, **kwargs):
        return self.legacy.multinomial(*args, **kwargs)


def hyperopt_expression(parameter: Parameter):
    """The hyperopt expression Katib's service builds for one parameter."""
    require("hyperopt")
    from hyperopt import hp

    name = parameter.name
    if parameter.type in (ParameterType.CATEGORICAL, ParameterType.DISCRETE):
        return hp.choice(name, list(range(len(parameter.choices))))
    low, high = float(parameter.low), float(parameter.written_max)
    step = float(parameter.step) if parameter.step else (1.0 if parameter.type is ParameterType.INT else None)
    if parameter.distribution in (Distribution.LOG_UNIFORM, Distribution.LOG_NORMAL):
        low, high = math.log(low), math.log(high)
    if parameter.distribution in (Distribution.NORMAL, Distribution.LOG_NORMAL):
        mu, sigma = (low + high) / 2, (high - low) / 6
        kind = "lognormal" if parameter.distribution is Distribution.LOG_NORMAL else "normal"
        return getattr(hp, f"q{kind}")(name, mu, sigma, step) if step else getattr(hp, kind)(name, mu, sigma)
    kind = "loguniform" if parameter.distribution is Distribution.LOG_UNIFORM else "uniform"
    return getattr(hp, f"q{kind}")(name, low, high, step) if step else getattr(hp, kind)(name, low, high)


def from_hyperopt(parameter: Parameter, raw: Any) -> ParamValue:
    """base_service.py ``convert``: int() for ints, the list entry for choices."""
    if parameter.type is ParameterType.INT:
        return int(raw)
    if parameter.type is ParameterType.DOUBLE:
        return float(raw)
    return parameter.choices[int(raw)]


def to_hyperopt(parameter: Parameter, value: ParamValue) -> int | float:
    """How the service feeds an assignment back: int, float, or the index in the list."""
    if parameter.type is ParameterType.INT:
        return int(value)
    if parameter.type is ParameterType.DOUBLE:
        return float(value)
    return list(parameter.choices).index(value)


class HyperoptEngine(SuggestionEngine):
    """``random`` (``hyperopt.rand``) and ``tpe`` (``hyperopt.tpe``)."""

    names = ("random", "tpe")
    KEY = "hyperopt"

    def __init__(self, experiment: Experiment) -> None:
        self.allowed_settings = frozenset(ALGORITHM_SETTINGS[experiment.algorithm.name].checks)
        super().__init__(experiment)
        self.tpe = experiment.algorithm.name == "tpe"
        self.seed = self.int_setting("random_state", 0)
        self.options: dict[str, Any] = {}
        for name, read in (("gamma", self.float_setting), ("prior_weight", self.float_setting),
                           ("n_EI_candidates", self.int_setting)):
            if experiment.algorithm.setting(name) is not None:
                self.options[name] = read(name)
        if self.tpe and experiment.budget.parallel > 1:
            self.warnings.append(
                f"tpe with parallelTrialCount {experiment.budget.parallel}: after the first "
                "request Katib's hyperopt service answers a request for several trials with "
                "copies of one assignment (kubeflow/katib#1329); the local runner does the same. "
                "Use parallelTrialCount: 1, or multivariate-tpe")

    def suggest(self, history: Sequence[TrialRecord], count: int) -> Suggestions:
        if count <= 0:
            return Suggestions()
        require("hyperopt")
        import hyperopt

        domain = hyperopt.Domain(None, {p.name: hyperopt_expression(p) for p in self.experiment.parameters},
                                 pass_expr_memo_ctrl=None)
        trials, rstate, requests, told = self._replay(domain, history)
        newly = [r for r in history if told_value(r) is not None and r.name not in told]
        self._tell(domain, trials, newly)
        new_ids = trials.new_trial_ids(count)
        seed = int(rstate.randint(SEED_BOUND))
        docs = self._ask(domain, trials, new_ids, seed, first=requests == 0)
        tag = {"request": requests, "told": [r.name for r in newly]}
        return Suggestions(tuple(Suggestion(self._params(doc["misc"]["vals"]), {self.KEY: tag}) for doc in docs))

    def _replay(self, domain, history: Sequence[TrialRecord]):
        """The service's Trials, RandomState, request count and told names after the
        requests that created the trials in ``history``."""
        import hyperopt

        by_name = {r.name: r for r in history}
        requests: dict[int, tuple[list[str], int]] = {}
        for record in history:
            tag = record.engine_attrs.get(self.KEY)
            if tag is not None:
                names, size = requests.get(tag["request"], (list(tag["told"]), 0))
                requests[tag["request"]] = (names, size + 1)
        trials, rstate, told = hyperopt.Trials(), np.random.RandomState(self.seed), set()
        for request in sorted(requests):
            names, size = requests[request]
            self._tell(domain, trials, [by_name[n] for n in names if n in by_name])
            told.update(names)
            trials.new_trial_ids(size)
            rstate.randint(SEED_BOUND)
        return trials, rstate, len(requests), told

    def _tell(self, domain, trials, records: Sequence[TrialRecord]) -> None:
        import hyperopt

        if not records:
            return
        sign = 1.0 if self.experiment.objective.minimize else -1.0
        tids = [trials.new_trial_ids(1)[0] for _ in records]
        miscs = [{"tid": tid, "cmd": domain.cmd, "workdir": domain.workdir,
                  "idxs": {p.name: [tid] for p in self.experiment.parameters},
                  "vals": {p.name: [to_hyperopt(p, r.params[p.name])] for p in self.experiment.parameters}}
                 for tid, r in zip(tids, records)]
        docs = trials.new_trial_docs(
            tids=tids, specs=[{"trial-name": r.name} for r in records],
            results=[{"loss": sign * float(told_value(r)), "status": hyperopt.STATUS_OK} for r in records],
            miscs=miscs)
        for doc in docs:
            doc["state"] = hyperopt.JOB_STATE_DONE
        trials.insert_trial_docs(docs)
        trials.refresh()

    def _ask(self, domain, trials, new_ids: list[int], seed: int, *, first: bool) -> list[dict]:
        import hyperopt

        if not self.tpe:
            return hyperopt.rand.suggest(new_ids=new_ids, domain=domain, trials=trials, seed=LegacyDraws(seed))
        options = {"n_startup_jobs": len(new_ids), "verbose": False, **self.options}
        if first:
            return hyperopt.tpe.suggest(new_ids=new_ids, domain=domain, trials=trials, seed=LegacyDraws(seed),
                                        **options)
        return [hyperopt.tpe.suggest(new_ids=[i], domain=domain, trials=trials, seed=LegacyDraws(seed),
                                     **options)[0] for i in new_ids]

    def _params(self, vals: dict[str, list]) -> dict[str, ParamValue]:
        return {p.name: from_hyperopt(p, vals[p.name][0]) for p in self.experiment.parameters}
