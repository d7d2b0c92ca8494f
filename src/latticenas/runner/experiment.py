"""A Katib Experiment manifest as typed, frozen records.

Contract:

* :func:`load_experiment` reads a YAML file (one or many documents), keeps the documents of
  ``kind: Experiment``, picks one (``name`` chooses among several), runs the project's Katib
  validator when it is installed (:mod:`latticenas.katib.validate`) and returns an
  :class:`Experiment`. Every problem raises :class:`~latticenas.errors.ManifestError` with one
  line naming the manifest path of the offending field.
* :func:`parse_experiment` turns an Experiment dict into records and applies Katib's defaults:
  ``parallelTrialCount`` 3, metric strategies ``min`` for a minimized objective and ``max`` for
  a maximized one (every additional metric the same), the StdOut collector with Katib's
  default filter, the ``uniform`` distribution.
* Values of the search space keep Katib's types: ``double`` and ``int`` ranges are numbers,
  ``categorical`` values strings, ``discrete`` values numbers (the strings as written are kept
  to format them back). :meth:`Parameter.format` renders a value the way Katib writes a
  parameter assignment into the trial template (Python ``str``; values on a ``step`` grid are
  rounded to 12 significant digits, so floating-point noise never reaches the command line).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from latticenas.errors import ManifestError
from latticenas.katib.types import Distribution, MetricStrategy, ObjectiveType, ParameterType
from latticenas.metrics import KATIB_DEFAULT_FILTER

ParamValue = float | int | str

DEFAULT_PARALLEL_TRIALS = 3  # Katib's DefaultTrialParallelCount


@dataclass(frozen=True)
class Parameter:
    """One entry of ``spec.parameters`` with its feasible space."""

    name: str
    type: ParameterType
    low: float | int | None = None
    high: float | int | None = None
    step: float | int | None = None
    distribution: Distribution = Distribution.UNIFORM
    choices: tuple[ParamValue, ...] = ()  # categorical: strings; discrete: numbers
    written: tuple[str, ...] = ()  # the list exactly as written in the manifest
    #: feasibleSpace.max as written (``high`` is the last value on the step grid): the bound
    #: Katib's services sample to (hyperopt's quniform, numpy.arange for the grid)
    written_max: float | int | None = None

    @property
    def is_log(self) -> bool:
        return self.distribution is Distribution.LOG_UNIFORM

    def format(self, value: ParamValue) -> str:
        """The string Katib substitutes for ``value`` in the trial template."""
        if self.type is ParameterType.DISCRETE:
            for number, text in zip(self.choices, self.written):
                if number == value:
                    return text
        if self.type is ParameterType.INT:
            return str(int(value))
        if self.type is ParameterType.DOUBLE:
            if self.step and not self.is_log:  # 0.30000000000000004 on a 0.1 grid is 0.3
                return str(float(f"{float(value):.12g}"))
            return str(float(value))
        return str(value)


@dataclass(frozen=True)
class Objective:
    type: ObjectiveType
    metric: str
    goal: float | None = None
    additional_metrics: tuple[str, ...] = ()
    strategies: tuple[tuple[str, MetricStrategy], ...] = ()

    @property
    def minimize(self) -> bool:
        return self.type is ObjectiveType.MINIMIZE

    @property
    def metric_names(self) -> tuple[str, ...]:
        return (self.metric, *self.additional_metrics)

    def strategy(self, metric: str) -> MetricStrategy:
        default = MetricStrategy.MIN if self.minimize else MetricStrategy.MAX
        return dict(self.strategies).get(metric, default)

    def better(self, value: float, than: float) -> bool:
        return value < than if self.minimize else value > than

    def goal_reached(self, best: float | None) -> bool:
        """Katib: a minimized objective reaches its goal at ``best <= goal`` (``>=`` maximized)."""
        if self.goal is None or best is None:
            return False
        return best <= self.goal if self.minimize else best >= self.goal


@dataclass(frozen=True)
class AlgorithmSpec:
    """``spec.algorithm`` or ``spec.earlyStopping``: a name and its string settings."""

    name: str
    settings: tuple[tuple[str, str], ...] = ()

    def setting(self, name: str, default: str | None = None) -> str | None:
        return dict(self.settings).get(name, default)


@dataclass(frozen=True)
class TrialParameter:
    name: str
    reference: str
    description: str = ""


@dataclass(frozen=True)
class TrialTemplate:
    """The primary container of ``spec.trialTemplate.trialSpec`` and the trial parameters."""

    command: tuple[str, ...]
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    trial_parameters: tuple[TrialParameter, ...]
    kind: str = "Job"
    api_version: str = "batch/v1"
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Budget:
    max_trials: int | None
    parallel: int = DEFAULT_PARALLEL_TRIALS
    max_failed: int | None = None


@dataclass(frozen=True)
class Experiment:
    name: str
    namespace: str
    parameters: tuple[Parameter, ...]
    objective: Objective
    algorithm: AlgorithmSpec
    early_stopping: AlgorithmSpec | None
    budget: Budget
    metric_filters: tuple[str, ...]
    template: TrialTemplate
    manifest: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def with_budget(self, max_trials: int | None = None, parallel: int | None = None) -> Experiment:
        """The same experiment with command-line overrides of the budget."""
        budget = replace(
            self.budget,
            max_trials=self.budget.max_trials if max_trials is None else max_trials,
            parallel=self.budget.parallel if parallel is None else parallel,
        )
        return replace(self, budget=budget)


# ---------------------------------------------------------------------------- loading


def load_experiment(path: str | Path, name: str | None = None) -> Experiment:
    """Read, select, validate and parse the Experiment in ``path``."""
    obj = select_experiment(load_documents(path), name, path)
    check_with_validator(obj, path)
    return parse_experiment(obj)


def load_documents(path: str | Path) -> list[Any]:
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such file; pass the path of a Katib Experiment YAML")
    try:
        return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ManifestError(f"{path}: not valid YAML{line}; fix the syntax") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not a text file; pass a Katib Experiment YAML") from None


def select_experiment(docs: Sequence[Any], name: str | None, path: str | Path = "manifest") -> dict:
    experiments = [d for d in docs if isinstance(d, dict) and d.get("kind") == "Experiment"]
    if not experiments:
        raise ManifestError(f"{path}: no document of kind Experiment; pass a Katib Experiment")
    if name is not None:
        chosen = [d for d in experiments if _metadata_name(d) == name]
        if not chosen:
            names = ", ".join(_metadata_name(d) or "?" for d in experiments)
            raise ManifestError(f"{path}: no Experiment named {name!r} (found: {names})")
        return chosen[0]
    if len(experiments) > 1:
        names = ", ".join(_metadata_name(d) or "?" for d in experiments)
        raise ManifestError(f"{path}: {len(experiments)} Experiments ({names}); choose one with --name")
    return experiments[0]


def check_with_validator(obj: dict, path: str | Path) -> None:
    """Refuse what the project's Katib validator rejects (skipped when it is not installed)."""
    try:
        from latticenas.katib.validate import validate_experiment
    except ImportError:
        return
    issues = [
        issue
        for issue in validate_experiment(obj)
        if str(getattr(issue, "severity", "error")).lower() not in ("warning", "info")
    ]
    if issues:
        first = issues[0]
        more = f" (and {len(issues) - 1} more issue(s))" if len(issues) > 1 else ""
        raise ManifestError(f"{path}: {first.path}: {first.message}{more}")


