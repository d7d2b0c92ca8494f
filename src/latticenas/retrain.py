"""Retrain the search's best architecture on train + validation and test it once.

:func:`retrain_best` is what the pipeline's retrain step runs after the search:

1. the training rows are the dataset's train and validation parts together; a deterministic
   slice of them (``early_stopping_fraction``, chosen by content hash with its own salt, see
   :func:`latticenas.data.hash_split`) is held out for early stopping, which restores the
   best epoch's weights; preprocessing statistics come from the remaining rows only;
2. the network is built from ``spec`` and trained exactly as a trial trains it
   (:func:`latticenas.train.train_network`: AdamW, ``params``' learning rate, batch size,
   epochs and patience);
3. it is evaluated once on the untouched TEST part, in the target's original units
   (:mod:`latticenas.evaluation`), plus a confusion matrix and ROC points for classification;
4. everything is written to ``output_dir`` (a local directory)::

       model.keras            serving model: raw columns in, target units / probabilities out
       saved_model/1/         the same model as a TensorFlow SavedModel in TF Serving's numbered
                              version directory (KServe: storageUri = .../saved_model);
                              signature ``serving_default``, one input per feature column
                              (``features.input_name``), shape (batch, 1), float32 for numeric
                              and string for categorical columns, output ``output_0``
       spec.json              the architecture
       preprocessing.json     the input contract, same format as a trial's best/ directory
       metrics.json           {"split": "test", "metrics": {...}, "rows": {...}, "training": {...}}
       diagram.svg            a picture of the network
       confusion_matrix.json  classification only: {"classes", "matrix"} (rows true, columns predicted)
       roc.json               classification only: binary fpr/tpr/thresholds for the second
                              class, or one-vs-rest curves per class for multiclass

Since the directory has ``model.keras`` and ``preprocessing.json``, ``Predictor.load`` reads it.
A network that diverges or fails raises :class:`~latticenas.errors.TrialFailedError`.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from latticenas import artifacts as layout
from latticenas.arch.spec import ArchitectureSpec
from latticenas.data import Dataset, Task, hash_split, is_gcs_uri
from latticenas.errors import DataError, ParameterError, TrialFailedError
from latticenas.evaluation import classification_metrics, regression_metrics
from latticenas.params import ParameterSet

log = logging.getLogger(__name__)

SAVED_MODEL = "saved_model"
SAVED_MODEL_VERSION = "1"  # TF Serving loads <base>/<integer version>/saved_model.pb
CONFUSION_MATRIX = "confusion_matrix.json"
ROC = "roc.json"
EARLY_STOPPING_SALT = "latticenas-retrain-early-stopping"

__all__ = [
    "CONFUSION_MATRIX",
    "ROC",
    "SAVED_MODEL",
    "SAVED_MODEL_VERSION",
    "RetrainResult",
    "confusion_matrix",
    "export_saved_model",
    "preprocessing_record",
    "retrain_best",
    "roc_curve",
    "roc_points",
]


@dataclass(frozen=True)
class RetrainResult:
    """Where :func:`retrain_best` wrote what, and the test-set evaluation."""

    output_dir: str
    model_path: str
    saved_model_dir: str  # the TF Serving base directory; the export is in its "1/"
    spec_path: str
    preprocessing_path: str
    metrics_path: str
    diagram_path: str
    confusion_matrix_path: str | None
    roc_path: str | None
    task: Task
    test_metrics: dict[str, float]
    confusion_matrix: list[list[int]] | None
    roc: dict | None
    classes: tuple[str, ...] | None
    rows: dict[str, int] = field(default_factory=dict)  # fit, early_stopping, test
    epochs_run: int = 0
    best_epoch: int = 0


def retrain_best(
    spec: ArchitectureSpec,
    params: ParameterSet,
    dataset: Dataset,
    output_dir: str,
    *,
    early_stopping_fraction: float = 0.1,
    seed: int = 0,
    log_target: bool | None = None,
) -> RetrainResult:
    """Retrain ``spec`` on train + validation, test it and write ``output_dir`` (see module doc).

    ``log_target`` is the regression target's log choice (None: automatic, as in the trial).
    Raises ParameterError for a bad fraction or a ``gs://`` output, DataError when a part
    needed here is empty, TrialFailedError when the network does not train.
    """
    from latticenas.arch.diagram import render_svg
    from latticenas.artifacts import ArtifactWriter
    from latticenas.train import NetworkStatus, prepare, train_network

    _check_arguments(early_stopping_fraction, output_dir)
    schema = dataset.schema
    fit_rows, stop_rows = _early_stopping_split(dataset, early_stopping_fraction)
    if dataset.test.empty:
        raise DataError(
            "the dataset has no test rows to evaluate the retrained model on: "
            "load it with --test-fraction above 0"
        )
    retrain_data = Dataset(schema, fit_rows, stop_rows, dataset.test, dataset.source_uri)
    prepared = prepare(retrain_data, log_target, params.numeric_encoding)
    log.info("retraining %s on %d rows (early stopping on %d), testing on %d",
             spec.content_hash[:12], len(fit_rows), len(stop_rows), len(dataset.test))
    result, network = train_network(spec, prepared, params, network_id="retrain", seed=seed)
    if result.status is not NetworkStatus.SUCCEEDED or network is None:
        raise TrialFailedError(
            f"retraining the best architecture {spec.content_hash[:12]} {result.status.value}: "
            f"{result.error}; try a lower learning_rate or another seed"
        )

    test = _test_evaluation(network, dataset, prepared)
    writer = ArtifactWriter(output_dir)
    root = Path(output_dir)
    model_path = writer.save_model(network.serving, layout.MODEL)
    saved_model_dir = str(root / SAVED_MODEL)
    export_saved_model(network.serving, str(Path(saved_model_dir) / SAVED_MODEL_VERSION))
    spec_path = writer.write_text(spec.to_json(indent=2), layout.SPEC)
    preprocessing_path = writer.write_json(preprocessing_record(prepared), layout.PREPROCESSING)
    diagram_path = writer.write_text(
        render_svg(spec, title=f"retrained {spec.content_hash[:12]}"), layout.DIAGRAM
    )
    rows = {"fit": len(fit_rows), "early_stopping": len(stop_rows), "test": len(dataset.test)}
    metrics_record = {
        "split": "test",
        "task": schema.task.value,
        "metrics": test["metrics"],
        "rows": rows,
        "training": {
            "spec_hash": spec.content_hash,
            "seed": seed,
            "early_stopping_fraction": early_stopping_fraction,
            "epochs_run": result.epochs_run,
            "best_epoch": result.best_epoch,
            "param_count": result.param_count,
            "train_seconds": round(result.train_seconds, 3),
            "early_stopping_metrics": result.metrics,
            "history": result.history,
        },
    }
    metrics_path = writer.write_json(metrics_record, layout.METRICS)
    cm_path = roc_path = None
    if test["confusion_matrix"] is not None:
        cm_path = writer.write_json(
            {"classes": list(schema.classes), "rows": "true class", "columns": "predicted class",
             "matrix": test["confusion_matrix"]},
            CONFUSION_MATRIX,
        )
        roc_path = writer.write_json(test["roc"], ROC)
    return RetrainResult(
        output_dir=str(output_dir),
        model_path=model_path,
        saved_model_dir=saved_model_dir,
        spec_path=spec_path,
        preprocessing_path=preprocessing_path,
        metrics_path=metrics_path,
        diagram_path=diagram_path,
        confusion_matrix_path=cm_path,
        roc_path=roc_path,
        task=schema.task,
        test_metrics=test["metrics"],
        confusion_matrix=test["confusion_matrix"],
        roc=test["roc"],
        classes=None if schema.classes is None else tuple(schema.classes),
        rows=rows,
        epochs_run=result.epochs_run,
        best_epoch=result.best_epoch,
    )


def _check_arguments(early_stopping_fraction: float, output_dir: str) -> None:
    value = early_stopping_fraction
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ParameterError(
            f"early_stopping_fraction must be a number > 0 and < 1, got {value!r}: "
            "use e.g. 0.1 (a tenth of train + validation decides when to stop)"
        )
    if is_gcs_uri(str(output_dir)):
        raise ParameterError(
            f"retrain output {output_dir} must be a local directory: write locally, "
            "then register it (latticenas.registry) or copy it to Cloud Storage"
        )


def _early_stopping_split(dataset: Dataset, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit rows, early-stopping rows) of train + validation, by content hash."""
    union = pd.concat([dataset.train, dataset.val])
    split = hash_split(union, val_fraction=fraction, test_fraction=0.0, salt=EARLY_STOPPING_SALT)
    if split.val.empty or split.train.empty:
        raise DataError(
            f"train + validation ({len(union)} rows) is too small for an early-stopping slice "
            f"of {fraction:g}: use a larger table or a larger early_stopping_fraction"
        )
    return split.train, split.val


