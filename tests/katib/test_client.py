"""The katib search backend (latticenas.katib.client) against a recording stand-in for the one
thing that cannot run here: the Kubernetes API server. Everything else is real: the generated
manifests, the Katib SDK models, the runner's TrialRecord."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone

import pytest
from kubeflow.katib import (
    V1beta1Metric,
    V1beta1Observation,
    V1beta1ParameterAssignment,
    V1beta1Trial,
    V1beta1TrialCondition,
    V1beta1TrialSpec,
    V1beta1TrialStatus,
)
from kubernetes.client import V1ObjectMeta
from kubernetes.client.rest import ApiException

from latticenas.katib import client as katib
from latticenas.runner.experiment import parse_experiment
from latticenas.runner.trials import TrialState, best_trial, observed

NAMESPACE = "kubeflow-user-example-com"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
VERBS = {"create_namespaced_custom_object": "create", "get_namespaced_custom_object": "get",
         "list_namespaced_custom_object": "list", "patch_namespaced_custom_object": "patch",
         "delete_namespaced_custom_object": "delete"}


class RecordingApi:
    """Stands in for kubernetes.client.CustomObjectsApi: records every call as
    (resource, verb, args) and answers like the API server (plain dicts)."""

    def __init__(self, conditions=(("Running", "ExperimentRunning"), ("Succeeded", "ExperimentMaxTrialsReached")),
                 trials=(), create_error: ApiException | None = None):
        self.calls: list[tuple[str, str, dict]] = []
        self.conditions = list(conditions)
        self.trials = list(trials)
        self.create_error = create_error
        self.created: dict | None = None
        self.gets = 0

    def _record(self, method, plural, **kwargs):
        self.calls.append((plural, VERBS[method], kwargs))

    def create_namespaced_custom_object(self, group, version, namespace, plural, body, **kwargs):
        assert (group, version) == ("kubeflow.org", "v1beta1")
        self._record("create_namespaced_custom_object", plural, namespace=namespace, body=copy.deepcopy(body))
        if self.create_error is not None:
            raise self.create_error
        self.created = copy.deepcopy(body)
        return body

    def get_namespaced_custom_object(self, group, version, namespace, plural, name, **kwargs):
        self._record("get_namespaced_custom_object", plural, namespace=namespace, name=name)
        experiment = copy.deepcopy(self.created or {"metadata": {"name": name}})
        upto = self.conditions[: min(self.gets + 1, len(self.conditions))]
        self.gets += 1
        experiment["status"] = {
            "conditions": [{"type": t, "status": "True" if i == len(upto) - 1 or t == "Created" else "False",
                            "reason": r, "message": f"Experiment is {t.lower()}"} for i, (t, r) in enumerate(upto)],
            "trialsSucceeded": 1, "trialsRunning": 1,
        }
        return experiment

    def list_namespaced_custom_object(self, group, version, namespace, plural, label_selector=None, **kwargs):
        self._record("list_namespaced_custom_object", plural, namespace=namespace, label_selector=label_selector)
        return {"apiVersion": "kubeflow.org/v1beta1", "kind": "TrialList", "items": copy.deepcopy(self.trials)}

    def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body, **kwargs):
        self._record("patch_namespaced_custom_object", plural, namespace=namespace, name=name, body=copy.deepcopy(body))
        self.created = {**self.created, "spec": {**self.created["spec"], **body["spec"]}}
        return self.created

    def delete_namespaced_custom_object(self, group, version, namespace, plural, name, **kwargs):
        self._record("delete_namespaced_custom_object", plural, namespace=namespace, name=name)
        if plural == "trials":
            self.trials = [t for t in self.trials if t["metadata"]["name"] != name]
        else:
            self.created = None
        return {"status": "Success"}

    def used(self) -> set[tuple[str, str]]:
        return {(resource, verb) for resource, verb, _ in self.calls}


def trial_json(name, assignments, state, metrics=(), minutes=0, experiment="ames-random"):
    """A Trial as the API server returns it."""
    created = T0 + timedelta(minutes=minutes)
    conditions = [{"type": "Created", "status": "True", "reason": "TrialCreated"}]
    if state != "Created":
        conditions.append({"type": "Running", "status": "True" if state == "Running" else "False", "reason": "TrialRunning"})
    if state not in ("Created", "Running"):
        conditions.append({"type": state, "status": "True", "reason": f"Trial{state}", "message": f"Trial {state.lower()}"})
    status = {"startTime": (created + timedelta(seconds=5)).isoformat().replace("+00:00", "Z"), "conditions": conditions}
    if state not in ("Created", "Running"):
        status["completionTime"] = (created + timedelta(minutes=3)).isoformat().replace("+00:00", "Z")
    if metrics:
        status["observation"] = {"metrics": [{"name": n, "min": lo, "max": hi, "latest": last} for n, lo, hi, last in metrics]}
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Trial",
        "metadata": {"name": name, "namespace": NAMESPACE, "creationTimestamp": created.isoformat().replace("+00:00", "Z"),
                     "labels": {"katib.kubeflow.org/experiment": experiment}},
        "spec": {"parameterAssignments": [{"name": k, "value": v} for k, v in assignments.items()],
                 "primaryContainerName": "trial"},
        "status": status,
    }


ASSIGN = {"maximum_levels": "3", "maximum_units_per_level": "2", "maximum_neurons_per_unit": "48",
          "p_lateral_connection": "0.25", "learning_rate": "0.002", "activation": "gelu", "batch_size": "64",
          "dropout": "0.1"}


def katib_trials():
    return [
        trial_json("ames-random-b7k2m", {**ASSIGN, "learning_rate": "0.004"}, "Succeeded",
                   [("val-rmse", "30500.5", "41000", "30500.5"), ("val-mae", "20100", "26000", "20100"),
                    ("param-count", "unavailable", "unavailable", "unavailable")], minutes=1),
        trial_json("ames-random-a1x9z", ASSIGN, "Succeeded",
                   [("val-rmse", "25000.25", "39000", "25000.25"), ("val-mae", "17000", "25000", "17000")], minutes=0),
        trial_json("ames-random-c3p0q", ASSIGN, "Failed", minutes=2),
        trial_json("ames-random-d4e5f", ASSIGN, "EarlyStopped", [("val-rmse", "52000", "90000", "60000")], minutes=3),
        trial_json("ames-random-e6g7h", ASSIGN, "MetricsUnavailable", minutes=4),
        trial_json("ames-random-f8i9j", ASSIGN, "Killed", minutes=5),
        trial_json("ames-random-g0k1l", ASSIGN, "Running", minutes=6),
    ]


# ------------------------------------------------------------------------------ submit


def test_submitted_experiment_equals_the_generated_manifest(experiment):
    api = RecordingApi()
    name = katib.submit_experiment(experiment, NAMESPACE, client=api)
    assert name == experiment["metadata"]["name"]
    [(resource, verb, call)] = api.calls
    assert (resource, verb) == ("experiments", "create")
    assert call["namespace"] == NAMESPACE
    expected = {**copy.deepcopy(experiment), "metadata": {**experiment["metadata"], "namespace": NAMESPACE}}
    assert call["body"] == expected
    # and the Katib SDK model holds exactly that document
    from kubeflow.katib import ApiClient

    model = katib.to_sdk_experiment(call["body"])
    assert type(model).__name__ == "V1beta1Experiment"
    assert json.loads(json.dumps(ApiClient().sanitize_for_serialization(model), default=str))["spec"] == expected["spec"]


def test_every_committed_experiment_is_submittable(load):
    for algorithm in ("random", "tpe", "bayesianoptimization", "hyperband", "grid", "cmaes"):
        api = RecordingApi()
        manifest = load(algorithm)
        katib.submit_experiment(manifest, NAMESPACE, client=api)
        assert api.calls[0][2]["body"]["spec"] == manifest["spec"]


def test_submit_does_not_change_the_callers_manifest(experiment):
    before = copy.deepcopy(experiment)
    katib.submit_experiment(experiment, NAMESPACE, client=RecordingApi())
    assert experiment == before


def test_submit_rejects_what_is_not_an_experiment(experiment):
    api = RecordingApi()
    with pytest.raises(katib.ManifestError, match="not a Katib Experiment"):
        katib.submit_experiment({**experiment, "kind": "Trial"}, NAMESPACE, client=api)
    bad = copy.deepcopy(experiment)
    bad["spec"]["objectiv"] = bad["spec"].pop("objective")
    with pytest.raises(katib.ManifestError, match="Katib SDK"):
        katib.submit_experiment(bad, NAMESPACE, client=api)
    assert api.calls == []


def test_an_existing_experiment_is_adopted(experiment):
    api = RecordingApi(create_error=ApiException(status=409, reason="Conflict"))
    assert katib.submit_experiment(experiment, NAMESPACE, client=api) == experiment["metadata"]["name"]
    assert [(r, v) for r, v, _ in api.calls] == [("experiments", "create"), ("experiments", "get")]


def test_a_refusal_keeps_the_api_servers_reason(experiment):
    error = ApiException(status=403, reason="Forbidden")
    error.body = json.dumps({"kind": "Status", "message": 'experiments.kubeflow.org is forbidden: User "system:serviceaccount:x:y" cannot create resource'})
    with pytest.raises(katib.KatibError) as info:
        katib.submit_experiment(experiment, NAMESPACE, client=RecordingApi(create_error=error))
    text = str(info.value)
    assert "HTTP 403" in text and "cannot create resource" in text and "manifests/rbac" in text
    webhook = ApiException(status=400, reason="Bad Request")
    webhook.body = json.dumps({"message": 'admission webhook "validator.experiment.katib.kubeflow.org" denied the request: spec.maxTrialCount must be greater than 0'})
    with pytest.raises(katib.KatibError, match="maxTrialCount must be greater than 0"):
        katib.submit_experiment(experiment, NAMESPACE, client=RecordingApi(create_error=webhook))


# ------------------------------------------------------------------------------ wait


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_returns_the_finished_experiment(experiment):
    api = RecordingApi()
    katib.submit_experiment(experiment, NAMESPACE, client=api)
    clock = Clock()
    final = katib.wait_for_experiment(experiment["metadata"]["name"], NAMESPACE, timeout_s=600, poll_s=10, client=api,
                                      clock=clock, sleep=clock.sleep)
    assert katib.experiment_status(final)[:2] == ("Succeeded", "ExperimentMaxTrialsReached")
    assert clock.sleeps == [10]
    assert {v for _, v, _ in api.calls} == {"create", "get"}


def test_wait_reports_a_failed_experiment_as_finished(experiment):
    api = RecordingApi(conditions=[("Running", "ExperimentRunning"), ("Failed", "ExperimentFailed")])
    final = katib.wait_for_experiment("x", NAMESPACE, timeout_s=60, poll_s=1, client=api, clock=Clock(), sleep=lambda s: None)
    assert katib.experiment_status(final)[0] == "Failed"


def test_wait_times_out_with_a_clear_message():
    api = RecordingApi(conditions=[("Created", "ExperimentCreated"), ("Running", "ExperimentRunning")])
    clock = Clock()
    with pytest.raises(katib.ExperimentTimeoutError) as info:
        katib.wait_for_experiment("ames-random", NAMESPACE, timeout_s=95, poll_s=30, client=api, clock=clock, sleep=clock.sleep)
    text = str(info.value)
    assert "ames-random" in text and "95 s" in text and "Running" in text
    assert f"kubectl -n {NAMESPACE} get trials -l katib.kubeflow.org/experiment=ames-random" in text
    assert isinstance(info.value, TimeoutError)
    assert clock.sleeps == [30, 30, 30, 5]


# ------------------------------------------------------------------------------ trials


def sdk_trial(name, state, assignments, metrics, created):
    """A Trial built from the Katib SDK's model classes."""
    conditions = [V1beta1TrialCondition(type="Created", status="True", reason="TrialCreated"),
                  V1beta1TrialCondition(type="Running", status="False", reason="TrialRunning"),
                  V1beta1TrialCondition(type=state, status="True", reason=f"Trial{state}", message=f"Trial has {state.lower()}")]
    return V1beta1Trial(
        api_version="kubeflow.org/v1beta1", kind="Trial",
        metadata=V1ObjectMeta(name=name, namespace=NAMESPACE, creation_timestamp=created),
        spec=V1beta1TrialSpec(parameter_assignments=[V1beta1ParameterAssignment(name=k, value=v) for k, v in assignments.items()]),
        status=V1beta1TrialStatus(
            start_time=created + timedelta(seconds=3), completion_time=created + timedelta(minutes=2),
            conditions=conditions,
            observation=V1beta1Observation(metrics=[V1beta1Metric(name=n, min=lo, max=hi, latest=last) for n, lo, hi, last in metrics]),
        ),
    )