def _metadata_name(obj: Mapping) -> str | None:
    metadata = obj.get("metadata")
    return metadata.get("name") if isinstance(metadata, Mapping) else None


# ---------------------------------------------------------------------------- parsing


def parse_experiment(obj: Mapping[str, Any]) -> Experiment:
    spec = _mapping(obj.get("spec"), "spec")
    metadata = _mapping(obj.get("metadata", {}), "metadata")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ManifestError("metadata.name: missing; every Experiment needs a name")
    parameters = tuple(
        parse_parameter(p, f"spec.parameters[{i}]")
        for i, p in enumerate(_list(spec.get("parameters"), "spec.parameters", required=True))
    )
    early = spec.get("earlyStopping")
    return Experiment(
        name=name,
        namespace=str(metadata.get("namespace") or "default"),
        parameters=parameters,
        objective=parse_objective(_mapping(spec.get("objective"), "spec.objective")),
        algorithm=parse_algorithm(_mapping(spec.get("algorithm"), "spec.algorithm"), "spec.algorithm"),
        early_stopping=parse_algorithm(_mapping(early, "spec.earlyStopping"), "spec.earlyStopping")
        if early
        else None,
        budget=parse_budget(spec),
        metric_filters=parse_metric_filters(spec.get("metricsCollectorSpec")),
        template=parse_trial_template(
            _mapping(spec.get("trialTemplate"), "spec.trialTemplate"), "spec.trialTemplate"
        ),
        manifest=obj,
    )


