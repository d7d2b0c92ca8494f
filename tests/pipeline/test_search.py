"""The search step's library: the space pointed at the prepared data, the Experiment it runs,
accelerator placement, and the katib backend end to end against a recording API server and a
real Cloud Storage emulator."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from pipeline_helpers import REPO, TINY_SPACE

from latticenas.arch import sample_architectures
from latticenas.data import read_bytes, read_table, write_bytes
from latticenas.errors import LatticeNASError, ManifestError
from latticenas.images import image_ref
from latticenas.params import ParameterSet
from latticenas.pipeline.outcome import SearchOutcome
from latticenas.pipeline.placement import place_trials
from latticenas.pipeline.prepared import prepare
from latticenas.pipeline.search import (
    adapt_space,
    build_search_experiment,
    experiment_name,
    load_space_document,
    run_search,
)
from latticenas.runner.trials import TrialState
from latticenas.space import Algorithm


@pytest.fixture
def prepared(houses_csv):
    return prepare(str(houses_csv), "price")


def container(experiment):
    pod = experiment["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


def test_the_space_points_at_the_prepared_data(prepared):
    data, source = load_space_document(str(REPO / "search_spaces" / "ames.yaml"))
    space = adapt_space(data, record=prepared.record, data_uri="/data/search.parquet", algorithm="tpe",
                        max_trials=3, parallel_trials=5, source=source)
    fixed = space.fixed_dict
    assert fixed["data"] == "/data/search.parquet" and fixed["target"] == "price" and fixed["task"] == "regression"
    assert "drop_columns" not in fixed
    assert space.budget.max_trials == 3 and space.budget.parallel_trials == 3 and space.budget.max_failed_trials == 3
    assert [a.algorithm for a in space.algorithms] == [Algorithm.TPE]
    assert space.early_stopping is None  # medianstop applied to random only
    assert space.objective.metric == "val-rmse" and space.objective.goal == 15000


def test_overrides_replace_fixed_values_and_a_searched_one_is_refused(prepared):
    data, _ = load_space_document(TINY_SPACE)
    space = adapt_space(data, record=prepared.record, data_uri="/d.parquet", algorithm="random",
                        overrides={"epochs": 7, "number_of_architecture_moities_to_try": 3})
    assert space.fixed_dict["epochs"] == 7 and space.fixed_dict["number_of_architecture_moities_to_try"] == 3
    with pytest.raises(ManifestError, match="also searched under parameters"):
        adapt_space(data, record=prepared.record, data_uri="/d.parquet", algorithm="random", overrides={"maximum_levels": 2})


def test_a_classification_task_gets_a_classification_objective(labels_csv):
    prepared = prepare(str(labels_csv), "label")
    data, _ = load_space_document((REPO / "search_spaces" / "ames.yaml").read_text())
    space = adapt_space(data, record=prepared.record, data_uri="/d.parquet", algorithm="random")
    assert space.objective.metric == "val-logloss" and space.objective.type.value == "minimize"
    assert space.objective.goal is None
    assert space.additional_metrics == ("ensemble-size", "param-count", "train-seconds", "networks-trained", "networks-failed")
    assert space.early_stopping is not None  # random keeps its medianstop


def test_an_unlisted_algorithm_is_added_and_a_wrong_one_refused(prepared):
    data, _ = load_space_document(TINY_SPACE)
    space = adapt_space(data, record=prepared.record, data_uri="/d.parquet", algorithm="sobol")
    assert [a.algorithm for a in space.algorithms] == [Algorithm.SOBOL]
    with pytest.raises(ManifestError, match="not one of"):
        adapt_space(data, record=prepared.record, data_uri="/d.parquet", algorithm="annealing")


def test_space_documents(tmp_path):
    with pytest.raises(ManifestError, match="not a search space"):
        load_space_document("just words")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_space_document("a: [\nb: c")
    path = tmp_path / "s.yaml"
    path.write_text(TINY_SPACE)
    assert load_space_document(str(path)) == (yaml.safe_load(TINY_SPACE), str(path))


def test_experiment_names_fit_katib():
    assert experiment_name("ames", "random", "8f14e45f-ceea-467f-a9d7-3c6f1a7b2d11") == "ames-random-8f14e45f"
    assert experiment_name("ames", "bayesianoptimization") == "ames-bayesopt"
    long = experiment_name("a-very-long-search-space-name-x", "multivariate-tpe", "0123456789")
    assert len(long) <= 40 and long.endswith("-01234567") and "--" not in long
    assert experiment_name("s", "random", "!!!")[-8:].isalnum()


def test_the_experiment_reproduces_the_split_and_passes_validation(prepared):
    data, _ = load_space_document(TINY_SPACE)
    space = adapt_space(data, record=prepared.record, data_uri="/d/search.parquet", algorithm="random")
    manifest = build_search_experiment(space, "random", record=prepared.record, name="tiny-random-abc", run_id="abc-1")
    assert manifest["metadata"]["name"] == "tiny-random-abc"
    assert manifest["metadata"]["labels"]["latticenas/pipeline-run"] == "abc-1"
    _, main = container(manifest)
    command = main["command"]
    assert "--data=/d/search.parquet" in command and "--val-fraction=0.3" in command and "--test-fraction=0" in command
    assert command.index("--test-fraction=0") < command.index("--maximum_levels=${trialParameters.maximum_levels}")
    assert main["image"] == image_ref("trial-cpu")


@pytest.mark.parametrize("accelerator", ["gpu", "tpu"])
def test_katib_trials_are_placed_on_the_accelerator(prepared, accelerator):
    data, _ = load_space_document(TINY_SPACE)
    space = adapt_space(data, record=prepared.record, data_uri="gs://b/x/search.parquet", algorithm="random",
                        output_root="gs://b/x", namespace="team")
    manifest = build_search_experiment(space, "random", record=prepared.record, name="n", backend="katib",
                                       accelerator=accelerator, service_account="latticenas-pipeline")
    pod, main = container(manifest)
    resource = {"gpu": "nvidia.com/gpu", "tpu": "google.com/tpu"}[accelerator]
    assert main["image"] == image_ref(f"trial-{accelerator}")
    assert main["resources"]["limits"][resource] == "1"
    assert pod["tolerations"] == [{"key": resource, "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["nodeSelector"] and pod["serviceAccountName"] == "latticenas-pipeline"
    assert manifest["metadata"]["namespace"] == "team"
    assert any(part.startswith("--output-dir=gs://b/x/${trialParameters.trialName}") for part in main["command"])


def test_cpu_placement_only_sets_the_image():
    manifest = yaml.safe_load((REPO / "manifests" / "base" / "experiment-random.yaml").read_text())
    placed = place_trials(manifest, "cpu")
    pod, main = container(placed)
    assert "nodeSelector" not in pod and "tolerations" not in pod and main["image"] == image_ref("trial-cpu")
    assert container(manifest)[1] == container(placed)[1]


# ------------------------------------------------------------------------------ katib backend


class SimulatedKatib:
    """A recording CustomObjectsApi whose 'cluster' runs two trials the moment the Experiment
    is created: each writes what the trial program writes to its --output-dir."""

    def __init__(self):
        self.created = None
        self.calls = []
        self.trials = []

    def create_namespaced_custom_object(self, group, version, namespace, plural, body, **_):
        self.calls.append(("create", plural))
        self.created = copy.deepcopy(body)
        command = container(body)[1]["command"]
        data = next(p for p in command if p.startswith("--data=")).split("=", 1)[1]
        out = next(p for p in command if p.startswith("--output-dir=")).split("=", 1)[1]
        self.table = read_table(data)  # the trials can read the search table
        spec = sample_architectures(ParameterSet(), output_size=1, final_activation="linear")[0]
        for i, (rmse, levels) in enumerate([(52000.0, "2"), (48000.0, "1")]):
            name = f"{body['metadata']['name']}-t{i}"
            root = out.replace("${trialParameters.trialName}", name)
            write_bytes(f"{root}/params.json", json.dumps({"data": data, "log_target": None,
                                                           "parameters": {**ParameterSet().to_dict(), "maximum_levels": int(levels)}}).encode())
            write_bytes(f"{root}/best/spec.json", spec.to_json().encode())
            self.trials.append({
                "metadata": {"name": name, "creationTimestamp": f"2026-01-01T00:0{i}:00Z"},
                "spec": {"parameterAssignments": [{"name": "maximum_levels", "value": levels},
                                                  {"name": "maximum_neurons_per_unit", "value": "8"},
                                                  {"name": "learning_rate", "value": "0.005"}]},
                "status": {"conditions": [{"type": "Succeeded", "status": "True"}],
                           "observation": {"metrics": [{"name": "val-rmse", "min": str(rmse), "max": str(rmse), "latest": str(rmse)},
                                                       {"name": "val-mae", "min": "1", "max": "1", "latest": "1"}]}},
            })
        return body

    def get_namespaced_custom_object(self, group, version, namespace, plural, name, **_):
        self.calls.append(("get", plural))
        return {**self.created, "status": {"conditions": [{"type": "Succeeded", "status": "True", "reason": "ExperimentMaxTrialsReached"}]}}

    def list_namespaced_custom_object(self, group, version, namespace, plural, label_selector=None, **_):
        self.calls.append(("list", plural))
        return {"items": self.trials}


def test_the_katib_backend_end_to_end(prepared, gcs_bucket, tmp_path):
    api = SimulatedKatib()
    outcome = run_search(
        prepared, backend="katib", search_space=TINY_SPACE, algorithm="random", accelerator="gpu",
        work_dir=tmp_path / "work", namespace="team", trial_output_root=f"gs://{gcs_bucket}/trials",
        run_id="5ca1ab1e-0000", poll_s=0.01, client=api,
    )
    name = "tiny-random-5ca1ab1e"
    assert api.created["metadata"]["name"] == name and api.created["metadata"]["namespace"] == "team"
    assert {c for c in api.calls} == {("create", "experiments"), ("get", "experiments"), ("list", "trials")}
    # the trials saw train + validation only, from the bucket
    assert len(api.table) == len(prepared.dataset.train) + len(prepared.dataset.val)
    results = outcome.results
    assert results.backend == "katib" and results.status == "Succeeded (ExperimentMaxTrialsReached)"
    assert [t.state for t in results.trials] == [TrialState.SUCCEEDED] * 2
    assert outcome.best.name == f"{name}-t1" and outcome.best.objective == 48000.0
    best = outcome.best_parameters
    assert best.trial == f"{name}-t1" and best.parameters["maximum_levels"] == 1 and best.backend == "katib"
    assert best.assignments == {"maximum_levels": "1", "maximum_neurons_per_unit": "8", "learning_rate": "0.005"}
    assert (best.objective, best.objective_type, best.objective_value) == ("val-rmse", "minimize", 48000.0)
    assert (tmp_path / "work" / "experiment.yaml").is_file()
    assert yaml.safe_load((tmp_path / "work" / "experiment.yaml").read_text()) == api.created
    assert read_bytes(f"gs://{gcs_bucket}/trials/{name}/data/search.parquet")
    files = {name: str(tmp_path / f"{name}.json") for name in ("trials", "best_parameters", "best_spec")}
    outcome.write(**files)
    again = SearchOutcome.read(**files, work_dir=tmp_path / "work")
    assert again.results == outcome.results and again.best_parameters == best and again.best.name == outcome.best.name
    assert again.best_spec.content_hash == best.spec_hash and again.results.best().name == outcome.best.name


class EndlessKatib(SimulatedKatib):
    """A Katib still running at the deadline: the first trial is running, the second finished."""

    def create_namespaced_custom_object(self, group, version, namespace, plural, body, **_):
        super().create_namespaced_custom_object(group, version, namespace, plural, body)
        self.trials[0]["status"] = {"conditions": [{"type": "Running", "status": "True"}]}
        return body

    def get_namespaced_custom_object(self, group, version, namespace, plural, name, **_):
        self.calls.append(("get", plural))
        return {**self.created, "status": {"conditions": [{"type": "Running", "status": "True", "reason": "ExperimentRunning"}]}}

    def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body, **_):
        self.calls.append(("patch", plural))
        self.created["spec"].update(body["spec"])

    def delete_namespaced_custom_object(self, group, version, namespace, plural, name, **_):
        self.calls.append(("delete", plural))
        self.trials = [t for t in self.trials if t["metadata"]["name"] != name]


def test_the_search_step_stops_katib_at_the_time_budget(prepared, gcs_bucket, tmp_path):
    api = EndlessKatib()
    outcome = run_search(prepared, backend="katib", search_space=TINY_SPACE, algorithm="random", work_dir=tmp_path,
                         namespace="team", trial_output_root=f"gs://{gcs_bucket}/trials", run_id="5ca1ab1e-0000",
                         time_budget="2s", poll_s=0.05, client=api)
    name = "tiny-random-5ca1ab1e"
    assert outcome.results.status == "Succeeded (ExperimentTimeBudgetReached)"
    assert [t.name for t in outcome.results.trials] == [f"{name}-t1"] and outcome.best.name == f"{name}-t1"
    assert api.created["spec"]["maxTrialCount"] == 1 and api.created["spec"]["parallelTrialCount"] == 1
    assert ("patch", "experiments") in api.calls and ("delete", "trials") in api.calls
    assert [t["metadata"]["name"] for t in api.trials] == [f"{name}-t1"]  # the running trial is gone


class StalledKatib(EndlessKatib):
    """Nothing finished by the deadline: only the running trial."""

    def create_namespaced_custom_object(self, group, version, namespace, plural, body, **_):
        super().create_namespaced_custom_object(group, version, namespace, plural, body)
        self.trials = self.trials[:1]
        return body


def test_a_katib_search_with_nothing_finished_by_the_deadline_is_an_error(prepared, gcs_bucket, tmp_path):
    api = StalledKatib()
    with pytest.raises(LatticeNASError, match="no trial of Katib Experiment team/tiny-random-5ca1ab1e finished within"):
        run_search(prepared, backend="katib", search_space=TINY_SPACE, algorithm="random", work_dir=tmp_path,
                   namespace="team", trial_output_root=f"gs://{gcs_bucket}/trials", run_id="5ca1ab1e-0000",
                   time_budget=0.5, poll_s=0.05, client=api)
    assert ("delete", "experiments") in api.calls and ("patch", "experiments") not in api.calls


def test_the_katib_backend_needs_a_shared_output_root(prepared, tmp_path):
    with pytest.raises(LatticeNASError, match="trial_output_root"):
        run_search(prepared, backend="katib", search_space=TINY_SPACE, work_dir=tmp_path, namespace="x",
                   trial_output_root="/tmp/out", client=SimulatedKatib())
    with pytest.raises(LatticeNASError, match="backend 'slurm'"):
        run_search(prepared, backend="slurm", search_space=TINY_SPACE, work_dir=tmp_path)
