"""Train one network: the piece the trial repeats for every sampled architecture.

:func:`prepare` turns a :class:`~latticenas.data.Dataset` into model-ready arrays once per
trial (statistics from the training split only). :func:`train_network` builds a spec, fits it
with AdamW and early stopping that restores the best epoch's weights, and evaluates it on the
validation split in the target's original units. A network whose loss turns NaN is reported as
``DIVERGED``; any other exception inside Keras as ``FAILED`` with its message; neither stops
the trial.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Callable

import keras
import numpy as np

from latticenas.arch.keras_builder import Network, as_dataset, build_encoder, build_network, encode
from latticenas.arch.spec import ArchitectureSpec
from latticenas.data import Dataset, TableSchema, Task, cache
from latticenas.evaluation import task_metrics
from latticenas.features import FeatureStats, TargetTransform, encode_target, model_inputs
from latticenas.optimizer import build_slots, make_optimizer
from latticenas.params import ParameterSet
from latticenas.termination import interrupt_pending

log = logging.getLogger(__name__)


class NetworkStatus(str, Enum):
    SUCCEEDED = "succeeded"
    DIVERGED = "diverged"
    FAILED = "failed"


@dataclass(frozen=True)
class Prepared:
    """Model-ready arrays of one split layout, computed once per trial."""

    schema: TableSchema
    stats: FeatureStats
    transform: TargetTransform | None
    encoder: object  # keras.Model: raw columns -> encoded features (no trainable weights)
    x_train: dict  # encoded features (what the network bodies train on)
    y_train: np.ndarray
    x_val: dict  # encoded features
    y_val: np.ndarray  # training encoding (scaled target / class codes)
    y_val_raw: np.ndarray  # original units (regression) or class codes
    x_val_raw: dict  # raw columns, for the end-to-end check of the serving model


def prepare(dataset: Dataset, log_target: bool | None = None, numeric_encoding: str = "standard") -> Prepared:
    schema = dataset.schema
    stats = FeatureStats.fit(dataset.train, schema, numeric_encoding)
    transform = None
    if schema.task is Task.REGRESSION:
        transform = TargetTransform.fit(dataset.train[schema.target].to_numpy(), log=log_target)
    y_val = encode_target(dataset.val[schema.target], schema, transform)
    y_val_raw = dataset.val[schema.target].to_numpy(dtype="float64") if transform else y_val
    encoder = build_encoder(stats)
    x_val_raw = model_inputs(dataset.val, stats)
    return Prepared(
        schema=schema,
        stats=stats,
        transform=transform,
        encoder=encoder,
        x_train=encode(encoder, model_inputs(dataset.train, stats)),
        y_train=encode_target(dataset.train[schema.target], schema, transform),
        x_val=encode(encoder, x_val_raw),
        y_val=y_val,
        y_val_raw=y_val_raw,
        x_val_raw=x_val_raw,
    )


def prepare_cached(dataset: Dataset, log_target: bool | None = None, numeric_encoding: str = "standard") -> Prepared:
    """:func:`prepare`, through a warm worker's data cache (:mod:`latticenas.data.cache`): the
    next trial on the same table with the same encoding options reuses the fitted statistics
    and the encoded arrays (made read-only) and builds only its own encoder, a Keras model that
    must not outlive the trial's Keras session."""
    data_cache = cache.enabled()
    if data_cache is None:
        return prepare(dataset, log_target, numeric_encoding)

    built: dict[str, Prepared] = {}

    def compute() -> Prepared:  # this trial's, with its encoder; the cache keeps it without
        data = built["data"] = prepare(dataset, log_target, numeric_encoding)
        for array in (*data.x_train.values(), *data.x_val.values(), *data.x_val_raw.values(),
                      data.y_train, data.y_val, data.y_val_raw):
            array.setflags(write=False)
        return replace(data, encoder=None)

    kept = data_cache.derived(dataset, ("prepare", log_target, numeric_encoding), compute)
    return built.get("data") or replace(kept, encoder=build_encoder(kept.stats))


@dataclass(frozen=True)
class NetworkResult:
    network_id: str
    spec_hash: str
    status: NetworkStatus
    metrics: dict[str, float] = field(default_factory=dict)  # validation metrics, bare names
    param_count: int = 0
    epochs_run: int = 0
    best_epoch: int = 0
    train_seconds: float = 0.0
    history: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict:
        return {
            "network_id": self.network_id,
            "spec_hash": self.spec_hash,
            "status": self.status.value,
            "metrics": self.metrics,
            "param_count": self.param_count,
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "train_seconds": round(self.train_seconds, 3),
            "history": self.history,
            "error": self.error,
        }


