"""The ``katib`` search backend: submit a generated Experiment, wait for it, read its trials.

Contract:

* :func:`submit_experiment` creates the ``kubeflow.org/v1beta1`` Experiment given as a dict
  (a manifest from :mod:`latticenas.katib.generate`) in ``namespace`` with
  ``CustomObjectsApi.create_namespaced_custom_object``, the same call the Katib SDK's
  ``KatibClient.create_experiment`` makes, but keeping the API server's reason when it refuses
  (an admission-webhook message, a missing permission). The dict is first read into the SDK's
  ``V1beta1Experiment`` model and written back, and must come out unchanged, so a manifest the
  SDK cannot represent fails here, before the cluster sees it. An Experiment of that name
  that already exists (HTTP 409: a retried pipeline step) is adopted, not an error.
* :func:`wait_for_experiment` polls the Experiment until its ``Succeeded`` or ``Failed``
  condition is ``True`` and returns it; after ``timeout_s`` it raises
  :class:`ExperimentTimeoutError` naming the Experiment, its last condition and what to do.
* :func:`read_trials` lists the Experiment's Trials (label ``katib.kubeflow.org/experiment``),
  reads them into the SDK's ``V1beta1Trial`` models and converts them with
  :func:`trial_records` into the local runner's :class:`~latticenas.runner.trials.TrialRecord`,
  so the leaderboard and reports (:mod:`latticenas.aggregate`) work on either backend:

  - ``params``: ``spec.parameterAssignments`` typed like the runner's (ints, floats, strings);
  - ``metrics``: per metric of ``status.observation.metrics`` the values ``(min, max,
    latest)``, so :func:`~latticenas.runner.trials.reduce_metric` gives back exactly Katib's
    min, max or latest for any metric strategy; values Katib marks ``unavailable`` are left out;
  - ``state``: the trial's final condition (Succeeded, Failed, EarlyStopped,
    MetricsUnavailable; Killed counts as Failed), else Running or Created;
  - ``objective``: the objective metric reduced by its strategy, for Succeeded and
    EarlyStopped trials only (as the runner does);
  - ``index``: creation order (1, 2, ...), ``created/started/ended`` epoch seconds.

* :func:`stop_experiment` stops a running Experiment now (Katib has no wall-clock budget; the
  pipeline's search step calls it at its deadline): Katib counts the Trials that exist against
  ``spec.maxTrialCount``, so that (with ``parallelTrialCount`` and ``maxFailedTrialCount``) is
  lowered to the number of finished Trials, then the running Trials are deleted (their Jobs
  go with them); Katib starts no more and ends the Experiment (``ExperimentMaxTrialsReached``).
  With no finished Trial the Experiment itself is deleted. Returns the finished Trials' count.
* The API calls this module makes are exactly :data:`KATIB_PERMISSIONS`; the pipeline's
  Role in ``manifests/rbac/`` grants those and nothing else (a test keeps them equal).

``client`` arguments take a ``kubernetes.client.CustomObjectsApi`` (or anything with its
``create_/get_/list_namespaced_custom_object`` methods); by default one is built from the
in-cluster service account or the local kube-config.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from latticenas.extras import require
from latticenas.errors import LatticeNASError, ManifestError, remote_reason
from latticenas.katib.validate import without_nulls

log = logging.getLogger(__name__)

GROUP = "kubeflow.org"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
EXPERIMENTS = "experiments"
TRIALS = "trials"
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"

#: The (resource, verb) pairs of API group ``kubeflow.org`` this module uses: create and get
#: Experiments (get: waiting, and adopting one that exists), list Trials; patch and delete
#: Experiments and delete Trials (stopping at a time budget). The Role in
#: ``manifests/rbac/role.yaml`` grants exactly these.
KATIB_PERMISSIONS: tuple[tuple[str, str], ...] = (
    (EXPERIMENTS, "create"),
    (EXPERIMENTS, "get"),
    (EXPERIMENTS, "patch"),
    (EXPERIMENTS, "delete"),
    (TRIALS, "list"),
    (TRIALS, "delete"),
)
TRIAL_FINISHED = ("Succeeded", "Failed", "EarlyStopped", "MetricsUnavailable", "Killed")

FINISHED_CONDITIONS = ("Succeeded", "Failed")
DEFAULT_TIMEOUT_S = 24 * 3600.0
DEFAULT_POLL_S = 30.0

__all__ = [
    "KATIB_PERMISSIONS",
    "ExperimentTimeoutError",
    "KatibError",
    "default_api",
    "experiment_status",
    "read_trials",
    "stop_experiment",
    "submit_experiment",
    "to_sdk_experiment",
    "trial_records",
    "wait_for_experiment",
]


class KatibError(LatticeNASError, RuntimeError):
    """The Kubernetes API refused or failed a Katib request (one line: what, why, the fix)."""


class ExperimentTimeoutError(LatticeNASError, TimeoutError):
    """The Experiment did not finish within the allowed time."""

    exit_code = 1


# ------------------------------------------------------------------------------ API access


def default_api():
    """A ``CustomObjectsApi`` from the pod's service account, else from the kube-config."""
    require("kubernetes")
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config()
        except (config.ConfigException, OSError) as exc:
            raise KatibError(
                f"no Kubernetes credentials ({exc}): run inside the cluster with a service "
                "account (manifests/rbac/) or point KUBECONFIG at a kube-config"
            ) from None
    return client.CustomObjectsApi()


