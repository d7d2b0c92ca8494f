"""Feature and target statistics learned from the training split (framework-free).

:class:`FeatureStats` holds what the Keras model bakes into its preprocessing layers (numeric
means and scales, which numeric columns had missing values, categorical vocabularies) and
:class:`TargetTransform` how a regression target is scaled for training and mapped back to the
original units. Both are computed from the *training* split only, so validation and test rows
never influence preprocessing, and both round-trip through JSON so a saved model's input
contract is recorded next to it.

:func:`model_inputs` turns a raw table into the dict of arrays the model takes: one entry per
feature column, keyed by :func:`input_name`.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from latticenas.data import TableSchema, Task
from latticenas.numeric_encoding import fit_knots

MISSING_TOKEN = ""  # categorical missing values are fed as the empty string
MAX_ONE_HOT = 24  # categorical columns with larger vocabularies use an embedding
MAX_VOCABULARY = 512  # rarest values beyond this fall into the out-of-vocabulary bucket


def input_name(column: str) -> str:
    """The model input name of a column (Keras names allow only ``[A-Za-z0-9_]``)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", column)
    return name if name[:1].isalpha() else f"c_{name}"


@dataclass(frozen=True)
class FeatureStats:
    numeric: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    has_missing: tuple[bool, ...]
    categorical: tuple[str, ...]
    vocabularies: tuple[tuple[str, ...], ...]
    # numeric encoding (latticenas.numeric_encoding); the knots are empty for "standard"
    encoding: str = "standard"
    fills: tuple[float, ...] = ()
    knots: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] = ()

    @classmethod
    def fit(cls, train: pd.DataFrame, schema: TableSchema, encoding: str = "standard") -> FeatureStats:
        numeric = tuple(schema.numeric)
        values = [pd.to_numeric(train[c], errors="coerce").astype("float64") for c in numeric]
        means = tuple(_finite(v.mean(), 0.0) for v in values)
        scales = tuple(_finite(v.std(ddof=0), 1.0) or 1.0 for v in values)
        has_missing = tuple(bool(v.isna().any()) for v in values)
        categorical = tuple(schema.categorical)
        vocabularies = tuple(_vocabulary(train[c]) for c in categorical)
        fills, knots = (), ()
        if encoding != "standard":
            fitted = [fit_knots(v.to_numpy(), encoding) for v in values]
            fills = tuple(f for f, _, _ in fitted)
            knots = tuple((xs, ys) for _, xs, ys in fitted)
        return cls(numeric, means, scales, has_missing, categorical, vocabularies, encoding, fills, knots)

    @classmethod
    def combine(cls, parts: list[FeatureStats]) -> FeatureStats:
        """The statistics of the union of ``parts``' columns, each fitted on the same rows and one
        encoding (every statistic is per column: a table larger than memory is fitted column by
        column, :mod:`latticenas.mop.streamed`)."""
        encoding = parts[0].encoding if parts else "standard"
        joined = {name: tuple(v for p in parts for v in getattr(p, name))
                  for name in ("numeric", "means", "scales", "has_missing", "categorical", "vocabularies", "fills", "knots")}
        return cls(**joined, encoding=encoding)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["vocabularies"] = [list(v) for v in self.vocabularies]
        out["knots"] = [[list(xs), list(ys)] for xs, ys in self.knots]
        return {k: v if isinstance(v, (str, list)) else list(v) for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureStats:
        return cls(
            numeric=tuple(data["numeric"]),
            means=tuple(data["means"]),
            scales=tuple(data["scales"]),
            has_missing=tuple(data["has_missing"]),
            categorical=tuple(data["categorical"]),
            vocabularies=tuple(tuple(v) for v in data["vocabularies"]),
            encoding=data.get("encoding", "standard"),  # records written before encodings existed
            fills=tuple(data.get("fills", ())),
            knots=tuple((tuple(xs), tuple(ys)) for xs, ys in data.get("knots", ())),
        )


def _finite(value: float, default: float) -> float:
    value = float(value)
    return value if math.isfinite(value) else default


def _vocabulary(column: pd.Series) -> tuple[str, ...]:
    counts = categorical_strings(column).value_counts()
    counts = counts[counts.index != MISSING_TOKEN]
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return tuple(value for value, _ in ordered[:MAX_VOCABULARY])


def categorical_strings(column: pd.Series) -> pd.Series:
    """A categorical column as stripped strings, missing values as :data:`MISSING_TOKEN`."""
    return column.map(lambda v: MISSING_TOKEN if _is_missing(v) else str(v).strip())


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def model_inputs(df: pd.DataFrame, stats: FeatureStats) -> dict[str, np.ndarray]:
    """The raw columns the model takes, as ``{input_name: array of shape (n, 1)}``."""
    inputs: dict[str, np.ndarray] = {}
    for column in stats.numeric:
        values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype="float32")
        inputs[input_name(column)] = values.reshape(-1, 1)
    for column in stats.categorical:
        values = categorical_strings(df[column]).to_numpy(dtype=object).astype(str)
        inputs[input_name(column)] = values.reshape(-1, 1)
    return inputs


@dataclass(frozen=True)
class TargetTransform:
    """How a regression target is trained on: ``z = (f(y) - mean) / scale``, ``f`` = log1p or identity.

    Predictions are mapped back to the original units and clipped to ``[low, high]``, a margin
    around the training targets' range, so a network cannot predict absurd values.
    """

    log: bool = False
    mean: float = 0.0
    scale: float = 1.0
    low: float = -math.inf
    high: float = math.inf

    @classmethod
    def fit(cls, y: np.ndarray, log: bool | None = None) -> TargetTransform:
        y = np.asarray(y, dtype="float64")
        if log is None:
            log = bool(y.min() >= 0 and pd.Series(y).skew() > 0.75)
        f = np.log1p(y) if log else y
        span = float(y.max() - y.min()) or 1.0
        low = float(y.min() - 0.5 * span)
        if y.min() >= 0:
            low = max(0.0, low)
        return cls(log, float(f.mean()), float(f.std() or 1.0), low, float(y.max() + 0.5 * span))

    def forward(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype="float64")
        f = np.log1p(np.maximum(y, 0)) if self.log else y
        return ((f - self.mean) / self.scale).astype("float32")

    def inverse(self, z: np.ndarray) -> np.ndarray:
        f = np.asarray(z, dtype="float64") * self.scale + self.mean
        y = np.expm1(np.minimum(f, 700)) if self.log else f
        return np.clip(y, self.low, self.high)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TargetTransform:
        return cls(**data)


@dataclass(frozen=True)
class Labels:
    """Class labels (as strings, sorted) and their integer codes for classification."""

    classes: tuple[str, ...] = field(default_factory=tuple)

    def encode(self, y: pd.Series) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.classes)}
        return np.array([index[str(v)] for v in y], dtype="int32")


def encode_target(y: pd.Series, schema: TableSchema, transform: TargetTransform | None) -> np.ndarray:
    """The training target: scaled floats for regression, integer codes for classification."""
    if schema.task is Task.REGRESSION:
        return transform.forward(pd.to_numeric(y).to_numpy())
    return Labels(tuple(schema.classes)).encode(y)