def test_trial_records_from_sdk_objects(experiment):
    parsed = parse_experiment(experiment)
    trials = [
        sdk_trial("ames-random-zz", "Succeeded", ASSIGN,
                  [("val-rmse", "21000.5", "30000", "21000.5"), ("val-r2", "0.8", "0.91", "0.9")], T0 + timedelta(minutes=1)),
        sdk_trial("ames-random-aa", "Failed", ASSIGN, [], T0),
    ]
    records = katib.trial_records(trials, parsed)
    assert [r.name for r in records] == ["ames-random-aa", "ames-random-zz"]  # creation order
    assert [r.index for r in records] == [1, 2]
    failed, good = records
    assert failed.state is TrialState.FAILED and failed.objective is None and failed.message == "Trial has failed"
    assert good.state is TrialState.SUCCEEDED
    assert good.objective == 21000.5
    assert good.params == {"maximum_levels": 3, "maximum_units_per_level": 2, "maximum_neurons_per_unit": 48,
                           "p_lateral_connection": 0.25, "learning_rate": 0.002, "activation": "gelu", "batch_size": 64,
                           "dropout": "0.1"}
    assert isinstance(good.params["maximum_levels"], int) and isinstance(good.params["learning_rate"], float)
    assert good.metrics["val-rmse"] == (21000.5, 30000.0, 21000.5)
    assert good.created == T0.timestamp() + 60 and good.duration == pytest.approx(117)
    # the runner's reductions give back Katib's values for every strategy
    assert observed(good.metrics, parsed.objective)["val-r2"] == 0.9  # "latest" in the generated manifests
    assert best_trial(records, parsed.objective) is good
    # assignments format back to the strings Katib substituted
    assert {p.name: p.format(good.params[p.name]) for p in parsed.parameters} == ASSIGN


