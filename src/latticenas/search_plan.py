"""From a table and a target to the Katib Experiment that ``latticenas search`` runs in memory
with the local runner, or writes out for a cluster.

Contract:

* :class:`SearchSetup` is what the user asked for, checked at construction (one line naming
  the argument and the value).
* :func:`plan_search` reads the table once with the trials' own loader, so a missing file, an
  unknown target or drop column, a task that does not fit, a leaking column or a table too
  small to split stops here, before any trial starts. It resolves the task (``auto`` becomes
  regression, binary or multiclass) and builds the search space: the packaged default
  (``default_space.yaml``, the parameters and training values of ``search_spaces/ames.yaml``)
  or ``setup.space``, with the command line's data, target, task and drop columns, budget, one
  algorithm and seed. The default space's objective follows the task: ``val-rmsle`` for a
  regression target whose values are all positive (errors relative to the price, the scale
  the networks train on for such targets), ``val-rmse`` for any other regression target,
  ``val-logloss`` for classification; no goal. A ``--space`` file keeps its own objective,
  parameters, fixed values, resources and name. The space is checked by
  :func:`~latticenas.space.parse_space` and the Experiment built by
  :func:`~latticenas.katib.generate.build_experiment`; the runner validates it as Katib would.
* Deterministic: the same setup on the same data gives the same Experiment (a local data path
  becomes absolute; no timestamps), so running the same search again on its directory resumes.
* :func:`emit_manifests` writes that very Experiment and its kustomize overlays.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from latticenas.errors import LatticeNASError

DEFAULT_SPACE = "default_space.yaml"
DEFAULT_ALGORITHM = "tpe"
DEFAULT_MAX_TRIALS = 8
TIMED_MAX_TRIALS = 200  # with a time budget the clock ends the search, not the count
#: Algorithms whose Katib settings take ``random_state`` (seeded by ``--seed``).
SEEDED_ALGORITHMS = ("random", "bayesianoptimization", "tpe", "multivariate-tpe", "cmaes", "grid")
OTHER_METRICS = ("ensemble-size", "param-count", "train-seconds", "networks-trained", "networks-failed")
NAME_LENGTH = 23  # a space name Katib accepts with every algorithm suffix
SOURCE = "<latticenas search>"


@dataclass(frozen=True)
class SearchSetup:
    """A search request: the data options of the trial, the budget, the algorithm, the space."""

    data: str
    target: str
    task: str = "auto"
    drop_columns: tuple[str, ...] = ()
    algorithm: str = DEFAULT_ALGORITHM
    max_trials: int | None = None
    parallel: int | None = None
    seed: int | None = None
    space: str | None = None
    timed: bool = False  # a time budget ends the search (raises the default trial count)

    def __post_init__(self) -> None:
        from latticenas.space import Algorithm

        if not str(self.data).strip():
            raise LatticeNASError("data is empty; pass a CSV/Parquet path, gs:// URI or example:NAME")
        if not str(self.target).strip():
            raise LatticeNASError("target is empty; pass the name of the column to predict")
        if self.algorithm not in {a.value for a in Algorithm}:
            names = ", ".join(a.value for a in Algorithm)
            raise LatticeNASError(f"unknown algorithm {self.algorithm!r}; use one of {names}")
        for name in ("max_trials", "parallel"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise LatticeNASError(f"{name} must be a positive whole number, not {value!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0):
            raise LatticeNASError(f"seed must be a whole number >= 0, not {self.seed!r}")


@dataclass(frozen=True)
class SearchPlan:
    """The Experiment to run (a plain mapping, as YAML has it) and what it was made from."""

    experiment: dict[str, Any]
    name: str  # metadata.name
    data: str  # the data URI the trials read
    task: str
    objective: str
    rows: int
    features: int

    def describe(self) -> str:
        return (f"data {self.data}: {self.rows} rows, {self.features} feature columns, task "
                f"{self.task}; objective {self.objective}; experiment {self.name}")


def plan_search(setup: SearchSetup) -> SearchPlan:
    """Check the data and build the Experiment (see the module doc)."""
    from latticenas.katib.generate import build_experiment
    from latticenas.space import parse_space

    data = data_uri(setup.data)
    dataset = _load(data, setup)
    task = dataset.schema.task.value
    raw = _space_dict(setup, data, task, dataset)
    space = parse_space(raw, source=setup.space or SOURCE)
    experiment = build_experiment(space, setup.algorithm)
    return SearchPlan(
        experiment=experiment, name=experiment["metadata"]["name"], data=data, task=task,
        objective=space.objective.metric,
        rows=len(dataset.train) + len(dataset.val) + len(dataset.test),
        features=len(dataset.schema.feature_names),
    )


def data_uri(data: str) -> str:
    """``example:NAME`` and ``gs://`` as given; a local path made absolute."""
    from latticenas.data import is_gcs_uri
    from latticenas.trial import EXAMPLE_SCHEME

    text = str(data)
    if text.startswith(EXAMPLE_SCHEME) or is_gcs_uri(text):
        return text
    return str(Path(text).expanduser().resolve())