def preprocessing_record(prepared) -> dict:
    """The ``preprocessing.json`` content: the same record a trial writes to ``best/``."""
    return {
        "schema": prepared.schema.to_dict(),
        "features": prepared.stats.to_dict(),
        "target_transform": prepared.transform.to_dict() if prepared.transform else None,
    }


def _test_evaluation(network, dataset: Dataset, prepared) -> dict:
    """Test metrics (original units), and for classification the confusion matrix and ROC."""
    from latticenas.arch.keras_builder import as_dataset
    from latticenas.features import model_inputs

    schema = dataset.schema
    x_test = model_inputs(dataset.test, prepared.stats)
    predictions = np.asarray(network.serving.predict(as_dataset(x_test), verbose=0))
    if schema.task is Task.REGRESSION:
        y = dataset.test[schema.target].to_numpy(dtype="float64")
        metrics = regression_metrics(y, predictions)
        return {"metrics": metrics, "confusion_matrix": None, "roc": None}
    codes = schema.encode_target(dataset.test[schema.target])
    n_classes = len(schema.classes)
    metrics = classification_metrics(codes, predictions, n_classes)
    proba = _probabilities(predictions, n_classes)
    return {
        "metrics": metrics,
        "confusion_matrix": confusion_matrix(codes, proba.argmax(axis=1), n_classes),
        "roc": roc_points(codes, proba, tuple(schema.classes)),
    }


