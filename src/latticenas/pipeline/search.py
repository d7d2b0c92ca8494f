"""The pipeline's search step: the prepared data, a search space and an algorithm -> a Katib
Experiment -> its trials, run by the local runner or by Katib.

Contract of :func:`run_search`:

* the search space is a search-space file's YAML text or its path / ``gs://`` URI
  (:func:`load_space_document`; format ``docs/search-space.md``). :func:`adapt_space` points
  it at the prepared data: ``fixed.data`` becomes the search table (the prepared train and
  validation rows as Parquet, :func:`latticenas.pipeline.prepared.write_search_table`; the
  test rows never reach a trial), ``target`` and ``task`` the prepared ones, ``drop_columns``
  goes (already dropped); ``overrides`` (e.g. ``{"epochs": 5}``) replace fixed values first.
  An objective of the wrong task family (the default Ames space minimizes ``val-rmse``) is
  replaced by the task's default (``val-rmse`` for regression, ``val-logloss`` for
  classification) and additional metrics of the other family are dropped.
  ``max_trials``/``parallel_trials`` above 0 override the budget. Only the chosen algorithm
  is kept (listed with no settings when the file does not list it).
* :func:`build_search_experiment` generates the Experiment with
  :func:`latticenas.katib.generate.build_experiment`, names it ``<space>-<algorithm>-<run>``
  (``<run>``: the first characters of the pipeline run id, which is also the label
  ``latticenas/pipeline-run``), and adds the trial options that reproduce the prepared split
  (:func:`latticenas.pipeline.prepared.trial_split_options`). For ``katib`` it also places the
  trial pods on the accelerator (:func:`latticenas.pipeline.placement.place_trials`) and
  writes every trial's output under ``<trial_output_root>/<experiment>/<trial>``. The result
  must pass :func:`latticenas.katib.validate.validate_experiment`.
* backend ``local``: the Experiment runs on this machine with the local runner
  (``latticenas experiment run``) in ``<work_dir>/run``; backend ``katib``: it is submitted,
  waited for and read with :mod:`latticenas.katib.client`; backend ``mop``: trained by Model
  Hopper Parallelism on Dask in ``<work_dir>/run`` (:mod:`latticenas.pipeline.mop_backend`).
  Every way the trials come back as runner ``TrialRecord`` objects in a
  :class:`~latticenas.aggregate.SearchResults` (:func:`read_run`: a local or MOP run directory).
* ``time_budget`` (``"90m"``, seconds; counted from the step's start) bounds the search: the
  local runner applies its own rule (:mod:`latticenas.runner.timebudget`); Katib has no
  wall-clock budget, so for ``katib`` the step waits until the deadline at most, then stops
  the Experiment (:func:`latticenas.katib.client.stop_experiment`: no more trials, the
  running ones deleted) and goes on with the trials that finished, status
  ``Succeeded (ExperimentTimeBudgetReached)``; none finished is an error.
* the best trial (Katib's rule: best objective, first on ties) must exist, else
  :class:`~latticenas.errors.LatticeNASError` says no trial reported the objective. Its
  ``params.json`` (the complete parameter set) and ``best/spec.json`` (the best network of
  the trial) are read from its output directory into the
  :class:`~latticenas.pipeline.outcome.SearchOutcome`.

``work_dir`` always gets ``experiment.yaml`` (the Experiment as run; for ``mop``, as planned: MOP
runs its own, stored in ``run/``); the local and mop backends add the experiment directory
``run/`` and the search table ``data/search.parquet``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from latticenas.errors import LatticeNASError, ManifestError
from latticenas.pipeline.mop_backend import check_mop_backend, run_mop_backend
from latticenas.pipeline.outcome import BestParameters, SearchOutcome
from latticenas.pipeline.parameters import BACKENDS
from latticenas.pipeline.prepared import PreparedRecord

log = logging.getLogger(__name__)

DEFAULT_OBJECTIVES = {"regression": "val-rmse", "binary": "val-logloss", "multiclass": "val-logloss"}
RUN_LABEL = "latticenas/pipeline-run"
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
NAME_LIMIT = 40  # Katib's limit on Experiment names

__all__ = [
    "BACKENDS",
    "SearchOutcome",
    "adapt_space",
    "build_search_experiment",
    "experiment_name",
    "load_space_document",
    "read_run",
    "run_search",
]


# ------------------------------------------------------------------------------ the space


def load_space_document(search_space: str) -> tuple[dict[str, Any], str]:
    """``(mapping, source)`` of a search space given as YAML text, a path or a gs:// URI."""
    from latticenas.data import read_bytes

    text, source = str(search_space), "<search_space parameter>"
    if "\n" not in text.strip() and (text.endswith((".yaml", ".yml")) or text.startswith("gs://")):
        source, text = text, read_bytes(text).decode("utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: not valid YAML ({str(exc).splitlines()[0]}); pass a search-space file") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{source}: not a search space (a mapping with name, objective, parameters...)")
    return data, source


