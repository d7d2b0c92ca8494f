"""Custom Keras layers that travel inside saved models (registered for ``.keras`` loading).

- :class:`ImputeNormalize`: numeric columns -> missing values replaced by the training mean,
  standardized, plus a 0/1 missing indicator for the columns that had gaps in training.
- :class:`InverseTarget`: the regression head's scaled output -> original units, clipped.
- :class:`Gate`: ``x * act(W x + b)``, the gate applied to a group of lateral inputs.
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
