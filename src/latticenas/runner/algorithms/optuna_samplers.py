"""The algorithms the local runner runs on optuna: ``multivariate-tpe`` (Katib runs it on
optuna), ``cmaes`` and ``sobol`` (Katib runs them on goptuna, optuna's Go port); ``random`` and
``tpe`` run on hyperopt (:mod:`.hyperopt_engine`), ``grid`` follows Katib's own grid rules
(:mod:`.grid`).

Each request rebuilds an in-memory optuna study from the trial history (Succeeded and
EarlyStopped trials with an objective are COMPLETE, Failed/MetricsUnavailable are FAIL,
Created/Running are RUNNING, so TPE's constant liar and the grid see them as pending), restores
the optuna system attributes stored with each trial (the CMA-ES generation, the Sobol
sequence position) and asks with the experiment's fixed distributions, like Katib's
optuna suggestion service does. Parameters map as Katib maps them: ``double`` ->
``FloatDistribution`` (``log`` for logUniform, ``step``), ``int`` -> ``IntDistribution``
(``step``; log ranges step 1), ``categorical`` and ``discrete`` -> ``CategoricalDistribution``.
Katib's optuna service refuses normal and logNormal. goptuna has no log scale
(``goptuna/converter.go`` builds Uniform, DiscreteUniform, IntUniform and StepIntUniform
distributions whatever the ``distribution``), so cmaes and sobol sample every range uniformly
between min and max, as a cluster does.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

from latticenas.extras import require

require("optuna")  # MissingExtraError naming the extra, before the imports below fail
import optuna  # noqa: E402
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
from latticenas.runner.experiment import Distribution, Experiment, Parameter, ParameterType
from latticenas.runner.trials import TrialRecord

optuna.logging.set_verbosity(optuna.logging.WARNING)


def optuna_distribution(parameter: Parameter, *, log_scale: bool = True) -> BaseDistribution:
    """The optuna distribution of one Katib parameter (Katib's optuna service mapping);
    ``log_scale=False``: goptuna's, which ignores logUniform."""
    log = parameter.is_log and log_scale
    if parameter.type is ParameterType.DOUBLE:
        step = None if log else parameter.step
        return FloatDistribution(float(parameter.low), float(parameter.high), log=log, step=step)
    if parameter.type is ParameterType.INT:
        step = 1 if log else int(parameter.step or 1)
        return IntDistribution(int(parameter.low), int(parameter.high), log=log, step=step)
    return CategoricalDistribution(list(parameter.choices))


def optuna_space(experiment: Experiment, *, log_scale: bool = True) -> dict[str, BaseDistribution]:
    return {p.name: optuna_distribution(p, log_scale=log_scale) for p in experiment.parameters}


def refuse_normal(experiment: Experiment) -> None:
    """Katib's optuna service (grid, multivariate-tpe) raises for normal and logNormal."""
    for i, parameter in enumerate(experiment.parameters):
        if parameter.distribution in (Distribution.NORMAL, Distribution.LOG_NORMAL):
            raise ManifestError(
                f"spec.parameters[{i}].feasibleSpace.distribution: {parameter.distribution.value} is "
                f"not supported by {experiment.algorithm.name} (Katib runs it on Optuna, which takes "
                "only uniform and logUniform); use uniform or logUniform, or algorithm random or tpe")


class OptunaEngine(SuggestionEngine):
    """Ask/tell over a study rebuilt from the history; subclasses choose the sampler."""

    STUDY_ATTRS = "optuna_study_attrs"
    TRIAL_ATTRS = "optuna_trial_attrs"
    #: False for the goptuna algorithms: every range uniform, as goptuna samples it
    log_scale: ClassVar[bool] = True

    def __init__(self, experiment: Experiment) -> None:
        super().__init__(experiment)
        if self.log_scale:
            refuse_normal(experiment)
        else:
            ignored = [f"{p.name} ({p.distribution.value})" for p in experiment.parameters
                       if p.distribution is not Distribution.UNIFORM]
            if ignored:
                self.warnings.append(
                    f"{experiment.algorithm.name}: Katib's goptuna service ignores the distribution of "
                    f"{', '.join(ignored)} and samples uniformly between min and max; the local runner "
                    "does the same")
        self.space = optuna_space(experiment, log_scale=self.log_scale)

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


class TPEEngine(OptunaEngine):
    """``multivariate-tpe``: optuna's TPESampler with Katib's settings ``n_startup_trials``
    (10), ``n_ei_candidates`` (24) and ``random_state``."""

    names = ("multivariate-tpe",)
    allowed_settings = frozenset({"n_startup_trials", "n_ei_candidates", "random_state"})

    def __init__(self, experiment: Experiment) -> None:
        super().__init__(experiment)
        self.options: dict[str, Any] = {
            "n_startup_trials": self.int_setting("n_startup_trials", 10),
            "n_ei_candidates": self.int_setting("n_ei_candidates", 24, minimum=1),
            "multivariate": True,
            "constant_liar": True,  # as Katib's optuna service: pending trials count as bad results
        }

    def make_sampler(self, history):
        return optuna.samplers.TPESampler(seed=self.seed_for(history), **self.options)


class CmaEsEngine(OptunaEngine):
    names = ("cmaes",)
    log_scale = False
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
    log_scale = False

    def make_sampler(self, history):
        return optuna.samplers.QMCSampler(
            qmc_type="sobol",
            scramble=False,
            independent_sampler=optuna.samplers.RandomSampler(seed=len(history)),
            warn_independent_sampling=False,
        )