def adapt_space(
    data: Mapping[str, Any],
    *,
    record: PreparedRecord,
    data_uri: str,
    algorithm: str,
    max_trials: int = 0,
    parallel_trials: int = 0,
    output_root: str | None = None,
    namespace: str | None = None,
    source: str = "<search space>",
    overrides: Mapping[str, Any] | None = None,
):
    """The search space pointed at the prepared data (see the module docstring)."""
    from latticenas.space import TRIAL_METRICS, Algorithm, parse_space

    space = json.loads(json.dumps(dict(data)))
    task = record.task
    fixed = {**(space.get("fixed") or {}), **(overrides or {})}
    fixed.pop("drop_columns", None)
    fixed.update({"data": data_uri, "target": record.target, "task": task})
    space["fixed"] = fixed

    family = "regression" if task == "regression" else "classification"
    objective = dict(space.get("objective") or {})
    if TRIAL_METRICS.get(objective.get("metric"), (None, None))[0] != family:
        wanted = DEFAULT_OBJECTIVES[task]
        log.warning("search space objective %s does not fit a %s task: using %s", objective.get("metric"), task, wanted)
        space["objective"] = {"metric": wanted, "type": TRIAL_METRICS[wanted][1].value}
    space["additional_metrics"] = [
        m for m in space.get("additional_metrics") or []
        if TRIAL_METRICS.get(m, (None, None))[0] in (None, family) and m != space["objective"]["metric"]
    ]

    budget = dict(space.get("budget") or {})
    if max_trials and max_trials > 0:
        budget["max_trials"] = int(max_trials)
    if parallel_trials and parallel_trials > 0:
        budget["parallel_trials"] = int(parallel_trials)
    if "max_trials" in budget:
        limit = int(budget["max_trials"])
        budget["parallel_trials"] = min(int(budget.get("parallel_trials", 1)), limit)
        if "max_failed_trials" in budget:
            budget["max_failed_trials"] = min(int(budget["max_failed_trials"]), limit)
    space["budget"] = budget

    try:
        chosen = Algorithm(algorithm).value
    except ValueError:
        raise ManifestError(f"algorithm {algorithm!r} is not one of {', '.join(a.value for a in Algorithm)}") from None
    algorithms = space.get("algorithms")
    if isinstance(algorithms, list):
        algorithms = {name: {} for name in algorithms}
    settings = (algorithms or {}).get(chosen) or {}
    space["algorithms"] = {chosen: settings}
    early = space.get("early_stopping")
    if isinstance(early, dict):
        apply_to = [a for a in early.get("apply_to", [Algorithm.RANDOM.value]) if a == chosen]
        if apply_to:
            space["early_stopping"] = {**early, "apply_to": apply_to}
        else:
            space.pop("early_stopping")
    if output_root:
        space["output_root"] = output_root
    if namespace:
        space["namespace"] = namespace
    return parse_space(space, source=source)


def experiment_name(space_name: str, algorithm: str, run_id: str = "") -> str:
    """``<space>-<algorithm suffix>[-<run>]``, within Katib's 40 characters."""
    from latticenas.space import ALGORITHM_SUFFIXES, Algorithm

    base = f"{space_name}-{ALGORITHM_SUFFIXES[Algorithm(algorithm)]}"
    run = re.sub(r"[^a-z0-9]", "", str(run_id).lower())[:8]
    if run_id and not run:
        run = hashlib.sha256(str(run_id).encode()).hexdigest()[:8]
    if not run:
        return base[:NAME_LIMIT].rstrip("-")
    return f"{base[: NAME_LIMIT - len(run) - 1].rstrip('-')}-{run}"


