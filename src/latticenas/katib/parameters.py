"""``spec.parameters``: the webhook's rules (``validator.go`` ``validateParameters``) and how
the algorithm's suggestion service reads each feasible space: the bounds it can parse
(:mod:`latticenas.katib.rules.values`) and what it does with each distribution.

Distributions per service (``pkg/suggestion/v1beta1/``): hyperopt (random, tpe) supports all
four and takes ``log(min)`` for the log ones; optuna (grid, multivariate-tpe) raises for normal
and logNormal and clamps a log range's min to 1e-10 (int: 1); goptuna (cmaes, sobol), hyperband
and pbt ignore the distribution and sample uniformly; skopt samples every double log-uniformly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from latticenas.katib.issues import Collector, closest, join_path, mapping
from latticenas.katib.rules import Severity, names
from latticenas.katib.rules.values import parse_float_as, parse_int_as

_SERVICE_NAMES = {"hyperopt": "hyperopt", "optuna": "Optuna", "goptuna": "goptuna",
                  "skopt": "scikit-optimize", "hyperband": "hyperband", "pbt": "pbt"}


def check_parameters(spec: Mapping[str, Any], algorithm: str | None, out: Collector) -> None:
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
    service = names.ALGORITHM_SERVICES.get(algorithm or "", "")
    seen: dict[str, int] = {}
    for i, param in enumerate(parameters or []):
        path = join_path("spec.parameters", i)
        if not isinstance(param, Mapping):
            out.add(path, "must be a mapping; give it name, parameterType and feasibleSpace")
            continue
        name = param.get("name")
        if not isinstance(name, str) or not name:
            out.add(join_path(path, "name"), "is missing; name the parameter")
        elif name in seen:
            out.add(join_path(path, "name"), f"{name!r} is also spec.parameters[{seen[name]}]; "
                                             "parameter names must be unique")
        else:
            seen[name] = i
        check_feasible_space(param, path, service, algorithm or "", out)


def check_feasible_space(param: Mapping[str, Any], path: str, service: str, algorithm: str,
                         out: Collector) -> None:
    kind = param.get("parameterType")
    if kind not in names.PARAMETER_TYPES:
        out.add(join_path(path, "parameterType"),
                f"{kind!r} is not supported{closest(kind, names.PARAMETER_TYPES)}; use one of "
                f"{', '.join(names.PARAMETER_TYPES)}")
        return
    space = param.get("feasibleSpace")
    space_path = join_path(path, "feasibleSpace")
    if not isinstance(space, Mapping) or not any(v not in (None, "", []) for v in space.values()):
        numeric = kind in ("int", "double")
        out.add(space_path if numeric else join_path(space_path, "list"),
                f"feasibleSpace must be specified; add {'min and max' if numeric else 'a non-empty list'}")
        return
    dist = space.get("distribution")
    if dist not in (None, "", *names.DISTRIBUTIONS):
        out.add(join_path(space_path, "distribution"),
                f"{dist!r} is not supported{closest(dist, names.DISTRIBUTIONS)}; use one of "
                f"{', '.join(names.DISTRIBUTIONS)}")
    if kind in ("int", "double"):
        _check_range(kind, space, space_path, service, algorithm, out)
    else:
        _check_list(kind, space, space_path, out)


def _check_range(kind: str, space: Mapping[str, Any], space_path: str, service: str,
                 algorithm: str, out: Collector) -> None:
    if space.get("list"):
        out.add(join_path(space_path, "list"), f"a list is not allowed for {kind} parameters; "
                                               "use min/max, or make the parameter discrete")
    low_text, high_text = space.get("min"), space.get("max")
    if low_text in (None, "") or high_text in (None, ""):
        out.add(join_path(space_path, "max" if low_text not in (None, "") else "min"),
                f"{kind} parameters need both feasibleSpace.min and feasibleSpace.max; add it")
        return
    parse = (lambda t: parse_int_as(service, t)) if kind == "int" else (lambda t: parse_float_as(service, t))
    word = "a whole number" if kind == "int" else "a number"
    reader = f" as Katib's {_SERVICE_NAMES[service]} service reads it" if service in _SERVICE_NAMES else ""
    low, high = parse(low_text), parse(high_text)
    for key, value, raw in (("min", low, low_text), ("max", high, high_text)):
        if value is None or (kind == "double" and not math.isfinite(value)):
            out.add(join_path(space_path, key), f"{raw!r} is not {word}{reader}; write {word}"
                                                f"{' without a decimal point' if kind == 'int' else ''}")
    step_text = space.get("step")
    if step_text not in (None, ""):
        step = parse(step_text)
        if step is None or step <= 0:
            out.add(join_path(space_path, "step"), f"{step_text!r} must be {word} > 0; fix or "
                                                   "remove the step")
    if low is None or high is None:
        return
    if low > high:
        out.add(join_path(space_path, "min"), f"min {low_text} is greater than max {high_text}; swap them")
    if service == "hyperopt" and step_text not in (None, "") and space.get("distribution") in (None, "", "uniform"):
        _check_quantized(low, low_text, parse(step_text), step_text, space_path, out)
    _check_distribution(space.get("distribution"), low, low_text, space_path, service, algorithm, out)


def _check_quantized(low: float, low_text: Any, step: float | None, step_text: Any, space_path: str,
                     out: Collector) -> None:
    """hyperopt's quniform rounds to multiples of the step, not to ``min + k * step``."""
    if step is None or step <= 0 or not math.isfinite(step):
        return
    k = low / step
    if abs(k - round(k)) > 1e-9 * max(1.0, abs(k)):
        out.warn(join_path(space_path, "step"),
                 f"Katib's hyperopt service samples multiples of the step (quniform: round(x / "
                 f"{step_text}) * {step_text}), and min {low_text} is not one, so the values are "
                 f"not min + k * step; make min a multiple of the step")


