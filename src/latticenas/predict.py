"""Use a trained network: load ``best/`` (model + input contract) and predict a raw table.

``Predictor.load(directory)`` reads ``model.keras`` and ``preprocessing.json`` from a trial's
``best/`` directory (or any directory with that layout). ``predict(df)`` takes the raw columns
(extra columns are ignored; missing feature columns, and text in a numeric one, are an error
naming them) and returns
predictions in the target's units (regression) or class probabilities (classification).
``save(path)`` copies ``model.keras`` and ``preprocessing.json`` of the directory it was loaded
from into ``path``, which ``Predictor.load(path)`` then reads.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from latticenas import artifacts as layout
from latticenas.data import TableSchema, Task
from latticenas.data.dataset import infinite_as_missing
from latticenas.errors import DataError
from latticenas.features import FeatureStats, model_inputs


@dataclass(frozen=True)
class Predictor:
    model: object
    schema: TableSchema
    stats: FeatureStats
    directory: Path | None = field(default=None, compare=False)  # where it was loaded from

    @classmethod
    def load(cls, directory: str | Path) -> Predictor:
        import keras

        import latticenas.arch.keras_layers  # noqa: F401  (registers the custom layers)
        import latticenas.optimizer  # noqa: F401  (the optimizer saved with a trained model)

        directory = Path(directory)
        model_path, contract_path = directory / layout.MODEL, directory / layout.PREPROCESSING
        for path in (model_path, contract_path):
            if not path.exists():
                raise DataError(f"{path} not found; point at a trial's best/ directory (it holds {layout.MODEL} and {layout.PREPROCESSING})")
        contract = json.loads(contract_path.read_text())
        return cls(
            model=keras.models.load_model(model_path),
            schema=TableSchema.from_dict(contract["schema"]),
            stats=FeatureStats.from_dict(contract["features"]),
            directory=directory,
        )

    def save(self, path: str | Path) -> Path:
        """Copy the model and its input contract into directory ``path`` (created); returns it."""
        if self.directory is None:
            raise DataError("this Predictor was not loaded from a directory; nothing to copy (use Predictor.load)")
        target = Path(path)
        if target.resolve() == self.directory.resolve():
            return target
        target.mkdir(parents=True, exist_ok=True)
        for name in (layout.MODEL, layout.PREPROCESSING):
            shutil.copy2(self.directory / name, target / name)
        return target

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.schema.feature_names if c not in df.columns]
        if missing:
            raise DataError(f"the table lacks feature columns the model needs: {', '.join(missing[:10])}")
        for column in self.stats.numeric:
            _check_numeric(df[column], column)
        return self.predict_inputs(model_inputs(_apply_infinite(df, self.schema, self.stats.numeric), self.stats))

    def predict_inputs(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Predictions for rows already converted to model inputs (:func:`~latticenas.features.model_inputs`)."""
        from latticenas.arch.keras_builder import as_dataset

        return np.asarray(self.model.predict(as_dataset(inputs), verbose=0))

    def predict_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Predictions as a table: ``prediction`` (regression) or ``prediction`` + ``p_<class>``."""
        raw = self.predict(df)
        if self.schema.task is Task.REGRESSION:
            return pd.DataFrame({"prediction": raw.ravel()}, index=df.index)
        classes = list(self.schema.classes)
        proba = np.column_stack([1 - raw.ravel(), raw.ravel()]) if self.schema.task is Task.BINARY else raw
        out = pd.DataFrame(proba, columns=[f"p_{c}" for c in classes], index=df.index)
        out.insert(0, "prediction", [classes[i] for i in proba.argmax(axis=1)])
        return out


def _apply_infinite(df: pd.DataFrame, schema: TableSchema, numeric: Sequence[str]) -> pd.DataFrame:
    """The trained model's rule for +-inf in a numeric feature, as the loader applied it: the
    cells made missing (``infinite_values=missing``), or a DataError naming the rows (``refuse``),
    never a value silently clipped to the training range."""
    out = df
    for column in numeric:
        values = pd.to_numeric(df[column], errors="coerce").to_numpy(dtype="float64")
        infinite = np.flatnonzero(np.isinf(values))
        if not infinite.size:
            continue
        if schema.infinite == "missing":
            out = out.copy() if out is df else out
            out[column] = infinite_as_missing(df[column])
            continue
        rows = ", ".join(str(i + 1) for i in infinite[:5]) + (f" and {infinite.size - 5} more" if infinite.size > 5 else "")
        raise DataError(f"numeric column {column!r} has infinite values in data row(s) {rows}; the model was trained "
                        "with infinite_values=refuse: replace them with numbers or empty cells (missing), or retrain "
                        "with infinite_values=missing")
    return out


def _check_numeric(values: pd.Series, column: str) -> None:
    """DataError naming the first rows (counted from 1) where a numeric feature holds text."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return
    text = values.astype("string").str.strip()
    bad = np.flatnonzero((values.notna() & (text != "") & pd.to_numeric(values, errors="coerce").isna()).to_numpy())
    if bad.size:
        rows = ", ".join(str(i + 1) for i in bad[:5]) + (f" and {bad.size - 5} more" if bad.size > 5 else "")
        raise DataError(f"numeric column {column!r} holds text in data row(s) {rows} (e.g. {values.iloc[bad[0]]!r}); "
                        "the model was trained on numbers: fix those cells or leave them empty (missing)")
