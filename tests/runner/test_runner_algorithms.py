"""Every Katib algorithm name yields valid suggestions; grid and hyperband follow their plans;
engines continue from a stored history instead of restarting."""

from __future__ import annotations

import itertools
import math

import pytest
from runner_helpers import experiment_manifest

from latticenas.errors import ManifestError
from latticenas.runner.algorithms import ENGINES, create_engine
from latticenas.runner.algorithms.hyperband import schedule
from latticenas.runner.experiment import Parameter, ParameterType, parse_experiment
from latticenas.runner.trials import TrialRecord, TrialState

SPACE = [
    {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-1", "max": "2"}},
    {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.0001", "max": "0.1", "distribution": "logUniform"}},
    {"name": "units", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "10", "step": "2"}},
    {"name": "epochs", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "9"}},
    {"name": "act", "parameterType": "categorical", "feasibleSpace": {"list": ["relu", "elu", "gelu"]}},
    {"name": "drop", "parameterType": "discrete", "feasibleSpace": {"list": ["0.1", "0.25", "0.5"]}},
]
GRID_SPACE = [
    {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.3", "step": "0.1"}},
    {"name": "units", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "6", "step": "2"}},
    {"name": "act", "parameterType": "categorical", "feasibleSpace": {"list": ["relu", "elu"]}},
]
SETTINGS = {
    "random": {"random_state": 3},
    "tpe": {"random_state": 3, "n_EI_candidates": 8, "gamma": 0.3, "prior_weight": 1.0},
    "multivariate-tpe": {"random_state": 3, "n_startup_trials": 3},
    "cmaes": {"random_state": 3, "sigma": 0.5},
    "sobol": {},
    "grid": {},
    "bayesianoptimization": {"random_state": 3, "n_initial_points": 3},
    "hyperband": {"r_l": 9, "eta": 3, "resource_name": "epochs"},
}


def engine_for(algorithm, space=SPACE, settings=None, **kwargs):
    manifest = experiment_manifest(
        algorithm=algorithm, parameters=space, settings=SETTINGS[algorithm] if settings is None else settings, **kwargs
    )
    experiment = parse_experiment(manifest)
    return experiment, create_engine(experiment)


def loss(params) -> float:
    return (params["x"] - 0.5) ** 2 + math.log10(params.get("lr", 0.01)) ** 2 / 10 + params["units"] / 100


def simulate(engine, rounds: int, batch: int = 2) -> list[TrialRecord]:
    """Ask in batches; finish each batch with the loss before asking again."""
    history: list[TrialRecord] = []
    for _ in range(rounds):
        suggestions = engine.suggest(history, batch)
        for s in suggestions.items:
            history.append(
                TrialRecord(len(history) + 1, f"t{len(history) + 1}", s.params, TrialState.CREATED, engine_attrs=s.attrs)
            )
        history = [
            TrialRecord(t.index, t.name, t.params, TrialState.SUCCEEDED, {"loss": (loss(t.params),)}, loss(t.params), engine_attrs=t.engine_attrs)
            if not t.state.finished
            else t
            for t in history
        ]
        if suggestions.exhausted:
            break
    return history


def feasible(parameter: Parameter, value) -> bool:
    if parameter.type in (ParameterType.CATEGORICAL, ParameterType.DISCRETE):
        return value in parameter.choices
    if parameter.type is ParameterType.INT and (not isinstance(value, int) or (value - parameter.low) % (parameter.step or 1)):
        return False
    return parameter.low <= value <= parameter.high


def test_every_katib_algorithm_name_is_served():
    assert set(SETTINGS) == set(ENGINES)


@pytest.mark.parametrize("algorithm", sorted(SETTINGS))
def test_suggestions_lie_in_the_feasible_space(algorithm):
    experiment, engine = engine_for(algorithm, space=GRID_SPACE if algorithm == "grid" else SPACE)
    history = simulate(engine, rounds=4 if algorithm == "bayesianoptimization" else 6)
    assert len(history) >= 8
    for trial in history:
        assert set(trial.params) == {p.name for p in experiment.parameters}
        for parameter in experiment.parameters:
            assert feasible(parameter, trial.params[parameter.name]), (parameter.name, trial.params)


