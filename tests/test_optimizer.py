"""The training optimizer: the same weights as Keras' AdamW, and one trace of the training step."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from latticenas.optimizer import CLIPNORM, LatticeAdamW, build_slots, make_optimizer


def small_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    a = keras.layers.Dense(5, activation="gelu")(inputs)
    b = keras.layers.Dense(4, activation="gelu")(keras.layers.Concatenate()([inputs, a]))
    c = keras.layers.Dense(3)(keras.layers.Concatenate()([a, b]))
    return keras.Model(inputs, keras.layers.Dense(1)(c))


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)).astype("float32")
    return x, (x @ rng.normal(size=6) + 0.1 * rng.normal(size=200)).astype("float32")


def schedule():
    return keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=40, alpha=0.01, warmup_target=1e-2, warmup_steps=4)


def trained(optimizer, build: bool) -> list[np.ndarray]:
    model = small_model()
    model.compile(optimizer=optimizer, loss="mean_squared_error", jit_compile=False)
    if build:
        build_slots(model)
    x, y = data()
    model.fit(x, y, batch_size=64, epochs=5, shuffle=False, verbose=0)  # 4 steps an epoch, the last one short
    return [v.numpy() for v in model.trainable_variables]


def keras_adamw():
    return keras.optimizers.AdamW(learning_rate=schedule(), weight_decay=0.004, clipnorm=CLIPNORM)


def test_the_weights_after_training_are_keras_adamws_to_rounding():
    keras_weights = trained(keras_adamw(), build=False)
    ours = trained(make_optimizer(schedule(), 0.004), build=True)
    assert len(ours) == len(keras_weights)
    for a, b in zip(ours, keras_weights):
        # TensorFlow's fused Adam kernel rounds differently from Keras' op-by-op update (~1e-6 here)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_the_clipping_and_weight_decay_are_keras_adamws_exactly():
    class OpByOpUpdate(LatticeAdamW):  # Keras' own Adam update; the rest is LatticeAdamW's
        _backend_update_step = keras.optimizers.AdamW._backend_update_step
        update_step = keras.optimizers.AdamW.update_step

    keras_weights = trained(keras_adamw(), build=False)
    ours = trained(OpByOpUpdate(learning_rate=schedule(), weight_decay=0.004, clipnorm=CLIPNORM), build=True)
    for a, b in zip(ours, keras_weights):
        np.testing.assert_array_equal(a, b)


def test_a_nan_gradient_poisons_only_its_own_variable():
    model = small_model()
    model.compile(optimizer=make_optimizer(1e-3, 0.004), loss="mean_squared_error", jit_compile=False)
    build_slots(model)
    before = [v.numpy() for v in model.trainable_variables]
    grads = [np.ones(v.shape, "float32") for v in model.trainable_variables]
    grads[0][...] = np.nan
    model.optimizer.apply(grads, model.trainable_variables)
    after = [v.numpy() for v in model.trainable_variables]
    assert np.isnan(after[0]).all()
    for a, b in zip(after[1:], before[1:]):
        assert np.isfinite(a).all() and not np.array_equal(a, b)


@pytest.mark.parametrize("build", [False, True])
def test_built_slots_trace_the_training_step_once(build):
    model = small_model()
    model.compile(optimizer=make_optimizer(1e-3, 0.004), loss="mean_squared_error", jit_compile=False)
    if build:
        build_slots(model)
    traces = []
    step = model.train_step
    model.train_step = lambda batch: (traces.append(1), step(batch))[1]  # Python runs only while tracing
    x, y = data()
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    assert len(traces) == (1 if build else 2)  # creating variables in the first call makes tf.function retrace


def test_a_model_trained_with_it_saves_and_loads(tmp_path):
    model = small_model()
    model.compile(optimizer=make_optimizer(1e-3, 0.004), loss="mean_squared_error")
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.optimizer, LatticeAdamW)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
