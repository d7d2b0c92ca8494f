"""The search parameter set: what a lattice may look like and how its networks are trained.

:class:`ParameterSet` keeps the field names of the Cerebros NAS so its users can carry their
settings over. Every field is checked when the set is built; a bad value raises
:class:`~latticenas.errors.ParameterError` with a one-line message naming the field, the
value and the fix. :func:`parameter_fields` describes every field (type, default, help) so a
trial program can expose one ``--name=value`` flag per field and search-space code can check
names. :func:`resolve_decay` and :func:`resolve_rounding` turn the decay and rounding-rule
names into functions.

Framework-free: numpy is not even needed here.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from latticenas.errors import ParameterError

__all__ = [
    "ACTIVATIONS",
    "FINAL_ACTIVATIONS",
    "ROUNDING_RULES",
    "NUMERIC_ENCODINGS",
    "LEARNING_RATE_SCHEDULES",
    "TRIAL_ENSEMBLES",
    "INFINITE_VALUES",
    "ParameterField",
    "ParameterSet",
    "parameter_fields",
    "resolve_decay",
    "resolve_rounding",
]

#: Activations allowed for hidden units and gates (Keras names).
ACTIVATIONS: tuple[str, ...] = (
    "relu", "elu", "gelu", "selu", "swish", "silu", "tanh", "sigmoid", "softplus",
    "leaky_relu", "linear",
)
#: Activations allowed for the output unit.
FINAL_ACTIVATIONS: tuple[str, ...] = ACTIVATIONS + ("softmax",)
#: Rounding rules for affinity-derived connection counts.
ROUNDING_RULES: tuple[str, ...] = ("ceil", "floor", "round")
#: Encodings of numeric columns (latticenas.numeric_encoding; kept here framework-free).
NUMERIC_ENCODINGS: tuple[str, ...] = ("standard", "robust", "quantile")
#: Learning-rate schedules: constant; 1 epoch of linear warm-up then cosine decay to 0 over
#: ``epochs``; divide by 3 after ``max(2, patience // 2)`` epochs without improvement.
LEARNING_RATE_SCHEDULES: tuple[str, ...] = ("constant", "cosine", "plateau")
#: What a trial's model is: the mean of its networks when that validates better than the
#: best single network (auto), always the mean, or always the best single network.
TRIAL_ENSEMBLES: tuple[str, ...] = ("auto", "always", "never")
#: What +-inf in a numeric feature column means: the table is refused (as scikit-learn does),
#: or those cells count as missing (imputed, with a missing indicator).
INFINITE_VALUES: tuple[str, ...] = ("refuse", "missing")

_NAMED_DECAY = re.compile(r"zero_(\d+)_exp_decay")
_NO_DECAY = "no_decay"
_NONE_STRINGS = frozenset({"none", "null", ""})
_DECAY_FIELDS = (
    "predecessor_level_connection_affinity_factor_decay_main",
    "p_lateral_connection_decay",
)


# --------------------------------------------------------------------------- decay & rounding


def _decay_base(value: str | float) -> float:
    """Return the base ``x`` of a decay ``x**d``, or raise ValueError if ``value`` is not one."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a decay")
    if isinstance(value, (int, float)):
        base = float(value)
    else:
        text = str(value).strip()
        match = _NAMED_DECAY.fullmatch(text)
        if text == _NO_DECAY:
            base = 1.0
        elif match:
            base = float("0." + match.group(1))
        else:
            base = float(text)  # raises ValueError for anything else
    if not (math.isfinite(base) and 0.0 <= base <= 1.0):
        raise ValueError("a decay base must lie in [0, 1]")
    return base


def resolve_decay(value: str | float) -> Callable[[int], float]:
    """Return the decay function ``d -> base**d`` named by ``value``.

    ``zero_<digits>_exp_decay`` means base ``0.<digits>`` (``zero_7`` -> ``0.7**d``,
    ``zero_95`` -> ``0.95**d``, ``zero_0`` -> 1 at d=0 and 0 after), ``no_decay`` means 1,
    and a number (or number string) ``x`` in [0, 1] means ``x**d``. ``d`` is a non-negative
    distance; every decay gives 1 at ``d == 0``. Raises ParameterError for anything else.
    """
    try:
        base = _decay_base(value)
    except (TypeError, ValueError):
        raise ParameterError(
            f"decay={value!r} is not a known decay; use 'no_decay', 'zero_<digits>_exp_decay' "
            "(e.g. zero_7_exp_decay = 0.7**d) or a number in [0, 1]"
        ) from None

    def decay(distance: int) -> float:
        return base ** int(distance)  # 0.0 ** 0 == 1.0

    return decay


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


