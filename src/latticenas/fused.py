"""Fused training: a trial's networks trained as one Keras model (HFTA, MLSys 2021).

:func:`train_fused` builds every member as :func:`latticenas.train.train_network` would (same
seed, same layers, same serving model), joins their bodies into one model over the shared
encoded inputs — k outputs, k losses summed under one AdamW — and fits it once, so every step
trains all k and pays the per-step cost (Python, dispatch, many small kernels) once instead of
k times. The members stay independent: their variables are disjoint, so the gradient of the
summed loss for a member's variables is its own loss's gradient; AdamW, its weight decay and
``clipnorm`` act per variable; each member has its own BatchNormalization statistics.

Everything per network stays as in sequential training (:class:`_Members`): its own early
stopping on its own validation loss with its best epoch's weights restored, its own epochs
run, history, metrics and failure. A member whose loss turns NaN/inf is recorded as diverged
and its results are ignored from then on; the others go on. The fit ends when every member
has stopped. The members share one batch order (the first member's seed), which is the one
difference from training each alone.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import keras

from latticenas.arch.keras_builder import as_dataset, build_network
from latticenas.arch.spec import ArchitectureSpec
from latticenas.optimizer import build_slots, make_optimizer
from latticenas.params import ParameterSet
from latticenas.termination import interrupt_pending
from latticenas.train import (
    NetworkResult, NetworkStatus, Prepared, _failed, learning_rate, loss_for, metrics_of, predict_validation,
    steps_per_epoch, validation_loss,
)

log = logging.getLogger(__name__)

#: ``auto`` fuses while the members' weights, gradients and AdamW slots (16 bytes a parameter)
#: stay under this many bytes; above it they train one by one.
FUSED_MEMORY_BOUND = 512 * 2**20
FUSED_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class Member:
    network_id: str
    spec: ArchitectureSpec
    seed: int


def param_estimate(spec: ArchitectureSpec, input_width: int) -> int:
    """About how many weights ``spec`` has over ``input_width`` encoded features (Dense layers)."""
    total = 0
    for unit in spec.units():
        if unit.level == 0:
            continue
        width = sum(input_width if e.src.level == 0 else spec.neurons(e.src) for e in spec.inputs_of(unit))
        total += (width + 1) * spec.neurons(unit)
    return total


def should_fuse(mode: str, members: int, param_estimate: int, accelerator: bool) -> bool:
    """``on``/``off`` as given; ``auto``: on a GPU/TPU, more than one member, under the memory bound.

    Not on a CPU: the fused model runs the same small kernels one by one, so it only saves the
    per-step overhead, which is a few percent of a lattice's step there; measured on 2 cores it
    was 0.6-1.15x sequential (benchmarks/README.md). On an accelerator the members' kernels
    run concurrently and the per-step launch cost is paid once.
    """
    if mode == "auto":
        return accelerator and members > 1 and 16 * param_estimate <= FUSED_MEMORY_BOUND
    return mode == "on"


def train_fused(members: list[Member], data: Prepared, params: ParameterSet, *, strategy=None,
                on_epoch=None) -> list[tuple[NetworkResult, object]]:
    """Train ``members`` fused; one ``(NetworkResult, Network | None)`` per member, in order.

    ``on_epoch(epoch, metrics_by_member_index)`` receives each active member's validation
    metrics (original units) after every epoch.
    """
    return FusedTrial(members, data, params, strategy=strategy).fit(on_epoch)


class FusedTrial:
    """The members built (``networks``: index -> Network) and joined; :meth:`fit` trains them."""

    def __init__(self, members: list[Member], data: Prepared, params: ParameterSet, *, strategy=None,
                 jit_compile: bool = False):
        self.members, self.data, self.params = members, data, params
        self.started = time.perf_counter()
        self.networks: dict[int, object] = {}
        self.failures: dict[int, NetworkResult] = {}
        self.model = None
        with strategy.scope() if strategy is not None else nullcontext():
            for i, m in enumerate(members):
                keras.utils.set_random_seed(m.seed)  # the same initial weights as training it alone
                try:
                    self.networks[i] = build_network(m.spec, data.stats, data.schema, data.transform, data.encoder,
                                                     dropout=params.dropout)
                except Exception as exc:  # a member's own failure must not end the others
                    if interrupt_pending():  # a stop that TensorFlow turned into an error of its own
                        raise KeyboardInterrupt from exc
                    self.failures[i] = self._failed(i, NetworkStatus.FAILED, f"{type(exc).__name__}: {exc}")
            if self.networks:
                self.model = _fused_model(self.networks)
                optimizer = make_optimizer(learning_rate(params, steps_per_epoch(data, params)), params.weight_decay)
                self.model.compile(optimizer=optimizer, jit_compile=jit_compile,  # XLA: benchmarks/README.md §4
                                   loss={_key(i): loss_for(data.schema.task) for i in self.networks})
                build_slots(self.model)

    def _failed(self, i: int, status: NetworkStatus, error: str) -> NetworkResult:
        m = self.members[i]
        return _failed(m.network_id, m.spec, status, self.started, error)

    def fit(self, on_epoch=None) -> list[tuple[NetworkResult, object]]:
        if self.model is None:
            return [(self.failures[i], None) for i in range(len(self.members))]
        data, params, keys = self.data, self.params, [_key(i) for i in self.networks]
        tracker = _Members(self.networks, data, params.patience, on_epoch)
        keras.utils.set_random_seed(self.members[0].seed)
        try:
            self.model.fit(
                as_dataset(data.x_train, {k: data.y_train for k in keys}, batch_size=params.batch_size,
                           shuffle_seed=self.members[0].seed),
                epochs=params.epochs, shuffle=False, callbacks=[tracker], verbose=0,
            )
        except Exception as exc:  # the fused fit itself failed: every member shares that fate
            if interrupt_pending():  # a stop that TensorFlow turned into an error of its own
                raise KeyboardInterrupt from exc
            log.warning("fused training failed: %s", exc)
            error = f"{type(exc).__name__}: {exc}"
            return [(self.failures.get(i) or self._failed(i, NetworkStatus.FAILED, error), None)
                    for i in range(len(self.members))]
        tracker.restore_best()
        outputs = predict_validation(self.model, data)  # each member at its best epoch, one pass
        seconds = (time.perf_counter() - self.started) / len(self.networks)
        return [(self.failures[i], None) if i in self.failures else tracker.result(i, m, seconds, outputs[_key(i)])
                for i, m in enumerate(self.members)]


def _key(i: int) -> str:
    return f"m{i}"


def _fused_model(built: dict[int, object]) -> keras.Model:
    first = next(iter(built.values())).core
    inputs = {k: keras.Input(t.shape[1:], name=k, dtype=t.dtype) for k, t in first.input.items()}
    outputs = {}
    for i, network in built.items():
        core = network.core
        member = keras.Model(core.input, core.output, name=_key(i))  # unique names, shared layers
        outputs[_key(i)] = member({k: inputs[k] for k in core.input})
    return keras.Model(inputs, outputs, name="fused_trial")


@dataclass
class _State:
    best_loss: float = math.inf
    best_epoch: int = 0
    weights: list | None = None
    wait: int = 0
    epochs: int = 0
    stopped: bool = False
    diverged: bool = False
    history: dict[str, list[float]] = field(default_factory=lambda: {"loss": [], "val_loss": []})


class _Members(keras.callbacks.Callback):
    """Per-member early stopping with best-weight restore, divergence and metrics."""

    def __init__(self, built: dict, data: Prepared, patience: int, on_epoch):
        super().__init__()
        self.built, self.data, self.patience, self.on_epoch = built, data, patience, on_epoch
        self.states = {i: _State() for i in built}

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        reports = {}
        outputs = predict_validation(self.model, self.data)  # every member's, in one forward pass
        for i, state in self.states.items():
            if state.stopped:
                continue
            loss, val = float(logs.get(f"{_key(i)}_loss", math.nan)), validation_loss(self.data, outputs[_key(i)])
            state.epochs = epoch + 1
            state.history["loss"].append(loss)
            state.history["val_loss"].append(val)
            if not (math.isfinite(loss) and math.isfinite(val)):
                state.stopped = state.diverged = True
                continue
            if val < state.best_loss:
                state.best_loss, state.best_epoch, state.wait = val, epoch + 1, 0
                state.weights = self.built[i].core.get_weights()
            else:
                state.wait += 1
                if self.patience and state.wait >= self.patience:
                    state.stopped = True
            if self.on_epoch is not None:
                reports[i] = metrics_of(self.data, outputs[_key(i)])
        if reports:
            self.on_epoch(epoch + 1, reports)
        if all(s.stopped for s in self.states.values()):
            self.model.stop_training = True

    def restore_best(self) -> None:
        """Every member's weights back to its best epoch's (a diverged member's stay as they are)."""
        for i, state in self.states.items():
            if not state.diverged and state.weights is not None:
                self.built[i].core.set_weights(state.weights)

    def result(self, i: int, member: Member, seconds: float, raw) -> tuple[NetworkResult, object]:
        """Member ``i``'s record from its validation outputs ``raw`` at its best epoch."""
        state, network = self.states[i], self.built[i]
        if state.diverged or state.weights is None:
            return _failed(member.network_id, member.spec, NetworkStatus.DIVERGED, time.perf_counter() - seconds,
                           "loss became NaN/inf"), None
        metrics = metrics_of(self.data, raw)  # the serving model's math, on the encoded rows
        if not all(math.isfinite(v) for k, v in metrics.items() if k != "auc"):
            return _failed(member.network_id, member.spec, NetworkStatus.DIVERGED, time.perf_counter() - seconds,
                           "non-finite predictions"), None
        return NetworkResult(
            network_id=member.network_id, spec_hash=member.spec.content_hash, status=NetworkStatus.SUCCEEDED,
            metrics=metrics, param_count=int(network.core.count_params()), epochs_run=state.epochs,
            best_epoch=state.best_epoch, train_seconds=seconds,
            history={k: [float(x) for x in v] for k, v in state.history.items()},
        ), network


__all__ = ["FUSED_MODES", "FusedTrial", "Member", "param_estimate", "should_fuse", "train_fused"]
