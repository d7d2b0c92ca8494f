"""The algorithms the local runner runs on optuna: ``random``, ``tpe``, ``multivariate-tpe``,
``cmaes`` and ``sobol`` (``grid`` follows Katib's own grid rules: :mod:`.grid`).

Each request rebuilds an in-memory optuna study from the trial history (Succeeded and
EarlyStopped trials with an objective are COMPLETE, Failed/MetricsUnavailable are FAIL,
Created/Running are RUNNING, so TPE's constant liar and the grid see them as pending), restores
the optuna system attributes stored with each trial (the CMA-ES generation, the Sobol
sequence position) and asks with the experiment's fixed distributions, like Katib's
optuna suggestion service does. Parameters map as Katib maps them: ``double`` ->
``FloatDistribution`` (``log`` for logUniform, ``step``), ``int`` -> ``IntDistribution``
(``step``; log ranges step 1), ``categorical`` and ``discrete`` -> ``CategoricalDistribution``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler
from optuna.trial import TrialState as OptunaState
from optuna.trial import create_trial

from latticenas.errors import ManifestError
from latticenas.runner.algorithms.base import Suggestion, SuggestionEngine, Suggestions, told_value
from latticenas.runner.experiment import Experiment, Parameter, ParameterType
from latticenas.runner.trials import TrialRecord

optuna.logging.set_verbosity(optuna.logging.WARNING)


def optuna_distribution(parameter: Parameter) -> BaseDistribution:
    """The optuna distribution of one Katib parameter (Katib's optuna service mapping)."""
    if parameter.type is ParameterType.DOUBLE:
        step = None if parameter.is_log else parameter.step
        return FloatDistribution(float(parameter.low), float(parameter.high), log=parameter.is_log, step=step)
    if parameter.type is ParameterType.INT:
        step = 1 if parameter.is_log else int(parameter.step or 1)
        return IntDistribution(int(parameter.low), int(parameter.high), log=parameter.is_log, step=step)
    return CategoricalDistribution(list(parameter.choices))


def optuna_space(experiment: Experiment) -> dict[str, BaseDistribution]:
    return {p.name: optuna_distribution(p) for p in experiment.parameters}


class OptunaEngine(SuggestionEngine):
    """Ask/tell over a study rebuilt from the history; subclasses choose the sampler."""

    STUDY_ATTRS = "optuna_study_attrs"
    TRIAL_ATTRS = "optuna_trial_attrs"

    def __init__(self, experiment: Experiment) -> None:
        super().__init__(experiment)
        self.space = optuna_space(experiment)

    def make_sampler(self, history: Sequence[TrialRecord]) -> BaseSampler:
        raise NotImplementedError

    def suggest(self, history: Sequence[TrialRecord], count: int) -> Suggestions:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = self.rebuild(history)
            items = []
            for _ in range(max(0, count)):
                trial = study.ask(self.space)
                items.append(Suggestion(dict(trial.params), self.attrs_of(study, trial.number)))
        return Suggestions(tuple(items))

    def rebuild(self, history: Sequence[TrialRecord]) -> optuna.Study:
        direction = "minimize" if self.experiment.objective.minimize else "maximize"
        study = optuna.create_study(direction=direction, sampler=self.make_sampler(history))
        for record in history:
            study.add_trial(self.frozen(record))
        latest = next((r for r in reversed(history) if self.STUDY_ATTRS in r.engine_attrs), None)
        if latest is not None:
            for key, value in latest.engine_attrs[self.STUDY_ATTRS].items():
                study._storage.set_study_system_attr(study._study_id, key, value)
        return study

    def frozen(self, record: TrialRecord) -> optuna.trial.FrozenTrial:
        value = told_value(record)
        if value is not None:
            state = OptunaState.COMPLETE
        else:
            state = OptunaState.FAIL if record.state.finished else OptunaState.RUNNING
        return create_trial(
            state=state,
            value=value,
            params=dict(record.params),
            distributions=self.space,
            system_attrs=dict(record.engine_attrs.get(self.TRIAL_ATTRS, {})),
        )

    def attrs_of(self, study: optuna.Study, number: int) -> dict[str, Any]:
        trial = next(t for t in study.get_trials(deepcopy=False) if t.number == number)
        return {
            self.TRIAL_ATTRS: dict(trial.system_attrs),
            # optuna keeps no public accessor for study system attributes (the Sobol position)
            self.STUDY_ATTRS: dict(study._storage.get_study_system_attrs(study._study_id)),
        }


class RandomEngine(OptunaEngine):
    names = ("random",)
    allowed_settings = frozenset({"random_state"})

    def make_sampler(self, history):
        return optuna.samplers.RandomSampler(seed=self.seed_for(history))


class TPEEngine(OptunaEngine):
    """``tpe`` (hyperopt's TPE on a default Katib install) and ``multivariate-tpe`` (optuna's).

    hyperopt settings map to optuna's TPESampler: ``n_EI_candidates`` -> ``n_ei_candidates``
    (24), ``prior_weight`` (1.0), ``gamma`` (0.25) -> hyperopt's split of ``ceil(gamma *
    sqrt(n))`` good trials (at most 25); like Katib's hyperopt service, the first
    ``parallelTrialCount`` suggestions are random. ``n_startup_trials``/``n_ei_candidates``
    (optuna's names, used by multivariate-tpe) are accepted for both.
    """

    names = ("tpe", "multivariate-tpe")
    allowed_settings = frozenset(
        {"n_startup_trials", "n_ei_candidates", "n_EI_candidates", "gamma", "prior_weight", "random_state"}
    )

    def __init__(self, experiment: Experiment) -> None:
        super().__init__(experiment)
        multivariate = experiment.algorithm.name == "multivariate-tpe"
        self.options: dict[str, Any] = {
            "n_startup_trials": self.int_setting("n_startup_trials", 10 if multivariate else experiment.budget.parallel),
            "n_ei_candidates": self.int_setting("n_EI_candidates", self.int_setting("n_ei_candidates", 24), minimum=1),
            "prior_weight": self.float_setting("prior_weight", 1.0),
            "multivariate": multivariate,
            "constant_liar": True,  # as Katib's optuna service: pending trials count as bad results
        }
        gamma = self.float_setting("gamma")
        if gamma is not None:
            if not 0 < gamma < 1:
                raise ManifestError(self._bad_setting("gamma", str(gamma), "a number in (0, 1)"))
            self.options["gamma"] = lambda n: min(int(math.ceil(gamma * math.sqrt(n))), 25)

    def make_sampler(self, history):
        return optuna.samplers.TPESampler(seed=self.seed_for(history), **self.options)


class CmaEsEngine(OptunaEngine):
    names = ("cmaes",)
    allowed_settings = frozenset({"restart_strategy", "sigma", "random_state"})

    def __init__(self, experiment: Experiment) -> None:
        super().__init__(experiment)
        numeric = [p for p in experiment.parameters if p.type in (ParameterType.DOUBLE, ParameterType.INT)]
        if len(numeric) < 2:
            raise ManifestError(
                "spec.algorithm: cmaes needs at least two double/int parameters (Katib rejects "
                "fewer); use tpe or random"
            )
        self.sigma = self.float_setting("sigma")
        strategy = self.choice_setting("restart_strategy", ("ipop", "bipop", "none", "None"), "none")
        if strategy in ("ipop", "bipop"):
            self.warnings.append(
                f"cmaes restart_strategy={strategy}: optuna >= 4.4 dropped restart strategies, "
                "so CMA-ES runs without restarts locally"
            )

    def make_sampler(self, history):
        return optuna.samplers.CmaEsSampler(
            sigma0=self.sigma, seed=self.seed_for(history), warn_independent_sampling=False
        )


class SobolEngine(OptunaEngine):
    """optuna's QMCSampler on the unscrambled Sobol sequence (goptuna's sobol takes no
    settings). The sequence position lives in the study attributes restored by rebuild(); the
    first trial, which optuna samples before it knows the search space, is random with a seed
    fixed by the history, so runs are reproducible."""

    names = ("sobol",)

    def make_sampler(self, history):
        return optuna.samplers.QMCSampler(
            qmc_type="sobol",
            scramble=False,
            independent_sampler=optuna.samplers.RandomSampler(seed=len(history)),
            warn_independent_sampling=False,
        )