_ROUNDING: dict[str, Callable[[float], int]] = {
    "ceil": math.ceil,
    "floor": math.floor,
    "round": _round_half_up,
}


def resolve_rounding(name: str) -> Callable[[float], int]:
    """Return the rounding function for ``name``: ``ceil``, ``floor`` or ``round`` (half up).

    The returned function first rounds its argument to 9 decimals, so float noise such as
    ``0.7 * 10 == 7.000000000000001`` does not push ``ceil`` up a whole connection.
    """
    if name not in _ROUNDING:
        raise ParameterError(
            f"rounding_rule={name!r} is not a known rounding rule; use one of "
            f"{', '.join(ROUNDING_RULES)}"
        )
    rule = _ROUNDING[name]
    return lambda x: int(rule(round(float(x), 9)))


# --------------------------------------------------------------------------- the parameter set


def _f(default: Any, help_text: str) -> Any:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class ParameterSet:
    """One NAS configuration (Cerebros field names). Invalid values raise ParameterError.

    The constructor takes typed values (a string for an int field is an error); use
    :meth:`from_mapping` for command-line strings. ``dataclasses.replace`` re-validates.
    """

    minimum_levels: int = _f(1, "fewest hidden levels in a lattice")
    maximum_levels: int = _f(3, "most hidden levels in a lattice")
    minimum_units_per_level: int = _f(1, "fewest units in a hidden level")
    maximum_units_per_level: int = _f(4, "most units in a hidden level")
    minimum_neurons_per_unit: int = _f(8, "fewest neurons in a hidden unit")
    maximum_neurons_per_unit: int = _f(48, "most neurons in a hidden unit")
    activation: str = _f("relu", "activation of hidden units")
    final_activation: str | None = _f(
        None, "activation of the output unit; None = from the task (linear/sigmoid/softmax)"
    )
    predecessor_level_connection_affinity_factor_first: float = _f(
        2.0, "share of input units each unit connects to (times its decay)"
    )
    predecessor_level_connection_affinity_factor_first_rounding_rule: str = _f(
        "ceil", "rounding of input connection counts: ceil, floor or round"
    )
    predecessor_level_connection_affinity_factor_main: float = _f(
        0.7, "share of an earlier hidden level's units each unit connects to (times its decay)"
    )
    predecessor_level_connection_affinity_factor_main_rounding_rule: str = _f(
        "ceil", "rounding of hidden-level connection counts: ceil, floor or round"
    )
    predecessor_level_connection_affinity_factor_decay_main: str = _f(
        "zero_7_exp_decay", "affinity decay with level distance: zero_<d>_exp_decay, no_decay or x"
    )
    minimum_skip_connection_depth: int = _f(1, "fewest levels a repair skip connection jumps")
    maximum_skip_connection_depth: int = _f(3, "most levels a repair skip connection jumps")
    p_lateral_connection: float = _f(0.3, "probability of a lateral connection at distance 1")
    p_lateral_connection_decay: str = _f(
        "zero_95_exp_decay", "decay of the lateral probability with distance within a level"
    )
    num_lateral_connection_tries_per_unit: int = _f(1, "lateral connection rounds per unit")
    max_consecutive_lateral_connections: int = _f(
        3, "farthest lateral connection, in units to the right (0 = none)"
    )
    gate_after_n_lateral_connections: int = _f(
        2, "lateral inputs per gate; each full group shares one gate (0 = no gating)"
    )
    gate_activation_function: str = _f("sigmoid", "activation of lateral gates")
    number_of_architecture_moities_to_try: int = _f(2, "distinct architectures per trial")
    number_of_tries_per_architecture_moity: int = _f(1, "trainings of each architecture")
    seed: int = _f(0, "base random seed (architectures and training)")
    learning_rate: float = _f(0.003, "optimizer learning rate")
    epochs: int = _f(60, "most training epochs")
    batch_size: int = _f(64, "training batch size")
    patience: int = _f(10, "epochs without improvement before early stopping (0 = off)")
    weight_decay: float = _f(1e-4, "decoupled weight decay of the optimizer")
    learning_rate_schedule: str = _f("cosine", "learning-rate schedule: constant, cosine (warm-up + cosine decay) or plateau")
    dropout: float = _f(0.0, "dropout rate after every hidden unit, in [0, 1)")
    numeric_encoding: str = _f("quantile", "encoding of numeric columns: standard, robust (median/IQR, clipped) or quantile (normal scores)")
    trial_ensemble: str = _f("auto", "the trial's model: auto (mean of its networks if that validates better), always, never")
    infinite_values: str = _f("refuse", "+-inf in a numeric feature column: refuse the table, or treat those cells as missing")

    def __post_init__(self) -> None:
        _normalise_types(self)
        _check_counts(self)
        _check_ranges(self)
        _check_numbers(self)
        _check_choices(self)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> ParameterSet:
        """Build a set from ``name -> value``; values may be command-line strings.

        Strings are converted by the field's type (``"3"`` -> 3, ``"0.7"`` -> 0.7; ``"None"``
        or ``""`` -> None for optional fields). Dashes in names count as underscores. An
        unknown name raises ParameterError suggesting the closest known name.
        """
        known = {f.name: f for f in parameter_fields()}
        values: dict[str, Any] = {}
        for raw_name, raw_value in mapping.items():
            name = str(raw_name).lstrip("-").replace("-", "_")
            if name not in known:
                raise ParameterError(_unknown_name_message(str(raw_name), known))
            values[name] = _convert(known[name], raw_value)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return ``{field name: value}`` in declaration order (JSON-safe)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