def test_read_trials_lists_by_experiment_label_and_converts(experiment):
    api = RecordingApi(trials=katib_trials())
    records = katib.read_trials("ames-random", NAMESPACE, client=api, experiment=experiment)
    [(resource, verb, call)] = api.calls
    assert (resource, verb) == ("trials", "list")
    assert call["label_selector"] == "katib.kubeflow.org/experiment=ames-random" and call["namespace"] == NAMESPACE
    by_name = {r.name: r for r in records}
    assert [r.name for r in records][:2] == ["ames-random-a1x9z", "ames-random-b7k2m"]
    states = {name.rsplit("-", 1)[1]: r.state for name, r in by_name.items()}
    assert states == {"a1x9z": TrialState.SUCCEEDED, "b7k2m": TrialState.SUCCEEDED, "c3p0q": TrialState.FAILED,
                      "d4e5f": TrialState.EARLY_STOPPED, "e6g7h": TrialState.METRICS_UNAVAILABLE,
                      "f8i9j": TrialState.FAILED, "g0k1l": TrialState.RUNNING}
    assert by_name["ames-random-f8i9j"].message.startswith("killed")
    assert by_name["ames-random-b7k2m"].objective == 30500.5
    assert "param-count" not in by_name["ames-random-b7k2m"].metrics  # "unavailable"
    assert by_name["ames-random-d4e5f"].objective == 60000.0  # latest, as the manifest asks
    assert by_name["ames-random-g0k1l"].objective is None and by_name["ames-random-g0k1l"].ended is None
    best = best_trial(records, parse_experiment(experiment).objective)
    assert best.name == "ames-random-a1x9z"


