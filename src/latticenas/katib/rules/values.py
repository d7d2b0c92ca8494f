"""How Katib's services read the numbers an Experiment writes as strings.

The CRD stores ``min``, ``max``, ``step`` and every setting as text; each service parses it its
own way, so ``"1.0"`` is a fine int bound for one service and a crash for another:

* Python ``float(text)``: hyperopt (``random``, ``tpe``) for every bound, pbt;
* Python ``int(text)`` (no ``"1.0"``, surrounding blanks allowed): optuna (``grid``,
  ``multivariate-tpe``), skopt, hyperband, and every integer setting of the Python services;
* Go ``strconv.Atoi`` / ``ParseFloat`` (no blanks): goptuna (``cmaes``, ``sobol``).
"""

from __future__ import annotations

import math
import re
from typing import Any

#: services that read int bounds with ``float()``
FLOAT_INT_BOUNDS = ("hyperopt", "pbt")
#: services that read int bounds with Go's ``strconv.Atoi``
GO_PARSERS = ("goptuna",)

_GO_INT = re.compile(r"[+-]?\d+")
_GO_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)", re.I)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def parse_float(text: Any) -> float | None:
    """Python ``float(text)``; None when it raises."""
    if is_number(text):
        return float(text)
    try:
        return float(str(text))
    except ValueError:
        return None


def parse_int(text: Any) -> int | None:
    """Python ``int(text)`` (what the Python services do); None when it raises."""
    if is_int(text):
        return int(text)
    try:
        return int(str(text).strip())
    except ValueError:
        return None


def parse_int_as(service: str, text: Any) -> int | None:
    """An int bound as ``service`` reads it: a whole number, or None when it breaks there."""
    if service in GO_PARSERS:
        return int(str(text)) if _GO_INT.fullmatch(str(text)) else None
    if service in FLOAT_INT_BOUNDS:
        number = parse_float(text)
        return int(number) if number is not None and math.isfinite(number) and number.is_integer() else None
    return parse_int(text)


def parse_float_as(service: str, text: Any) -> float | None:
    """A double bound as ``service`` reads it; None when it breaks there."""
    if service in GO_PARSERS and not _GO_FLOAT.fullmatch(str(text)):
        return None
    return parse_float(text)