# --------------------------------------------------------------------------- field records


@dataclass(frozen=True)
class ParameterField:
    """One field of :class:`ParameterSet`: ``type`` is int, float or str; ``optional`` means
    it also accepts None; ``choices`` lists the allowed strings where the set is closed;
    ``minimum``/``maximum`` bound a count or size field (inclusive; None: no bound)."""

    name: str
    type: type
    default: Any
    help: str
    optional: bool = False
    choices: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None


_CHOICES: dict[str, tuple[str, ...]] = {
    "activation": ACTIVATIONS,
    "final_activation": FINAL_ACTIVATIONS,
    "gate_activation_function": ACTIVATIONS,
    "predecessor_level_connection_affinity_factor_first_rounding_rule": ROUNDING_RULES,
    "predecessor_level_connection_affinity_factor_main_rounding_rule": ROUNDING_RULES,
    "learning_rate_schedule": LEARNING_RATE_SCHEDULES,
    "numeric_encoding": NUMERIC_ENCODINGS,
    "trial_ensemble": TRIAL_ENSEMBLES,
    "infinite_values": INFINITE_VALUES,
}


def parameter_fields() -> tuple[ParameterField, ...]:
    """Describe every ParameterSet field, in declaration order."""
    hints = typing.get_type_hints(ParameterSet)
    records = []
    for f in dataclasses.fields(ParameterSet):
        hint = hints[f.name]
        args = typing.get_args(hint)
        optional = type(None) in args
        base = next(a for a in args if a is not type(None)) if optional else hint
        records.append(
            ParameterField(
                f.name, base, f.default, f.metadata["help"], optional, _CHOICES.get(f.name),
                _MINIMUMS.get(f.name), _MAXIMUMS.get(f.name),
            )
        )
    return tuple(records)


# --------------------------------------------------------------------------- conversion