def test_read_trials_fetches_the_experiment_when_not_given(experiment):
    api = RecordingApi(trials=katib_trials()[:1])
    katib.submit_experiment(experiment, NAMESPACE, client=api)
    records = katib.read_trials(experiment["metadata"]["name"], NAMESPACE, client=api)
    assert records[0].objective == 30500.5
    assert [(r, v) for r, v, _ in api.calls] == [("experiments", "create"), ("experiments", "get"), ("trials", "list")]


def test_the_calls_made_are_exactly_the_declared_permissions(experiment):
    api = RecordingApi(trials=katib_trials())
    name = katib.submit_experiment(experiment, NAMESPACE, client=api)
    katib.wait_for_experiment(name, NAMESPACE, timeout_s=60, poll_s=1, client=api, clock=Clock(), sleep=lambda s: None)
    katib.read_trials(name, NAMESPACE, client=api, experiment=experiment)
    katib.stop_experiment(name, NAMESPACE, client=api)
    api.trials = []
    katib.stop_experiment(name, NAMESPACE, client=api)  # no trial finished: the Experiment is deleted
    assert api.used() == set(katib.KATIB_PERMISSIONS)


def test_stop_experiment_ends_it_at_the_trials_that_finished(experiment):
    api = RecordingApi(trials=katib_trials())
    name = katib.submit_experiment(experiment, NAMESPACE, client=api)
    assert katib.stop_experiment(name, NAMESPACE, client=api) == 6  # all but the Running one
    [patch] = [call for _, verb, call in api.calls if verb == "patch"]
    assert patch["body"] == {"spec": {"maxTrialCount": 6, "parallelTrialCount": 2, "maxFailedTrialCount": 3}}
    assert [call["name"] for resource, verb, call in api.calls if (resource, verb) == ("trials", "delete")] == [
        "ames-random-g0k1l"]
    records = katib.read_trials(name, NAMESPACE, client=api, experiment=experiment)
    assert len(records) == 6 and TrialState.RUNNING not in {r.state for r in records}
    assert api.created["spec"]["maxTrialCount"] == 6  # Katib starts no more


def test_stop_experiment_without_a_finished_trial_deletes_it(experiment):
    running = [t for t in katib_trials() if t["metadata"]["name"].endswith("g0k1l")]
    api = RecordingApi(trials=running)
    name = katib.submit_experiment(experiment, NAMESPACE, client=api)
    assert katib.stop_experiment(name, NAMESPACE, client=api) == 0
    assert [(r, v) for r, v, _ in api.calls][1:] == [("trials", "list"), ("experiments", "delete")]
    assert api.created is None
