"""The Experiment-level rules of Katib's validating webhook and of the services' settings
checks: metadata, trial counts, objective, algorithm and early stopping (names and settings),
resume policy.

Sources: ``pkg/webhook/v1beta1/experiment/validator/validator.go`` (applied after the
defaulting webhook ``pkg/apis/controller/experiments/v1beta1/experiment_defaults.go``:
parallelTrialCount 3) and :mod:`latticenas.katib.rules.settings` for the settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from latticenas.katib.issues import Collector, closest, join_path, mapping, sequence, settings_map
from latticenas.katib.rules import names
from latticenas.katib.rules.settings import EARLY_STOPPING_SETTINGS, algorithm_verdicts, verdicts
from latticenas.katib.rules.values import is_int, is_number


def check_metadata(metadata: Mapping[str, Any], out: Collector) -> None:
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        out.add("metadata.name", "is missing; name the Experiment (lower case letters, digits "
                                 "and '-', at most 40 characters)")
        return
    if not names.NAME_PATTERN.fullmatch(name):
        example = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "ames-random"
        out.add("metadata.name", f"{name!r} must consist of lower case letters, digits or '-', "
                                 "start with a letter and end with a letter or digit; rename it "
                                 f"(e.g. {example!r})")
    if len(name) > names.NAME_MAX_LENGTH:
        out.add("metadata.name", f"{name!r} is {len(name)} characters long; Katib allows at most "
                                 f"{names.NAME_MAX_LENGTH}, shorten it")
    namespace = metadata.get("namespace")
    if namespace is not None and not (
        isinstance(namespace, str) and names.NAMESPACE_PATTERN.fullmatch(namespace)
        and len(namespace) <= names.NAMESPACE_MAX_LENGTH
    ):
        out.add("metadata.namespace", f"{namespace!r} is not a namespace name; use lower case "
                                      "letters, digits and '-' (at most 63 characters)")


def counts(spec: Mapping[str, Any]) -> tuple[int | None, int, int | None]:
    """``(maxTrialCount, parallelTrialCount, maxFailedTrialCount)`` after Katib's defaults
    (a count of the wrong type counts as unset: the SDK model walk reports it)."""
    get = lambda key: spec.get(key) if is_int(spec.get(key)) else None  # noqa: E731
    parallel = get("parallelTrialCount")
    return get("maxTrialCount"), names.DEFAULT_PARALLEL_TRIAL_COUNT if parallel is None else parallel, \
        get("maxFailedTrialCount")


def check_counts(spec: Mapping[str, Any], out: Collector) -> None:
    max_trials, parallel, max_failed = counts(spec)
    if max_trials is not None and max_trials <= 0:
        out.add("spec.maxTrialCount", f"{max_trials} must be greater than 0; set it to the number "
                                      "of trials to run")
    if parallel <= 0:
        out.add("spec.parallelTrialCount", f"{parallel} must be greater than 0; set it to how many "
                                           "trials may run at once")
    if max_failed is not None and max_failed < 0:
        out.add("spec.maxFailedTrialCount", f"{max_failed} must not be negative; set it >= 0")
    if max_failed is not None and max_trials is not None and max_failed > max_trials:
        out.add("spec.maxFailedTrialCount", f"{max_failed} exceeds spec.maxTrialCount "
                                            f"{max_trials}; set it <= {max_trials}")
    if max_trials is not None and 0 < max_trials < parallel:
        if spec.get("parallelTrialCount") is None:
            out.add("spec.parallelTrialCount",
                    f"is unset, so Katib defaults it to {names.DEFAULT_PARALLEL_TRIAL_COUNT}, more "
                    f"than spec.maxTrialCount {max_trials}; set parallelTrialCount <= {max_trials}")
        else:
            out.add("spec.parallelTrialCount", f"{parallel} exceeds spec.maxTrialCount "
                                               f"{max_trials}; set it <= {max_trials}")


def check_objective(objective: Any, out: Collector) -> bool:
    """The objective's rules; False when the objective is unusable (later checks skip it)."""
    if not isinstance(objective, Mapping):
        out.add("spec.objective", "is missing; add objective.type, objective.objectiveMetricName")
        return False
    ok = True
    if objective.get("type") not in names.OBJECTIVE_TYPES:
        out.add("spec.objective.type", f"{objective.get('type')!r} must be minimize or maximize; set it")
        ok = False
    name = objective.get("objectiveMetricName")
    if not isinstance(name, str) or not name:
        out.add("spec.objective.objectiveMetricName", "is missing; name the metric to optimise "
                                                      "(e.g. val-rmse)")
        ok = False
    goal = objective.get("goal")
    if goal is not None and not is_number(goal):
        out.add("spec.objective.goal", f"{goal!r} is not a number; set a number or remove it")
    additional = objective.get("additionalMetricNames")
    if additional is not None and not isinstance(additional, list):
        out.add("spec.objective.additionalMetricNames", "must be a list of metric names; write a YAML list")
    elif additional:
        _check_additional(name, additional, out)
    _check_strategies(name, additional, objective.get("metricStrategies"), out)
    return ok


