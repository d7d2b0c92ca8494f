"""The Experiment manifest as typed records: Katib's defaults, selection, refusals."""

from __future__ import annotations

import pytest
import yaml
from runner_helpers import experiment_manifest, write_manifest

from latticenas.errors import ManifestError
from latticenas.metrics import KATIB_DEFAULT_FILTER
from latticenas.runner.algorithms import create_engine
from latticenas.runner.experiment import (
    Distribution,
    MetricStrategy,
    ParameterType,
    load_experiment,
    parse_experiment,
)

SPACE = [
    {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.0001", "max": "0.1", "distribution": "logUniform"}},
    {"name": "rate", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.5", "step": "0.1"}},
    {"name": "units", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "11", "step": "3"}},
    {"name": "act", "parameterType": "categorical", "feasibleSpace": {"list": ["relu", "elu"]}},
    {"name": "drop", "parameterType": "discrete", "feasibleSpace": {"list": ["0.1", "0.25"]}},
    {"name": "layers", "parameterType": "discrete", "feasibleSpace": {"list": ["1", "2", "4"]}},
]


def test_parse_applies_katib_defaults():
    manifest = experiment_manifest(parameters=SPACE, max_trials=7)
    del manifest["spec"]["parallelTrialCount"]
    experiment = parse_experiment(manifest)
    assert experiment.name == "quad" and experiment.namespace == "kubeflow"
    assert experiment.budget.parallel == 3 and experiment.budget.max_trials == 7
    assert experiment.budget.max_failed is None
    assert experiment.metric_filters == (KATIB_DEFAULT_FILTER,)
    objective = experiment.objective
    assert objective.strategy("loss") is MetricStrategy.MIN
    assert objective.strategy("accuracy") is MetricStrategy.MIN  # Katib: same as the objective type
    assert parse_experiment(experiment_manifest(objective_type="maximize")).objective.strategy("loss") is MetricStrategy.MAX


def test_parse_parameters_and_formatting():
    params = {p.name: p for p in parse_experiment(experiment_manifest(parameters=SPACE)).parameters}
    assert params["lr"].distribution is Distribution.LOG_UNIFORM and params["lr"].is_log
    assert params["units"].type is ParameterType.INT and params["units"].high == 11
    assert params["rate"].high == 0.5 and params["rate"].written_max == 0.5
    assert params["units"].written_max == 11 and parse_experiment(experiment_manifest(parameters=[
        {"name": "u", "parameterType": "int", "feasibleSpace": {"min": "2", "max": "12", "step": "3"}},
    ])).parameters[0].written_max == 12  # Katib's services sample up to max as written
    assert params["drop"].choices == (0.1, 0.25) and params["layers"].choices == (1, 2, 4)
    assert params["drop"].format(0.25) == "0.25" and params["layers"].format(4) == "4"
    assert params["units"].format(5) == "5" and params["lr"].format(0.001) == "0.001"
    assert params["act"].format("elu") == "elu"


def test_metric_strategies_and_filters_are_read():
    manifest = experiment_manifest()
    manifest["spec"]["objective"]["metricStrategies"] = [{"name": "loss", "value": "latest"}]
    manifest["spec"]["metricsCollectorSpec"] = {
        "collector": {"kind": "StdOut"},
        "source": {"filter": {"metricsFormat": [r"(\w+):\s*([\d.]+)"]}},
    }
    experiment = parse_experiment(manifest)
    assert experiment.objective.strategy("loss") is MetricStrategy.LATEST
    assert experiment.metric_filters == (r"(\w+):\s*([\d.]+)",)


def test_trial_template_is_the_primary_container():
    experiment = parse_experiment(experiment_manifest())
    template = experiment.template
    assert template.command[2] == "--x=${trialParameters.x}"
    assert [p.reference for p in template.trial_parameters] == ["x", "y", "opt", "${trialSpec.Name}"]
    assert template.kind == "Job" and template.api_version == "batch/v1"


def test_load_picks_the_experiment_of_a_multi_document_file(tmp_path):
    path = tmp_path / "all.yaml"
    docs = [{"kind": "ConfigMap", "metadata": {"name": "c"}}, experiment_manifest("one"), experiment_manifest("two")]
    path.write_text(yaml.safe_dump_all(docs))
    assert load_experiment(path, "two").name == "two"
    with pytest.raises(ManifestError, match="--name"):
        load_experiment(path)
    with pytest.raises(ManifestError, match="no Experiment named 'three'"):
        load_experiment(path, "three")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("a: [unclosed", "not valid YAML"),
        ("kind: Pod\nmetadata: {name: p}\n", "no document of kind Experiment"),
    ],
)
def test_load_refuses_bad_files(tmp_path, content, message):
    path = tmp_path / "m.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ManifestError, match=message):
        load_experiment(path)


def test_unsupported_features_are_refused_with_the_field_path():
    for algorithm in ("multivariate-tpe", "grid"):  # Katib runs them on Optuna, which refuses normal
        manifest = experiment_manifest(algorithm=algorithm)
        manifest["spec"]["parameters"][0]["feasibleSpace"].update(distribution="normal", step="0.5")
        with pytest.raises(ManifestError, match=r"spec.parameters\[0\].feasibleSpace.distribution: normal "
                                                f"is not supported by {algorithm} .*Optuna"):
            create_engine(parse_experiment(manifest))
    manifest = experiment_manifest(algorithm="tpe")  # hyperopt takes normal
    manifest["spec"]["parameters"][0]["feasibleSpace"]["distribution"] = "normal"
    assert parse_experiment(manifest).parameters[0].distribution is Distribution.NORMAL
    manifest = experiment_manifest()
    manifest["spec"]["metricsCollectorSpec"] = {"collector": {"kind": "TensorFlowEvent"}}
    with pytest.raises(ManifestError, match="StdOut"):
        parse_experiment(manifest)
    manifest = experiment_manifest()
    manifest["spec"]["parameters"][1]["feasibleSpace"]["min"] = "many"
    with pytest.raises(ManifestError, match=r"spec.parameters\[1\].feasibleSpace.min: expected a number"):
        parse_experiment(manifest)


def test_invalid_manifest_is_refused_before_running(tmp_path):
    manifest = experiment_manifest()
    manifest["spec"]["algorithm"]["algorithmName"] = "no-such-algorithm"
    with pytest.raises(ManifestError):
        load_experiment(write_manifest(tmp_path, manifest))