def _unknown_name_message(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name.lstrip("-").replace("-", "_"), list(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "see parameter_fields() for the names"
    return f"unknown parameter {name!r}; {hint}"


def _convert(spec: ParameterField, value: Any) -> Any:
    """Convert a command-line string to the field's type; other values pass through."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if spec.optional and text.lower() in _NONE_STRINGS:
        return None
    if spec.type is str:
        return text
    try:
        if spec.type is int:
            return _parse_int(text)
        return float(text)
    except ValueError:
        kind = "a whole number" if spec.type is int else "a number"
        raise ParameterError(
            f"{spec.name}={value!r} is not {kind}; set {spec.name} to {kind} like {spec.default!r}"
        ) from None


def _parse_int(text: str) -> int:
    """``"3"`` and ``"3.0"`` -> 3 (Katib may format integers as floats); else ValueError."""
    try:
        return int(text)
    except ValueError:
        number = float(text)
        if not number.is_integer():
            raise
        return int(number)


def _set(obj: ParameterSet, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _normalise_types(p: ParameterSet) -> None:
    """Check each field's type. Integral floats become ints in int fields, ints become floats
    in float fields, and a number given for a decay becomes its string (``0.5`` -> ``"0.5"``)."""
    for spec in parameter_fields():
        value = getattr(p, spec.name)
        if value is None and spec.optional:
            continue
        _set(p, spec.name, _normalised(spec, value))


def _normalised(spec: ParameterField, value: Any) -> Any:
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if spec.type is int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        kind = "a whole number"
    elif spec.type is float:
        if is_number:
            return float(value)
        kind = "a number"
    else:
        if is_number and spec.name in _DECAY_FIELDS:
            return repr(float(value))
        if isinstance(value, str):
            return value
        kind = "a name"
    raise ParameterError(
        f"{spec.name}={value!r} is not {kind}; set {spec.name} to {kind} like {spec.default!r}"
    )


# --------------------------------------------------------------------------- validation

_MINIMUMS: dict[str, int] = {
    "minimum_levels": 1, "maximum_levels": 1,
    "minimum_units_per_level": 1, "maximum_units_per_level": 1,
    "minimum_neurons_per_unit": 1, "maximum_neurons_per_unit": 1,
    "minimum_skip_connection_depth": 1, "maximum_skip_connection_depth": 1,
    "num_lateral_connection_tries_per_unit": 1,
    "max_consecutive_lateral_connections": 0,
    "gate_after_n_lateral_connections": 0,
    "number_of_architecture_moities_to_try": 1,
    "number_of_tries_per_architecture_moity": 1,
    "seed": 0, "epochs": 1, "batch_size": 1, "patience": 0,
}

#: Sizes no lattice of this package is meant to exceed, whatever the memory; the memory a
#: trial has bounds them further (latticenas.capacity).
_MAXIMUMS: dict[str, int] = {
    "minimum_levels": 100, "maximum_levels": 100,
    "minimum_units_per_level": 1000, "maximum_units_per_level": 1000,
    "minimum_neurons_per_unit": 10_000, "maximum_neurons_per_unit": 10_000,
    "batch_size": 1_000_000,
}

_RANGES: tuple[tuple[str, str], ...] = (
    ("minimum_levels", "maximum_levels"),
    ("minimum_units_per_level", "maximum_units_per_level"),
    ("minimum_neurons_per_unit", "maximum_neurons_per_unit"),
    ("minimum_skip_connection_depth", "maximum_skip_connection_depth"),
)


def _check_counts(p: ParameterSet) -> None:
    for name, minimum in _MINIMUMS.items():
        value = getattr(p, name)
        if value < minimum:
            raise ParameterError(f"{name}={value} is below {minimum}; set {name} >= {minimum}")
    for name, maximum in _MAXIMUMS.items():
        value = getattr(p, name)
        if value > maximum:
            raise ParameterError(f"{name}={value} is too large: the bound is {maximum}; set {name} <= {maximum}")


def _check_ranges(p: ParameterSet) -> None:
    for low_name, high_name in _RANGES:
        low, high = getattr(p, low_name), getattr(p, high_name)
        if high < low:
            raise ParameterError(
                f"{high_name}={high} is less than {low_name}={low}; "
                f"set {high_name} >= {low_name}"
            )


def _check_numbers(p: ParameterSet) -> None:
    for name in ("predecessor_level_connection_affinity_factor_first",
                 "predecessor_level_connection_affinity_factor_main", "weight_decay"):
        value = getattr(p, name)
        if not (math.isfinite(value) and value >= 0):
            raise ParameterError(f"{name}={value} is not a finite number >= 0; "
                                 f"set {name} >= 0")
    if not 0.0 <= p.p_lateral_connection <= 1.0:  # also rejects NaN
        raise ParameterError(f"p_lateral_connection={p.p_lateral_connection} is outside [0, 1]; "
                             "set p_lateral_connection between 0 and 1")
    if not 0.0 <= p.dropout < 1.0:  # also rejects NaN
        raise ParameterError(f"dropout={p.dropout} is outside [0, 1); set dropout between 0 and 0.9 (e.g. 0.1)")
    if not (math.isfinite(p.learning_rate) and p.learning_rate > 0):
        raise ParameterError(f"learning_rate={p.learning_rate} is not a positive number; "
                             "set learning_rate > 0 (e.g. 0.003)")


def _check_choices(p: ParameterSet) -> None:
    for name, choices in _CHOICES.items():
        value = getattr(p, name)
        if value is None and name == "final_activation":
            continue
        if value not in choices:
            close = difflib.get_close_matches(str(value), choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ParameterError(f"{name}={value!r} is not allowed{hint}; "
                                 f"use one of {', '.join(choices)}")
    for name in _DECAY_FIELDS:
        value = getattr(p, name)
        try:
            _decay_base(value)
        except (TypeError, ValueError):
            raise ParameterError(
                f"{name}={value!r} is not a known decay; set {name} to 'no_decay', "
                "'zero_<digits>_exp_decay' (e.g. zero_7_exp_decay = 0.7**d) or a number in [0, 1]"
            ) from None
