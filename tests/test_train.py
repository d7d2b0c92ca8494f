"""Building and training sampled lattices for all three tasks, on small generated data."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from factories import classification_frame, regression_frame

from latticenas.arch import sample_architecture
from latticenas.data import load_dataset
from latticenas.arch.keras_builder import as_dataset
from latticenas.features import model_inputs
from latticenas.params import ParameterSet
from latticenas.train import NetworkStatus, evaluate, prepare, train_network

pytestmark = pytest.mark.slow

FAST = dict(epochs=8, batch_size=32, patience=3, learning_rate=0.01, maximum_levels=2,
            maximum_units_per_level=3, maximum_neurons_per_unit=16)


def _dataset(tmp_path, frame, target, task="auto"):
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return load_dataset(str(path), target, task=task)


@pytest.mark.parametrize(
    "frame, target, task, output_size, final",
    [
        (regression_frame(), "price", "regression", 1, "linear"),
        (classification_frame(classes=2), "label", "binary", 1, "sigmoid"),
        (classification_frame(classes=3), "label", "multiclass", 3, "softmax"),
    ],
)
def test_sampled_lattice_trains_and_predicts_raw_columns(tmp_path, frame, target, task, output_size, final):
    dataset = _dataset(tmp_path, frame, target)
    assert dataset.schema.task.value == task
    params = ParameterSet.from_mapping({**FAST, "p_lateral_connection": 1.0, "gate_after_n_lateral_connections": 1})
    spec = sample_architecture(params, output_size=output_size, final_activation=final, seed=3)
    data = prepare(dataset)
    result, network = train_network(spec, data, params, network_id="m0-t0", seed=1)
    assert result.status is NetworkStatus.SUCCEEDED, result.error
    assert result.param_count > 0 and 1 <= result.best_epoch <= result.epochs_run <= FAST["epochs"]
    # the one validation pass an epoch: val_loss is Keras' evaluate's, the metrics the serving model's
    best_val_loss = result.history["val_loss"][result.best_epoch - 1]
    np.testing.assert_allclose(best_val_loss, network.core.evaluate(as_dataset(data.x_val, data.y_val), verbose=0),
                               rtol=1e-5)
    served = evaluate(network, data.x_val_raw, data.y_val_raw, data.schema)
    assert served.keys() == result.metrics.keys()
    np.testing.assert_allclose([result.metrics[k] for k in served], [served[k] for k in served], rtol=1e-5)
    path = tmp_path / "model.keras"
    network.serving.save(path)
    loaded = keras.models.load_model(path)
    raw_rows = frame.drop(columns=[target]).head(5)
    predictions = loaded.predict(as_dataset(model_inputs(raw_rows, data.stats)), verbose=0)
    assert predictions.shape == (5, output_size)
    np.testing.assert_allclose(predictions, network.serving.predict(as_dataset(model_inputs(raw_rows, data.stats)), verbose=0), rtol=1e-5)
    if task == "regression":
        assert result.metrics["r2"] > 0.5, result.metrics  # it learned something real
        assert (predictions >= data.transform.low).all() and (predictions <= data.transform.high).all()
    else:
        assert result.metrics["accuracy"] > 1.5 / output_size if output_size > 1 else result.metrics["auc"] > 0.7
        if task == "multiclass":
            np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-4)


def test_gates_are_really_in_the_model(tmp_path):
    dataset = _dataset(tmp_path, regression_frame(200), "price")
    params = ParameterSet.from_mapping({**FAST, "minimum_units_per_level": 4, "maximum_units_per_level": 4,
                                        "p_lateral_connection": 1.0, "gate_after_n_lateral_connections": 1})
    spec = sample_architecture(params, output_size=1, final_activation="linear", seed=0)
    gated_groups = {(e.dst, e.gate_group) for e in spec.edges if e.gate_group is not None}
    assert gated_groups
    from latticenas.arch.keras_builder import build_network

    network = build_network(spec, prepare(dataset).stats, dataset.schema)
    gates = [layer for layer in network.core.layers if type(layer).__name__ == "Gate"]
    assert len(gates) == len(gated_groups)


def test_missing_values_and_unseen_categories_at_prediction(tmp_path):
    frame = regression_frame(300)
    dataset = _dataset(tmp_path, frame, "price")
    params = ParameterSet.from_mapping(FAST)
    spec = sample_architecture(params, output_size=1, final_activation="linear", seed=0)
    data = prepare(dataset)
    _, network = train_network(spec, data, params, network_id="x", seed=0)
    odd = frame.drop(columns=["price"]).head(3).copy()
    odd.loc[:, "size"] = np.nan
    odd.loc[:, "zone"] = ["nowhere", None, "north"]
    predictions = network.serving.predict(as_dataset(model_inputs(odd, data.stats)), verbose=0)
    assert np.isfinite(predictions).all()


def test_early_stopping_keeps_the_best_epoch(tmp_path):
    dataset = _dataset(tmp_path, regression_frame(300), "price")
    params = ParameterSet.from_mapping({**FAST, "epochs": 40, "patience": 2, "learning_rate": 0.05})
    spec = sample_architecture(params, output_size=1, final_activation="linear", seed=1)
    data = prepare(dataset)
    result, network = train_network(spec, data, params, network_id="x", seed=0)
    best_val = min(result.history["val_loss"])
    scaled = network.core.evaluate(data.x_val, data.y_val, verbose=0)
    assert scaled == pytest.approx(best_val, rel=1e-3)
    assert json.loads(json.dumps(result.to_dict()))["status"] == "succeeded"
