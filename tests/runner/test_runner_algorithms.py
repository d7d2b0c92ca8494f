"""Every Katib algorithm name yields valid suggestions; grid and hyperband follow their plans;
engines continue from a stored history instead of restarting."""

from __future__ import annotations

import itertools
import math

import pytest
from runner_helpers import experiment_manifest

from latticenas.errors import ManifestError
from latticenas.katib.rules import hyperband as hb
from latticenas.katib.rules.grid import GridOrder
from latticenas.runner.algorithms import ENGINES, create_engine
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


@pytest.mark.parametrize("algorithm", sorted(set(SETTINGS) - {"hyperband"}))
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


def test_grid_order_is_katib_grid_samplers():
    # Katib's optuna service (optuna 3.3.0): RandomState(random_state).choice(unvisited ids)
    experiment, engine = engine_for("grid", space=GRID_SPACE, settings={"random_state": 7}, max_trials=18)
    first = engine.suggest([], 1).items[0]
    expected = GridOrder(18, 7).ask([], [])
    assert first.attrs["grid"] == {"id": expected[0], "population": 18}
    # the grid is the product over the names in sorted order: act, units, x
    combos = list(itertools.product(("relu", "elu"), (2, 4, 6), (0.1, 0.2, 0.3)))
    assert dict(zip(["act", "units", "x"], combos[expected[0]])) == dict(first.params)


def test_a_rebuilt_grid_continues_its_sequence():
    _, engine = engine_for("grid", space=GRID_SPACE, max_trials=18)
    whole = simulate(engine, rounds=9, batch=2)
    _, again = engine_for("grid", space=GRID_SPACE, max_trials=18)
    assert again.suggest(whole[:6], 2).items == engine.suggest(whole[:6], 2).items
    assert [t.params for t in whole[6:8]] == [s.params for s in again.suggest(whole[:6], 2).items]


def test_hyperband_service_schedule_matches_katib():
    # truncated resources (int(float(str(r)))), n from the bracket: 9@1, 3@3, 1@9 ...
    brackets = hb.service_schedule(9, 3)
    assert [[(r.size, r.resource) for r in rungs] for rungs in brackets] == [
        [(9, 1), (3, 3), (1, 9)],
        [(5, 3), (2, 9)],
        [(3, 9)],
    ]
    # the project's r_l=25: Katib gives 9@2, 3@6, 1@18 (int(25/9) = 2, then 2*3, 2*9)
    assert [(r.size, r.resource) for r in hb.service_schedule(25, 3)[0]] == [(9, 2), (3, 6), (1, 18)]
    assert hb.s_max(243, 3) == 4  # log(243)/log(3) = 4.999..., no epsilon


def test_hyperband_promotes_the_best_of_a_finished_rung():
    _, engine = engine_for("hyperband")
    first = engine.suggest([], 9)
    assert len(first.items) == 9 and {s.params["epochs"] for s in first.items} == {1}
    history = [TrialRecord(i + 1, f"t{i}", s.params, TrialState.RUNNING, engine_attrs=s.attrs) for i, s in enumerate(first.items)]
    assert engine.suggest(history, 1).items == ()  # waits for the rung to finish
    finished = [
        TrialRecord(t.index, t.name, t.params, TrialState.SUCCEEDED, {"loss": (float(10 - t.index),)}, float(10 - t.index), engine_attrs=t.engine_attrs)
        for t in history
    ]
    (promoted,) = engine.suggest(finished, 1).items  # the controller's request when one trial is left
    assert promoted.params["epochs"] == 3 and promoted.attrs["hyperband"]["config"] == 8
    assert {k: v for k, v in promoted.params.items() if k != "epochs"} == {
        k: v for k, v in finished[8].params.items() if k != "epochs"}
    stalled = engine.suggest(finished, 9)  # Katib's service answers ceil(9 / 3) = 3 to 9
    assert stalled.items == () and stalled.exhausted and "rejects the reply" in stalled.stalled


def test_hyperband_samples_as_katibs_service():
    # uniform between min and max, step and logUniform ignored, discrete values as integers
    _, engine = engine_for("hyperband")
    items = engine.suggest([], 40).items
    units = {s.params["units"] for s in items}
    assert units <= set(range(2, 11)) and units - {2, 4, 6, 8, 10}, "step is ignored"
    assert all(0.0001 <= s.params["lr"] <= 0.1 for s in items)
    assert sum(s.params["lr"] < 0.01 for s in items) < 15, "logUniform is ignored: uniform"
    assert {s.params["act"] for s in items} <= {"relu", "elu", "gelu"}


