"""The training optimizer: Keras' AdamW with the same arithmetic, built to trace cheaply.

Why: a lattice has many small layers, so one training step updates tens of variables, and
Keras' AdamW writes the per-step constants into the graph once *per variable*: the learning
rate schedule (warm-up + cosine, ~30 ops) once for the update and again for the weight decay,
and the bias corrections ``beta**t``. Tracing that graph was most of a small network's training
time on a CPU (measured in ``benchmarks/README.md``, "Training a network: tracing"). Here they
are computed once per step and shared by every variable; each variable's update is the same
sequence of operations on the same values as Keras', so the weights after a step are the same.

:func:`make_optimizer` is the one place the project's optimizer is configured (learning rate
or schedule, weight decay, per-variable gradient clipping at norm 1), for single networks and
fused ones alike. :func:`build_slots` creates the optimizer's variables before ``fit``: a
``tf.function`` that creates variables on its first call is traced twice.
"""

from __future__ import annotations

import keras
from keras import ops

from latticenas.arch.keras_layers import PACKAGE

CLIPNORM = 1.0  # per variable: each member of a fused model keeps its own update


@keras.saving.register_keras_serializable(package=PACKAGE)
class LatticeAdamW(keras.optimizers.AdamW):
    """``keras.optimizers.AdamW`` whose per-step constants are computed once per step.

    Only without a distribution strategy (CPU, one GPU: see :mod:`latticenas.distribute`);
    under a Mirrored or TPU strategy, where updates run per replica, it is Keras' AdamW as is."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        import tensorflow as tf

        self._shared = not tf.distribute.has_strategy()
        self._step_constants = None

    def apply(self, grads, trainable_variables=None):
        self._step_constants = None
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self._step_constants = None

    def _constants(self, dtype):
        """(lr, alpha, weight decay) of this step, as Keras computes them for each variable."""
        if self._step_constants is None or self._step_constants[0] != dtype:
            lr = ops.cast(self.learning_rate, dtype)
            local_step = ops.cast(self.iterations + 1, dtype)
            beta_1_power = ops.power(ops.cast(self.beta_1, dtype), local_step)
            beta_2_power = ops.power(ops.cast(self.beta_2, dtype), local_step)
            alpha = lr * ops.sqrt(1 - beta_2_power) / (1 - beta_1_power)
            self._step_constants = (dtype, lr, alpha, ops.cast(self.weight_decay, dtype))
        return self._step_constants[1:]

    def _apply_weight_decay(self, variables):
        if not self._shared or self.weight_decay is None:
            return super()._apply_weight_decay(variables)
        for variable in variables:
            if self._use_weight_decay(variable):
                lr, _, wd = self._constants(variable.dtype)
                variable.assign_sub(variable * wd * lr)

    def update_step(self, gradient, variable, learning_rate):
        if not self._shared or self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        _, alpha, _ = self._constants(variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        self.assign_sub(variable, ops.divide(ops.multiply(m, alpha), ops.add(ops.sqrt(v), self.epsilon)))


def make_optimizer(learning_rate, weight_decay: float) -> LatticeAdamW:
    return LatticeAdamW(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=CLIPNORM)


def build_slots(model: keras.Model) -> None:
    """Create a compiled model's optimizer variables now, outside any traced function."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
