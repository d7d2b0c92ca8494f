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

from typing import NamedTuple

import keras
from keras import ops

from latticenas.arch.keras_layers import PACKAGE

CLIPNORM = 1.0  # per variable: each member of a fused model keeps its own update


class _Step(NamedTuple):
    """One training step's scalars, shared by every variable's update."""

    dtype: str
    lr: object
    beta_1_power: object
    beta_2_power: object
    beta_1: object
    beta_2: object
    epsilon: object
    decay: object  # weight decay times the learning rate


@keras.saving.register_keras_serializable(package=PACKAGE)
class LatticeAdamW(keras.optimizers.AdamW):
    """``keras.optimizers.AdamW`` whose per-step constants are computed once per step.

    Only without a distribution strategy (CPU, one GPU: see :mod:`latticenas.distribute`);
    under a Mirrored or TPU strategy, where updates run per replica, it is Keras' AdamW as is."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        import tensorflow as tf

        self._shared = not tf.distribute.has_strategy()
        self._step = None

    def apply(self, grads, trainable_variables=None):
        self._step = None
        try:
            return super().apply(grads, trainable_variables)
        finally:
            self._step = None

    def _constants(self, dtype) -> _Step:
        """This step's scalars as tensors of ``dtype``, built on first use in the step."""
        if self._step is None or self._step.dtype != dtype:
            lr = ops.cast(self.learning_rate, dtype)
            local_step = ops.cast(self.iterations + 1, dtype)
            beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
            self._step = _Step(dtype, lr, ops.power(beta_1, local_step), ops.power(beta_2, local_step), beta_1,
                               beta_2, ops.cast(self.epsilon, dtype), ops.cast(self.weight_decay or 0.0, dtype) * lr)
        return self._step

    def _clip_gradients(self, grads):
        """Keras' per-variable ``clipnorm``, with the norms' arithmetic done once on a vector.

        Each gradient's squared sum is Keras' own (``ops.sum(ops.square(g))``); its guard
        against zero and the ``maximum`` then run on the stacked sums, so each variable adds 4
        graph ops, not 10."""
        if not self._shared or not self.clipnorm or self.clipnorm <= 0 or any(g is None for g in grads):
            return super()._clip_gradients(grads)
        if not grads:
            return grads
        sums = ops.stack([ops.sum(ops.square(g)) for g in grads])
        positive = sums > 0
        norms = ops.where(positive, ops.sqrt(ops.where(positive, sums, ops.ones_like(sums))), sums)
        divisors = ops.unstack(ops.maximum(norms, self.clipnorm), num=len(grads))
        return [ops.multiply(g, self.clipnorm) / d for g, d in zip(grads, divisors)]

    def _apply_weight_decay(self, variables):
        """Keras' decoupled decay ``variable -= variable * wd * lr`` as one op a variable."""
        if not self._shared or self.weight_decay is None:
            return super()._apply_weight_decay(variables)
        import tensorflow as tf

        for variable in variables:
            if self._use_weight_decay(variable):
                tf.raw_ops.ResourceApplyGradientDescent(var=variable.handle, alpha=self._constants(variable.dtype).decay,
                                                        delta=ops.convert_to_tensor(variable))

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        """Each variable's Adam update as TensorFlow's fused ``ResourceApplyAdam``: one op, not 12.

        Its kernel computes what Keras' ``Adam.update_step`` writes out op by op:
        ``m += (g - m)(1 - beta_1)``, ``v += (g^2 - v)(1 - beta_2)``,
        ``var -= m alpha / (sqrt(v) + epsilon)`` with ``alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)``."""
        if not self._shared or self.amsgrad:
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        import tensorflow as tf

        for gradient, variable in zip(grads, trainable_variables):
            step = self._constants(variable.dtype)
            index = self._get_variable_index(variable)
            tf.raw_ops.ResourceApplyAdam(
                var=variable.handle, m=self._momentums[index].handle, v=self._velocities[index].handle,
                beta1_power=step.beta_1_power, beta2_power=step.beta_2_power, lr=step.lr, beta1=step.beta_1,
                beta2=step.beta_2, epsilon=step.epsilon, grad=ops.cast(gradient, variable.dtype))


def make_optimizer(learning_rate, weight_decay: float) -> LatticeAdamW:
    return LatticeAdamW(learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=CLIPNORM)


def build_slots(model: keras.Model) -> None:
    """Create a compiled model's optimizer variables now, outside any traced function."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
