"""Each suggestion service's ``algorithmSettings``, and medianstop's: the names it knows, the
check it applies (or the value that breaks it), and what it does with a name it does not know.

Sources (paths in kubeflow/katib ``pkg/``): ``suggestion/v1beta1/hyperopt/service.py``
(random, tpe), ``optuna/service.py`` (grid, multivariate-tpe), ``skopt/service.py``
(bayesianoptimization), ``goptuna/converter.go`` and ``service.go`` (cmaes, sobol: goptuna
ignores names it does not read, and Katib's controller takes its ``codes.Internal`` answer as
valid), ``hyperband/service.py``, ``pbt/service.py``, ``nas/darts/service.py``,
``nas/enas/service.py`` with ``enas/AlgorithmSettings.py``, and
``earlystopping/v1beta1/medianstop/service.py``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from latticenas.katib.rules import Severity
from latticenas.katib.rules.values import parse_float, parse_int

Checker = Callable[[str], "str | None"]


def int_at_least(low: int) -> Checker:
    def check(value: str) -> str | None:
        number = parse_int(value)
        if number is None:
            return f"must be a whole number >= {low}"
        return None if number >= low else f"must be >= {low}"

    return check


def go_int(value: str) -> str | None:
    return None if value.lstrip("+-").isdigit() else "must be a whole number (Go strconv.Atoi)"


def float_in(low: float, high: float, *, open_low: bool = False, open_high: bool = False) -> Checker:
    left, right = "(" if open_low else "[", ")" if open_high else "]"
    interval = f"{left}{low:g}, {high:g}{right}"

    def check(value: str) -> str | None:
        number = parse_float(value)
        ok = number is not None and not math.isnan(number) and (
            (number > low if open_low else number >= low)
            and (number < high if open_high else number <= high))
        return None if ok else f"must be a number in {interval}"

    return check


def one_of(*choices: str) -> Checker:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"

    return check


def not_empty(value: str) -> str | None:
    return None if value else "must not be empty"


def maybe_none(check: Checker) -> Checker:
    """ENAS and DARTS read the text ``None`` as "no value"."""
    return lambda value: None if value == "None" else check(value)


def pbt_resample(_: str) -> str | None:
    # pbt/service.py compares the setting's text with numbers: a TypeError on any value
    return "cannot be set: Katib's pbt service compares its text with numbers and fails"


def hyperband_r_l(value: str) -> str | None:
    number = parse_float(value)
    if number is None or not math.isfinite(number) or number <= 0:
        return "must be a positive number (Katib takes log(r_l))"
    return None if number >= 1 else "must be >= 1 (the first rung's resource truncates to 0)"


def hyperband_eta(value: str) -> str | None:
    # hyperband/service.py validates int(float(eta)) (<= 0 means 3, 1 divides by log 1 == 0);
    # the schedule then runs on float(eta), where a value in (0, 1) gives a negative s_max
    number = parse_float(value)
    if number is None or not math.isfinite(number):
        return "must be a whole number >= 2"
    return None if number <= 0 or number >= 2 else "must be a whole number >= 2"


@dataclass(frozen=True)
class ServiceSettings:
    """The settings of one algorithm as its service treats them. ``unknown`` is what a name
    outside ``checks`` gets: ERROR (the service refuses it), WARNING (ignored or passed on
    unchecked). ``advice`` maps a known name to a warning (the service ignores or reinterprets
    it)."""

    service: str
    checks: Mapping[str, Checker]
    unknown: Severity
    unknown_note: str = "the service rejects unknown settings"
    required: tuple[str, ...] = ()
    advice: Mapping[str, str] = field(default_factory=dict)


_HYPERBAND_STATE = "is the hyperband service's own bookkeeping, written back after each request"
_DARTS_FLOAT = maybe_none(float_in(0, math.inf))
_DARTS_COUNT = int_at_least(1)

ALGORITHM_SETTINGS: dict[str, ServiceSettings] = {
    "random": ServiceSettings("hyperopt", {"random_state": int_at_least(0)}, Severity.ERROR),
    "tpe": ServiceSettings("hyperopt", {
        "gamma": float_in(0, 1, open_low=True, open_high=True),
        "prior_weight": float_in(0, math.inf, open_low=True),
        "n_EI_candidates": int_at_least(1),
        "random_state": int_at_least(0),
    }, Severity.ERROR),
    "multivariate-tpe": ServiceSettings("optuna", {
        "n_startup_trials": int_at_least(0),
        "n_ei_candidates": int_at_least(0),
        "random_state": int_at_least(0),
    }, Severity.ERROR),
    "grid": ServiceSettings("optuna", {"random_state": int_at_least(0)}, Severity.ERROR),
    "bayesianoptimization": ServiceSettings("skopt", {
        "base_estimator": one_of("GP", "RF", "ET", "GBRT"),
        "n_initial_points": int_at_least(0),
        "acq_func": one_of("gp_hedge", "LCB", "EI", "PI", "EIps", "PIps"),
        "acq_optimizer": one_of("auto", "sampling", "lbfgs"),
        "random_state": int_at_least(0),
    }, Severity.ERROR),
    "cmaes": ServiceSettings("goptuna", {
        "random_state": go_int,
        "sigma": float_in(0, math.inf, open_low=True),
        "restart_strategy": one_of("ipop", "bipop", "none"),
    }, Severity.WARNING, "goptuna ignores settings it does not read"),
    "sobol": ServiceSettings("goptuna", {}, Severity.WARNING,
                             "goptuna's sobol sampler takes no settings and ignores them"),
    "hyperband": ServiceSettings("hyperband", {
        "resource_name": not_empty, "r_l": hyperband_r_l, "eta": hyperband_eta,
        **{name: float_in(-math.inf, math.inf) for name in
           ("b_l", "s_max", "r", "n", "current_s", "current_i", "evaluating_trials")},
    }, Severity.WARNING, "the hyperband service logs and ignores unknown settings",
        required=("r_l", "resource_name"),
        advice={name: _HYPERBAND_STATE for name in
                ("b_l", "s_max", "r", "n", "current_s", "current_i", "evaluating_trials")}),
    "pbt": ServiceSettings("pbt", {
        "suggestion_trial_dir": not_empty,
        "n_population": int_at_least(5),
        "truncation_threshold": float_in(0, 1),
        "resample_probability": pbt_resample,
    }, Severity.WARNING, "the pbt service ignores unknown settings",
        required=("suggestion_trial_dir", "n_population", "truncation_threshold")),
    "darts": ServiceSettings("darts", {
        "num_epochs": int_at_least(1), "batch_size": maybe_none(int_at_least(1)),
        "num_workers": int_at_least(0),
        **{name: _DARTS_FLOAT for name in ("w_lr", "w_lr_min", "alpha_lr", "w_weight_decay",
                                           "alpha_weight_decay", "w_momentum", "w_grad_clip")},
        **{name: _DARTS_COUNT for name in ("init_channels", "print_step", "num_nodes",
                                           "stem_multiplier")},
    }, Severity.WARNING, "the darts service passes unknown settings to the trial unchecked"),
    "enas": ServiceSettings("enas", {
        "controller_hidden_size": int_at_least(1),
        "controller_temperature": maybe_none(float_in(0, math.inf, open_low=True)),
        "controller_tanh_const": maybe_none(float_in(0, math.inf, open_low=True)),
        "controller_entropy_weight": maybe_none(float_in(0, math.inf, open_low=True)),
        "controller_baseline_decay": float_in(0, 1, open_low=True),
        "controller_learning_rate": float_in(0, 1, open_low=True),
        "controller_skip_target": float_in(0, 1, open_low=True),
        "controller_skip_weight": maybe_none(float_in(0, math.inf, open_low=True)),
        "controller_train_steps": int_at_least(1),
        "controller_log_every_steps": int_at_least(1),
    }, Severity.ERROR),
}

EARLY_STOPPING_SETTINGS: dict[str, ServiceSettings] = {
    "medianstop": ServiceSettings("medianstop", {
        "min_trials_required": int_at_least(1), "start_step": int_at_least(1),
    }, Severity.ERROR),
}


@dataclass(frozen=True)
class SettingVerdict:
    """One finding about one setting (``name`` may be a required setting that is missing)."""

    name: str
    message: str
    severity: Severity = Severity.ERROR


def _closest(name: str, options: list[str]) -> str:
    close = difflib.get_close_matches(name, options, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def verdicts(owner: str, rules: ServiceSettings | None, settings: Mapping[str, str]) -> list[SettingVerdict]:
    """Every finding about ``settings`` of algorithm ``owner`` under ``rules``."""
    if rules is None:
        return []
    found = []
    known = list(rules.checks)
    for name, value in settings.items():
        if name not in rules.checks:
            fix = "remove it" if rules.unknown is Severity.ERROR else "remove it or fix its name"
            found.append(SettingVerdict(name, f"unknown setting for {owner}{_closest(name, known)} "
                                              f"({rules.unknown_note}); {fix} (settings {owner} "
                                              f"reads: {', '.join(known) or 'none'})", rules.unknown))
            continue
        problem = rules.checks[name](str(value))
        if problem:
            found.append(SettingVerdict(name, f"{name}={value!r} {problem}; fix the value"))
        elif name in rules.advice:
            found.append(SettingVerdict(name, f"{name} {rules.advice[name]}; remove it",
                                        Severity.WARNING))
    for name in rules.required:
        if name not in settings:
            found.append(SettingVerdict(name, f"{owner} needs the {name} setting "
                                              f"({_REQUIRED_HINTS.get(name, 'its service refuses to start without it')}); add it"))
    return found


_REQUIRED_HINTS = {
    "r_l": "the largest resource value, e.g. the most epochs",
    "resource_name": "the parameter hyperband sets to the resource",
}


def algorithm_verdicts(algorithm: str, settings: Mapping[str, str]) -> list[SettingVerdict]:
    return verdicts(algorithm, ALGORITHM_SETTINGS.get(algorithm), settings)


def algorithm_setting_problems(algorithm: str, settings: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(setting, message)`` for each setting the algorithm's service rejects or breaks on
    (warnings left out). Experiment-level rules are the validator's."""
    return [(v.name, v.message) for v in algorithm_verdicts(algorithm, settings)
            if v.severity is Severity.ERROR]


def early_stopping_setting_problems(algorithm: str, settings: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(v.name, v.message) for v in verdicts(algorithm, EARLY_STOPPING_SETTINGS.get(algorithm), settings)
            if v.severity is Severity.ERROR]