def build_search_experiment(
    space,
    algorithm: str,
    *,
    record: PreparedRecord,
    name: str,
    run_id: str = "",
    backend: str = "local",
    accelerator: str = "cpu",
    service_account: str = "",
) -> dict[str, Any]:
    """The Experiment for this search (see the module docstring)."""
    from latticenas.images import image_ref
    from latticenas.katib.generate import CONTAINER_NAME, build_experiment
    from latticenas.katib.validate import validate_experiment
    from latticenas.pipeline.placement import place_trials, placement
    from latticenas.pipeline.prepared import trial_split_options

    experiment = build_experiment(space, algorithm, image=image_ref(placement(accelerator).trial_image))
    experiment["metadata"]["name"] = name
    if run_id:
        label = re.sub(r"[^A-Za-z0-9_.-]", "-", str(run_id))[:63].strip("-_.")
        if label:
            experiment["metadata"].setdefault("labels", {})[RUN_LABEL] = label
    pod = experiment["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]
    container = next(c for c in pod["containers"] if c.get("name") == CONTAINER_NAME)
    command = container["command"]
    at = next((i for i, part in enumerate(command) if "${trialParameters." in part and not part.startswith("--output-dir")), len(command))
    command[at:at] = [f"--{option}={value}" for option, value in trial_split_options(record).items()]
    if backend == "katib":
        experiment = place_trials(experiment, accelerator, service_account)
    issues = validate_experiment(experiment)
    if issues:
        raise ManifestError(f"the search Experiment would be rejected: {issues[0]}" + (f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""))
    return experiment


# ------------------------------------------------------------------------------ running


def run_search(
    prepared,
    *,
    backend: str = "local",
    search_space: str,
    algorithm: str = "random",
    max_trials: int = 0,
    parallel_trials: int = 0,
    accelerator: str = "cpu",
    work_dir: str | Path,
    namespace: str = "",
    trial_output_root: str = "",
    service_account: str = "",
    run_id: str = "",
    timeout_s: float = 24 * 3600.0,
    time_budget: str | float | None = None,
    poll_s: float = 30.0,
    client=None,
    overrides: Mapping[str, Any] | None = None,
    mop_scheduler: str = "",
    mop_partitions: int = 0,
) -> SearchOutcome:
    """Run the search (see the module docstring); ``prepared`` is a PreparedData,
    ``overrides`` replace fixed values of the space (:func:`adapt_space`)."""
    from latticenas.runner.timebudget import TimeBudget

    budget = TimeBudget.start(time_budget) if time_budget not in (None, "") else None
    from latticenas.data import join_uri
    from latticenas.katib.generate import dump_yaml
    from latticenas.pipeline.placement import placement
    from latticenas.pipeline.prepared import check_trial_split, write_search_table

    if backend not in BACKENDS:
        raise LatticeNASError(f"search backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if backend == "mop":
        check_mop_backend(scheduler=mop_scheduler, partitions=mop_partitions, trial_output_root=trial_output_root,
                          time_budget=time_budget)
    placement(accelerator)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    data, source = load_space_document(search_space)
    name = experiment_name(_space_name(data, source), algorithm, run_id)

    output_root = None
    if backend == "katib":
        if not str(trial_output_root).startswith("gs://"):
            raise LatticeNASError(
                f"the katib backend needs trial_output_root, a gs:// prefix the trials and this step "
                f"share (got {trial_output_root!r}): set it, e.g. gs://<bucket>/latticenas/trials"
            )
        namespace = namespace or _own_namespace()
        output_root = join_uri(trial_output_root, name)
        table_uri = join_uri(output_root, "data", "search.parquet")
    else:
        table_uri = str((work_dir / "data" / "search.parquet").resolve())
    write_search_table(prepared, table_uri)
    problems = check_trial_split(prepared, table_uri)
    for problem in problems:
        log.warning("search table %s: %s; the search still never sees the test rows", table_uri, problem)

    space = adapt_space(
        data, record=prepared.record, data_uri=table_uri, algorithm=algorithm, max_trials=max_trials,
        parallel_trials=parallel_trials, output_root=output_root,
        namespace=namespace if backend == "katib" else None, source=source, overrides=overrides,
    )
    manifest = build_search_experiment(
        space, algorithm, record=prepared.record, name=name, run_id=run_id, backend=backend,
        accelerator=accelerator, service_account=service_account,
    )
    manifest_path = work_dir / "experiment.yaml"
    manifest_path.write_text(dump_yaml(manifest, "# the Experiment the latticenas pipeline's search step ran"))

    if backend == "local":
        results, outputs = _run_local(manifest, manifest_path, work_dir / "run", budget)
    elif backend == "mop":
        run_mop_backend(manifest, work_dir / "run", scheduler=mop_scheduler, partitions=mop_partitions,
                        trial_output_root=trial_output_root)
        results, outputs = read_run(work_dir / "run", "mop")
    else:
        results, outputs = _run_katib(manifest, namespace, output_root, timeout_s, poll_s, client, budget)
    best = results.best()
    if best is None:
        raise LatticeNASError(
            f"search {name}: no trial reported the objective {results.experiment.objective.metric} "
            f"({len(results.trials)} trials, status {results.status}); see the trial logs"
        )
    params_json = json.loads(_read(outputs(best.name, "params.json")))
    spec_json = _read(outputs(best.name, "best", "spec.json")).decode("utf-8")
    return SearchOutcome(results, BestParameters.of_trial(results, best, params_json, spec_json), spec_json, work_dir)


def _space_name(data: Mapping[str, Any], source: str) -> str:
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{source}: name: is missing; add it (e.g. name: ames)")
    return name


def _own_namespace() -> str:
    path = Path(SERVICE_ACCOUNT_NAMESPACE)
    if path.is_file():
        return path.read_text().strip()
    raise LatticeNASError("no Kubernetes namespace given and not running in a pod: set the namespace parameter")


def _read(uri: str) -> bytes:
    from latticenas.data import read_bytes

    return read_bytes(uri)


def _run_local(manifest: Mapping[str, Any], manifest_path: Path, run_dir: Path, budget=None):
    """Run the Experiment with the local runner (its ``experiment run`` command)."""
    from latticenas.runner.session import run_experiment

    code = run_experiment(manifest_path, run_dir, final_model=False,  # aggregate builds the final model
                          time_budget=budget)
    return read_run(run_dir, "local", manifest, code)


def read_run(run_dir: Path, backend: str, manifest: Mapping[str, Any] | None = None, code: int = 0):
    """``(SearchResults, outputs)`` of the runner's experiment directory ``run_dir`` (the local
    runner's or a MOP run's): the stored trials and status, and ``outputs(trial, *parts)``, where
    a trial's files are. ``manifest``: the Experiment, default the one stored there."""
    from latticenas.aggregate import SearchResults
    from latticenas.runner.workspace import open_for_status

    workspace, store, experiment = open_for_status(run_dir)
    try:
        row = store.experiment() or {}
        trials = tuple(store.trials())
    finally:
        store.close()
    status = str(row.get("status") or ("Succeeded" if code == 0 else "Failed"))
    if row.get("reason"):
        status += f" ({row['reason']})"
    results = SearchResults(manifest=manifest or experiment.manifest, trials=trials, backend=backend, status=status)

    def outputs(trial: str, *parts: str) -> str:
        return str(workspace.output_dir(trial).joinpath(*parts))

    return results, outputs


def _run_katib(manifest, namespace: str, output_root: str, timeout_s: float, poll_s: float, client, budget=None):
    from latticenas.aggregate import SearchResults
    from latticenas.data import join_uri
    from latticenas.katib.client import default_api, read_trials, submit_experiment

    api = client or default_api()
    name = submit_experiment(manifest, namespace, client=api)
    status = _wait_katib(name, namespace, timeout_s, poll_s, api, budget)
    trials = tuple(read_trials(name, namespace, client=api, experiment=manifest))
    results = SearchResults(manifest=manifest, trials=trials, backend="katib", status=status,
                            extra={"namespace": namespace, "output_root": output_root})

    def outputs(trial: str, *parts: str) -> str:
        return join_uri(output_root, trial, *parts)

    return results, outputs


def _wait_katib(name: str, namespace: str, timeout_s: float, poll_s: float, api, budget) -> str:
    """Wait for the Experiment, at most until ``budget``'s deadline (then stop it); its status."""
    from latticenas.katib.client import ExperimentTimeoutError, experiment_status, stop_experiment, wait_for_experiment

    limit = timeout_s if budget is None else max(min(timeout_s, budget.remaining()), 1e-3)
    try:
        final = wait_for_experiment(name, namespace, timeout_s=limit, poll_s=min(poll_s, limit), client=api)
    except ExperimentTimeoutError:
        if budget is None or limit >= timeout_s:
            raise
        log.info("time budget %s reached: stopping Katib Experiment %s/%s", budget.describe(), namespace, name)
        if stop_experiment(name, namespace, client=api) == 0:
            raise LatticeNASError(
                f"no trial of Katib Experiment {namespace}/{name} finished within the time budget "
                f"{budget.describe()} (the Experiment was deleted); give the search a larger time_budget"
            ) from None
        return "Succeeded (ExperimentTimeBudgetReached)"
    kind, reason, _ = experiment_status(final)
    return f"{kind} ({reason})" if reason else kind