def loss_for(task: Task) -> str:
    """The training loss, as the Keras class name ``compile`` and :func:`validation_loss` take."""
    return {
        Task.REGRESSION: "MeanSquaredError",
        Task.BINARY: "BinaryCrossentropy",
        Task.MULTICLASS: "SparseCategoricalCrossentropy",
    }[task]


def compile_network(network: Network, params: ParameterSet, task: Task, steps_per_epoch: int = 1) -> None:
    optimizer = make_optimizer(learning_rate(params, steps_per_epoch), params.weight_decay)
    network.core.compile(optimizer=optimizer, loss=loss_for(task), jit_compile=False)
    build_slots(network.core)


def learning_rate(params: ParameterSet, steps_per_epoch: int):
    """The optimizer's learning rate: a number, or warm-up + cosine decay over ``epochs``."""
    if params.learning_rate_schedule != "cosine":
        return params.learning_rate
    warmup = steps_per_epoch if params.epochs > 1 else 0
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=params.learning_rate / 10 if warmup else params.learning_rate,
        decay_steps=max(1, params.epochs * steps_per_epoch - warmup),
        alpha=0.01,
        warmup_target=params.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def steps_per_epoch(data: Prepared, params: ParameterSet) -> int:
    return max(1, math.ceil(len(data.y_train) / params.batch_size))


def train_network(
    spec: ArchitectureSpec,
    data: Prepared,
    params: ParameterSet,
    *,
    network_id: str,
    seed: int,
    strategy=None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[NetworkResult, Network | None]:
    """Build, fit and evaluate one network; never raises for a network that fails to train.

    ``on_epoch(epoch, metrics)``, when given, receives the validation metrics in original units
    after every epoch (the trial turns them into intermediate Katib metric lines).
    """
    keras.utils.set_random_seed(seed)
    started = time.perf_counter()
    try:
        with strategy.scope() if strategy is not None else nullcontext():
            network = build_network(spec, data.stats, data.schema, data.transform, data.encoder,
                                    dropout=params.dropout)
            compile_network(network, params, data.schema.task, steps_per_epoch(data, params))
        history = fit(network, data, params, seed, on_epoch)
    except Exception as exc:  # a network's own failure must not end the trial
        if interrupt_pending():  # a stop that TensorFlow turned into an error of its own
            raise KeyboardInterrupt from exc
        log.warning("network %s failed: %s", network_id, exc)
        return _failed(network_id, spec, NetworkStatus.FAILED, started, error=f"{type(exc).__name__}: {exc}"), None
    losses = history.get("loss", [])
    if not losses or any(not math.isfinite(v) for v in losses):
        return _failed(network_id, spec, NetworkStatus.DIVERGED, started, error="loss became NaN/inf"), None
    metrics = evaluate_encoded(network, data)  # the serving model's math, on the encoded rows
    if not all(math.isfinite(v) for k, v in metrics.items() if k != "auc"):
        return _failed(network_id, spec, NetworkStatus.DIVERGED, started, error="non-finite predictions"), None
    val_loss = history.get("val_loss", losses)
    result = NetworkResult(
        network_id=network_id,
        spec_hash=spec.content_hash,
        status=NetworkStatus.SUCCEEDED,
        metrics=metrics,
        param_count=int(network.core.count_params()),
        epochs_run=len(losses),
        best_epoch=int(np.nanargmin(val_loss)) + 1,
        train_seconds=time.perf_counter() - started,
        history={k: [float(x) for x in v] for k, v in history.items()},
    )
    return result, network


def fit(network: Network, data: Prepared, params: ParameterSet, seed: int = 0, on_epoch=None) -> dict[str, list[float]]:
    # _Validation goes first: it puts val_loss in the epoch's logs that the others monitor
    callbacks = [_Validation(network, data, on_epoch), keras.callbacks.TerminateOnNaN()]
    if params.learning_rate_schedule == "plateau":
        callbacks.append(keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=1 / 3, patience=max(2, params.patience // 2), min_lr=params.learning_rate / 100
        ))
    if params.patience > 0:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=params.patience, restore_best_weights=True
        ))
    history = network.core.fit(
        as_dataset(data.x_train, data.y_train, batch_size=params.batch_size, shuffle_seed=seed),
        epochs=params.epochs,
        shuffle=False,  # the dataset reshuffles itself every epoch (seeded)
        callbacks=callbacks,
        verbose=0,
    )
    return history.history