def _check_distribution(dist: Any, low: float, low_text: Any, space_path: str, service: str,
                        algorithm: str, out: Collector) -> None:
    where = join_path(space_path, "distribution")
    name = _SERVICE_NAMES.get(service, service)
    if dist in ("normal", "logNormal") and service == "optuna":
        out.add(where, f"{dist} is not supported by {algorithm} (Katib runs it on Optuna, which "
                       "takes only uniform and logUniform); use uniform or logUniform")
        return
    if dist in ("logUniform", "normal", "logNormal") and service in names.IGNORES_DISTRIBUTION:
        out.warn(where, f"Katib's {name} service ignores {dist} and samples {algorithm} "
                        "uniformly between min and max; use uniform, or search the log10 of the "
                        "value as its own parameter")
        return
    if dist in ("normal", "logNormal") and service == "hyperopt":
        scale = "log(min)..log(max)" if dist == "logNormal" else "min..max"
        out.warn(where, f"Katib's hyperopt service samples {dist} with mu the middle and sigma a "
                        f"sixth of {scale}, unbounded, so about 0.3% of the values fall outside "
                        "min..max; make sure the trial accepts them, or use uniform")
    if dist in ("normal", "logNormal") and service == "skopt":
        out.warn(where, f"Katib's scikit-optimize service ignores {dist} (doubles are searched "
                        "log-uniformly, ints uniformly); remove it")
        return
    if dist not in ("logUniform", "logNormal") or low > 0:
        return
    min_path = join_path(space_path, "min")
    if service == "optuna":
        severity = Severity.WARNING
        fix = (f"Katib's Optuna service raises min to 1e-10 (1 for ints) for {algorithm}; set "
               "min > 0 to say what is searched")
    elif service in ("", "hyperopt"):
        severity, fix = Severity.ERROR, "raise min or use uniform"
    else:
        return  # skopt is checked with its own rule; the rest ignore the distribution
    out.report(min_path, f"{dist} needs min > 0 (its log is taken), not {low_text}; {fix}", severity)


def _check_list(kind: str, space: Mapping[str, Any], space_path: str, out: Collector) -> None:
    for key in ("min", "max", "step"):
        if space.get(key) not in (None, ""):
            out.add(join_path(space_path, key), f"is not allowed for {kind} parameters; remove it "
                                                "and list the values in feasibleSpace.list")
    values = space.get("list")
    if not isinstance(values, list) or not values:
        out.add(join_path(space_path, "list"), f"{kind} parameters need a non-empty "
                                               "feasibleSpace.list; add the values")
        return
    seen: set[str] = set()
    for j, value in enumerate(values):
        if str(value) in seen:
            out.warn(join_path(space_path, "list", j), f"{value!r} is listed twice (the service "
                                                       "samples it twice as often); remove it")
        seen.add(str(value))
        number = parse_float_as("", value)
        if kind == "discrete" and (number is None or not math.isfinite(number)):
            out.add(join_path(space_path, "list", j), f"{value!r} is not a number; discrete "
                                                      "values must be numbers (use categorical "
                                                      "for names)")


def numeric_parameters(parameters: list[Any]) -> list[Mapping[str, Any]]:
    return [p for p in parameters if mapping(p).get("parameterType") in ("int", "double")]