def parse_parameter(obj: Any, where: str) -> Parameter:
    obj = _mapping(obj, where)
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{where}.name: missing; name every parameter")
    kind = _enum(ParameterType, obj.get("parameterType"), f"{where}.parameterType")
    space = _mapping(obj.get("feasibleSpace"), f"{where}.feasibleSpace")
    distribution = _enum(
        Distribution, space.get("distribution") or "uniform", f"{where}.feasibleSpace.distribution"
    )
    if kind in (ParameterType.CATEGORICAL, ParameterType.DISCRETE):
        return _parse_choices(name, kind, space, f"{where}.feasibleSpace")
    return _parse_range(name, kind, space, distribution, f"{where}.feasibleSpace")


def _parse_range(name, kind, space, distribution, where) -> Parameter:
    number = int if kind is ParameterType.INT else float
    low = _number(space.get("min"), f"{where}.min", number)
    high = _number(space.get("max"), f"{where}.max", number)
    step = space.get("step")
    step = _number(step, f"{where}.step", number) if step not in (None, "") else None
    if low > high:
        raise ManifestError(f"{where}: min {low} is greater than max {high}")
    if step is not None and step <= 0:
        raise ManifestError(f"{where}.step: must be positive, got {step}")
    if distribution in (Distribution.LOG_UNIFORM, Distribution.LOG_NORMAL) and low <= 0:
        raise ManifestError(f"{where}.min: {distribution.value} needs min > 0, got {low}")
    written_max = high
    if step and distribution is not Distribution.LOG_UNIFORM:  # the largest value on the step grid
        if kind is ParameterType.INT:
            high = low + ((high - low) // step) * step
        else:
            high = float(f"{low + math.floor((high - low) / step + 1e-9) * step:.12g}")
    return Parameter(name, kind, low, high, step, distribution, written_max=written_max)


def _parse_choices(name, kind, space, where) -> Parameter:
    written = tuple(str(v) for v in _list(space.get("list"), f"{where}.list", required=True))
    if not written:
        raise ManifestError(f"{where}.list: empty; list at least one value")
    if len(set(written)) != len(written):
        raise ManifestError(f"{where}.list: values repeat; list each value once")
    if kind is ParameterType.CATEGORICAL:
        return Parameter(name, kind, choices=written, written=written)
    numbers = tuple(_number(v, f"{where}.list", float) for v in written)
    if all(float(n).is_integer() and "." not in w and "e" not in w.lower() for n, w in zip(numbers, written)):
        numbers = tuple(int(n) for n in numbers)
    return Parameter(name, kind, choices=numbers, written=written)


def parse_objective(obj: Mapping[str, Any]) -> Objective:
    kind = _enum(ObjectiveType, obj.get("type"), "spec.objective.type")
    metric = obj.get("objectiveMetricName")
    if not isinstance(metric, str) or not metric:
        raise ManifestError("spec.objective.objectiveMetricName: missing; name the metric to optimize")
    goal = obj.get("goal")
    goal = _number(goal, "spec.objective.goal", float) if goal is not None else None
    additional = tuple(
        str(m) for m in _list(obj.get("additionalMetricNames"), "spec.objective.additionalMetricNames")
    )
    strategies = []
    for i, item in enumerate(_list(obj.get("metricStrategies"), "spec.objective.metricStrategies")):
        where = f"spec.objective.metricStrategies[{i}]"
        item = _mapping(item, where)
        strategies.append((str(item.get("name")), _enum(MetricStrategy, item.get("value"), f"{where}.value")))
    return Objective(kind, metric, goal, additional, tuple(strategies))


def parse_algorithm(obj: Mapping[str, Any], where: str) -> AlgorithmSpec:
    name = obj.get("algorithmName")
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{where}.algorithmName: missing; name the algorithm")
    settings = []
    for i, item in enumerate(_list(obj.get("algorithmSettings"), f"{where}.algorithmSettings")):
        item = _mapping(item, f"{where}.algorithmSettings[{i}]")
        settings.append((str(item.get("name")), str(item.get("value"))))
    return AlgorithmSpec(name, tuple(settings))


def parse_budget(spec: Mapping[str, Any]) -> Budget:
    def count(key: str, minimum: int) -> int | None:
        value = spec.get(key)
        if value is None:
            return None
        number = _number(value, f"spec.{key}", int)
        if number < minimum:
            raise ManifestError(f"spec.{key}: must be at least {minimum}, got {number}")
        return number

    parallel = count("parallelTrialCount", 1)
    return Budget(
        max_trials=count("maxTrialCount", 1),
        parallel=DEFAULT_PARALLEL_TRIALS if parallel is None else parallel,
        max_failed=count("maxFailedTrialCount", 0),
    )


def parse_metric_filters(obj: Any) -> tuple[str, ...]:
    if not obj:
        return (KATIB_DEFAULT_FILTER,)
    obj = _mapping(obj, "spec.metricsCollectorSpec")
    collector = _mapping(obj.get("collector") or {}, "spec.metricsCollectorSpec.collector")
    kind = collector.get("kind", "StdOut")
    if kind != "StdOut":
        raise ManifestError(
            f"spec.metricsCollectorSpec.collector.kind: {kind} is not supported by the local "
            "runner; use StdOut (the trial prints name=value lines)"
        )
    source = _mapping(obj.get("source") or {}, "spec.metricsCollectorSpec.source")
    filters = _mapping(source.get("filter") or {}, "spec.metricsCollectorSpec.source.filter")
    formats = _list(filters.get("metricsFormat"), "spec.metricsCollectorSpec.source.filter.metricsFormat")
    return tuple(str(f) for f in formats) or (KATIB_DEFAULT_FILTER,)


def parse_trial_template(obj: Mapping[str, Any], where: str) -> TrialTemplate:
    trial_spec = obj.get("trialSpec")
    if not isinstance(trial_spec, Mapping):
        raise ManifestError(
            f"{where}.trialSpec: missing; the local runner needs the trial spec inline "
            "(configMap templates live only on the cluster)"
        )
    container = _primary_container(trial_spec, obj.get("primaryContainerName"), f"{where}.trialSpec")
    command = tuple(str(c) for c in _list(container.get("command"), "primary container command"))
    args = tuple(str(a) for a in _list(container.get("args"), "primary container args"))
    if not command:
        raise ManifestError(
            f"{where}.trialSpec: the primary container has no command; the local runner cannot "
            "know the image's entrypoint, so name the program (e.g. latticenas-trial) in command"
        )
    meta = _mapping(trial_spec.get("metadata") or {}, f"{where}.trialSpec.metadata")
    return TrialTemplate(
        command=command,
        args=args,
        env=tuple(
            (str(e["name"]), str(e["value"]))
            for e in _list(container.get("env"), "primary container env")
            if isinstance(e, Mapping) and "name" in e and "value" in e
        ),
        trial_parameters=tuple(
            _trial_parameter(p, f"{where}.trialParameters[{i}]")
            for i, p in enumerate(_list(obj.get("trialParameters"), f"{where}.trialParameters"))
        ),
        kind=str(trial_spec.get("kind", "Job")),
        api_version=str(trial_spec.get("apiVersion", "batch/v1")),
        labels=tuple((str(k), str(v)) for k, v in (meta.get("labels") or {}).items()),
        annotations=tuple((str(k), str(v)) for k, v in (meta.get("annotations") or {}).items()),
    )


def _trial_parameter(obj: Any, where: str) -> TrialParameter:
    obj = _mapping(obj, where)
    name, reference = obj.get("name"), obj.get("reference")
    if not isinstance(name, str) or not isinstance(reference, str):
        raise ManifestError(f"{where}: needs a name and a reference")
    return TrialParameter(name, reference, str(obj.get("description") or ""))


def _primary_container(trial_spec: Mapping, name: Any, where: str) -> Mapping:
    containers = list(_find_containers(trial_spec))
    if not containers:
        raise ManifestError(f"{where}: no containers found; the trial spec needs a pod template")
    if name:
        named = [c for c in containers if c.get("name") == name]
        if not named:
            raise ManifestError(f"{where}: no container named {name!r} (primaryContainerName)")
        return named[0]
    if len(containers) > 1:
        raise ManifestError(f"{where}: several containers; set trialTemplate.primaryContainerName")
    return containers[0]


def _find_containers(node: Any):
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "containers" and isinstance(value, list):
                yield from (c for c in value if isinstance(c, Mapping))
            else:
                yield from _find_containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _find_containers(item)


# ---------------------------------------------------------------------------- primitives


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ManifestError(f"{where}: expected a mapping, got {_describe(value)}")
    return value


def _list(value: Any, where: str, required: bool = False) -> list:
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise ManifestError(f"{where}: expected a list, got {_describe(value)}")
    return value


def _number(value: Any, where: str, kind: type) -> float | int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ManifestError(f"{where}: expected a number, got {_describe(value)}") from None
    if not math.isfinite(number):
        raise ManifestError(f"{where}: expected a finite number, got {value!r}")
    if kind is int:
        if not number.is_integer():
            raise ManifestError(f"{where}: expected an integer, got {value!r}")
        return int(number)
    return number


def _enum(kind: type[Enum], value: Any, where: str):
    for member in kind:
        if member.value == value:
            return member
    allowed = ", ".join(m.value for m in kind)
    raise ManifestError(f"{where}: {value!r} is not one of {allowed}")


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