class _Validation(keras.callbacks.Callback):
    """The validation pass after each epoch: one forward pass over the encoded validation rows
    gives both ``val_loss`` (the training loss, in the epoch's logs for early stopping, the
    plateau schedule and the history) and, for ``report``, the metrics in original units.

    It stands in for Keras' ``validation_data``, which would trace a second graph per network
    (the test step) and run the rows through it again only for the loss.
    """

    def __init__(self, network: Network, data: Prepared, report=None):
        super().__init__()
        self.network, self.data, self.report = network, data, report

    def on_epoch_end(self, epoch, logs=None):
        raw = predict_encoded(self.network, self.data)
        if logs is not None:
            logs["val_loss"] = validation_loss(self.data, raw)
        if self.report is not None and (logs is None or math.isfinite(logs.get("loss", math.nan))):
            self.report(epoch + 1, metrics_of(self.data, raw))


def predict_encoded(network: Network, data: Prepared) -> np.ndarray:
    """The body's outputs on the encoded validation rows, in the training encoding: whole
    batches through Keras' traced predict step (traced once per network, reused every epoch)."""
    return predict_validation(network.core, data)


def predict_validation(model: keras.Model, data: Prepared):
    """``model`` (encoded inputs in) on the validation rows, ``_VAL_BATCH`` rows a call; an array,
    or a dict of arrays for a model with named outputs (a fused trial)."""
    rows = len(data.y_val)
    chunks = [model.predict_on_batch({k: v[i:i + _VAL_BATCH] for k, v in data.x_val.items()})
              for i in range(0, rows, _VAL_BATCH)]
    if isinstance(chunks[0], dict):
        return {k: np.concatenate([np.asarray(c[k]) for c in chunks]) for k in chunks[0]}
    return np.concatenate([np.asarray(c) for c in chunks])


_VAL_BATCH = 65_536  # validation rows in one forward pass (Ames' ~440 are one)


def validation_loss(data: Prepared, raw: np.ndarray) -> float:
    """The training loss of the body's outputs ``raw`` on the validation rows: the value Keras'
    ``evaluate`` reports, with the same loss object ``compile`` makes of :func:`loss_for`."""
    loss = keras.losses.get(loss_for(data.schema.task))
    return float(keras.ops.convert_to_numpy(loss(data.y_val, raw)))


def original_units(data: Prepared, raw: np.ndarray) -> np.ndarray:
    """What the serving model outputs for the body's outputs ``raw``: the target in its own units
    (regression), or the class probabilities."""
    return data.transform.inverse(raw) if data.schema.task is Task.REGRESSION else raw


def metrics_of(data: Prepared, raw: np.ndarray) -> dict[str, float]:
    """Validation metrics in original units of the body's outputs ``raw`` (training encoding)."""
    return task_metrics(data.schema.task, data.y_val_raw, original_units(data, raw), len(data.schema.classes or ()))


def val_predictions(network: Network, data: Prepared) -> np.ndarray:
    """The network's validation predictions as its serving model gives them (to float32
    rounding), from the encoded rows: no trace of the serving model."""
    return original_units(data, predict_encoded(network, data))


def evaluate_encoded(network: Network, data: Prepared) -> dict[str, float]:
    """Validation metrics from the body on pre-encoded features (fast; same math as serving)."""
    return metrics_of(data, predict_encoded(network, data))


def evaluate(network: Network, x: dict, y_raw: np.ndarray, schema: TableSchema) -> dict[str, float]:
    """Metrics of the serving model (original units) on ``x`` against ``y_raw``."""
    predictions = network.serving.predict(as_dataset(x), verbose=0)
    return task_metrics(schema.task, y_raw, predictions, len(schema.classes or ()))


def _failed(network_id, spec, status, started, error) -> NetworkResult:
    return NetworkResult(
        network_id=network_id,
        spec_hash=spec.content_hash,
        status=status,
        train_seconds=time.perf_counter() - started,
        error=error,
    )
