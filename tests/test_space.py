"""Search-space files: the shipped spaces load, and each mistake gives one clear ManifestError
naming the field path."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from latticenas.errors import ManifestError
from latticenas.space import (
    Algorithm,
    Distribution,
    ObjectiveType,
    ParameterType,
    format_value,
    load_space,
    parse_space,
)

REPO = Path(__file__).resolve().parents[1]
AMES = REPO / "search_spaces" / "ames.yaml"
AMES_GRID = REPO / "search_spaces" / "ames-grid.yaml"


def ames() -> dict[str, Any]:
    return copy.deepcopy(yaml.safe_load(AMES.read_text(encoding="utf-8")))


def test_shipped_space() -> None:
    space = load_space(AMES)
    assert space.name == "ames" and space.source == str(AMES)
    assert (space.objective.metric, space.objective.type) == ("val-rmse", ObjectiveType.MINIMIZE)
    assert space.budget.max_trials == 8 and space.budget.parallel_trials == 2
    assert [c.algorithm for c in space.algorithms] == [
        Algorithm.RANDOM, Algorithm.BAYESIAN_OPTIMIZATION, Algorithm.TPE, Algorithm.MULTIVARIATE_TPE,
        Algorithm.CMAES, Algorithm.SOBOL, Algorithm.HYPERBAND]
    learning_rate = space.parameter("learning_rate")
    assert learning_rate.type is ParameterType.DOUBLE
    assert learning_rate.distribution is Distribution.LOG_UNIFORM
    assert space.parameter("batch_size").values == (32, 64, 128)
    assert space.fixed_dict["drop_columns"] == ("Order", "PID")
    assert space.fixed_dict["epochs"] == 60
    # hyperband's r_l is capped at 25 (60 would need 27 parallel trials)
    assert space.algorithm("hyperband").settings_dict == {"resource_name": "epochs", "r_l": "25",
                                                          "eta": "3"}
    assert space.early_stopping.apply_to == (Algorithm.RANDOM,)
    assert space.experiment_name("bayesianoptimization") == "ames-bayesopt"
    # searched maximums only; minimums fixed
    assert not any(p.name.startswith("minimum_") for p in space.parameters)


def test_shipped_grid_space() -> None:
    space = load_space(AMES_GRID)
    assert [c.algorithm for c in space.algorithms] == [Algorithm.GRID]
    assert space.budget.max_trials == 8  # the whole 2 x 2 x 2 grid


def test_defaults() -> None:
    data = ames()
    for key in ("algorithms", "early_stopping", "resources", "output_root"):
        del data[key]
    del data["budget"]["max_failed_trials"]
    space = parse_space(data)
    assert Algorithm.GRID not in [c.algorithm for c in space.algorithms]
    assert len(space.algorithms) == len(Algorithm) - 1
    assert space.budget.max_failed_trials == space.budget.max_trials
    assert space.output_root == "/tmp/latticenas"
    assert space.resources.as_dict() == {"requests": {"cpu": "1", "memory": "2Gi"},
                                         "limits": {"memory": "4Gi"}}


def test_algorithms_as_list() -> None:
    data = ames()
    data["algorithms"] = ["random", "tpe"]
    data["early_stopping"]["apply_to"] = ["tpe"]
    space = parse_space(data)
    assert [c.algorithm for c in space.algorithms] == [Algorithm.RANDOM, Algorithm.TPE]
    assert space.algorithm("random").settings == ()


def test_format_value() -> None:
    assert [format_value(v) for v in (25, 25.0, 0.0003, 1e-05, "relu")] == [
        "25", "25", "0.0003", "1e-05", "relu"]


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def mutate(data: dict) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict], None]:
    def mutate(data: dict) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


def _params(**entries: Any) -> Callable[[dict], None]:
    def mutate(data: dict) -> None:
        data["parameters"].update(entries)

    return mutate


def _only(*algorithms: str) -> Callable[[dict], None]:
    def mutate(data: dict) -> None:
        data["algorithms"] = {a: {} for a in algorithms}
        data.pop("early_stopping", None)

    return mutate


def _chain(*mutations: Callable[[dict], None]) -> Callable[[dict], None]:
    def mutate(data: dict) -> None:
        for mutation in mutations:
            mutation(data)

    return mutate


# (id, mutation, expected field path, message substring)
ERRORS: list[tuple[str, Callable[[dict], None], str, str]] = [
    ("bad-type", _params(maximum_levels={"type": "integer", "min": 1, "max": 4}),
     "parameters.maximum_levels.type", "did you mean 'int'"),
    ("min-above-max", _params(maximum_levels={"type": "int", "min": 5, "max": 4}),
     "parameters.maximum_levels.min", "min 5 is greater than max 4"),
    ("unknown-parameter", _params(maximum_level={"type": "int", "min": 1, "max": 4}),
     "parameters.maximum_level", "did you mean 'maximum_levels'"),
    ("log-uniform-zero", _params(learning_rate={"type": "double", "min": 0, "max": 0.01,
                                                "distribution": "logUniform"}),
     "parameters.learning_rate.min", "logUniform needs min > 0"),
    ("log-uniform-negative", _params(learning_rate={"type": "double", "min": -1, "max": 0.01,
                                                    "distribution": "logUniform"}),
     "parameters.learning_rate.min", "logUniform needs min > 0"),
    ("distribution-unknown", _params(learning_rate={"type": "double", "min": 0.001, "max": 0.01,
                                                    "distribution": "loguniform"}),
     "parameters.learning_rate.distribution", "did you mean 'logUniform'"),
    ("int-not-whole", _params(maximum_levels={"type": "int", "min": 1.5, "max": 4}),
     "parameters.maximum_levels.min", "not a whole number"),
    ("double-for-int-field", _params(maximum_levels={"type": "double", "min": 1, "max": 4}),
     "parameters.maximum_levels.type", "use type: int"),
    ("number-as-text", _params(p_lateral_connection={"type": "double", "min": "0.1", "max": 0.5}),
     "parameters.p_lateral_connection.min", "not a number"),
    ("step-zero", _params(maximum_neurons_per_unit={"type": "int", "min": 8, "max": 64, "step": 0}),
     "parameters.maximum_neurons_per_unit.step", "must be > 0"),
    ("values-on-int", _params(maximum_levels={"type": "int", "min": 1, "max": 4, "values": [1]}),
     "parameters.maximum_levels.values", "not allowed for int"),
    ("categorical-empty", _params(activation={"type": "categorical", "values": []}),
     "parameters.activation.values", "non-empty list"),
    ("categorical-unknown-choice", _params(activation={"type": "categorical", "values": ["relux"]}),
     "parameters.activation.values[0]", "did you mean 'relu'"),
    ("categorical-duplicate", _params(activation={"type": "categorical", "values": ["relu", "relu"]}),
     "parameters.activation.values[1]", "listed twice"),
    ("discrete-text", _params(batch_size={"type": "discrete", "values": [32, "big"]}),
     "parameters.batch_size.values[1]", "not a number"),
    ("discrete-fraction-for-int", _params(batch_size={"type": "discrete", "values": [32, 64.5]}),
     "parameters.batch_size.values[1]", "not a whole number"),
    ("min-and-max-searched", _chain(_delete("fixed.minimum_levels"),
                                    _params(minimum_levels={"type": "int", "min": 1, "max": 3})),
     "parameters.minimum_levels", "both searched"),
    ("max-below-fixed-min", _params(maximum_neurons_per_unit={"type": "int", "min": 2, "max": 64}),
     "parameters.maximum_neurons_per_unit", "would be rejected by the trial"),
    ("value-out-of-range", _params(p_lateral_connection={"type": "double", "min": 0.1, "max": 1.5}),
     "parameters.p_lateral_connection", "outside [0, 1]"),
    ("searched-and-fixed", _params(epochs={"type": "int", "min": 5, "max": 30}),
     "fixed.epochs", "also searched"),
    ("parameters-empty", _set("parameters", {}), "parameters", "is empty"),
    ("objective-unknown", _set("objective.metric", "rmse"), "objective.metric",
     "did you mean 'val-rmse'"),
    ("objective-direction", _chain(_set("objective.metric", "val-r2"),
                                   _set("additional_metrics", ["val-rmse"])),
     "objective.type", "set type: maximize"),
    ("objective-type", _set("objective.type", "min"), "objective.type", "minimize or maximize"),
    ("metric-for-other-task", _chain(_set("objective.metric", "val-accuracy"),
                                     _set("objective.type", "maximize")),
     "objective.metric", "fixed.task is regression"),
    ("additional-is-objective", _set("additional_metrics", ["val-rmse"]), "additional_metrics[0]",
     "is the objective metric"),
    ("additional-unknown", _set("additional_metrics", ["val-rmse2"]), "additional_metrics[0]",
     "not printed by the trial"),
    ("parallel-above-max", _set("budget.parallel_trials", 9), "budget.parallel_trials",
     "exceeds max_trials 8"),
    ("max-trials-zero", _set("budget.max_trials", 0), "budget.max_trials", "must be >= 1"),
    ("failed-above-max", _set("budget.max_failed_trials", 9), "budget.max_failed_trials",
     "exceeds max_trials"),
    ("unknown-top-key", lambda d: d.update(paramters={}), "paramters", "did you mean 'parameters'"),
    ("name-pattern", _set("name", "Ames_1"), "name", "lower case"),
    ("name-too-long", _set("name", "a" * 24), "name", "use at most 23"),
    ("missing-target", _delete("fixed.target"), "fixed.target", "is missing"),
    ("reserved-output-dir", _set("fixed.output_dir", "/tmp/x"), "fixed.output_dir", "output_root"),
    ("unknown-fixed", _set("fixed.epoch", 3), "fixed.epoch", "did you mean 'epochs'"),
    ("not-shell-safe", _set("fixed.target", "sale price"), "fixed.target", "sh -c"),
    ("fixed-null", _set("fixed.seed", None), "fixed.seed", "omit the key"),
    ("fixed-rejected-by-trial", _set("fixed.patience", -1), "fixed", "patience=-1"),
    ("task-unknown", _set("fixed.task", "classification"), "fixed.task", "not a task"),
    ("quantity", _set("resources.limits.memory", "4 GB"), "resources.limits.memory",
     "not a Kubernetes quantity"),
    ("request-above-limit", _set("resources.requests.memory", "8Gi"),
     "resources.requests.memory", "exceeds the limit 4Gi"),
    ("unknown-resource", _set("resources.limits.gpu", "1"), "resources.limits.gpu", "unknown field"),
    ("output-root-relative", _set("output_root", "runs"), "output_root", "absolute path"),
    ("algorithm-unknown", _set("algorithms", {"bayesian": {}}), "algorithms.bayesian",
     "did you mean 'bayesianoptimization'"),
    ("algorithm-setting-value", _set("algorithms.bayesianoptimization.base_estimator", "XGB"),
     "algorithms.bayesianoptimization.base_estimator", "must be one of GP, RF, ET, GBRT"),
    ("algorithm-setting-unknown", _set("algorithms.random.seed", 1), "algorithms.random.seed",
     "unknown setting for random"),
    ("grid-no-step", _only("grid"), "parameters.p_lateral_connection.step", "grid needs a step"),
    ("grid-too-many-trials", lambda d: (d.update(parameters={
        "maximum_levels": {"type": "int", "min": 1, "max": 2}}), _only("grid")(d)),
     "budget.max_trials", "exceeds the 2 grid points"),
    ("cmaes-one-numeric", lambda d: (d.update(parameters={
        "maximum_levels": {"type": "int", "min": 1, "max": 4},
        "activation": {"type": "categorical", "values": ["relu", "gelu"]}}), _only("cmaes")(d)),
     "algorithms.cmaes", "at least two int or double parameters"),
    ("bayesopt-double-min-zero", _params(p_lateral_connection={"type": "double", "min": 0,
                                                               "max": 0.5}),
     "parameters.p_lateral_connection.min", "log scale"),
    ("hyperband-resource-searched", _chain(_delete("fixed.epochs"),
                                           _params(epochs={"type": "int", "min": 5, "max": 30})),
     "algorithms.hyperband.resource_name", "move it to fixed"),
    ("hyperband-r-l-below-eta", _set("algorithms.hyperband", {"r_l": 2, "eta": 3}),
     "algorithms.hyperband.r_l", "single rung"),
    ("hyperband-discrete-fraction", _params(learning_rate={"type": "discrete",
                                                           "values": [0.001, 0.003]}),
     "parameters.learning_rate.values", "hyperband reads discrete values as integers"),
    ("early-stopping-setting", _set("early_stopping.settings.start_step", 0),
     "early_stopping.settings.start_step", "must be >= 1"),
    ("early-stopping-not-generated", _set("early_stopping.apply_to", ["grid"]),
     "early_stopping.apply_to[0]", "not generated from this file"),
]


def test_error_corpus_is_large() -> None:
    assert len(ERRORS) >= 20 and len({e[0] for e in ERRORS}) == len(ERRORS)


@pytest.mark.parametrize(("mutate", "path", "text"), [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_space_errors(mutate: Callable[[dict], None], path: str, text: str) -> None:
    data = ames()
    mutate(data)
    with pytest.raises(ManifestError) as caught:
        parse_space(data, source="my.yaml")
    message = str(caught.value)
    assert message.startswith(f"my.yaml: {path}: "), message
    assert text in message
    assert "\n" not in message  # one line


def test_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    data = ames()
    data["parameters"]["learning_rate"]["min"] = 0
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ManifestError, match=re.escape(f"{path}: parameters.learning_rate.min: ")):
        load_space(path)


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    text = AMES.read_text(encoding="utf-8").replace(
        "  maximum_levels: {type: int, min: 1, max: 4}\n",
        "  maximum_levels: {type: int, min: 1, max: 4}\n  maximum_levels: {type: int, min: 1, max: 2}\n")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError, match="duplicate key 'maximum_levels'"):
        load_space(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such search-space file"):
        load_space(tmp_path / "nope.yaml")


def test_empty_and_multi_document_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="expected one YAML document, found 0"):
        load_space(empty)
    with pytest.raises(ManifestError, match="<file>: must be a mapping"):
        parse_space(["not", "a", "mapping"])


def test_space_is_frozen() -> None:
    space = load_space(AMES)
    with pytest.raises(AttributeError):
        space.name = "other"  # type: ignore[misc]
    assert load_space(AMES) == space
