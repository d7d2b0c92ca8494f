"""The search-space file: what to search, how to score it, and with what budget.

A search space is a small YAML file (format: ``docs/search-space.md``; the default is
``search_spaces/ames.yaml``) from which :mod:`latticenas.katib.generate` writes one Katib
Experiment per suggestion algorithm. :func:`load_space` reads and checks it; every mistake
raises :class:`~latticenas.errors.ManifestError` with one line naming the file, the field path
(``parameters.learning_rate.min``), the problem and the fix.

Parameter names are checked against :func:`latticenas.params.parameter_fields` (the Cerebros
names the trial program accepts), and each searched value is checked with
:class:`latticenas.params.ParameterSet` together with the fixed values, so a space cannot
produce a parameter set the trial would reject (e.g. ``maximum_levels`` below
``minimum_levels``).

Framework-free and fast: only PyYAML.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from latticenas.errors import LatticeNASError, ManifestError
from latticenas.evaluation import CLASSIFICATION_METRICS, DIRECTIONS, REGRESSION_METRICS
from latticenas.katib.types import Distribution, ObjectiveType, ParameterType

__all__ = [
    "ALGORITHM_SUFFIXES",
    "TRIAL_METRICS",
    "TRIAL_OPTIONS",
    "Algorithm",
    "AlgorithmConfig",
    "Budget",
    "Distribution",
    "EarlyStopping",
    "Objective",
    "ObjectiveType",
    "Parameter",
    "ParameterType",
    "Resources",
    "SearchSpace",
    "load_space",
    "format_value",
    "parse_space",
]


#: The distributions a search-space file may use (those every local engine can honour).
SPACE_DISTRIBUTIONS = (Distribution.UNIFORM, Distribution.LOG_UNIFORM)


class Algorithm(str, Enum):
    """The Katib suggestion algorithms latticenas generates Experiments for."""

    RANDOM = "random"
    BAYESIAN_OPTIMIZATION = "bayesianoptimization"
    TPE = "tpe"
    MULTIVARIATE_TPE = "multivariate-tpe"
    CMAES = "cmaes"
    SOBOL = "sobol"
    GRID = "grid"
    HYPERBAND = "hyperband"


#: Experiment name = ``<space name>-<suffix>`` (Katib caps names at 40 characters).
ALGORITHM_SUFFIXES: dict[Algorithm, str] = {
    Algorithm.RANDOM: "random",
    Algorithm.BAYESIAN_OPTIMIZATION: "bayesopt",
    Algorithm.TPE: "tpe",
    Algorithm.MULTIVARIATE_TPE: "multivariate-tpe",
    Algorithm.CMAES: "cmaes",
    Algorithm.SOBOL: "sobol",
    Algorithm.GRID: "grid",
    Algorithm.HYPERBAND: "hyperband",
}
#: Algorithms generated when the file has no ``algorithms`` section (grid needs a space made
#: for it, with steps or lists everywhere, so it is only generated when listed).
DEFAULT_ALGORITHMS: tuple[Algorithm, ...] = tuple(a for a in Algorithm if a is not Algorithm.GRID)

#: Metrics the trial program prints: name -> (task family or None, better direction or None).
TRIAL_METRICS: dict[str, tuple[str | None, ObjectiveType | None]] = {
    **{f"val-{m}": ("regression", DIRECTIONS[m]) for m in REGRESSION_METRICS},
    **{f"val-{m}": ("classification", DIRECTIONS[m]) for m in CLASSIFICATION_METRICS},
    **{f"network-val-{m}": ("regression", DIRECTIONS[m]) for m in REGRESSION_METRICS},  # the trial's best
    **{f"network-val-{m}": ("classification", DIRECTIONS[m]) for m in CLASSIFICATION_METRICS},  # single network
    **{name: (None, None) for name in ("ensemble-size", "param-count", "train-seconds", "networks-trained",
                                       "networks-failed")},
}

#: Fixed arguments that are trial-program options rather than search parameters
#: (``drop_columns`` becomes ``--drop-columns=a,b``).
TRIAL_OPTIONS: tuple[str, ...] = ("data", "target", "task", "drop_columns")
TASKS: tuple[str, ...] = ("auto", "regression", "binary", "multiclass")
#: Set elsewhere in the file, never in ``fixed``.
RESERVED_FIXED: dict[str, str] = {
    "objective": "set objective.metric instead",
    "output_dir": "set output_root instead (each trial writes to <output_root>/<trial name>)",
}
RESOURCE_NAMES: tuple[str, ...] = ("cpu", "memory", "ephemeral-storage")
DEFAULT_RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}
DEFAULT_OUTPUT_ROOT = "/tmp/latticenas"
NAME_MAX_LENGTH = 40  # Katib's limit on Experiment names

_TOP_KEYS = ("name", "namespace", "objective", "additional_metrics", "budget", "fixed",
             "parameters", "resources", "output_root", "algorithms", "early_stopping")
_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?"
)
_SUFFIXES = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Objective:
    metric: str
    type: ObjectiveType
    goal: float | None = None


@dataclass(frozen=True)
class Budget:
    max_trials: int
    parallel_trials: int
    max_failed_trials: int


@dataclass(frozen=True)
class Parameter:
    """One searched parameter. ``min``/``max``/``step`` for int and double; ``values`` for
    categorical (strings) and discrete (numbers)."""

    name: str
    type: ParameterType
    min: float | int | None = None
    max: float | int | None = None
    step: float | int | None = None
    distribution: Distribution = Distribution.UNIFORM
    values: tuple[Any, ...] = ()

    @property
    def is_numeric(self) -> bool:
        return self.type in (ParameterType.INT, ParameterType.DOUBLE)

    def candidates(self) -> tuple[Any, ...]:
        """Values that bound what a suggestion can be: min and max, or every listed value."""
        return (self.min, self.max) if self.is_numeric else self.values


@dataclass(frozen=True)
class Resources:
    """Container resources: ``((name, quantity), ...)`` pairs, in file order."""

    requests: tuple[tuple[str, str], ...]
    limits: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        if self.requests:
            out["requests"] = dict(self.requests)
        if self.limits:
            out["limits"] = dict(self.limits)
        return out


@dataclass(frozen=True)
class AlgorithmConfig:
    algorithm: Algorithm
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def settings_dict(self) -> dict[str, str]:
        return dict(self.settings)


@dataclass(frozen=True)
class EarlyStopping:
    algorithm: str
    settings: tuple[tuple[str, str], ...]
    apply_to: tuple[Algorithm, ...]


@dataclass(frozen=True)
class SearchSpace:
    name: str
    objective: Objective
    budget: Budget
    parameters: tuple[Parameter, ...]
    fixed: tuple[tuple[str, Any], ...]
    resources: Resources
    algorithms: tuple[AlgorithmConfig, ...]
    additional_metrics: tuple[str, ...] = ()
    namespace: str | None = None
    output_root: str = DEFAULT_OUTPUT_ROOT
    early_stopping: EarlyStopping | None = None
    source: str = field(default="<search space>", compare=False)

    @property
    def fixed_dict(self) -> dict[str, Any]:
        return dict(self.fixed)

    def parameter(self, name: str) -> Parameter:
        for parameter in self.parameters:
            if parameter.name == name:
                return parameter
        raise KeyError(name)

    def algorithm(self, algorithm: Algorithm | str) -> AlgorithmConfig:
        for config in self.algorithms:
            if config.algorithm == Algorithm(algorithm):
                return config
        raise KeyError(str(algorithm))

    def experiment_name(self, algorithm: Algorithm | str) -> str:
        return f"{self.name}-{ALGORITHM_SUFFIXES[Algorithm(algorithm)]}"


# --------------------------------------------------------------------------- loading


def load_space(path: str | Path) -> SearchSpace:
    """Read and check a search-space YAML file."""
    from latticenas.katib.validate import load_yaml_documents

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such search-space file; check the path "
                            "(the default is search_spaces/ames.yaml)") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read it ({exc.strerror}); check the path") from None
    documents = load_yaml_documents(text, str(path))
    if len(documents) != 1:
        raise ManifestError(f"{path}: expected one YAML document, found {len(documents)}; "
                            "keep one search space per file")
    return parse_space(documents[0], source=str(path))


def parse_space(data: Any, source: str = "<search space>") -> SearchSpace:
    """Check a parsed search-space mapping and build the :class:`SearchSpace`."""
    return _Parser(source).space(data)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    # -- errors --------------------------------------------------------------------------

    def fail(self, path: str, message: str) -> ManifestError:
        return ManifestError(f"{self.source}: {path}: {message}")

    def mapping(self, value: Any, path: str, keys: tuple[str, ...] | None = None) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"must be a mapping, not {_describe(value)}; write it as "
                                  "'key: value' lines")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(path, f"key {key!r} is not a name; use text keys")
            if keys is not None and key not in keys:
                where = key if path == "<file>" else _join(path, key)
                raise self.fail(where, f"unknown field{_hint(key, keys)}; "
                                                  f"use one of {', '.join(keys)}")
        return value

    def required(self, data: Mapping[str, Any], key: str, path: str, example: str) -> Any:
        if data.get(key) is None:
            raise self.fail(_join(path, key), f"is missing; add it (e.g. {example})")
        return data[key]

    def integer(self, value: Any, path: str, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        ):
            raise self.fail(path, f"{value!r} is not a whole number; set a whole number")
        value = int(value)
        if minimum is not None and value < minimum:
            raise self.fail(path, f"{value} must be >= {minimum}; raise it")
        return value

    def number(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(path, f"{value!r} is not a number; set a number (quotes not needed)")
        return value

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"{value!r} is not text; set a non-empty string")
        return value

    def shell_safe(self, value: str, path: str) -> str:
        if not _SHELL_SAFE.fullmatch(value):
            raise self.fail(path, f"{value!r} has spaces or shell characters; Katib runs the "
                                  "trial command through 'sh -c', so use only letters, digits "
                                  "and _@%+=:,./-")
        return value

    # -- sections ------------------------------------------------------------------------

    def space(self, data: Any) -> SearchSpace:
        if data is None:
            raise self.fail("<file>", "is empty; write a search space (see docs/search-space.md)")
        data = self.mapping(data, "<file>", _TOP_KEYS)
        name = self.name(self.required(data, "name", "", "name: ames"))
        namespace = data.get("namespace")
        if namespace is not None:
            namespace = self.text(namespace, "namespace")
            if not _NAMESPACE.fullmatch(namespace) or len(namespace) > 63:
                raise self.fail("namespace", f"{namespace!r} is not a namespace name; use lower "
                                             "case letters, digits and '-'")
        objective = self.objective(self.required(data, "objective", "",
                                                 "objective: {metric: val-rmse, type: minimize}"))
        additional = self.additional_metrics(data.get("additional_metrics"), objective)
        fixed = self.fixed(self.required(data, "fixed", "", "fixed: {data: example:ames, "
                                                            "target: price}"))
        self.check_task_metrics(fixed, objective, additional)
        parameters = self.parameters(self.required(data, "parameters", "",
                                                   "parameters: {maximum_levels: {type: int, "
                                                   "min: 1, max: 4}}"))
        for p in parameters:
            if p.name in fixed:
                raise self.fail(f"fixed.{p.name}", f"{p.name} is also searched under parameters; "
                                                   "keep it in one place")
        budget = self.budget(self.required(data, "budget", "",
                                           "budget: {max_trials: 8, parallel_trials: 2}"))
        resources = self.resources(data.get("resources"))
        output_root = self.output_root(data.get("output_root", DEFAULT_OUTPUT_ROOT))
        algorithms = self.algorithms(data.get("algorithms"), parameters, fixed, budget)
        early = self.early_stopping(data.get("early_stopping"), algorithms)
        self.check_against_trial(parameters, fixed)
        self.check_trial_memory(parameters, fixed, resources)
        return SearchSpace(
            name=name, objective=objective, budget=budget, parameters=parameters,
            fixed=tuple(fixed.items()), resources=resources, algorithms=algorithms,
            additional_metrics=additional, namespace=namespace, output_root=output_root,
            early_stopping=early, source=self.source,
        )

    def name(self, value: Any) -> str:
        name = self.text(value, "name")
        longest = max(len(s) for s in ALGORITHM_SUFFIXES.values()) + 1
        if not _DNS_LABEL.fullmatch(name):
            raise self.fail("name", f"{name!r} must be lower case letters, digits and '-', "
                                    "starting with a letter (it prefixes the Experiment names)")
        if len(name) + longest > NAME_MAX_LENGTH:
            raise self.fail("name", f"{name!r} is too long: Experiment names "
                                    f"'{name}-<algorithm>' must fit Katib's {NAME_MAX_LENGTH} "
                                    f"characters; use at most {NAME_MAX_LENGTH - longest}")
        return name

    def objective(self, value: Any) -> Objective:
        data = self.mapping(value, "objective", ("metric", "type", "goal"))
        metric = self.text(self.required(data, "metric", "objective", "metric: val-rmse"),
                           "objective.metric")
        if metric not in TRIAL_METRICS or TRIAL_METRICS[metric][1] is None:
            scored = [m for m, (_, d) in TRIAL_METRICS.items() if d is not None]
            raise self.fail("objective.metric", f"{metric!r} is not a metric the trial can be "
                                                f"scored by{_hint(metric, scored)}; use one of "
                                                f"{', '.join(scored)}")
        raw_type = self.required(data, "type", "objective", "type: minimize")
        try:
            kind = ObjectiveType(raw_type)
        except ValueError:
            raise self.fail("objective.type", f"{raw_type!r} must be minimize or maximize") from None
        better = TRIAL_METRICS[metric][1]
        if kind is not better:
            raise self.fail("objective.type", f"{metric} is better when "
                                              f"{'lower' if better is ObjectiveType.MINIMIZE else 'higher'}; "
                                              f"set type: {better.value}")
        goal = data.get("goal")
        if goal is not None:
            goal = self.number(goal, "objective.goal")
        return Objective(metric, kind, goal)

    def additional_metrics(self, value: Any, objective: Objective) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail("additional_metrics", "must be a list of metric names")
        seen: list[str] = []
        for i, metric in enumerate(value):
            path = f"additional_metrics[{i}]"
            metric = self.text(metric, path)
            if metric not in TRIAL_METRICS:
                raise self.fail(path, f"{metric!r} is not printed by the trial{_hint(metric, TRIAL_METRICS)}; "
                                      f"use one of {', '.join(TRIAL_METRICS)}")
            if metric == objective.metric:
                raise self.fail(path, f"{metric!r} is the objective metric; remove it from "
                                      "additional_metrics")
            if metric in seen:
                raise self.fail(path, f"{metric!r} is listed twice; remove the duplicate")
            seen.append(metric)
        return tuple(seen)

    def fixed(self, value: Any) -> dict[str, Any]:
        data = self.mapping(value, "fixed")
        known = _parameter_fields()
        out: dict[str, Any] = {}
        for key, raw in data.items():
            path = f"fixed.{key}"
            if key in RESERVED_FIXED:
                raise self.fail(path, f"is not a fixed argument; {RESERVED_FIXED[key]}")
            if key not in TRIAL_OPTIONS and known is not None and key not in known:
                raise self.fail(path, f"is not a trial option or search parameter"
                                      f"{_hint(key, [*TRIAL_OPTIONS, *known])}; use one of "
                                      f"{', '.join(TRIAL_OPTIONS)} or a Cerebros parameter name")
            if key == "drop_columns":
                columns = raw if isinstance(raw, list) else [raw]
                cleaned = []
                for j, column in enumerate(columns):
                    column = self.shell_safe(self.text(column, f"{path}[{j}]"), f"{path}[{j}]")
                    if "," in column:
                        raise self.fail(f"{path}[{j}]", f"{column!r} contains ','; list the "
                                                        "columns one per item")
                    cleaned.append(column)
                out[key] = tuple(cleaned)
                continue
            if raw is None or isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
                raise self.fail(path, f"{raw!r} is not a text or number value; set one (omit the "
                                      "key to use the trial's default)")
            if isinstance(raw, float) and not math.isfinite(raw):
                raise self.fail(path, f"{raw!r} is not a finite number; set a number")
            text = format_value(raw)
            if "${" in text:
                raise self.fail(path, "must not contain '${' (Katib would substitute it); "
                                      "remove it")
            self.shell_safe(text, path)
            out[key] = raw
        for key in ("data", "target"):
            if key not in out:
                raise self.fail(f"fixed.{key}", "is missing; the trial needs it (e.g. "
                                                "data: example:ames, target: price)")
        task = out.get("task", "auto")
        if task not in TASKS:
            raise self.fail("fixed.task", f"{task!r} is not a task; use one of {', '.join(TASKS)}")
        return out

    def check_task_metrics(self, fixed: Mapping[str, Any], objective: Objective,
                           additional: tuple[str, ...]) -> None:
        task = fixed.get("task", "auto")
        family = TRIAL_METRICS[objective.metric][0]
        if task != "auto":
            wanted = "regression" if task == "regression" else "classification"
            if family != wanted:
                raise self.fail("objective.metric", f"{objective.metric} is a {family} metric "
                                                    f"but fixed.task is {task}; pick a {wanted} "
                                                    "metric")
        for i, metric in enumerate(additional):
            other = TRIAL_METRICS[metric][0]
            if other is not None and other != family:
                raise self.fail(f"additional_metrics[{i}]",
                                f"{metric} is a {other} metric and the objective "
                                f"{objective.metric} is {family}; the trial never prints both, "
                                "remove it")

    def parameters(self, value: Any) -> tuple[Parameter, ...]:
        data = self.mapping(value, "parameters")
        if not data:
            raise self.fail("parameters", "is empty; add at least one parameter to search")
        known = _parameter_fields()
        out = []
        for name, spec in data.items():
            path = f"parameters.{name}"
            if known is not None and name not in known:
                raise self.fail(path, f"is not a search parameter{_hint(name, known)}; use a "
                                      "Cerebros parameter name (see latticenas.params)")
            out.append(self.parameter(name, spec, path, known.get(name) if known else None))
        return tuple(out)

    def parameter(self, name: str, value: Any, path: str, spec: Any) -> Parameter:
        data = self.mapping(value, path, ("type", "min", "max", "step", "distribution", "values"))
        raw_type = self.required(data, "type", path, "type: int")
        try:
            kind = ParameterType(raw_type)
        except ValueError:
            raise self.fail(f"{path}.type", f"{raw_type!r} is not a parameter type"
                                            f"{_hint(str(raw_type), [t.value for t in ParameterType])}; "
                                            "use int, double, categorical or discrete") from None
        if kind in (ParameterType.INT, ParameterType.DOUBLE):
            if "values" in data:
                raise self.fail(f"{path}.values", f"is not allowed for {kind.value}; use min/max "
                                                  "(or type: discrete for a list of numbers)")
            read = self.integer if kind is ParameterType.INT else self.number
            low = read(self.required(data, "min", path, "min: 1"), f"{path}.min")
            high = read(self.required(data, "max", path, "max: 4"), f"{path}.max")
            if low > high:
                raise self.fail(f"{path}.min", f"min {low} is greater than max {high}; swap them")
            step = data.get("step")
            if step is not None:
                step = read(step, f"{path}.step")
                if step <= 0:
                    raise self.fail(f"{path}.step", f"{step} must be > 0; fix or remove the step")
            raw_dist = data.get("distribution", Distribution.UNIFORM.value)
            dist = next((d for d in SPACE_DISTRIBUTIONS if d.value == raw_dist), None)
            if dist is None:
                raise self.fail(f"{path}.distribution",
                                f"{raw_dist!r} is not supported{_hint(str(raw_dist), [d.value for d in SPACE_DISTRIBUTIONS])}; "
                                "use uniform or logUniform")
            if dist is Distribution.LOG_UNIFORM and low <= 0:
                raise self.fail(f"{path}.min", f"logUniform needs min > 0 (its log is taken), "
                                               f"not {low}; raise min or use uniform")
            if spec is not None and kind is ParameterType.DOUBLE and spec.type is int:
                raise self.fail(f"{path}.type", f"{name} takes whole numbers; use type: int")
            if spec is not None and spec.type is str:
                raise self.fail(f"{path}.type", f"{name} takes names; use type: categorical")
            return Parameter(name, kind, low, high, step, dist)
        for key in ("min", "max", "step", "distribution"):
            if key in data:
                raise self.fail(f"{path}.{key}", f"is not allowed for {kind.value}; list the "
                                                 "choices under values")
        values = data.get("values")
        if not isinstance(values, list) or not values:
            raise self.fail(f"{path}.values", f"{kind.value} parameters need a non-empty list of "
                                              "values; add them (e.g. values: [relu, gelu])")
        cleaned: list[Any] = []
        for j, item in enumerate(values):
            where = f"{path}.values[{j}]"
            if kind is ParameterType.DISCRETE:
                item = self.number(item, where)
                if spec is not None and spec.type is int and not float(item).is_integer():
                    raise self.fail(where, f"{item} is not a whole number, and {name} takes whole "
                                           "numbers; use integers")
            else:
                if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                    raise self.fail(where, f"{item!r} is not a value; use text or numbers")
                item = self.shell_safe(format_value(item), where)
                if spec is not None and spec.choices and item not in spec.choices:
                    raise self.fail(where, f"{item!r} is not allowed for {name}"
                                           f"{_hint(item, spec.choices)}; use one of "
                                           f"{', '.join(spec.choices)}")
            if item in cleaned:
                raise self.fail(where, f"{item!r} is listed twice; remove the duplicate")
            cleaned.append(item)
        return Parameter(name, kind, values=tuple(cleaned))

    def budget(self, value: Any) -> Budget:
        data = self.mapping(value, "budget", ("max_trials", "parallel_trials", "max_failed_trials"))
        max_trials = self.integer(self.required(data, "max_trials", "budget", "max_trials: 8"),
                                  "budget.max_trials", 1)
        parallel = self.integer(self.required(data, "parallel_trials", "budget",
                                              "parallel_trials: 2"), "budget.parallel_trials", 1)
        if parallel > max_trials:
            raise self.fail("budget.parallel_trials", f"{parallel} exceeds max_trials "
                                                      f"{max_trials}; set it <= {max_trials}")
        failed = data.get("max_failed_trials", max_trials)
        failed = self.integer(failed, "budget.max_failed_trials", 0)
        if failed > max_trials:
            raise self.fail("budget.max_failed_trials", f"{failed} exceeds max_trials "
                                                        f"{max_trials}; set it <= {max_trials}")
        return Budget(max_trials, parallel, failed)

    def resources(self, value: Any) -> Resources:
        if value is None:
            value = DEFAULT_RESOURCES
        data = self.mapping(value, "resources", ("requests", "limits"))
        parsed: dict[str, dict[str, str]] = {}
        for section in ("requests", "limits"):
            entries = self.mapping(data.get(section) or {}, f"resources.{section}", RESOURCE_NAMES)
            parsed[section] = {}
            for resource, quantity in entries.items():
                where = f"resources.{section}.{resource}"
                if isinstance(quantity, bool) or not isinstance(quantity, (str, int, float)):
                    raise self.fail(where, f"{quantity!r} is not a quantity; use e.g. \"2\", "
                                           "500m, 4Gi")
                text = format_value(quantity)
                if _quantity(text) is None:
                    raise self.fail(where, f"{text!r} is not a Kubernetes quantity; use e.g. "
                                           "\"2\", 500m (CPU) or 4Gi (memory)")
                parsed[section][resource] = text
        if not parsed["limits"]:
            raise self.fail("resources.limits", "is empty; set at least a memory limit (the "
                                                "GPU/TPU overlays add their device limit here)")
        for resource, request in parsed["requests"].items():
            limit = parsed["limits"].get(resource)
            if limit is not None and _quantity(request) > _quantity(limit):
                raise self.fail(f"resources.requests.{resource}",
                                f"{request} exceeds the limit {limit}; Kubernetes rejects "
                                "requests above limits, lower it")
        return Resources(tuple(parsed["requests"].items()), tuple(parsed["limits"].items()))

    def output_root(self, value: Any) -> str:
        root = self.text(value, "output_root").rstrip("/")
        if not (root.startswith("/") or root.startswith("gs://")):
            raise self.fail("output_root", f"{root!r} must be an absolute path in the container "
                                           "or a gs:// URI")
        if "${" in root:
            raise self.fail("output_root", "must not contain '${'; the trial name is appended")
        return self.shell_safe(root, "output_root")

    def algorithms(self, value: Any, parameters: tuple[Parameter, ...], fixed: Mapping[str, Any],
                   budget: Budget) -> tuple[AlgorithmConfig, ...]:
        from latticenas.katib.validate import algorithm_setting_problems

        if value is None:
            value = {algorithm.value: {} for algorithm in DEFAULT_ALGORITHMS}
        if isinstance(value, list):
            if not all(isinstance(item, str) for item in value):
                raise self.fail("algorithms", "must list algorithm names (e.g. [random, tpe]) or map each "
                                              "name to its settings")
            value = {item: {} for item in value}
        data = self.mapping(value, "algorithms", tuple(a.value for a in Algorithm))
        if not data:
            raise self.fail("algorithms", "is empty; list at least one algorithm (e.g. random)")
        configs = []
        for name, raw in data.items():
            path = f"algorithms.{name}"
            algorithm = Algorithm(name)
            settings_map = self.mapping(raw or {}, path)
            settings: dict[str, str] = {}
            for key, item in settings_map.items():
                if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                    raise self.fail(f"{path}.{key}", f"{item!r} is not a setting value; use text "
                                                     "or a number")
                settings[key] = format_value(item)
            if algorithm is Algorithm.HYPERBAND:
                settings = self.hyperband(settings, parameters, fixed, path)
            for setting, message in algorithm_setting_problems(algorithm.value, settings):
                raise self.fail(f"{path}.{setting}", message)
            self.check_algorithm_space(algorithm, parameters, budget, path)
            configs.append(AlgorithmConfig(algorithm, tuple(settings.items())))
        return tuple(configs)

    def hyperband(self, settings: dict[str, str], parameters: tuple[Parameter, ...],
                  fixed: Mapping[str, Any], path: str) -> dict[str, str]:
        """Fill hyperband's defaults: resource_name epochs, r_l = the fixed epochs, eta 3."""
        resource = settings.setdefault("resource_name", "epochs")
        if any(p.name == resource for p in parameters):
            raise self.fail(f"{path}.resource_name", f"{resource} is searched; hyperband sets the "
                                                     "resource itself, so move it to fixed (its "
                                                     "value becomes r_l, the most it will get)")
        if resource not in fixed and "r_l" not in settings:
            raise self.fail(f"{path}.resource_name", f"{resource} has no fixed value to use as "
                                                     f"r_l; add fixed.{resource} or set r_l")
        known = _parameter_fields()
        if known is not None and (resource not in known or known[resource].type is not int):
            raise self.fail(f"{path}.resource_name", f"{resource!r} is not an integer search "
                                                     "parameter; use epochs")
        if "r_l" not in settings:
            settings["r_l"] = format_value(fixed[resource])
        settings.setdefault("eta", "3")
        try:
            r_l, eta = float(settings["r_l"]), int(float(settings["eta"]))
        except ValueError:
            return settings  # the setting rules below name the bad value
        if eta >= 2 and r_l < eta:
            raise self.fail(f"{path}.r_l", f"r_l {settings['r_l']} is below eta {eta}, which "
                                           "leaves hyperband a single rung; raise r_l (the most "
                                           f"{resource} a trial may get) or lower eta")
        order = ("resource_name", "r_l", "eta")
        return {k: settings[k] for k in (*order, *(k for k in settings if k not in order))}

    def check_algorithm_space(self, algorithm: Algorithm, parameters: tuple[Parameter, ...],
                              budget: Budget, path: str) -> None:
        numeric = [p for p in parameters if p.is_numeric]
        if algorithm is Algorithm.CMAES and len(numeric) < 2:
            raise self.fail(path, "cmaes needs at least two int or double parameters; add some "
                                  "or drop cmaes")
        if algorithm is Algorithm.BAYESIAN_OPTIMIZATION:
            for p in parameters:
                if p.type is ParameterType.DOUBLE and p.min <= 0:
                    raise self.fail(f"parameters.{p.name}.min",
                                    f"bayesianoptimization samples doubles on a log scale "
                                    f"(Katib's skopt service), so min must be > 0, not {p.min}; "
                                    "raise it")
        if algorithm is Algorithm.HYPERBAND:
            for p in parameters:
                if p.type is ParameterType.DISCRETE and not all(float(v).is_integer() for v in p.values):
                    raise self.fail(f"parameters.{p.name}.values", "hyperband reads discrete "
                                                                  "values as integers; use whole "
                                                                  "numbers or a double range")
        if algorithm is Algorithm.GRID:
            points = 1
            for p in parameters:
                if p.type is ParameterType.DOUBLE and p.step is None:
                    raise self.fail(f"parameters.{p.name}.step",
                                    "grid needs a step for every double parameter; add one (or "
                                    "use type: discrete with values)")
                points *= _grid_size(p)
            if budget.max_trials > points:
                raise self.fail("budget.max_trials", f"{budget.max_trials} exceeds the {points} "
                                                     f"grid points; set max_trials <= {points}")

    def early_stopping(self, value: Any, algorithms: tuple[AlgorithmConfig, ...]) -> EarlyStopping | None:
        from latticenas.katib.validate import KNOWN_EARLY_STOPPING, early_stopping_setting_problems

        if value is None:
            return None
        data = self.mapping(value, "early_stopping", ("algorithm", "settings", "apply_to"))
        algorithm = data.get("algorithm", "medianstop")
        if algorithm not in KNOWN_EARLY_STOPPING:
            raise self.fail("early_stopping.algorithm", f"{algorithm!r} is not an early-stopping "
                                                        "algorithm; use medianstop")
        settings = {}
        for key, item in self.mapping(data.get("settings") or {}, "early_stopping.settings").items():
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                raise self.fail(f"early_stopping.settings.{key}", f"{item!r} is not a value")
            settings[key] = format_value(item)
        for setting, message in early_stopping_setting_problems(algorithm, settings):
            raise self.fail(f"early_stopping.settings.{setting}", message)
        generated = [c.algorithm for c in algorithms]
        raw_apply = data.get("apply_to", [Algorithm.RANDOM.value])
        if not isinstance(raw_apply, list) or not raw_apply:
            raise self.fail("early_stopping.apply_to", "must be a non-empty list of algorithms")
        apply_to = []
        for i, name in enumerate(raw_apply):
            try:
                chosen = Algorithm(name)
            except ValueError:
                raise self.fail(f"early_stopping.apply_to[{i}]",
                                f"{name!r} is not an algorithm{_hint(str(name), [a.value for a in Algorithm])}") from None
            if chosen not in generated:
                raise self.fail(f"early_stopping.apply_to[{i}]",
                                f"{name} is not generated from this file; add it to algorithms "
                                "or remove it here")
            apply_to.append(chosen)
        return EarlyStopping(algorithm, tuple(settings.items()), tuple(apply_to))

    def check_against_trial(self, parameters: tuple[Parameter, ...], fixed: Mapping[str, Any]) -> None:
        """Each searched value, with the fixed ones, must make a valid ParameterSet; and a
        minimum_*/maximum_* pair must not both be searched over overlapping ranges."""
        names = {p.name: p for p in parameters}
        for name, p in names.items():
            if name.startswith("minimum_"):
                partner = names.get("maximum_" + name[len("minimum_"):])
                low_top, high_bottom = _upper(p), (_lower(partner) if partner else None)
                if partner is not None and (low_top is None or high_bottom is None
                                            or low_top > high_bottom):
                    raise self.fail(f"parameters.{name}",
                                    f"{name} and {partner.name} are both searched and Katib "
                                    f"samples them independently, so trials would get {name} > "
                                    f"{partner.name}; fix {name} under 'fixed' and search "
                                    f"{partner.name} only")
        try:
            from latticenas.params import ParameterSet
        except ModuleNotFoundError as exc:  # the parameter module is not there yet
            if exc.name == "latticenas.params":
                return
            raise
        known = _parameter_fields() or {}
        fixed_params = {k: v for k, v in fixed.items() if k in known}
        try:
            ParameterSet.from_mapping(fixed_params)
        except LatticeNASError as exc:
            raise self.fail("fixed", f"the trial would reject these values: {exc}") from None
        for p in parameters:
            for value in p.candidates():
                try:
                    ParameterSet.from_mapping({**fixed_params, p.name: value})
                except LatticeNASError as exc:
                    raise self.fail(f"parameters.{p.name}",
                                    f"value {value!r} would be rejected by the trial: {exc}") from None

    def check_trial_memory(self, parameters: tuple[Parameter, ...], fixed: Mapping[str, Any],
                           resources: Resources) -> None:
        """The largest lattice the space allows (each size at its largest candidate) must be
        able to train in the trial container's memory limit (latticenas.capacity)."""
        limit = dict(resources.limits).get("memory")
        if limit is None:
            return
        from latticenas.capacity import SIZE_FIELDS, check_memory
        from latticenas.params import ParameterSet

        sizes = {name for name, _ in SIZE_FIELDS}
        largest = {p.name: _upper(p) for p in parameters if p.name in sizes and _upper(p) is not None}
        known = _parameter_fields() or {}
        try:
            params = ParameterSet.from_mapping({**{k: v for k, v in fixed.items() if k in known}, **largest})
        except LatticeNASError:
            return  # check_against_trial names the value the trial rejects
        try:
            check_memory(params, memory=int(_quantity(limit)))
        except LatticeNASError as exc:
            name = str(exc).split("=", 1)[0]
            where = f"parameters.{name}" if name in largest else (f"fixed.{name}" if name in fixed else "resources.limits.memory")
            raise self.fail(where, f"trials could not train with the memory limit {limit}: {exc}") from None


