"""Retrain the search's final model on train + validation and test it once.

:func:`retrain_best` is what the pipeline's retrain step runs when the final model is one
network (:func:`retrain_ensemble`, for an ensemble, is described after it):

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

:func:`retrain_ensemble` refits an ensemble of trials (:class:`Member`: a trial's networks,
parameters, log choice, link and weight): every network of every member is trained as in
step 2 on the same fit and early-stopping rows, each member's networks are fused as its trial
fused them, the members are fused with their weights (:func:`latticenas.ensemble.fuse`: one
Keras model, raw columns in), and the result is tested and written as above, so an ensemble's
directory loads, serves and registers like a single network's. It adds ``ensemble.json``
(:func:`ensemble_record`: members, weights, links, every network's spec, and a ``spec_hash``
of the whole ensemble); ``spec.json`` and ``diagram.svg`` show the first member's first
network, ``metrics.json``'s ``training`` has each network's training record.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from latticenas import artifacts as layout
from latticenas.arch.spec import ArchitectureSpec
from latticenas.artifacts import ArtifactWriter
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
ENSEMBLE = "ensemble.json"
ENSEMBLE_FORMAT = "latticenas-ensemble/1"
LINKS = ("identity", "log1p")  # latticenas.ensemble.link_for

__all__ = [
    "CONFUSION_MATRIX",
    "ENSEMBLE",
    "ROC",
    "SAVED_MODEL",
    "SAVED_MODEL_VERSION",
    "Member",
    "RetrainResult",
    "confusion_matrix",
    "ensemble_record",
    "export_saved_model",
    "retrain_best",
    "retrain_ensemble",
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
    ensemble_path: str | None = None  # ensemble.json, for an ensemble


@dataclass(frozen=True)
class Member:
    """One member of an ensemble to refit: a trial's networks (its best one, or all of those it
    averaged with ``link``), refit with the trial's own ``params`` and ``log_target``, and
    weighted ``weight`` in the ensemble."""

    name: str
    weight: float
    params: ParameterSet
    specs: tuple[ArchitectureSpec, ...]
    log_target: bool | None = None
    link: str = "identity"

    def __post_init__(self) -> None:
        if not self.specs:
            raise ParameterError(f"ensemble member {self.name!r} has no networks: give it at least one spec")
        if isinstance(self.weight, bool) or not isinstance(self.weight, numbers.Real) or not self.weight > 0:
            raise ParameterError(f"ensemble member {self.name!r}: weight must be a number > 0, got {self.weight!r}")
        _check_link(self.link, f"ensemble member {self.name!r}: link")


def _check_link(link: str, what: str) -> None:
    if link not in LINKS:
        raise ParameterError(f"{what} must be one of {', '.join(LINKS)}, got {link!r}")


@dataclass(frozen=True)
class _Fitted:
    result: object  # NetworkResult
    network: object  # Network
    prepared: object  # Prepared


def retrain_best(
    spec: ArchitectureSpec,
    params: ParameterSet,
    dataset: Dataset,
    output_dir: str,
    *,
    early_stopping_fraction: float = 0.1,
    seed: int = 0,
    log_target: bool | None = None,
    extra: dict | None = None,
) -> RetrainResult:
    """Retrain ``spec`` on train + validation, test it and write ``output_dir`` (see module doc).

    ``log_target`` is the regression target's log choice (None: automatic, as in the trial);
    ``extra`` is merged into ``metrics.json``. Raises ParameterError for a bad fraction or a
    ``gs://`` output, DataError when a part needed here is empty, TrialFailedError when the
    network does not train.
    """
    retrain_data = _retrain_data(dataset, early_stopping_fraction, output_dir)
    fitted = _fit(spec, params, retrain_data, seed, log_target, "retrain", f"the best architecture {spec.content_hash[:12]}")
    result = fitted.result
    training = {
        "spec_hash": spec.content_hash,
        "seed": seed,
        "early_stopping_fraction": early_stopping_fraction,
        **_training(result),
        "history": result.history,
    }
    return _write(output_dir, fitted.network.serving, fitted.prepared, spec, dataset, retrain_data, training,
                  extra, epochs=(result.epochs_run, result.best_epoch))


def retrain_ensemble(
    members: Sequence[Member],
    dataset: Dataset,
    output_dir: str,
    *,
    link: str,
    early_stopping_fraction: float = 0.1,
    seed: int = 0,
    extra: dict | None = None,
) -> RetrainResult:
    """Refit every network of every member on train + validation (one early-stopping slice for
    all), fuse each member's networks as its trial did (equal weights, the member's link), fuse
    the members with their weights and ``link`` (:func:`latticenas.ensemble.fuse`) into one
    model, test it once and write ``output_dir`` as :func:`retrain_best` does, plus
    ``ensemble.json`` (members, weights, links, every network's spec). ``spec.json`` and the
    diagram are the first member's first network (pass the best member first)."""
    from latticenas.ensemble import fuse

    if not members:
        raise ParameterError("an ensemble needs at least one member")
    _check_link(link, "the ensemble's link")
    retrain_data = _retrain_data(dataset, early_stopping_fraction, output_dir)
    models, described, fitted_all = [], [], []
    for i, member in enumerate(members):
        fitted = [_fit(spec, member.params, retrain_data, seed + 101 * i + j, member.log_target,
                       f"{member.name}-{j}", f"network {j + 1} of member {member.name}")
                  for j, spec in enumerate(member.specs)]
        fitted_all += fitted
        models.append(fuse([f.network.serving for f in fitted], [1.0] * len(fitted), member.link, name=f"member_{i}"))
        described.append({"trial": member.name, "weight": member.weight, "link": member.link,
                          "networks": [{"spec_hash": s.content_hash, **_training(f.result)}
                                       for s, f in zip(member.specs, fitted)]})
    model = fuse(models, [m.weight for m in members], link, name="ensemble")
    record = ensemble_record(members, link)
    training = {"spec_hash": record["spec_hash"], "seed": seed, "early_stopping_fraction": early_stopping_fraction,
                "link": link, "members": described}
    epochs = (max(f.result.epochs_run for f in fitted_all), max(f.result.best_epoch for f in fitted_all))
    out = _write(output_dir, model, fitted_all[0].prepared, members[0].specs[0], dataset, retrain_data, training,
                 extra, epochs=epochs, title=f"ensemble of {len(members)} trial(s): first network of {members[0].name}")
    ensemble_path = ArtifactWriter(output_dir).write_json(record, ENSEMBLE)
    return dataclasses.replace(out, ensemble_path=ensemble_path)


def ensemble_record(members: Sequence[Member], link: str) -> dict:
    """``ensemble.json``: the members and their networks' specs; ``spec_hash`` identifies the
    whole ensemble (weights, links and every network's spec hash)."""
    identity = {"link": link, "members": [[m.weight, m.link, [s.content_hash for s in m.specs]] for m in members]}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return {"format": ENSEMBLE_FORMAT, "spec_hash": digest, "link": link,
            "members": [{"trial": m.name, "weight": m.weight, "link": m.link, "log_target": m.log_target,
                         "parameters": m.params.to_dict(), "networks": [json.loads(s.to_json()) for s in m.specs]}
                        for m in members]}


def _retrain_data(dataset: Dataset, early_stopping_fraction: float, output_dir: str) -> Dataset:
    """Fit rows, early-stopping rows and the untouched test rows, as a Dataset."""
    _check_arguments(early_stopping_fraction, output_dir)
    fit_rows, stop_rows = _early_stopping_split(dataset, early_stopping_fraction)
    if dataset.test.empty:
        raise DataError(
            "the dataset has no test rows to evaluate the retrained model on: "
            "load it with --test-fraction above 0"
        )
    return Dataset(dataset.schema, fit_rows, stop_rows, dataset.test, dataset.source_uri)


def _fit(spec, params: ParameterSet, retrain_data: Dataset, seed: int, log_target, network_id: str, what: str) -> _Fitted:
    from latticenas.train import NetworkStatus, prepare, train_network

    prepared = prepare(retrain_data, log_target, params.numeric_encoding)
    log.info("retraining %s (%s) on %d rows (early stopping on %d), testing on %d", what, spec.content_hash[:12],
             len(retrain_data.train), len(retrain_data.val), len(retrain_data.test))
    result, network = train_network(spec, prepared, params, network_id=network_id, seed=seed)
    if result.status is not NetworkStatus.SUCCEEDED or network is None:
        raise TrialFailedError(
            f"retraining {what} {result.status.value}: {result.error}; try a lower learning_rate or another seed"
        )
    return _Fitted(result, network, prepared)


def _training(result) -> dict:
    return {"epochs_run": result.epochs_run, "best_epoch": result.best_epoch, "param_count": result.param_count,
            "train_seconds": round(result.train_seconds, 3), "early_stopping_metrics": result.metrics}


def _write(output_dir: str, model, prepared, spec: ArchitectureSpec, dataset: Dataset, retrain_data: Dataset,
           training: dict, extra: dict | None, *, epochs: tuple[int, int], title: str | None = None) -> RetrainResult:
    """Test ``model`` once and write the model directory (see the module docstring)."""
    from latticenas.arch.diagram import render_svg

    schema = dataset.schema
    test = _test_evaluation(model, dataset, prepared.stats)
    writer = ArtifactWriter(output_dir)
    model_path = writer.save_model(model, layout.MODEL)
    saved_model_dir = str(Path(output_dir) / SAVED_MODEL)
    export_saved_model(model, str(Path(saved_model_dir) / SAVED_MODEL_VERSION))
    spec_path = writer.write_text(spec.to_json(indent=2), layout.SPEC)
    preprocessing_path = writer.write_json(layout.preprocessing_record(prepared), layout.PREPROCESSING)
    diagram_path = writer.write_text(render_svg(spec, title=title or f"retrained {spec.content_hash[:12]}"), layout.DIAGRAM)
    rows = {"fit": len(retrain_data.train), "early_stopping": len(retrain_data.val), "test": len(dataset.test)}
    record = {"split": "test", "task": schema.task.value, "metrics": test["metrics"], "rows": rows,
              "training": training, **(extra or {})}
    metrics_path = writer.write_json(record, layout.METRICS)
    cm_path = roc_path = None
    if test["confusion_matrix"] is not None:
        cm_path = writer.write_json(
            {"classes": list(schema.classes), "rows": "true class", "columns": "predicted class",
             "matrix": test["confusion_matrix"]},
            CONFUSION_MATRIX,
        )
        roc_path = writer.write_json(test["roc"], ROC)
    return RetrainResult(
        output_dir=str(output_dir), model_path=model_path, saved_model_dir=saved_model_dir, spec_path=spec_path,
        preprocessing_path=preprocessing_path, metrics_path=metrics_path, diagram_path=diagram_path,
        confusion_matrix_path=cm_path, roc_path=roc_path, task=schema.task, test_metrics=test["metrics"],
        confusion_matrix=test["confusion_matrix"], roc=test["roc"],
        classes=None if schema.classes is None else tuple(schema.classes),
        rows=rows, epochs_run=epochs[0], best_epoch=epochs[1],
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


def _test_evaluation(model, dataset: Dataset, stats) -> dict:
    """Test metrics (original units), and for classification the confusion matrix and ROC."""
    from latticenas.arch.keras_builder import as_dataset
    from latticenas.features import model_inputs

    schema = dataset.schema
    x_test = model_inputs(dataset.test, stats)
    predictions = np.asarray(model.predict(as_dataset(x_test), verbose=0))
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
