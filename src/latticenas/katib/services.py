"""Rules one suggestion service applies to the whole Experiment (its search space, its trial
counts), beyond the settings table: what its ``ValidateAlgorithmSettings`` rejects and what
makes its ``GetSuggestions`` fail or the controller stall.

Sources (``pkg/suggestion/v1beta1/``): ``optuna/service.py`` (grid: steps, maxTrialCount vs
the grid), ``goptuna/service.go`` and ``optuna/service.py`` (cmaes: two numeric parameters),
``skopt/base_service.py`` (every double log-uniform), ``hyperband/service.py`` and
``parsing_util.py`` (hyperband), ``pbt/service.py`` (steps), ``nas/common/validation.py``,
``nas/enas/service.py`` and ``nas/darts/service.py`` (nasConfig).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from latticenas.katib.issues import Collector, closest, join_path, mapping, sequence
from latticenas.katib.parameters import numeric_parameters
from latticenas.katib.rules import grid as grid_rules
from latticenas.katib.rules import hyperband as hb
from latticenas.katib.rules.names import NAS_ALGORITHMS
from latticenas.katib.rules.values import is_int, parse_float, parse_int
from latticenas.katib.webhook import counts

SETTINGS = "spec.algorithm.algorithmSettings"


def check_service_rules(name: str, settings: Mapping[str, str], index: Mapping[str, int],
                        spec: Mapping[str, Any], out: Collector) -> None:
    parameters = [p for p in sequence(spec.get("parameters")) if isinstance(p, Mapping)]
    if name in NAS_ALGORITHMS:
        _check_nas(name, spec, out)
        return
    if spec.get("nasConfig") is not None and not parameters:
        out.add("spec.nasConfig", f"{name} searches spec.parameters, not nasConfig (only "
                                  f"{' and '.join(NAS_ALGORITHMS)} read it); use a NAS algorithm")
    check = {"grid": _check_grid, "cmaes": _check_cmaes, "bayesianoptimization": _check_skopt,
             "pbt": _check_pbt}.get(name)
    if check is not None:
        check(parameters, spec, out)
    if name == "hyperband":
        _check_hyperband(settings, index, spec, parameters, out)
    if name == "tpe" and counts(spec)[1] > 1:
        out.warn("spec.parallelTrialCount",
                 f"after its first request Katib's hyperopt service answers a tpe request for "
                 "several trials (several finished together) with copies of one assignment "
                 f"(kubeflow/katib#1329), so with parallelTrialCount {counts(spec)[1]} trials can "
                 "repeat; set parallelTrialCount: 1 or use multivariate-tpe")


def _check_grid(parameters: list[Mapping[str, Any]], spec: Mapping[str, Any], out: Collector) -> None:
    for i, param in enumerate(parameters):
        if param.get("parameterType") == "double" and not mapping(param.get("feasibleSpace")).get("step"):
            out.add(join_path("spec.parameters", i, "feasibleSpace.step"),
                    f"grid needs a step for double parameter {param.get('name')!r}; add "
                    "feasibleSpace.step (or make it discrete)")
    size = grid_rules.grid_size(parameters)
    max_trials = spec.get("maxTrialCount")
    if size is not None and is_int(max_trials) and max_trials > size:
        out.add("spec.maxTrialCount", f"{max_trials} exceeds the {size} grid points; set "
                                      f"maxTrialCount <= {size} or add grid points")
    elif max_trials is None:
        out.warn("spec.maxTrialCount", "is unset, and Katib never ends a grid Experiment because "
                                       "the grid is done (its service re-runs points); set "
                                       f"maxTrialCount <= {size if size else 'the grid size'}")


def _check_cmaes(parameters: list[Mapping[str, Any]], spec: Mapping[str, Any], out: Collector) -> None:
    if len(numeric_parameters(parameters)) < 2:
        out.add("spec.parameters", "cmaes needs at least two int or double parameters; add "
                                   "numeric parameters or pick another algorithm")


def _check_skopt(parameters: list[Mapping[str, Any]], spec: Mapping[str, Any], out: Collector) -> None:
    # skopt/base_service.py: every double is skopt.space.Real(..., "log-uniform")
    for i, param in enumerate(parameters):
        low = parse_float(mapping(param.get("feasibleSpace")).get("min"))
        if param.get("parameterType") == "double" and low is not None and low <= 0:
            out.add(join_path("spec.parameters", i, "feasibleSpace.min"),
                    f"bayesianoptimization samples every double on a log scale (skopt "
                    f"log-uniform), so min must be > 0, not {low:g}; raise min above 0")


def _check_pbt(parameters: list[Mapping[str, Any]], spec: Mapping[str, Any], out: Collector) -> None:
    # pbt/service.py HyperParameterSampler: numpy.arange(min, max + step / 2, step)
    for i, param in enumerate(parameters):
        step = parse_float(mapping(param.get("feasibleSpace")).get("step"))
        if param.get("parameterType") in ("int", "double") and (step is None or step <= 0):
            out.add(join_path("spec.parameters", i, "feasibleSpace.step"),
                    f"pbt samples {param.get('name')!r} from min..max by step, and it has no "
                    "step > 0; add feasibleSpace.step")


def _check_hyperband(settings: Mapping[str, str], index: Mapping[str, int], spec: Mapping[str, Any],
                     parameters: list[Mapping[str, Any]], out: Collector) -> None:
    resource = settings.get("resource_name")
    names = [p.get("name") for p in parameters]
    if resource is not None and resource not in names:
        out.add(join_path(SETTINGS, index.get("resource_name", 0)),
                f"resource_name {resource!r} is not a parameter; name an int or double "
                f"parameter (e.g. epochs){closest(resource, names)}")
    elif resource is not None and parameters[names.index(resource)].get("parameterType") not in ("int", "double"):
        kind = parameters[names.index(resource)].get("parameterType")
        out.add(join_path("spec.parameters", names.index(resource), "parameterType"),
                f"hyperband's resource parameter {resource!r} is {kind}; make it int or double")
    for i, param in enumerate(parameters):  # parsing_util.py reads discrete values with int()
        if param.get("parameterType") in ("int", "double") and param.get("name") != resource \
                and mapping(param.get("feasibleSpace")).get("step"):
            out.warn(join_path("spec.parameters", i, "feasibleSpace.step"),
                     f"Katib's hyperband service ignores the step of {param.get('name')!r} and "
                     "samples any value between min and max; remove the step or use a discrete "
                     "parameter")
        if param.get("parameterType") == "discrete":
            bad = [v for v in sequence(mapping(param.get("feasibleSpace")).get("list")) if parse_int(v) is None]
            if bad:
                out.add(join_path("spec.parameters", i, "feasibleSpace.list"),
                        f"hyperband reads discrete values as integers and {bad[0]!r} is not "
                        "one; use whole numbers or a double parameter")
    if spec.get("earlyStopping") is not None:
        out.warn("spec.earlyStopping", "hyperband promotes a rung only when all its trials "
                                       "Succeeded, so one early-stopped trial stalls the "
                                       "Experiment; remove earlyStopping")
    r_l, eta = parse_float(settings.get("r_l")), parse_float(settings.get("eta", "3"))
    if r_l is None or eta is None or not (math.isfinite(r_l) and math.isfinite(eta)) or r_l < 1 \
            or 0 < eta < 2:
        return  # the settings table reports these
    _check_hyperband_counts(settings, index, spec, r_l, eta, out)


def _check_hyperband_counts(settings: Mapping[str, str], index: Mapping[str, int],
                            spec: Mapping[str, Any], r_l: float, eta: float, out: Collector) -> None:
    if eta <= 0:
        out.warn(join_path(SETTINGS, index["eta"]), f"eta={settings['eta']!r}: Katib's hyperband "
                                                    "service replaces eta <= 0 with 3; set eta: 3")
    elif not eta.is_integer():
        out.warn(join_path(SETTINGS, index["eta"]),
                 f"eta={settings['eta']!r}: Katib checks parallelTrialCount with int(eta) = "
                 f"{int(eta)} but its schedule computes with {eta:g}; use a whole number")
    max_trials, parallel, _ = counts(spec)
    needed = hb.min_parallel(r_l, settings.get("eta", "3"))
    if parallel < needed:
        out.add("spec.parallelTrialCount",
                f"hyperband with r_l={settings.get('r_l')} and eta={hb.validation_eta(settings.get('eta', '3'))} "
                f"needs parallelTrialCount >= {needed} (eta**s_max), not {parallel}; raise it or "
                "lower r_l")
        return
    if max_trials is not None and max_trials < parallel:
        return  # the count rules report it
    played = hb.exchange(settings, parallel, max_trials)
    if not played.completes:
        _, fix = hb.budget(r_l, settings.get("eta", "3"), parallel)
        out.warn("spec.maxTrialCount",
                 f"a Katib controller would stall this hyperband Experiment: {played.reason}; "
                 f"set maxTrialCount: {fix}, the most trials Katib's hyperband service and "
                 "controller complete (docs/local-runner.md, Hyperband)")


def _check_nas(name: str, spec: Mapping[str, Any], out: Collector) -> None:
    nas = spec.get("nasConfig")
    if not isinstance(nas, Mapping):
        out.add("spec.nasConfig", f"{name} searches an architecture and needs nasConfig "
                                  "(graphConfig and operations); add it")
        return
    if name == "enas":
        graph = mapping(nas.get("graphConfig"))
        for key in ("numLayers", "inputSizes", "outputSizes"):
            if not graph.get(key):
                out.add(join_path("spec.nasConfig.graphConfig", key),
                        f"is missing, and Katib's enas service requires it; add it")
    operations = sequence(nas.get("operations"))
    if not operations:
        out.add("spec.nasConfig.operations", "is empty; add the operations to search")
    for i, operation in enumerate(operations):
        _check_operation(mapping(operation), join_path("spec.nasConfig.operations", i), out)


def _check_operation(operation: Mapping[str, Any], path: str, out: Collector) -> None:
    # nas/common/validation.py validate_operations
    if not operation.get("operationType"):
        out.add(join_path(path, "operationType"), "is missing; name the operation (e.g. convolution)")
    parameters = sequence(operation.get("parameters"))
    if not parameters:
        out.add(join_path(path, "parameters"), "is empty, and Katib's NAS services require "
                                               "parameters for every operation; add them")
    for j, param in enumerate(parameters):
        param, where = mapping(param), join_path(path, "parameters", j)
        kind, space = param.get("parameterType"), mapping(param.get("feasibleSpace"))
        if not param.get("name") or not kind:
            out.add(where, "needs name and parameterType; add them")
        elif kind in ("categorical", "discrete") and not space.get("list"):
            out.add(join_path(where, "feasibleSpace.list"), "is missing; list the values")
        elif kind in ("int", "double") and not (space.get("min") or space.get("max")):
            out.add(join_path(where, "feasibleSpace"), "needs min and max; add them")
        elif kind == "double" and (parse_float(space.get("step")) or 0) <= 0:
            out.add(join_path(where, "feasibleSpace.step"), "must be a number > 0 for a double "
                                                            "NAS parameter; add the step")