def test_hyperband_stalls_when_a_rung_trial_fails():
    _, engine = engine_for("hyperband")
    first = engine.suggest([], 9).items
    history = [TrialRecord(i + 1, f"t{i}", s.params, TrialState.SUCCEEDED if i else TrialState.FAILED,
                           objective=None if i == 0 else float(i), engine_attrs=s.attrs)
               for i, s in enumerate(first)]
    answer = engine.suggest(history, 1)
    assert answer.exhausted and "t0 did not succeed" in answer.stalled


def drive(engine, parallel: int, max_trials: int | None) -> tuple[list[TrialRecord], str]:
    """Katib's controller against the engine: request min(parallel, max - finished) - running
    whenever a slot is free; trials finish one at a time, oldest first."""
    history: list[TrialRecord] = []
    for _ in range(10_000):
        finished = [t for t in history if t.state.finished]
        if max_trials is not None and len(finished) >= max_trials:
            return history, ""
        running = len(history) - len(finished)
        room = (parallel if max_trials is None else min(parallel, max_trials - len(finished))) - running
        answer = engine.suggest(history, room) if room > 0 else None
        if answer is not None and answer.items:
            for s in answer.items:
                history.append(TrialRecord(len(history) + 1, f"t{len(history) + 1}", s.params, TrialState.RUNNING, engine_attrs=s.attrs))
            continue
        if answer is not None and answer.exhausted:
            return history, answer.stalled
        oldest = next(t for t in history if not t.state.finished)
        value = loss(oldest.params) + oldest.params["epochs"] / 1000
        history[oldest.index - 1] = TrialRecord(oldest.index, oldest.name, oldest.params, TrialState.SUCCEEDED,
                                                {"loss": (value,)}, value, engine_attrs=oldest.engine_attrs)
    raise AssertionError("the exchange did not settle")


@pytest.mark.parametrize("r_l", [2, 3, 5, 9, 10, 25, 27, 30])
@pytest.mark.parametrize("eta", [2, 3, 4])
def test_hyperband_engine_follows_katibs_exchange(r_l, eta):
    settings = {"r_l": r_l, "eta": eta, "resource_name": "epochs"}
    space = [*SPACE[:3], {"name": "epochs", "parameterType": "int", "feasibleSpace": {"min": "1", "max": str(r_l)}}]
    least = hb.min_parallel(r_l, eta)
    for parallel, max_trials in [(least, least), (least, least + 1), (least, least + 4), (least + 1, None)]:
        _, engine = engine_for("hyperband", space=space, settings=settings, max_trials=max_trials, parallel=parallel)
        history, stalled = drive(engine, parallel, max_trials)
        played = hb.exchange({k: str(v) for k, v in settings.items()}, parallel, max_trials)
        rungs = [(t.engine_attrs["hyperband"]["bracket"], t.engine_attrs["hyperband"]["rung"], t.params["epochs"]) for t in history]
        expected = [(r.bracket, r.rung, r.resource) for r in played.rungs for _ in range(r.size)]
        assert rungs == expected, (parallel, max_trials)
        assert (stalled == "") == played.completes, (parallel, max_trials, stalled)


def test_the_budget_rule_completes_on_katib():
    for r_l in range(2, 100):
        for eta in (2, 3, 4, 5):
            parallel, max_trials = hb.budget(r_l, eta, 2)
            assert parallel >= hb.min_parallel(r_l, eta)
            played = hb.exchange({"r_l": str(r_l), "eta": str(eta), "resource_name": "e"}, parallel, max_trials)
            assert played.completes and played.trials == max_trials
            assert not hb.exchange({"r_l": str(r_l), "eta": str(eta), "resource_name": "e"},
                                   parallel, max_trials + 1).completes


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


@pytest.mark.parametrize("algorithm", ["cmaes", "sobol"])
def test_goptuna_algorithms_sample_log_uniform_ranges_uniformly(algorithm):
    """goptuna has no log scale (converter.go): lr in 1e-4..0.1 falls below 10**-2.5 about 3% of
    the time, not half of it; multivariate-tpe (optuna) keeps the log scale."""
    experiment, engine = engine_for(algorithm)
    assert engine.space["lr"].log is False
    assert engine.warnings[-1].startswith(f"{algorithm}: Katib's goptuna service ignores the distribution of "
                                          "lr (logUniform) and samples uniformly")
    assert engine_for("multivariate-tpe")[1].space["lr"].log is True
    history = simulate(engine, rounds=16, batch=4)
    below = sum(t.params["lr"] < 10 ** -2.5 for t in history) / len(history)
    assert len(history) == 64 and below < 0.2