@pytest.mark.parametrize("algorithm", ["random", "tpe", "cmaes", "sobol", "bayesianoptimization"])
def test_a_rebuilt_engine_continues_instead_of_repeating(algorithm):
    _, engine = engine_for(algorithm)
    history = simulate(engine, rounds=3)
    again = engine.suggest(history, 1).items[0].params
    assert again == engine.suggest(history, 1).items[0].params  # a function of the history
    assert all(dict(t.params) != again for t in history)


def test_grid_enumerates_every_point_once_then_ends():
    experiment, engine = engine_for("grid", space=GRID_SPACE, max_trials=None)
    history = simulate(engine, rounds=20, batch=5)
    points = [tuple(t.params[p.name] for p in experiment.parameters) for t in history]
    expected = set(itertools.product((0.1, 0.2, 0.3), (2, 4, 6), ("relu", "elu")))
    assert sorted(points, key=str) == sorted(expected, key=str)
    final = engine.suggest(history, 3)
    assert final.items == () and final.exhausted


def test_grid_needs_steps_for_doubles():
    with pytest.raises(ManifestError, match="step"):
        engine_for("grid", space=SPACE[:1])


def test_hyperband_schedule_matches_katib():
    brackets = schedule(9, 3)
    assert [[(r.size, int(r.resource + 1e-9)) for r in rungs] for rungs in brackets] == [
        [(9, 1), (3, 3), (1, 9)],
        [(5, 3), (2, 9)],
        [(3, 9)],
    ]


def test_hyperband_promotes_the_best_of_a_finished_rung():
    _, engine = engine_for("hyperband")
    first = engine.suggest([], 20)
    assert len(first.items) == 9 and {s.params["epochs"] for s in first.items} == {1}
    history = [TrialRecord(i + 1, f"t{i}", s.params, TrialState.RUNNING, engine_attrs=s.attrs) for i, s in enumerate(first.items)]
    assert engine.suggest(history, 5).items == ()  # waits for the rung to finish
    finished = [
        TrialRecord(t.index, t.name, t.params, TrialState.SUCCEEDED, {"loss": (float(t.index),)}, float(t.index), engine_attrs=t.engine_attrs)
        for t in history
    ]
    promoted = engine.suggest(finished, 5).items
    assert [s.attrs["hyperband"]["config"] for s in promoted] == [0, 1, 2]
    assert all(s.params["epochs"] == 3 for s in promoted)
    assert [{k: v for k, v in s.params.items() if k != "epochs"} for s in promoted] == [
        {k: v for k, v in finished[i].params.items() if k != "epochs"} for i in range(3)
    ]


def test_hyperband_runs_its_whole_plan_then_ends():
    _, engine = engine_for("hyperband")
    history = simulate(engine, rounds=40, batch=9)
    assert len(history) == 9 + 3 + 1 + 5 + 2 + 3
    assert engine.suggest(history, 1).exhausted


@pytest.mark.parametrize(
    ("algorithm", "settings", "message"),
    [
        ("random", {"n_startup_trials": 3}, "unknown setting 'n_startup_trials'"),
        ("tpe", {"gamma": "lots"}, "gamma"),
        ("hyperband", {"r_l": 9}, "resource_name"),
        ("bayesianoptimization", {"acq_func": "magic"}, "acq_func"),
    ],
)
def test_bad_settings_are_refused(algorithm, settings, message):
    with pytest.raises(ManifestError, match=message):
        engine_for(algorithm, settings=settings)


def test_unknown_algorithm_is_refused():
    experiment = parse_experiment(experiment_manifest(algorithm="enas"))
    with pytest.raises(ManifestError, match="not supported by the local runner"):
        create_engine(experiment)


def test_settings_skopt_cannot_honour_are_substituted_with_a_warning():
    _, engine = engine_for("bayesianoptimization", settings={"base_estimator": "GBRT", "acq_func": "EIps"})
    assert engine.estimator == "ET" and engine.acq_func == "EI"
    assert len(engine.warnings) == 2
    assert len(simulate(engine, rounds=3)) == 6
