"""Numeric encodings: the fitted maps, and train/serve parity of the saved model for each.

Parity: for every encoding, the saved model (raw columns in) must give exactly what the
in-training path gives (the trial's encoder run once, then the body) on rows with values far
outside the training range, missing values and unseen categories.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
from factories import regression_frame

import latticenas.arch.keras_layers  # noqa: F401  (custom layers for loading)
from latticenas.arch import sample_architecture
from latticenas.arch.keras_builder import as_dataset, encode
from latticenas.data import load_dataset
from latticenas.errors import ParameterError
from latticenas.features import FeatureStats, model_inputs
from latticenas.numeric_encoding import NUMERIC_ENCODINGS, apply_knots, fit_knots
from latticenas.params import ParameterSet
from latticenas.train import NetworkStatus, prepare, train_network


def test_robust_map_is_median_iqr_and_clipped_to_the_training_range():
    x = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, np.nan])
    fill, xs, ys = fit_knots(x, "robust")
    q1, q3 = np.quantile(x[:-1], [0.25, 0.75])
    scale = (q3 - q1) / 1.349
    out = apply_knots(np.array([-100.0, 1, 5, 9, 1e9, np.nan]), fill, xs, ys)
    np.testing.assert_allclose(out, [(1 - 5) / scale, (1 - 5) / scale, 0, (9 - 5) / scale, (9 - 5) / scale, 0])


def test_quantile_map_is_monotone_normal_scores_and_constant_beyond_the_range():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.lognormal(size=2000), np.zeros(300)])  # a skewed column with a spike at 0
    fill, xs, ys = fit_knots(x, "quantile")
    assert np.all(np.diff(xs) > 0) and np.all(np.diff(ys) > 0)
    z = apply_knots(x, fill, xs, ys)
    from statistics import NormalDist

    assert z[x == 0][0] == pytest.approx(NormalDist().inv_cdf(150 / 2300), abs=1e-9)  # ties: mid-rank score
    assert abs(np.median(z) - NormalDist().inv_cdf(0.5)) < 0.05
    assert apply_knots(np.array([-1e12]), fill, xs, ys)[0] == ys[0]
    assert apply_knots(np.array([1e12]), fill, xs, ys)[0] == ys[-1]


def test_a_constant_or_empty_column_encodes_to_zero():
    for values in (np.array([3.0, 3.0, 3.0]), np.array([np.nan, np.nan])):
        fill, xs, ys = fit_knots(values, "quantile")
        assert fill == 0 and set(apply_knots(np.array([0.0, 3.0, 1e6]), fill, xs, ys)) == {0.0}


def test_feature_stats_round_trip_with_knots():
    frame = regression_frame(200)
    from latticenas.data import infer_schema

    schema = infer_schema(frame, "price")
    stats = FeatureStats.fit(frame, schema, "quantile")
    assert stats.encoding == "quantile" and len(stats.knots) == len(stats.numeric)
    assert FeatureStats.from_dict(stats.to_dict()) == stats
    legacy = {k: v for k, v in stats.to_dict().items() if k not in ("encoding", "fills", "knots")}
    assert FeatureStats.from_dict(legacy).encoding == "standard"  # records from before encodings


@pytest.mark.slow
@pytest.mark.parametrize("encoding", NUMERIC_ENCODINGS)
def test_saved_model_matches_the_training_path(tmp_path, encoding):
    frame = regression_frame(300)
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    dataset = load_dataset(str(path), "price")
    params = ParameterSet(epochs=2, batch_size=32, maximum_levels=2, maximum_neurons_per_unit=8,
                          numeric_encoding=encoding, dropout=0.2)
    data = prepare(dataset, numeric_encoding=encoding)
    spec = sample_architecture(params, output_size=1, final_activation="linear", seed=0)
    result, network = train_network(spec, data, params, network_id="n", seed=0)
    assert result.status is NetworkStatus.SUCCEEDED, result.error
    network.serving.save(tmp_path / "model.keras")
    saved = keras.models.load_model(tmp_path / "model.keras")

    probe = pd.DataFrame({
        "size": [1e9, -1e9, np.nan, 120.0, 60.0],
        "rooms": [np.nan, 50.0, -3.0, 2.0, np.nan],
        "zone": ["north", "atlantis", None, "", "west"],  # unseen, missing, empty
    })
    raw = model_inputs(probe, data.stats)
    served = saved.predict(as_dataset(raw), verbose=0).ravel()
    in_training = data.transform.inverse(
        keras.ops.convert_to_numpy(network.core(encode(data.encoder, raw), training=False))
    ).ravel()
    np.testing.assert_allclose(served, in_training, rtol=1e-5)
    assert np.all(np.isfinite(served))
    if encoding != "standard":  # bounded encodings: beyond the range = at the range's end
        edge = pd.DataFrame({"size": [frame["size"].max()], "rooms": [np.nan], "zone": ["north"]})
        np.testing.assert_allclose(served[0], saved.predict(as_dataset(model_inputs(edge, data.stats)), verbose=0).ravel()[0], rtol=1e-5)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"numeric_encoding": "minmax"}, "numeric_encoding='minmax' is not allowed; use one of standard, robust, quantile"),
        ({"learning_rate_schedule": "cosin"}, "learning_rate_schedule='cosin' is not allowed (did you mean 'cosine'?)"),
        ({"trial_ensemble": "yes"}, "trial_ensemble='yes' is not allowed; use one of auto, always, never"),
        ({"dropout": "1.0"}, "dropout=1.0 is outside [0, 1); set dropout between 0 and 0.9"),
        ({"dropout": "-0.1"}, "dropout=-0.1 is outside [0, 1)"),
        ({"dropout": "lots"}, "dropout='lots' is not a number"),
    ],
)
def test_new_parameters_are_checked_with_one_line_messages(values, message):
    with pytest.raises(ParameterError) as info:
        ParameterSet.from_mapping(values)
    assert message in str(info.value) and "\n" not in str(info.value)