def _check_additional(name: Any, additional: list[Any], out: Collector) -> None:
    if isinstance(name, str) and name in additional:
        out.add("spec.objective.additionalMetricNames",
                f"contains the objective metric {name!r}; remove it from this list")
    seen: set[Any] = set()
    for i, metric in enumerate(additional):
        where = join_path("spec.objective.additionalMetricNames", i)
        if not isinstance(metric, str) or not metric:
            out.add(where, f"{metric!r} is not a metric name; use a non-empty string")
            continue
        if metric in seen:
            out.warn(where, f"{metric!r} is listed twice (Katib collects it once); remove the duplicate")
        seen.add(metric)


def _check_strategies(name: Any, additional: Any, strategies: Any, out: Collector) -> None:
    metrics = {m for m in (name, *sequence(additional)) if isinstance(m, str)}
    for i, strategy in enumerate(sequence(strategies)):
        strategy = mapping(strategy)
        where = join_path("spec.objective.metricStrategies", i)
        if not isinstance(strategy.get("name"), str) or strategy.get("name") not in metrics:
            out.warn(join_path(where, "name"), f"{strategy.get('name')!r} is not the objective or "
                                               "an additional metric, so Katib never uses it; "
                                               "use one of those names")
        if not isinstance(strategy.get("value"), str) or strategy.get("value") not in names.METRIC_STRATEGIES:
            out.add(join_path(where, "value"), f"{strategy.get('value')!r} must be one of "
                                               f"{', '.join(names.METRIC_STRATEGIES)}; pick one")


def check_algorithm(spec: Mapping[str, Any], out: Collector) -> tuple[str, dict[str, str], dict[str, int]] | None:
    """The algorithm's name and settings; returns ``(name, settings, index)`` for the
    service-specific checks, or None when the algorithm is unusable."""
    algorithm = spec.get("algorithm")
    if not isinstance(algorithm, Mapping):
        out.add("spec.algorithm", "is missing; add algorithm.algorithmName (e.g. random)")
        return None
    name = algorithm.get("algorithmName")
    if not name:
        out.add("spec.algorithm.algorithmName", "is missing; set one of " + ", ".join(names.KNOWN_ALGORITHMS))
        return None
    if name not in names.ALGORITHM_SERVICES:
        out.add("spec.algorithm.algorithmName",
                f"{name!r} is not an algorithm Katib installs{closest(name, names.KNOWN_ALGORITHMS)}; "
                f"use one of {', '.join(names.KNOWN_ALGORITHMS)}")
        return None
    path = "spec.algorithm.algorithmSettings"
    settings, index = settings_map(algorithm.get("algorithmSettings"), path, out)
    for verdict in algorithm_verdicts(name, settings):
        where = join_path(path, index[verdict.name]) if verdict.name in index else path
        out.report(where, verdict.message, verdict.severity)
    return name, settings, index


def check_early_stopping(early: Any, out: Collector) -> None:
    if early is None:
        return
    if not isinstance(early, Mapping):
        out.add("spec.earlyStopping", "must be a mapping with algorithmName; set algorithmName: medianstop")
        return
    name = early.get("algorithmName")
    if not name:
        out.add("spec.earlyStopping.algorithmName", "is missing; set medianstop")
        return
    if name not in names.KNOWN_EARLY_STOPPING:
        out.add("spec.earlyStopping.algorithmName",
                f"{name!r} is not an early-stopping algorithm Katib installs; use medianstop")
        return
    path = "spec.earlyStopping.algorithmSettings"
    settings, index = settings_map(early.get("algorithmSettings"), path, out)
    for verdict in verdicts(name, EARLY_STOPPING_SETTINGS.get(name), settings):
        out.report(join_path(path, index[verdict.name]) if verdict.name in index else path,
                   verdict.message, verdict.severity)


def check_resume_policy(spec: Mapping[str, Any], out: Collector) -> None:
    policy = spec.get("resumePolicy")
    if policy not in (None, "", *names.RESUME_POLICIES):
        out.add("spec.resumePolicy", f"{policy!r} is not a resume policy; use one of "
                                     f"{', '.join(names.RESUME_POLICIES)}")
