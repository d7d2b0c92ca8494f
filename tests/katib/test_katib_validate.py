"""validate_experiment: the committed manifests are clean, and each broken variant of them
fails with the right path and message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from latticenas.errors import ManifestError
from latticenas.katib.validate import (
    Issue,
    grid_combinations,
    hyperband_plan,
    check_experiment,
    validate_documents,
    validate_experiment,
    validate_file,
)
from latticenas.katib.rules import Severity

REPO = Path(__file__).resolve().parents[2]
POD = ("spec", "trialTemplate", "trialSpec", "spec", "template", "spec")


def pod(exp: dict[str, Any]) -> dict[str, Any]:
    node = exp
    for key in POD:
        node = node[key]
    return node


def container(exp: dict[str, Any]) -> dict[str, Any]:
    return pod(exp)["containers"][0]


def param(exp: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in exp["spec"]["parameters"] if p["name"] == name)


def param_index(exp: dict[str, Any], name: str) -> int:
    return [p["name"] for p in exp["spec"]["parameters"]].index(name)


def setting(exp: dict[str, Any], name: str, value: str | None, where: str = "algorithm") -> None:
    settings = exp["spec"][where].setdefault("algorithmSettings", [])
    settings[:] = [s for s in settings if s["name"] != name]
    if value is not None:
        settings.append({"name": name, "value": value})


def _set(path: tuple, value: Any) -> Callable[[dict], None]:
    def mutate(exp: dict) -> None:
        node = exp
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _delete(path: tuple) -> Callable[[dict], None]:
    def mutate(exp: dict) -> None:
        node = exp
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return mutate


def _unused_trial_parameter(exp: dict) -> None:
    exp["spec"]["trialTemplate"]["trialParameters"].append(
        {"name": "unused", "description": "x", "reference": "seed"})
    exp["spec"]["parameters"].append(
        {"name": "seed", "parameterType": "int", "feasibleSpace": {"min": "0", "max": "9"}})


def _undeclared_placeholder(exp: dict) -> None:
    container(exp)["command"].append("--seed=${trialParameters.seed}")


def _unknown_reference(exp: dict) -> None:
    exp["spec"]["trialTemplate"]["trialParameters"][0]["reference"] = "maximum_level"


def _duplicate_reference(exp: dict) -> None:
    exp["spec"]["trialTemplate"]["trialParameters"][1]["reference"] = "maximum_levels"


def _duplicate_parameter(exp: dict) -> None:
    exp["spec"]["parameters"].append(dict(exp["spec"]["parameters"][0]))


def _categorical_with_space(exp: dict) -> None:
    param(exp, "activation")["feasibleSpace"]["list"].append("leaky relu")


def _cmaes_single_numeric(exp: dict) -> None:
    exp["spec"]["parameters"] = [p for p in exp["spec"]["parameters"]
                                 if p["parameterType"] not in ("int", "double")
                                 or p["name"] == "learning_rate"]
    kept = {p["name"] for p in exp["spec"]["parameters"]}
    template = exp["spec"]["trialTemplate"]
    template["trialParameters"] = [t for t in template["trialParameters"]
                                   if t["reference"] in kept or t["name"] == "trialName"]
    container(exp)["command"] = [w for w in container(exp)["command"]
                                 if "${trialParameters." not in w
                                 or any(f"{{trialParameters.{n}}}" in w for n in (*kept, "trialName"))]


def _custom_collector_relative(exp: dict) -> None:
    exp["spec"]["metricsCollectorSpec"] = {
        "collector": {"kind": "Custom", "customCollector": {"name": "collector", "image": "c:1"}},
        "source": {"fileSystemPath": {"path": "metrics/out.log", "kind": "File"}},
    }


def _pbt(exp: dict, **settings: str | None) -> None:
    exp["spec"]["algorithm"] = {"algorithmName": "pbt", "algorithmSettings": []}
    defaults = {"suggestion_trial_dir": "/var/log/katib/checkpoints/", "n_population": "40",
                "truncation_threshold": "0.2"}
    for name, value in {**defaults, **settings}.items():
        setting(exp, name, value)
    exp["spec"].pop("earlyStopping", None)


def _as_script(exp: dict, tail: str) -> None:
    """The command as one ``sh -c`` script (what Katib keeps as it is), plus ``tail``."""
    words = container(exp)["command"]
    container(exp)["command"] = ["sh", "-c", " ".join(words) + tail]


def _quoted_value_with_quote(exp: dict) -> None:
    command = container(exp)["command"]
    at = next(i for i, w in enumerate(command) if w.startswith("--activation="))
    command[at] = '--activation="${trialParameters.activation}"'
    param(exp, "activation")["feasibleSpace"]["list"].append('say "hi"')


def _grid_double_without_step(exp: dict) -> None:
    p = param(exp, "learning_rate")
    p["parameterType"] = "double"
    p["feasibleSpace"] = {"min": "0.001", "max": "0.003"}


# (id, algorithm of the committed manifest, mutation, expected issue path, message substring)
CASES: list[tuple[str, str, Callable[[dict], None], str, str]] = [
    ("api-version", "random", _set(("apiVersion",), "kubeflow.org/v1"), "apiVersion",
     "kubeflow.org/v1beta1"),
    ("name-case", "random", _set(("metadata", "name"), "Ames_Random"), "metadata.name",
     "lower case letters"),
    ("name-length", "random", _set(("metadata", "name"), "a" * 41), "metadata.name",
     "at most 40"),
    ("max-trials-zero", "random", _set(("spec", "maxTrialCount"), 0), "spec.maxTrialCount",
     "greater than 0"),
    ("parallel-zero", "random", _set(("spec", "parallelTrialCount"), 0),
     "spec.parallelTrialCount", "greater than 0"),
    ("parallel-above-max", "random", _set(("spec", "parallelTrialCount"), 9),
     "spec.parallelTrialCount", "exceeds spec.maxTrialCount"),
    ("failed-above-max", "random", _set(("spec", "maxFailedTrialCount"), 9),
     "spec.maxFailedTrialCount", "exceeds spec.maxTrialCount"),
    ("failed-negative", "random", _set(("spec", "maxFailedTrialCount"), -1),
     "spec.maxFailedTrialCount", "must not be negative"),
    ("parallel-default-above-max", "random",
     lambda e: (e["spec"].pop("parallelTrialCount"), e["spec"].update(maxTrialCount=2)),
     "spec.parallelTrialCount", "defaults it to 3"),
    ("count-not-integer", "random", _set(("spec", "maxTrialCount"), "8"), "spec.maxTrialCount",
     "whole number"),
    ("objective-type", "random", _set(("spec", "objective", "type"), "minimise"),
     "spec.objective.type", "minimize or maximize"),
    ("objective-metric-missing", "random", _delete(("spec", "objective", "objectiveMetricName")),
     "spec.objective.objectiveMetricName", "is missing"),
    ("objective-in-additional", "random",
     lambda e: e["spec"]["objective"]["additionalMetricNames"].append("val-rmse"),
     "spec.objective.additionalMetricNames", "contains the objective metric"),
    ("algorithm-unknown", "random", _set(("spec", "algorithm", "algorithmName"), "bayesian"),
     "spec.algorithm.algorithmName", "not an algorithm Katib installs"),
    ("early-stopping-unknown", "random",
     _set(("spec", "earlyStopping", "algorithmName"), "median"),
     "spec.earlyStopping.algorithmName", "medianstop"),
    ("medianstop-start-step", "random",
     lambda e: setting(e, "start_step", "0", "earlyStopping"),
     "spec.earlyStopping.algorithmSettings[1]", "start_step='0' must be >= 1"),
    ("random-unknown-setting", "random", lambda e: setting(e, "n_startup_trials", "3"),
     "spec.algorithm.algorithmSettings[1]", "unknown setting for random"),
    ("bayesopt-estimator", "bayesianoptimization", lambda e: setting(e, "base_estimator", "XGB"),
     "spec.algorithm.algorithmSettings[3]", "must be one of GP, RF, ET, GBRT"),
    ("tpe-gamma", "tpe", lambda e: setting(e, "gamma", "1.5"),
     "spec.algorithm.algorithmSettings[1]", "(0, 1)"),
    ("cmaes-restart", "cmaes", lambda e: setting(e, "restart_strategy", "None"),
     "spec.algorithm.algorithmSettings[1]", "ipop, bipop, none"),
    ("resume-policy", "random", _set(("spec", "resumePolicy"), "Always"), "spec.resumePolicy",
     "not a resume policy"),
    ("parameters-empty", "random", _set(("spec", "parameters"), []), "spec.parameters",
     "is empty"),
    ("parameter-duplicate", "random", _duplicate_parameter, "spec.parameters[8].name",
     "must be unique"),
    ("parameter-type", "random", lambda e: param(e, "maximum_levels").update(parameterType="integer"),
     "spec.parameters[0].parameterType", "did you mean 'int'"),
    ("int-min-above-max", "random",
     lambda e: param(e, "maximum_levels")["feasibleSpace"].update(min="5"),
     "spec.parameters[0].feasibleSpace.min", "greater than max"),
    ("int-not-whole", "random",
     lambda e: param(e, "maximum_levels")["feasibleSpace"].update(max="4.5"),
     "spec.parameters[0].feasibleSpace.max", "not a whole number"),
    ("log-uniform-min-zero", "random",
     lambda e: param(e, "learning_rate")["feasibleSpace"].update(min="0"),
     "spec.parameters[4].feasibleSpace.min", "logUniform needs min > 0"),
    ("step-zero", "random",
     lambda e: param(e, "maximum_neurons_per_unit")["feasibleSpace"].update(step="0"),
     "spec.parameters[2].feasibleSpace.step", "> 0"),
    ("distribution-unknown", "random",
     lambda e: param(e, "p_lateral_connection")["feasibleSpace"].update(distribution="gaussian"),
     "spec.parameters[3].feasibleSpace.distribution", "not supported"),
    ("double-missing-max", "random",
     lambda e: param(e, "p_lateral_connection")["feasibleSpace"].pop("max"),
     "spec.parameters[3].feasibleSpace.max", "need both feasibleSpace.min and feasibleSpace.max"),
    ("categorical-empty", "random",
     lambda e: param(e, "activation")["feasibleSpace"].update(list=[]),
     "spec.parameters[5].feasibleSpace.list", "add a non-empty list"),
    ("categorical-with-min", "random",
     lambda e: param(e, "activation")["feasibleSpace"].update(min="1"),
     "spec.parameters[5].feasibleSpace.min", "not allowed for categorical"),
    ("discrete-not-number", "random",
     lambda e: param(e, "batch_size")["feasibleSpace"]["list"].append("big"),
     "spec.parameters[6].feasibleSpace.list[3]", "not a number"),
    ("unquoted-number", "random",
     lambda e: param(e, "p_lateral_connection")["feasibleSpace"].update(min=0.05),
     "spec.parameters[3].feasibleSpace.min", "must be a string"),
    ("primary-container-missing", "random",
     _delete(("spec", "trialTemplate", "primaryContainerName")),
     "spec.trialTemplate.primaryContainerName", "is missing"),
    ("primary-container-wrong", "random",
     _set(("spec", "trialTemplate", "primaryContainerName"), "main"),
     "spec.trialTemplate.primaryContainerName", "not a container of the trial Job"),
    ("trial-parameter-unused", "random", _unused_trial_parameter,
     "spec.trialTemplate.trialParameters[9].name", "is not used in the trialSpec"),
    ("placeholder-undeclared", "random", _undeclared_placeholder, "spec.trialTemplate.trialSpec",
     "${trialParameters.seed} is used but not declared"),
    ("reference-unknown", "random", _unknown_reference,
     "spec.trialTemplate.trialParameters[0].reference", "did you mean 'maximum_levels'"),
    ("reference-duplicate", "random", _duplicate_reference,
     "spec.trialTemplate.trialParameters[1].reference", "references must be unique"),
    ("trial-parameter-braces", "random",
     lambda e: e["spec"]["trialTemplate"]["trialParameters"][0].update(name="x{y}"),
     "spec.trialTemplate.trialParameters[0]", "must not contain '{' or '}'"),
    ("trial-spec-name", "random",
     lambda e: e["spec"]["trialTemplate"]["trialSpec"].update(metadata={"name": "job"}),
     "spec.trialTemplate.trialSpec.metadata.name", "must be omitted"),
    ("restart-policy", "random", lambda e: pod(e).update(restartPolicy="Always"),
     "spec.trialTemplate.trialSpec.spec.template.spec.restartPolicy", "Never or OnFailure"),
    ("job-unknown-field", "random", lambda e: container(e).update(imagePullPolice="Always"),
     "spec.trialTemplate.trialSpec.spec.template.spec.containers[0]", "Job schema rejects"),
    ("job-wrong-type", "random", lambda e: e["spec"]["trialTemplate"]["trialSpec"]["spec"]
     .update(backoffLimit="none"),
     "spec.trialTemplate.trialSpec.spec.backoffLimit", "Job schema rejects"),
    ("command-not-shell-safe", "random",
     lambda e: container(e)["command"].append("--target=sale price"),
     "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].command[23]",
     "not shell-safe"),
    ("categorical-not-shell-safe", "random", _categorical_with_space,
     "spec.parameters[5].feasibleSpace.list[4]", "not shell-safe"),
    ("collector-kind", "random",
     _set(("spec", "metricsCollectorSpec", "collector", "kind"), "Stdout"),
     "spec.metricsCollectorSpec.collector.kind", "did you mean 'StdOut'"),
    ("file-collector-relative", "random",
     lambda e: e["spec"]["metricsCollectorSpec"].update(
         collector={"kind": "File"},
         source={"fileSystemPath": {"path": "metrics.log", "kind": "File", "format": "TEXT"}}),
     "spec.metricsCollectorSpec.source.fileSystemPath.path", "absolute file path"),
    ("filter-one-group", "random",
     _set(("spec", "metricsCollectorSpec", "source", "filter", "metricsFormat"), [r"(\w+)=\d+"]),
     "spec.metricsCollectorSpec.source.filter.metricsFormat[0]", "two top subexpressions"),
    ("filter-invalid", "random",
     _set(("spec", "metricsCollectorSpec", "source", "filter", "metricsFormat"), ["(["]),
     "spec.metricsCollectorSpec.source.filter.metricsFormat[0]", "invalid filter"),
    ("cmaes-one-numeric", "cmaes", _cmaes_single_numeric, "spec.parameters",
     "at least two int or double parameters"),
    ("bayesopt-double-min-zero", "bayesianoptimization",
     lambda e: param(e, "p_lateral_connection")["feasibleSpace"].update(min="0"),
     "spec.parameters[3].feasibleSpace.min", "log scale"),
    ("optuna-normal", "multivariate-tpe",
     lambda e: param(e, "p_lateral_connection")["feasibleSpace"].update(distribution="normal"),
     "spec.parameters[3].feasibleSpace.distribution", "Optuna"),
    ("grid-double-no-step", "grid", _grid_double_without_step,
     "spec.parameters[1].feasibleSpace.step", "grid needs a step"),
    ("grid-too-many-trials", "grid", lambda e: e["spec"].update(maxTrialCount=9),
     "spec.maxTrialCount", "exceeds the 8 grid points"),
    ("hyperband-parallel", "hyperband", lambda e: e["spec"].update(parallelTrialCount=2),
     "spec.parallelTrialCount", "needs parallelTrialCount >= 9"),
    ("hyperband-resource-unknown", "hyperband", lambda e: setting(e, "resource_name", "epoch"),
     "spec.algorithm.algorithmSettings[2]", "did you mean 'epochs'"),
    ("hyperband-no-r-l", "hyperband", lambda e: setting(e, "r_l", None),
     "spec.algorithm.algorithmSettings", "needs the r_l setting"),
    ("hyperband-eta-one", "hyperband", lambda e: setting(e, "eta", "1"),
     "spec.algorithm.algorithmSettings[2]", "whole number >= 2"),
    ("hyperband-discrete-float", "hyperband",
     lambda e: param(e, "batch_size")["feasibleSpace"]["list"].append("0.5"),
     "spec.parameters[6].feasibleSpace.list", "reads discrete values as integers"),
    ("hyperband-r-l-below-one", "hyperband", lambda e: setting(e, "r_l", "0.5"),
     "spec.algorithm.algorithmSettings[2]", "must be >= 1"),
    ("filter-semicolon", "random",
     _set(("spec", "metricsCollectorSpec", "source", "filter", "metricsFormat"),
          [r"([\w-]+)\s*[=;]\s*(\d+)"]),
     "spec.metricsCollectorSpec.source.filter.metricsFormat[0]", "contains ';'"),
    ("filter-look-ahead", "random",
     _set(("spec", "metricsCollectorSpec", "source", "filter", "metricsFormat"),
          [r"(?=v)([\w-]+)=(\d+)"]),
     "spec.metricsCollectorSpec.source.filter.metricsFormat[0]", "invalid filter"),
    ("custom-collector-relative-path", "random", _custom_collector_relative,
     "spec.metricsCollectorSpec.source.fileSystemPath", "absolute path"),
    ("int-min-float-optuna", "multivariate-tpe",
     lambda e: param(e, "maximum_levels")["feasibleSpace"].update(min="1.0"),
     "spec.parameters[0].feasibleSpace.min", "as Katib's Optuna service reads it"),
    ("int-min-float-goptuna", "sobol",
     lambda e: param(e, "maximum_levels")["feasibleSpace"].update(min="1.0"),
     "spec.parameters[0].feasibleSpace.min", "goptuna"),
    ("pbt-resample-probability", "random", lambda e: _pbt(e, resample_probability="0.5"),
     "spec.algorithm.algorithmSettings[3]", "compares its text with numbers"),
    ("pbt-population", "random", lambda e: _pbt(e, n_population="4"),
     "spec.algorithm.algorithmSettings[1]", "n_population='4' must be >= 5"),
    ("pbt-missing-setting", "random", lambda e: _pbt(e, truncation_threshold=None),
     "spec.algorithm.algorithmSettings", "needs the truncation_threshold setting"),
    ("pbt-double-without-step", "random", lambda e: _pbt(e),
     "spec.parameters[3].feasibleSpace.step", "pbt samples"),
    ("enas-unknown-setting", "random", _set(("spec", "algorithm", "algorithmName"), "enas"),
     "spec.algorithm.algorithmSettings[0]", "unknown setting for enas"),
    ("enas-needs-nas-config", "random", _set(("spec", "algorithm", "algorithmName"), "enas"),
     "spec.nasConfig", "needs nasConfig"),
    ("darts-epochs", "random",
     lambda e: (e["spec"]["algorithm"].update(algorithmName="darts"), setting(e, "num_epochs", "0")),
     "spec.algorithm.algorithmSettings[1]", "num_epochs='0' must be >= 1"),
    ("argument-quote-open", "random", lambda e: container(e)["command"].append('--target="price'),
     "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].command[23]",
     "leaves double quotes open"),
    ("script-quote-open", "random", lambda e: _as_script(e, " --seed='1"),
     "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].command[2]",
     "leaves single quotes open"),
    ("value-breaks-double-quotes", "random", _quoted_value_with_quote,
     "spec.parameters[5].feasibleSpace.list[4]", "lands in double quotes"),
]


# Katib admits these but ignores or changes something: a warning, never an error.
# (id, algorithm, mutation, expected warning path, message substring)
WARNING_CASES: list[tuple[str, str, Callable[[dict], None], str, str]] = [
    ("additional-duplicate", "random",
     lambda e: e["spec"]["objective"]["additionalMetricNames"].insert(1, "val-rmsle"),
     "spec.objective.additionalMetricNames[1]", "listed twice"),
    ("sobol-setting", "sobol", lambda e: setting(e, "random_state", "1"),
     "spec.algorithm.algorithmSettings[0]", "unknown setting for sobol"),
    ("unknown-spec-field", "random", lambda e: e["spec"].update(paralelTrialCount=2),
     "spec.paralelTrialCount", "did you mean 'parallelTrialCount'"),
    ("unknown-template-field", "random",
     lambda e: e["spec"]["trialTemplate"].update(primaryContainer="trial"),
     "spec.trialTemplate.primaryContainer", "unknown field"),
    ("filter-misses-lines", "random",
     _set(("spec", "metricsCollectorSpec", "source", "filter", "metricsFormat"),
          [r"([\w|-]+):\s*(\d+)"]),
     "spec.metricsCollectorSpec.source.filter.metricsFormat", "no filter reads the line"),
    ("cmaes-log-uniform", "cmaes",  # the generator writes uniform; a hand-written manifest may not
     lambda e: param(e, "learning_rate")["feasibleSpace"].update(distribution="logUniform"),
     "spec.parameters[4].feasibleSpace.distribution", "ignores logUniform"),
    ("optuna-log-min-zero", "multivariate-tpe",
     lambda e: param(e, "learning_rate")["feasibleSpace"].update(min="0"),
     "spec.parameters[4].feasibleSpace.min", "raises min to 1e-10"),
    ("hyperband-stall", "hyperband", lambda e: e["spec"].update(maxTrialCount=13),
     "spec.maxTrialCount", "set maxTrialCount: 10"),
    ("hyperband-without-max-trials", "hyperband", _delete(("spec", "maxTrialCount")),
     "spec.maxTrialCount", "would stall"),
    ("hyperband-early-stopping", "hyperband",
     lambda e: e["spec"].update(earlyStopping={"algorithmName": "medianstop"}),
     "spec.earlyStopping", "stalls the Experiment"),
    ("hyperband-eta-fraction", "hyperband", lambda e: setting(e, "eta", "3.5"),
     "spec.algorithm.algorithmSettings[2]", "computes with 3.5"),
    ("grid-without-max-trials", "grid", _delete(("spec", "maxTrialCount")),
     "spec.maxTrialCount", "never ends a grid Experiment"),
    ("setting-twice", "random", lambda e: e["spec"]["algorithm"]["algorithmSettings"].append(
        {"name": "random_state", "value": "7"}),
     "spec.algorithm.algorithmSettings[1].name", "given twice"),
    ("categorical-duplicate", "random",
     lambda e: param(e, "activation")["feasibleSpace"]["list"].append("relu"),
     "spec.parameters[5].feasibleSpace.list[4]", "listed twice"),
    ("metric-strategy-unknown", "random",
     lambda e: e["spec"]["objective"]["metricStrategies"].append({"name": "val-mse", "value": "min"}),
     "spec.objective.metricStrategies[10].name", "never uses it"),
    ("argument-expanded", "random", lambda e: container(e)["command"].append("--note=$HOME"),
     "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].command[23]", "expands"),
    ("script-several-commands", "random", lambda e: _as_script(e, "; echo done"),
     "spec.trialTemplate.trialSpec.spec.template.spec.containers[0].command[2]",
     "only its last command's output"),
    ("sobol-ignores-settings", "sobol", lambda e: setting(e, "n_startup_trials", "3"),
     "spec.algorithm.algorithmSettings[0]", "goptuna's sobol sampler takes no settings"),
]


@pytest.mark.parametrize("algorithm", ["random", "bayesianoptimization", "tpe",
                                       "multivariate-tpe", "cmaes", "sobol", "grid", "hyperband"])
def test_committed_experiments_are_clean(load: Callable[[str], dict], algorithm: str) -> None:
    assert validate_experiment(load(algorithm)) == []


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 20
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize(("algorithm", "mutate", "path", "text"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_broken_manifest_is_rejected(load: Callable[[str], dict], algorithm: str,
                                     mutate: Callable[[dict], None], path: str, text: str) -> None:
    exp = load(algorithm)
    mutate(exp)
    issues = validate_experiment(exp)
    assert issues, "the broken manifest passed"
    matching = [i for i in issues if i.path == path and text in i.message]
    assert matching, "\n".join(map(str, issues))
    for issue in issues:  # every message says how to fix it
        assert "; " in issue.message, issue


@pytest.mark.parametrize(("algorithm", "mutate", "path", "text"),
                         [case[1:] for case in WARNING_CASES], ids=[case[0] for case in WARNING_CASES])
def test_admitted_but_ignored_is_a_warning(load: Callable[[str], dict], algorithm: str,
                                           mutate: Callable[[dict], None], path: str, text: str) -> None:
    exp = load(algorithm)
    mutate(exp)
    assert validate_experiment(exp) == [], "Katib admits this, so it must not be an error"
    found = check_experiment(exp)
    matching = [i for i in found if i.path == path and text in i.message]
    assert matching and all(i.severity is Severity.WARNING for i in matching), "\n".join(map(str, found))
    for issue in found:
        assert "; " in issue.message, issue


def test_strict_turns_warnings_into_errors(tmp_path: Path, load: Callable[[str], dict]) -> None:
    exp = load("sobol")
    setting(exp, "n_startup_trials", "3")
    path = tmp_path / "sobol.yaml"
    path.write_text(yaml.safe_dump(exp), encoding="utf-8")
    (lenient,) = validate_file(path)
    assert lenient.ok and any("takes no settings" in w.message for w in lenient.warnings)
    (strict,) = validate_file(path, strict=True)
    assert not strict.ok and not strict.warnings
    assert {i.message for i in strict.issues} == {w.message for w in lenient.warnings}


def test_issue_formats_as_path_and_message() -> None:
    issue = Issue("spec.parallelTrialCount", "0 must be greater than 0; set it")
    assert str(issue) == "spec.parallelTrialCount: 0 must be greater than 0; set it"


def test_not_a_mapping() -> None:
    assert validate_experiment(["x"])[0].path == "<document>"


def test_missing_spec(experiment: dict) -> None:
    del experiment["spec"]
    assert any(i.path == "spec" for i in validate_experiment(experiment))


def test_hyperband_plan_is_what_a_katib_controller_completes() -> None:
    # r_l 25, eta 3: s_max = int(log 25 / log 3) = 2, so 3**2 parallel trials; a Katib
    # controller runs rung 0 (9 configurations, resource int(25 / 9) = 2) and accepts exactly one
    # promotion (the last trial of maxTrialCount): 10 trials.
    assert hyperband_plan(25, 3) == {"s_max": 2, "min_parallel": 9, "first_bracket_trials": 10,
                                     "first_rung_resource": 2}
    assert hyperband_plan(2, 2)["min_parallel"] == 2  # Katib's own hyperband example


def test_grid_combinations_follow_katib() -> None:
    params = [
        {"parameterType": "int", "feasibleSpace": {"min": "1", "max": "4"}},  # step 1: 4
        {"parameterType": "double", "feasibleSpace": {"min": "0", "max": "0.75", "step": "0.25"}},
        {"parameterType": "categorical", "feasibleSpace": {"list": ["a", "b"]}},
    ]
    assert grid_combinations(params) == 4 * 4 * 2
    # numpy.arange(0.1, 0.7, 0.2) ends at 0.5000000000000001 > 0.5, which Katib drops: 2 points
    params[1]["feasibleSpace"].update(min="0.1", max="0.5", step="0.2")
    assert grid_combinations(params) == 4 * 2 * 2
    params[1]["feasibleSpace"].pop("step")
    assert grid_combinations(params) is None


def test_validate_file_multi_document_stream(tmp_path: Path, load: Callable[[str], dict]) -> None:
    good, bad = load("random"), load("tpe")
    bad["spec"]["maxTrialCount"] = 0
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
    stream = tmp_path / "stream.yaml"
    stream.write_text(yaml.safe_dump_all([namespace, good, bad]), encoding="utf-8")
    results = validate_file(stream)
    assert [(r.name, r.ok) for r in results] == [("ames-random", True), ("ames-tpe", False)]
    assert results[1].issues[0].path == "spec.maxTrialCount"


def test_validate_file_without_experiment(tmp_path: Path) -> None:
    path = tmp_path / "ns.yaml"
    path.write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n", encoding="utf-8")
    (result,) = validate_file(path)
    assert not result.ok and "no kubeflow.org/v1beta1 Experiment" in result.issues[0].message


def test_validate_file_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("spec: [1, 2\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="not valid YAML"):
        validate_file(path)


def test_validate_file_duplicate_keys(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("kind: Experiment\nkind: Experiment\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="duplicate key 'kind'"):
        validate_file(path)


def test_validate_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file"):
        validate_file(tmp_path / "nope.yaml")


def test_validate_documents_skips_other_kinds(experiment: dict) -> None:
    results = validate_documents([{"kind": "Kustomization", "apiVersion": "x"}, experiment], "s")
    assert [r.name for r in results] == ["ames-random"]
