"""random and tpe run on hyperopt as Katib's hyperopt service runs it: the same space, the same
seeds, the same trials told, rebuilt from the history on every request."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import hyperopt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runner_helpers import experiment_manifest

from latticenas.errors import ManifestError
from latticenas.runner.algorithms import create_engine
from latticenas.runner.algorithms.hyperopt_engine import HyperoptEngine, LegacyDraws, hyperopt_expression
from latticenas.runner.experiment import parse_experiment
from latticenas.runner.trials import TrialRecord, TrialState

SPACE = [
    {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-1", "max": "2"}},
    {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.0001", "max": "0.1", "distribution": "logUniform"}},
    {"name": "units", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "10", "step": "2"}},
    {"name": "rate", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.6", "step": "0.1"}},
    {"name": "act", "parameterType": "categorical", "feasibleSpace": {"list": ["relu", "elu", "gelu"]}},
    {"name": "drop", "parameterType": "discrete", "feasibleSpace": {"list": ["0.1", "0.25", "0.5"]}},
]


def experiment_for(algorithm, space=SPACE, settings=None, **kwargs):
    settings = {"random_state": 5} if settings is None else settings
    return parse_experiment(experiment_manifest(algorithm=algorithm, parameters=space, settings=settings, **kwargs))


def loss(params) -> float:
    return (params["x"] - 0.5) ** 2 + params["units"] / 100 + (params["act"] == "elu") * 0.3


class ServiceModel:
    """A long-lived hyperopt service, as Katib keeps one per Experiment: one Trials, one
    RandomState, each Succeeded trial told once, at the first request that lists it."""

    def __init__(self, experiment):
        self.experiment = experiment
        settings = dict(experiment.algorithm.settings)
        seed = int(settings.pop("random_state", 0))
        self.options = {k: (int if k == "n_EI_candidates" else float)(v) for k, v in settings.items()}
        self.domain = hyperopt.Domain(None, {p.name: hyperopt_expression(p) for p in experiment.parameters},
                                      pass_expr_memo_ctrl=None)
        self.trials, self.rstate, self.first, self.told = hyperopt.Trials(), np.random.RandomState(seed), True, set()

    def request(self, history, count):
        engine = HyperoptEngine(self.experiment)  # its converters, not its replay
        engine._tell(self.domain, self.trials, [
            t for t in history if t.state is TrialState.SUCCEEDED and t.name not in self.told])
        self.told.update(t.name for t in history if t.state is TrialState.SUCCEEDED)
        ids = self.trials.new_trial_ids(count)
        seed = self.rstate.randint(2**31 - 1)
        draws = lambda: LegacyDraws(seed)  # noqa: E731 - hyperopt 0.2.5's RandomState(seed) draws
        if self.experiment.algorithm.name == "random":
            docs = hyperopt.rand.suggest(ids, self.domain, self.trials, draws())
        elif self.first:
            docs = hyperopt.tpe.suggest(ids, self.domain, self.trials, draws(), n_startup_jobs=count, **self.options)
        else:
            docs = [hyperopt.tpe.suggest([i], self.domain, self.trials, draws(), n_startup_jobs=count, **self.options)[0]
                    for i in ids]
        self.first = False
        return [engine._params(doc["misc"]["vals"]) for doc in docs]


def run(experiment, requests, finish_after=1):
    """Ask ``requests`` in turn; every trial finishes ``finish_after`` requests after it was made."""
    engine, model = create_engine(experiment), ServiceModel(experiment)
    history: list[TrialRecord] = []
    for round_, count in enumerate(requests):
        expected = model.request(history, count)
        answer = engine.suggest(history, count)
        assert [dict(s.params) for s in answer.items] == expected, round_
        made = len(history)
        history += [TrialRecord(made + k, f"t{made + k}", s.params, engine_attrs=s.attrs)
                    for k, s in enumerate(answer.items)]
        history = [TrialRecord(t.index, t.name, t.params, TrialState.SUCCEEDED, {"loss": (loss(t.params),)},
                               loss(t.params), engine_attrs=t.engine_attrs)
                   if t.index < len(history) - finish_after * count else t for t in history]
    return history


@pytest.mark.parametrize("algorithm", ["random", "tpe"])
def test_a_rebuilt_engine_answers_as_a_long_lived_service(algorithm):
    history = run(experiment_for(algorithm), [3, 1, 2, 1, 1, 3, 1, 1])
    assert len(history) == 13
    assert all(t.engine_attrs["hyperopt"]["request"] >= 0 for t in history)


def test_tpe_answers_later_requests_with_copies_of_one_assignment():
    experiment = experiment_for("tpe", parallel=3)
    engine = create_engine(experiment)
    assert any("kubeflow/katib#1329" in w for w in engine.warnings)
    history = run(experiment, [3, 3, 3])
    first, later = history[:3], history[3:6]
    assert len({tuple(sorted(t.params.items())) for t in first}) == 3  # random start: all differ
    assert len({tuple(sorted(t.params.items())) for t in later}) == 1  # Katib's copies


def test_random_samples_on_katibs_scales():
    experiment = experiment_for("random")
    values = [s.params for s in create_engine(experiment).suggest([], 400).items]
    assert all(v["units"] in (2, 4, 6, 8, 10) and isinstance(v["units"], int) for v in values)
    assert {round(v["rate"], 9) for v in values} <= {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}
    assert all(1e-4 <= v["lr"] <= 0.1 for v in values)
    below = sum(v["lr"] < 10 ** -2.5 for v in values) / len(values)
    assert 0.35 < below < 0.65  # log-uniform: half the values below the geometric midpoint
    assert {v["act"] for v in values} == {"relu", "elu", "gelu"} and {v["drop"] for v in values} == {0.1, 0.25, 0.5}


def test_normal_and_lognormal_follow_katibs_mu_and_sigma():
    space = [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "6", "distribution": "normal"}},
             {"name": "lr", "parameterType": "double",
              "feasibleSpace": {"min": "0.001", "max": "1", "distribution": "logNormal"}},
             {"name": "units", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "10", "step": "2"}},
             {"name": "act", "parameterType": "categorical", "feasibleSpace": {"list": ["relu"]}}]
    values = [s.params for s in create_engine(experiment_for("random", space)).suggest([], 2000).items]
    xs, logs = np.array([v["x"] for v in values]), np.log([v["lr"] for v in values])
    assert abs(xs.mean() - 3) < 0.1 and abs(xs.std() - 1) < 0.1  # mu = (min+max)/2, sigma = (max-min)/6
    mu, sigma = (np.log(0.001) + np.log(1)) / 2, (np.log(1) - np.log(0.001)) / 6
    assert abs(logs.mean() - mu) < 0.1 and abs(logs.std() - sigma) < 0.1


@settings(max_examples=40, deadline=None)
@given(low=st.integers(-50, 50), width=st.integers(1, 80), step=st.sampled_from([0.05, 0.1, 0.25, 0.5, 2.0]))
def test_quniform_gives_rounded_multiples_of_the_step(low, width, step):
    """Katib's hyperopt service: round(uniform(min, max) / step) * step, not min + k * step."""
    low, high = low * step / 2, low * step / 2 + width * step / 3
    space = [{"name": "x", "parameterType": "double",
              "feasibleSpace": {"min": repr(low), "max": repr(high), "step": repr(step)}}]
    for params in (s.params for s in create_engine(experiment_for("random", space)).suggest([], 30).items):
        k = params["x"] / step
        assert abs(k - round(k)) < 1e-9 and low - step / 2 <= params["x"] <= high + step / 2