def _probabilities(predictions: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, k) class probabilities from the model's (n, 1) binary or (n, k) output."""
    if n_classes == 2:
        p1 = predictions.reshape(-1).astype("float64")
        return np.stack([1 - p1, p1], axis=1)
    return predictions.astype("float64")


def confusion_matrix(codes: np.ndarray, predicted: np.ndarray, n_classes: int) -> list[list[int]]:
    """``matrix[true][predicted]`` counts, classes in ``schema.classes`` order."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(codes, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix.tolist()


def roc_curve(positive: np.ndarray, score: np.ndarray) -> dict | None:
    """ROC points for "positive when score >= threshold", thresholds decreasing.

    The first point is (0, 0) with a threshold just above the highest score (finite, so the
    record is plain JSON); one point per distinct score follows. ``auc`` is the trapezoidal
    area, equal to :mod:`latticenas.evaluation`'s rank AUC. None when a side has no rows.
    """
    positive = np.asarray(positive, dtype=bool).ravel()
    score = np.asarray(score, dtype="float64").ravel()
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(-score, kind="mergesort")
    score, positive = score[order], positive[order]
    last_of_each = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tp = np.cumsum(positive)[last_of_each]
    fp = np.cumsum(~positive)[last_of_each]
    tpr = np.r_[0.0, tp / n_pos]
    fpr = np.r_[0.0, fp / n_neg]
    thresholds = np.r_[np.nextafter(score[0], math.inf), score[last_of_each]]
    auc = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return {
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
        "thresholds": thresholds.tolist(),
        "auc": auc,
        "positives": n_pos,
        "negatives": n_neg,
    }


def roc_points(codes: np.ndarray, proba: np.ndarray, classes: tuple[str, ...]) -> dict:
    """Binary: one curve for ``classes[1]``; multiclass: one-vs-rest per class (None if absent)."""
    codes = np.asarray(codes, dtype=np.int64).ravel()
    if len(classes) == 2:
        curve = roc_curve(codes == 1, proba[:, 1]) or {}
        return {"kind": "binary", "positive_class": classes[1], **curve}
    return {
        "kind": "one_vs_rest",
        "classes": list(classes),
        "curves": {label: roc_curve(codes == k, proba[:, k]) for k, label in enumerate(classes)},
    }


def export_saved_model(model, directory: str) -> str:
    """Export ``model`` as a TensorFlow SavedModel (``serving_default`` signature) and check it.

    Keras 3's ``model.export`` traces the model with one input per feature column; the export
    is reloaded with ``tf.saved_model.load`` to make sure the signature is there.
    """
    import tensorflow as tf

    path = Path(directory)
    if path.exists():
        import shutil

        shutil.rmtree(path)
    model.export(str(path), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(path))
    if "serving_default" not in loaded.signatures:
        raise TrialFailedError(
            f"the SavedModel export at {path} has no serving_default signature: "
            "report this with the model's spec.json"
        )
    return str(path)