# --------------------------------------------------------------------------- helpers


def _parameter_fields() -> dict[str, Any] | None:
    """name -> ParameterField from latticenas.params, or None while that module is missing."""
    try:
        from latticenas.params import parameter_fields
    except ModuleNotFoundError as exc:
        if exc.name == "latticenas.params":
            return None
        raise
    return {f.name: f for f in parameter_fields()}


def format_value(value: Any) -> str:
    """How a value appears in the trial command and in Katib's string fields."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _quantity(text: str) -> Decimal | None:
    match = _QUANTITY.fullmatch(text)
    if not match:
        return None
    suffix = match.group("suffix") or ""
    number = Decimal(match.group("number"))
    if suffix[:1] in ("e", "E"):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _SUFFIXES[suffix]


def _grid_size(p: Parameter) -> int:
    """Grid points of one parameter, as Katib's grid service enumerates them."""
    from latticenas.katib.rules.grid import double_points, int_points

    if not p.is_numeric:
        return len(p.values)
    if p.type is ParameterType.INT:
        return len(int_points(int(p.min), int(p.max), p.step))
    return len(double_points(p.min, p.max, p.step))


def _lower(p: Parameter) -> float | None:
    try:
        return p.min if p.is_numeric else min(float(v) for v in p.values)
    except ValueError:
        return None


def _upper(p: Parameter) -> float | None:
    try:
        return p.max if p.is_numeric else max(float(v) for v in p.values)
    except ValueError:
        return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _hint(name: str, options: Any) -> str:
    options = [str(o) for o in options]
    close = difflib.get_close_matches(str(name), options, n=1)
    if not close and len(str(name)) >= 3:
        close = [o for o in options if o.startswith(str(name)) or str(name).startswith(o)][:1]
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe(value: Any) -> str:
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"