def test_tpe_settings_come_from_katibs_table():
    with pytest.raises(ManifestError, match="unknown setting 'n_startup_trials'"):
        create_engine(experiment_for("tpe", settings={"n_startup_trials": 3}))
    with pytest.raises(ManifestError, match="unknown setting 'gamma' for algorithm random"):
        create_engine(experiment_for("random", settings={"gamma": 0.3}))
    engine = create_engine(experiment_for("tpe", settings={"gamma": 0.4, "n_EI_candidates": 8, "prior_weight": 2}))
    assert engine.options == {"gamma": 0.4, "n_EI_candidates": 8, "prior_weight": 2.0}
    run(experiment_for("tpe", settings={"gamma": 0.4, "n_EI_candidates": 8}), [2, 1, 1, 1])


def test_a_maximized_objective_is_told_as_a_negated_loss():
    experiment = experiment_for("tpe", objective_type="maximize")
    engine = create_engine(experiment)
    done = [TrialRecord(0, "t0", {"x": 0.0, "lr": 0.01, "units": 2, "rate": 0.1, "act": "relu", "drop": 0.1},
                        TrialState.SUCCEEDED, {"loss": (3.0,)}, 3.0)]
    trials = hyperopt.Trials()
    engine._tell(hyperopt.Domain(None, {"x": hyperopt.hp.uniform("x", 0, 1)}), trials, done)
    assert trials.losses() == [-3.0]


GOLDEN = json.loads((Path(__file__).parent / "data" / "hyperopt-0.2.5-katib.json").read_text())
GOLDEN_SPACE = [
    {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-1", "max": "2"}},
    {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.0001", "max": "0.1", "distribution": "logUniform"}},
    {"name": "units", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "10", "step": "2"}},
    {"name": "epochs", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "9"}},
    {"name": "n", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "6", "distribution": "normal"}},
    {"name": "act", "parameterType": "categorical", "feasibleSpace": {"list": ["relu", "elu", "gelu"]}},
]


@pytest.mark.parametrize("algorithm", ["random", "tpe"])
def test_the_assignments_are_those_of_katibs_pinned_hyperopt(algorithm):
    """The sequence hyperopt 0.2.5 gives when driven as Katib's service drives it
    (data/record_hyperopt_0_2_5.py), reproduced on the installed hyperopt."""
    engine = create_engine(experiment_for(algorithm, GOLDEN_SPACE, settings={"random_state": 7}))
    history: list[TrialRecord] = []
    for count in (3, 1, 2, 1, 1):
        history = [replace(t, state=TrialState.SUCCEEDED, objective=loss(t.params)) for t in history]
        made = len(history)
        history += [TrialRecord(made + k, f"t{made + k}", s.params, engine_attrs=s.attrs)
                    for k, s in enumerate(engine.suggest(history, count).items)]
    acts = ["relu", "elu", "gelu"]
    expected = [{**p, "act": acts[p["act"]]} for p in GOLDEN[algorithm]]
    got = [dict(t.params) for t in history]
    # exp() may differ in the last bit between numpy builds; ints and choices are exact
    assert got == [{k: pytest.approx(v, rel=1e-12) if isinstance(v, float) else v for k, v in p.items()}
                   for p in expected]
    assert all(type(g[k]) is type(e[k]) for g, e in zip(got, expected) for k in e)
