"""LatticeBatchNorm: Keras' BatchNormalization, trained through TensorFlow's fused kernel."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from latticenas.arch.keras_layers import LatticeBatchNorm


def pair(momentum=0.9):
    ours, theirs = LatticeBatchNorm(momentum=momentum), keras.layers.BatchNormalization(momentum=momentum)
    for layer in (ours, theirs):
        layer.build((None, 5))
    rng = np.random.default_rng(0)
    gamma, beta = rng.uniform(0.5, 2, 5).astype("float32"), rng.normal(size=5).astype("float32")
    for layer in (ours, theirs):
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
    return ours, theirs


@pytest.mark.parametrize("rows", [1, 7, 64])
def test_a_training_step_matches_keras_batch_normalization(rows):
    ours, theirs = pair()
    x = tf.constant(np.random.default_rng(rows).normal(3, 2, size=(rows, 5)).astype("float32"))
    upstream = tf.constant(np.random.default_rng(1).normal(size=(rows, 5)).astype("float32"))
    results = []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * upstream)
        grads = tape.gradient(loss, [x, layer.gamma.value, layer.beta.value])
        results.append([y, *grads, layer.moving_mean, layer.moving_variance])
    for a, b in zip(*results):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_traced_training_with_a_short_last_batch_and_inference_match_keras():
    x = np.random.default_rng(0).normal(size=(70, 5)).astype("float32")
    y = x @ np.arange(1, 6, dtype="float32")
    models = []
    for layer in pair():
        keras.utils.set_random_seed(0)
        inputs = keras.Input((5,))
        model = keras.Model(inputs, keras.layers.Dense(1)(layer(keras.layers.Dense(5)(inputs))))
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", jit_compile=False)  # Adam would amplify rounding
        model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0)  # batches of 32, 32 and 6 rows
        models.append(model)
    ours, theirs = models
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-4, atol=1e-4)
    assert ours.layers[2].moving_variance.numpy() == pytest.approx(theirs.layers[2].moving_variance.numpy(), rel=1e-4)


def test_it_saves_and_loads(tmp_path):
    layer, _ = pair()
    inputs = keras.Input((5,))
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[1], LatticeBatchNorm)
    x = np.ones((3, 5), "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