def _load(data: str, setup: SearchSetup):
    from latticenas.data import load_dataset
    from latticenas.trial import resolve_data_uri

    fixed = (_read_space(setup.space).get("fixed") or {}) if setup.space else {}
    return load_dataset(resolve_data_uri(data), setup.target, task=setup.task, drop_columns=setup.drop_columns,
                        infinite=str(fixed.get("infinite_values", "refuse")))  # as the trials will


def default_space() -> dict[str, Any]:
    """The packaged default search space, as a mapping."""
    text = resources.files("latticenas").joinpath(DEFAULT_SPACE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _space_dict(setup: SearchSetup, data: str, task: str, dataset) -> dict[str, Any]:
    raw = _read_space(setup.space) if setup.space else default_space()
    space = copy.deepcopy(raw)
    if not setup.space:
        space["name"] = experiment_base_name(setup.data)
        objective = default_objective(task, dataset)
        space["objective"] = {"metric": objective, "type": "minimize"}
        space["additional_metrics"] = _additional_metrics(objective)
        space.pop("early_stopping", None)
    fixed = {k: v for k, v in dict(space.get("fixed") or {}).items() if k != "drop_columns"}
    fixed.update({"data": data, "target": setup.target, "task": task})
    if setup.drop_columns:
        fixed["drop_columns"] = list(setup.drop_columns)
    if setup.seed is not None and "seed" not in {str(k) for k in (space.get("parameters") or {})}:
        fixed["seed"] = setup.seed
    space["fixed"] = fixed
    space["budget"] = _budget(space.get("budget") or {}, setup)
    space["algorithms"] = {setup.algorithm: _algorithm_settings(space.get("algorithms"), setup)}
    early = space.get("early_stopping")
    if isinstance(early, dict) and setup.algorithm not in (early.get("apply_to") or ["random"]):
        space.pop("early_stopping")
    elif isinstance(early, dict):
        space["early_stopping"] = {**early, "apply_to": [setup.algorithm]}
    return space


def _read_space(path: str) -> dict[str, Any]:
    from latticenas.katib.validate import load_yaml_documents

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise LatticeNASError(f"{path}: cannot read the search space ({exc.strerror}); check the path") from None
    documents = load_yaml_documents(text, str(path))
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise LatticeNASError(f"{path}: not one search-space mapping (see docs/search-space.md)")
    return documents[0]


def default_objective(task: str, dataset) -> str:
    """val-rmsle for an all-positive regression target, val-rmse otherwise, val-logloss."""
    if task != "regression":
        return "val-logloss"
    target = dataset.schema.target
    values = [part[target] for part in (dataset.train, dataset.val, dataset.test)]
    return "val-rmsle" if all(len(v) == 0 or float(v.min()) > 0 for v in values) else "val-rmse"


def _additional_metrics(objective: str) -> list[str]:
    from latticenas.evaluation import CLASSIFICATION_METRICS, REGRESSION_METRICS

    family = REGRESSION_METRICS if objective.removeprefix("val-") in REGRESSION_METRICS else CLASSIFICATION_METRICS
    return [*(f"val-{m}" for m in family if f"val-{m}" != objective), f"network-{objective}", *OTHER_METRICS]


def _budget(budget: dict, setup: SearchSetup) -> dict[str, int]:
    default = TIMED_MAX_TRIALS if setup.timed and not setup.space else budget.get("max_trials", DEFAULT_MAX_TRIALS)
    max_trials = setup.max_trials or int(default)
    parallel = min(setup.parallel or int(budget.get("parallel_trials", 2)), max_trials)
    failed = min(int(budget.get("max_failed_trials", max_trials)), max_trials)
    return {"max_trials": max_trials, "parallel_trials": parallel, "max_failed_trials": failed}


def _algorithm_settings(algorithms: Any, setup: SearchSetup) -> dict[str, Any]:
    listed = algorithms if isinstance(algorithms, dict) else {name: {} for name in (algorithms or [])}
    settings = dict(listed.get(setup.algorithm) or {})
    seeded = setup.algorithm in SEEDED_ALGORITHMS
    if seeded and (setup.seed is not None or not setup.space):
        settings["random_state"] = setup.seed or 0
    return settings


def experiment_base_name(data: str) -> str:
    """A Katib-safe name from the data: ``example:ames`` -> ``ames``, ``/x/Their Data.csv`` ->
    ``their-data``; ``search-...`` when the name does not start with a letter."""
    from latticenas.trial import EXAMPLE_SCHEME

    text = str(data)
    stem = text[len(EXAMPLE_SCHEME):] if text.startswith(EXAMPLE_SCHEME) else text.rstrip("/").rsplit("/", 1)[-1]
    stem = re.sub(r"(\.(csv|parquet|pq|gz))+$", "", stem.lower())
    name = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")
    if not name or not name[0].isalpha():
        name = f"search-{name}".strip("-")
    return name[:NAME_LENGTH].rstrip("-")


def planned_name(setup: SearchSetup, backend: str = "local") -> str:
    """The Experiment's ``metadata.name`` (``<space name>-<algorithm suffix>``), known before
    the data are read: the default directory is ``experiments/<this>``; for a MOP search
    (``backend="mop"``, no algorithm) ``<space name>-mop``."""
    from latticenas.space import ALGORITHM_SUFFIXES, Algorithm

    base = _read_space(setup.space).get("name") if setup.space else experiment_base_name(setup.data)
    return f"{base}-{'mop' if backend == 'mop' else ALGORITHM_SUFFIXES[Algorithm(setup.algorithm)]}"


def emit_manifests(plan: SearchPlan, out_dir: str | Path) -> list[str]:
    """Write ``base/experiment-<algorithm>.yaml`` (the planned Experiment) and the kustomize
    overlays under ``out_dir``; returns the paths written or removed."""
    from latticenas.katib.generate import (
        HEADER_PREFIX,
        dump_yaml,
        layout_files,
        write_manifests,
    )

    algorithm = plan.experiment["spec"]["algorithm"]["algorithmName"]
    source = f"latticenas search (data {plan.data}, experiment {plan.name})"
    header = f"{HEADER_PREFIX} from {source} — do not edit"
    files = {f"base/experiment-{algorithm}.yaml": dump_yaml(plan.experiment, header)}
    return write_manifests(layout_files(files, [source]), out_dir)


def cluster_warning(plan: SearchPlan) -> str | None:
    """Why the emitted manifests will not find the data on a cluster, if they will not."""
    from latticenas.data import is_gcs_uri
    from latticenas.trial import EXAMPLE_SCHEME

    if is_gcs_uri(plan.data) or plan.data.startswith(EXAMPLE_SCHEME):
        return None
    return (f"the manifests read {plan.data}, a path on this machine; a trial pod needs a gs:// URI "
            "(upload the table and pass --data gs://bucket/path)")