def _api_errors() -> tuple[type[BaseException], ...]:
    """What the Kubernetes client raises for the API server's answers and for the connection;
    anything else is a programming error and keeps its traceback."""
    require("kubernetes")
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    return (ApiException, HTTPError, OSError)


def _api_error(exc: Exception, what: str) -> KatibError:
    status = getattr(exc, "status", None)
    reason = remote_reason(exc)
    hint = {
        401: "the credentials were refused; refresh them",
        403: "the service account lacks this permission; apply manifests/rbac/ in the namespace "
             "and run the pipeline as ServiceAccount latticenas-pipeline",
        404: "Katib is not installed here (no kubeflow.org/v1beta1 CRDs) or the namespace is wrong",
    }.get(status, "check the namespace, the Katib installation and the manifest")
    code = f"HTTP {status}" if status else type(exc).__name__
    return KatibError(f"{what} failed ({code}: {reason}); {hint}")


# ------------------------------------------------------------------------------ SDK models


class _Response:
    """What ``ApiClient.deserialize`` reads: a REST response with JSON in ``.data``."""

    def __init__(self, obj: Any) -> None:
        self.data = json.dumps(obj, default=str)


def _sdk_client():
    require("kubeflow")
    from kubeflow.katib import ApiClient

    return ApiClient()


def to_sdk_experiment(manifest: Mapping[str, Any]):
    """The manifest as the Katib SDK's ``V1beta1Experiment``; ManifestError when the SDK
    model cannot hold it unchanged (unknown fields or wrong types)."""
    client = _sdk_client()
    try:
        model = client.deserialize(_Response(manifest), "V1beta1Experiment")
        again = client.sanitize_for_serialization(model)
    except (ValueError, TypeError) as exc:
        raise ManifestError(f"the Katib SDK cannot read this Experiment ({exc}); fix the manifest") from None
    if without_nulls(json.loads(json.dumps(again, default=str))) != without_nulls(
        json.loads(json.dumps(manifest, default=str))
    ):
        raise ManifestError(
            "the Experiment changes when read by the Katib SDK (V1beta1Experiment); check "
            "field names and types (latticenas manifests validate)"
        )
    return model


def _sdk_trials(items: Iterable[Mapping[str, Any]]) -> list:
    client = _sdk_client()
    return [client.deserialize(_Response(item), "V1beta1Trial") for item in items]


# ------------------------------------------------------------------------------ submit / wait


def submit_experiment(experiment: Mapping[str, Any], namespace: str, client=None) -> str:
    """Create ``experiment`` in ``namespace``; returns its name (see the module docstring)."""
    if experiment.get("apiVersion") != API_VERSION or experiment.get("kind") != "Experiment":
        raise ManifestError(
            f"not a Katib Experiment (apiVersion {experiment.get('apiVersion')!r}, kind "
            f"{experiment.get('kind')!r}); pass a manifest from latticenas.katib.generate"
        )
    name = (experiment.get("metadata") or {}).get("name")
    if not name:
        raise ManifestError("the Experiment has no metadata.name; name it")
    body = json.loads(json.dumps(experiment, default=str))
    body["metadata"]["namespace"] = namespace
    to_sdk_experiment(body)
    api = client or default_api()
    try:
        api.create_namespaced_custom_object(GROUP, VERSION, namespace, EXPERIMENTS, body)
    except _api_errors() as exc:
        if getattr(exc, "status", None) != 409:
            raise _api_error(exc, f"creating Katib Experiment {namespace}/{name}") from exc
        log.warning("Katib Experiment %s/%s already exists (a retried step?): following it", namespace, name)
        get_experiment(name, namespace, client=api)
        return name
    log.info("created Katib Experiment %s/%s", namespace, name)
    return name


