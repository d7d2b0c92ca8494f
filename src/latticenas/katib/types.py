"""The Katib ``v1beta1`` API's enumerations, shared by the search-space file, the generator,
the validator and the local runner (one definition, the values Katib itself uses)."""

from __future__ import annotations

from enum import Enum


class ObjectiveType(str, Enum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


class ParameterType(str, Enum):
    DOUBLE = "double"
    INT = "int"
    DISCRETE = "discrete"
    CATEGORICAL = "categorical"


class Distribution(str, Enum):
    UNIFORM = "uniform"
    LOG_UNIFORM = "logUniform"
    NORMAL = "normal"
    LOG_NORMAL = "logNormal"


class MetricStrategy(str, Enum):
    MIN = "min"
    MAX = "max"
    LATEST = "latest"
