"""Custom Keras layers that travel inside saved models (registered for ``.keras`` loading).

- :class:`ImputeNormalize`: numeric columns -> missing values replaced by the training mean,
  standardized, plus a 0/1 missing indicator for the columns that had gaps in training.
- :class:`PiecewiseLinear`: numeric columns -> a monotone piecewise-linear map per column,
  constant outside the training range (the ``robust`` and ``quantile`` encodings of
  :mod:`latticenas.numeric_encoding`), missing values -> a fitted fill, plus indicators.
- :class:`InverseTarget`: the regression head's scaled output -> original units, clipped.
- :class:`Gate`: ``x * act(W x + b)``, the gate applied to a group of lateral inputs.
- :class:`LatticeBatchNorm`: Keras' BatchNormalization, trained with TensorFlow's fused kernel.
"""

from __future__ import annotations

import keras
from keras import ops

PACKAGE = "latticenas"


@keras.saving.register_keras_serializable(package=PACKAGE)
class ImputeNormalize(keras.layers.Layer):
    def __init__(self, means, scales, indicators, **kwargs):
        super().__init__(**kwargs)
        self.means = [float(m) for m in means]
        self.scales = [float(s) for s in scales]
        self.indicators = [bool(i) for i in indicators]

    def call(self, x):
        x = ops.cast(x, "float32")
        missing = ops.isnan(x)
        means = ops.convert_to_tensor(self.means, dtype="float32")
        scales = ops.convert_to_tensor(self.scales, dtype="float32")
        filled = ops.where(missing, means, x)
        normalized = ops.clip((filled - means) / scales, -10.0, 10.0)
        columns = [i for i, flag in enumerate(self.indicators) if flag]
        if not columns:
            return normalized
        flags = ops.cast(ops.take(missing, columns, axis=1), "float32")
        return ops.concatenate([normalized, flags], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.means) + sum(self.indicators))

    def get_config(self):
        config = super().get_config()
        config.update(means=self.means, scales=self.scales, indicators=self.indicators)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class PiecewiseLinear(keras.layers.Layer):
    """``f(x) = start + sum_k slope_k * (clip(x, low_k, high_k) - low_k)`` per column.

    ``lows``/``highs``/``slopes`` are ``(segments, columns)`` tables
    (:func:`latticenas.numeric_encoding.segment_table`); ``fills`` replace missing values
    after the map, and columns flagged in ``indicators`` add a 0/1 missing column.
    """

    def __init__(self, lows, highs, slopes, starts, fills, indicators, **kwargs):
        super().__init__(**kwargs)
        self.lows = [[float(v) for v in row] for row in lows]
        self.highs = [[float(v) for v in row] for row in highs]
        self.slopes = [[float(v) for v in row] for row in slopes]
        self.starts = [float(v) for v in starts]
        self.fills = [float(v) for v in fills]
        self.indicators = [bool(i) for i in indicators]

    def call(self, x):
        x = ops.cast(x, "float32")
        missing = ops.isnan(x)
        safe = ops.where(missing, ops.zeros_like(x), x)[:, None, :]  # (n, 1, columns)
        lows = ops.convert_to_tensor(self.lows, dtype="float32")[None]  # (1, segments, columns)
        highs = ops.convert_to_tensor(self.highs, dtype="float32")[None]
        slopes = ops.convert_to_tensor(self.slopes, dtype="float32")[None]
        mapped = ops.sum(slopes * (ops.minimum(ops.maximum(safe, lows), highs) - lows), axis=1)
        mapped = mapped + ops.convert_to_tensor(self.starts, dtype="float32")
        encoded = ops.where(missing, ops.convert_to_tensor(self.fills, dtype="float32"), mapped)
        columns = [i for i, flag in enumerate(self.indicators) if flag]
        if not columns:
            return encoded
        flags = ops.cast(ops.take(missing, columns, axis=1), "float32")
        return ops.concatenate([encoded, flags], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.starts) + sum(self.indicators))

    def get_config(self):
        config = super().get_config()
        config.update(lows=self.lows, highs=self.highs, slopes=self.slopes, starts=self.starts,
                      fills=self.fills, indicators=self.indicators)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class InverseTarget(keras.layers.Layer):
    def __init__(self, log, mean, scale, low, high, **kwargs):
        super().__init__(**kwargs)
        self.log, self.mean, self.scale = bool(log), float(mean), float(scale)
        self.low, self.high = float(low), float(high)

    def call(self, z):
        f = ops.cast(z, "float32") * self.scale + self.mean
        y = ops.expm1(ops.minimum(f, 80.0)) if self.log else f
        return ops.clip(y, self.low, self.high)

    def get_config(self):
        config = super().get_config()
        config.update(log=self.log, mean=self.mean, scale=self.scale, low=self.low, high=self.high)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class Gate(keras.layers.Layer):
    def __init__(self, activation="sigmoid", **kwargs):
        super().__init__(**kwargs)
        self.activation = keras.activations.get(activation)
        self.activation_name = activation

    def build(self, input_shape):
        width = input_shape[-1]
        self.dense = keras.layers.Dense(width, activation=self.activation, name="gate_dense")
        self.dense.build(input_shape)

    def call(self, x):
        return x * self.dense(x)

    def get_config(self):
        config = super().get_config()
        config.update(activation=self.activation_name)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class WeightedMean(keras.layers.Layer):
    """Combine ensemble members' outputs: ``g^-1(sum_i w_i g(y_i))``.

    ``link`` is ``identity`` (probabilities, plain targets) or ``log1p`` (a regression target
    trained on its log: the members are averaged in log space, as they were fitted).
    """

    def __init__(self, weights, link="identity", **kwargs):
        super().__init__(**kwargs)
        total = float(sum(weights))
        self.member_weights = [float(w) / total for w in weights]
        self.link = str(link)

    def call(self, outputs):
        stacked = ops.stack([ops.cast(o, "float32") for o in outputs], axis=0)
        if self.link == "log1p":
            stacked = ops.log1p(ops.maximum(stacked, 0.0))
        weights = ops.reshape(ops.convert_to_tensor(self.member_weights, dtype="float32"), (-1,) + (1,) * (len(stacked.shape) - 1))
        mean = ops.sum(stacked * weights, axis=0)
        return ops.expm1(mean) if self.link == "log1p" else mean

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        config = super().get_config()
        config.update(weights=self.member_weights, link=self.link)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class LatticeBatchNorm(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` whose training step is TensorFlow's fused kernel.

    A lattice has a BatchNormalization in every unit; Keras writes each one's training step as
    ~20 separate ops (moments, normalization, moving averages), and their gradients double
    that, which is a large part of tracing a new network's training step on a CPU. Here the
    normalization and its gradient are one op each (``FusedBatchNormV3`` on the rows as a
    ``[N, 1, 1, C]`` image). Same arithmetic as Keras' layer: the batch's biased variance
    normalizes the rows and feeds the moving variance (the kernel's own output is Bessel-
    corrected, so it is scaled back by ``(n - 1) / n``). Inference, masks, renorm, other ranks,
    float16 inputs and other backends take Keras' own path."""

    def call(self, inputs, training=None, mask=None):
        if (not (training and self.trainable) or mask is not None or self.renorm or len(inputs.shape) != 2
                or keras.backend.backend() != "tensorflow" or inputs.dtype != "float32"
                or not (self.scale and self.center)):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        channels = inputs.shape[-1]
        outputs, mean, variance, *_ = tf.compat.v1.nn.fused_batch_norm(
            tf.reshape(inputs, [-1, 1, 1, channels]), scale=self.gamma.value, offset=self.beta.value,
            epsilon=self.epsilon, is_training=True)
        rows = tf.cast(tf.shape(inputs)[0], variance.dtype)
        variance = variance * ((rows - 1.0) / tf.maximum(rows, 1.0))
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return tf.reshape(outputs, [-1, channels])