def get_experiment(name: str, namespace: str, client=None) -> dict[str, Any]:
    """The Experiment object as the API server returns it (a dict)."""
    api = client or default_api()
    try:
        return api.get_namespaced_custom_object(GROUP, VERSION, namespace, EXPERIMENTS, name)
    except _api_errors() as exc:
        raise _api_error(exc, f"reading Katib Experiment {namespace}/{name}") from exc


def experiment_status(experiment: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(condition type, reason, message)`` of the Experiment's newest true condition
    (``("Created", "", "")`` before it has any)."""
    conditions = ((experiment.get("status") or {}).get("conditions")) or []
    current = [c for c in conditions if str(c.get("status")) == "True"]
    finished = [c for c in current if c.get("type") in FINISHED_CONDITIONS]
    chosen = (finished or current or [{}])[-1]
    return str(chosen.get("type") or "Created"), str(chosen.get("reason") or ""), str(chosen.get("message") or "")


def wait_for_experiment(
    name: str,
    namespace: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    poll_s: float = DEFAULT_POLL_S,
    client=None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll until the Experiment Succeeded or Failed; returns it (see the module docstring)."""
    if timeout_s <= 0 or poll_s <= 0:
        raise ValueError(f"timeout_s and poll_s must be positive, got {timeout_s} and {poll_s}")
    api = client or default_api()
    deadline = clock() + timeout_s
    last = ("Created", "", "")
    while True:
        experiment = get_experiment(name, namespace, client=api)
        status = experiment_status(experiment)
        if status != last:
            log.info("Katib Experiment %s/%s: %s %s", namespace, name, status[0], status[2])
            last = status
        if status[0] in FINISHED_CONDITIONS:
            return experiment
        remaining = deadline - clock()
        if remaining <= 0:
            counts = experiment.get("status") or {}
            raise ExperimentTimeoutError(
                f"Katib Experiment {namespace}/{name} did not finish within {timeout_s:g} s "
                f"(last condition {status[0]}{': ' + status[2] if status[2] else ''}; "
                f"{counts.get('trialsSucceeded', 0)} trials succeeded, "
                f"{counts.get('trialsRunning', 0)} running); raise the timeout, or inspect it with "
                f"`kubectl -n {namespace} get trials -l {EXPERIMENT_LABEL}={name}`"
            )
        sleep(min(poll_s, remaining))


def stop_experiment(name: str, namespace: str, client=None) -> int:
    """Stop the Experiment now; returns how many of its Trials had finished (module doc)."""
    api = client or default_api()
    what = f"stopping Katib Experiment {namespace}/{name}"
    try:
        items = api.list_namespaced_custom_object(GROUP, VERSION, namespace, TRIALS,
                                                  label_selector=f"{EXPERIMENT_LABEL}={name}").get("items") or []
        finished = [t for t in items if _trial_finished(t)]
        if not finished:
            api.delete_namespaced_custom_object(GROUP, VERSION, namespace, EXPERIMENTS, name)
            log.info("deleted Katib Experiment %s/%s: no trial had finished", namespace, name)
            return 0
        spec = get_experiment(name, namespace, client=api).get("spec") or {}
        n = len(finished)
        patch = {"maxTrialCount": n, "parallelTrialCount": min(int(spec.get("parallelTrialCount") or 3), n)}
        if spec.get("maxFailedTrialCount") is not None:
            patch["maxFailedTrialCount"] = min(int(spec["maxFailedTrialCount"]), n)
        api.patch_namespaced_custom_object(GROUP, VERSION, namespace, EXPERIMENTS, name, {"spec": patch})
        for trial in items:
            if not _trial_finished(trial):
                api.delete_namespaced_custom_object(GROUP, VERSION, namespace, TRIALS, trial["metadata"]["name"])
    except _api_errors() as exc:
        raise _api_error(exc, what) from exc
    log.info("stopped Katib Experiment %s/%s after %d finished trial(s)", namespace, name, n)
    return n


def _trial_finished(trial: Mapping[str, Any]) -> bool:
    conditions = (trial.get("status") or {}).get("conditions") or []
    return any(c.get("type") in TRIAL_FINISHED and str(c.get("status")) == "True" for c in conditions)


# ------------------------------------------------------------------------------ trials


def read_trials(name: str, namespace: str, client=None, experiment=None) -> list:
    """The Experiment's trials as runner :class:`TrialRecord` objects, in creation order.

    ``experiment`` is the Experiment (a manifest dict, a runner ``Experiment``, or None to
    read it from the cluster); its objective and parameter types are needed to convert.
    """
    from latticenas.runner.experiment import Experiment, parse_experiment

    api = client or default_api()
    if experiment is None:
        experiment = get_experiment(name, namespace, client=api)
    if not isinstance(experiment, Experiment):
        experiment = parse_experiment(experiment)
    try:
        response = api.list_namespaced_custom_object(
            GROUP, VERSION, namespace, TRIALS, label_selector=f"{EXPERIMENT_LABEL}={name}"
        )
    except _api_errors() as exc:
        raise _api_error(exc, f"listing the trials of Katib Experiment {namespace}/{name}") from exc
    return trial_records(_sdk_trials(response.get("items") or []), experiment)


def trial_records(trials: Iterable[Any], experiment) -> list:
    """Katib SDK ``V1beta1Trial`` objects -> runner TrialRecords (see the module docstring)."""
    from latticenas.runner.trials import TrialRecord, TrialState, reduce_metric

    ordered = sorted(trials, key=lambda t: (_epoch(_meta(t, "creation_timestamp")) or 0.0, _meta(t, "name") or ""))
    objective = experiment.objective
    records = []
    for index, trial in enumerate(ordered, start=1):
        state, message = trial_state(trial)
        metrics = _observed_metrics(trial)
        value = None
        if state in (TrialState.SUCCEEDED, TrialState.EARLY_STOPPED):
            value = reduce_metric(metrics.get(objective.metric, ()), objective.strategy(objective.metric))
        status = getattr(trial, "status", None)
        records.append(
            TrialRecord(
                index=index,
                name=_meta(trial, "name") or f"trial-{index}",
                params=_assignments(trial, experiment),
                state=state,
                metrics=metrics,
                objective=value,
                created=_epoch(_meta(trial, "creation_timestamp")),
                started=_epoch(getattr(status, "start_time", None)),
                ended=_epoch(getattr(status, "completion_time", None)),
                message=message,
            )
        )
    return records


def trial_state(trial) -> tuple[Any, str]:
    """``(TrialState, message)`` from the trial's conditions."""
    from latticenas.runner.trials import TrialState

    status = getattr(trial, "status", None)
    conditions = [c for c in (getattr(status, "conditions", None) or []) if str(c.status) == "True"]
    by_type = {c.type: c for c in conditions}
    final = {
        "Succeeded": TrialState.SUCCEEDED,
        "EarlyStopped": TrialState.EARLY_STOPPED,
        "MetricsUnavailable": TrialState.METRICS_UNAVAILABLE,
        "Failed": TrialState.FAILED,
        "Killed": TrialState.FAILED,
    }
    for kind, state in final.items():
        if kind in by_type:
            condition = by_type[kind]
            text = condition.message or condition.reason or ""
            return state, (f"killed: {text}" if kind == "Killed" else text)
    if "Running" in by_type:
        return TrialState.RUNNING, ""
    return TrialState.CREATED, ""


def _observed_metrics(trial) -> dict[str, tuple[float, ...]]:
    status = getattr(trial, "status", None)
    observation = getattr(status, "observation", None)
    out: dict[str, tuple[float, ...]] = {}
    for metric in getattr(observation, "metrics", None) or []:
        values = [_number(metric.min), _number(metric.max), _number(metric.latest)]
        if values[2] is None:
            continue  # Katib writes "unavailable" when the trial reported nothing
        low = values[0] if values[0] is not None else values[2]
        high = values[1] if values[1] is not None else values[2]
        out[metric.name] = (low, high, values[2])
    return out


def _assignments(trial, experiment) -> dict[str, Any]:
    from latticenas.runner.experiment import ParameterType

    spec = getattr(trial, "spec", None)
    params: dict[str, Any] = {}
    for assignment in getattr(spec, "parameter_assignments", None) or []:
        text = str(assignment.value)
        try:
            parameter = experiment.parameter(assignment.name)
        except KeyError:
            params[assignment.name] = text
            continue
        if parameter.type is ParameterType.INT:
            params[assignment.name] = int(float(text))
        elif parameter.type is ParameterType.DOUBLE:
            params[assignment.name] = float(text)
        elif parameter.type is ParameterType.DISCRETE:
            match = [c for c, w in zip(parameter.choices, parameter.written, strict=False) if w == text]
            params[assignment.name] = match[0] if match else _number(text) if _number(text) is not None else text
        else:
            params[assignment.name] = text
    return params


def _meta(trial, field: str):
    metadata = getattr(trial, "metadata", None)
    if isinstance(metadata, Mapping):
        camel = "".join(w if i == 0 else w.capitalize() for i, w in enumerate(field.split("_")))
        return metadata.get(field, metadata.get(camel))
    return getattr(metadata, field, None)


def _number(text: Any) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value == value and abs(value) != float("inf") else None


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


