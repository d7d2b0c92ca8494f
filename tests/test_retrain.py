"""Retraining the best architecture on train + validation, tested once on the test split."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from factories import classification_frame, regression_frame

from latticenas.arch import sample_architecture
from latticenas.data import load_dataset
from latticenas.errors import DataError, ParameterError
from latticenas.params import ParameterSet
from latticenas.retrain import (
    Member,
    RetrainResult,
    _early_stopping_split,
    confusion_matrix,
    ensemble_record,
    retrain_best,
    retrain_ensemble,
    roc_curve,
    roc_points,
)

FAST = dict(epochs=8, batch_size=32, patience=3, learning_rate=0.01, maximum_levels=2,
            maximum_units_per_level=3, maximum_neurons_per_unit=16)


def _dataset(tmp_path, frame, target):
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return load_dataset(str(path), target)


def _retrain(tmp_path_factory, frame, target, final):
    tmp = tmp_path_factory.mktemp(target)
    dataset = _dataset(tmp, frame, target)
    params = ParameterSet.from_mapping(FAST)
    spec = sample_architecture(params, output_size=1, final_activation=final, seed=3)
    result = retrain_best(spec, params, dataset, str(tmp / "out"), early_stopping_fraction=0.15, seed=1)
    return SimpleNamespace(result=result, dataset=dataset, frame=frame, spec=spec, params=params)


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    return _retrain(tmp_path_factory, regression_frame(), "price", "linear")


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    return _retrain(tmp_path_factory, classification_frame(classes=2), "label", "sigmoid")


def _serving_signature_predictions(saved_model_dir, rows, stats):
    """Call the SavedModel's serving_default signature on raw columns, as TF Serving would."""
    import tensorflow as tf

    from latticenas.features import model_inputs

    loaded = tf.saved_model.load(f"{saved_model_dir}/1")
    signature = loaded.signatures["serving_default"]
    inputs = {name: tf.constant(values) for name, values in model_inputs(rows, stats).items()}
    assert set(inputs) == set(signature.structured_input_signature[1])
    kinds = {name: spec.dtype for name, spec in signature.structured_input_signature[1].items()}
    assert tf.string in kinds.values() and tf.float32 in kinds.values()  # string columns stay strings
    return signature(**inputs)["output_0"].numpy()


@pytest.mark.slow
def test_regression_retrain_writes_everything_and_tests_on_the_test_split(regression):
    from latticenas.predict import Predictor

    result, dataset = regression.result, regression.dataset
    assert isinstance(result, RetrainResult) and result.confusion_matrix is None and result.roc is None
    assert set(result.test_metrics) == {"rmse", "rmsle", "mae", "r2"}
    assert result.test_metrics["r2"] > 0.5 and result.test_metrics["rmse"] > 0
    assert result.rows == {"fit": result.rows["fit"], "early_stopping": result.rows["early_stopping"],
                           "test": len(dataset.test)}
    assert result.rows["fit"] + result.rows["early_stopping"] == len(dataset.train) + len(dataset.val)
    assert 1 <= result.best_epoch <= result.epochs_run <= FAST["epochs"]
    record = json.loads(open(result.metrics_path).read())
    assert record["split"] == "test" and record["metrics"] == result.test_metrics
    assert record["training"]["spec_hash"] == regression.spec.content_hash
    assert json.loads(open(result.spec_path).read())["levels"] == [list(l) for l in regression.spec.levels]

    # model.keras (through Predictor, which also reads preprocessing.json) predicts raw columns
    predictor = Predictor.load(result.output_dir)
    raw_test = dataset.test.drop(columns=["price"])
    predictions = predictor.predict(raw_test).ravel()
    from latticenas.evaluation import regression_metrics

    again = regression_metrics(dataset.test["price"].to_numpy(), predictions)
    assert again == pytest.approx(result.test_metrics, rel=1e-4)

    # the SavedModel serves the same numbers from raw columns
    served = _serving_signature_predictions(result.saved_model_dir, raw_test.head(7), predictor.stats)
    np.testing.assert_allclose(served.ravel(), predictions[:7], rtol=1e-4)


@pytest.mark.slow
def test_preprocessing_json_has_the_trial_format(regression):
    from latticenas.artifacts import preprocessing_record
    from latticenas.train import prepare

    written = json.loads(open(regression.result.preprocessing_path).read())
    trial_like = preprocessing_record(prepare(regression.dataset))  # what a trial writes to best/
    assert set(written) == set(trial_like) == {"schema", "features", "target_transform"}
    assert written["schema"] == trial_like["schema"]
    assert set(written["features"]) == set(trial_like["features"])
    assert set(written["target_transform"]) == set(trial_like["target_transform"])


@pytest.mark.slow
def test_binary_retrain_reports_confusion_matrix_and_roc(binary):
    result, dataset = binary.result, binary.dataset
    n_test = len(dataset.test)
    assert set(result.test_metrics) == {"accuracy", "auc", "logloss"}
    assert result.test_metrics["auc"] > 0.75 and result.test_metrics["accuracy"] > 0.6
    assert result.classes == ("class_0", "class_1")
    matrix = np.array(result.confusion_matrix)
    assert matrix.shape == (2, 2) and matrix.sum() == n_test
    truth = dataset.test["label"].value_counts()
    assert matrix.sum(axis=1).tolist() == [int(truth.get("class_0", 0)), int(truth.get("class_1", 0))]
    assert np.trace(matrix) / n_test == pytest.approx(result.test_metrics["accuracy"])
    assert json.loads(open(result.confusion_matrix_path).read())["matrix"] == result.confusion_matrix

    roc = result.roc
    assert roc["kind"] == "binary" and roc["positive_class"] == "class_1"
    fpr, tpr, thresholds = map(np.array, (roc["fpr"], roc["tpr"], roc["thresholds"]))
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert (np.diff(fpr) >= 0).all() and (np.diff(tpr) >= 0).all() and (np.diff(thresholds) < 0).all()
    assert roc["auc"] == pytest.approx(result.test_metrics["auc"], abs=1e-9)
    assert json.loads(open(result.roc_path).read()) == roc

    # model.keras and the SavedModel agree on raw rows
    import keras

    from latticenas.arch.keras_builder import as_dataset
    from latticenas.predict import Predictor

    predictor = Predictor.load(result.output_dir)
    rows = dataset.test.drop(columns=["label"]).head(9)
    model = keras.models.load_model(result.model_path)
    from latticenas.features import model_inputs

    keras_p = model.predict(as_dataset(model_inputs(rows, predictor.stats)), verbose=0).ravel()
    served = _serving_signature_predictions(result.saved_model_dir, rows, predictor.stats).ravel()
    np.testing.assert_allclose(served, keras_p, rtol=1e-4, atol=1e-6)
    assert ((keras_p >= 0) & (keras_p <= 1)).all()


@pytest.mark.slow
def test_multiclass_retrain_gives_one_vs_rest_curves(tmp_path_factory):
    frame = classification_frame(n=300, classes=3)
    tmp = tmp_path_factory.mktemp("multi")
    dataset = _dataset(tmp, frame, "label")
    params = ParameterSet.from_mapping({**FAST, "epochs": 4})
    spec = sample_architecture(params, output_size=3, final_activation="softmax", seed=3)
    result = retrain_best(spec, params, dataset, str(tmp / "out"), seed=2)
    assert np.array(result.confusion_matrix).shape == (3, 3)
    assert np.array(result.confusion_matrix).sum() == len(dataset.test)
    assert result.roc["kind"] == "one_vs_rest" and result.roc["classes"] == list(result.classes)
    aucs = [c["auc"] for c in result.roc["curves"].values() if c]
    assert result.test_metrics["auc"] == pytest.approx(np.mean(aucs))


def test_early_stopping_slice_is_deterministic_and_disjoint(tmp_path):
    dataset = _dataset(tmp_path, regression_frame(300), "price")
    fit_a, stop_a = _early_stopping_split(dataset, 0.2)
    fit_b, stop_b = _early_stopping_split(dataset, 0.2)
    assert fit_a.index.equals(fit_b.index) and stop_a.index.equals(stop_b.index)
    assert not set(fit_a.index) & set(stop_a.index)
    assert set(fit_a.index) | set(stop_a.index) == set(dataset.train.index) | set(dataset.val.index)
    assert not set(stop_a.index) & set(dataset.test.index)  # the test split stays untouched
    assert 0.1 < len(stop_a) / (len(fit_a) + len(stop_a)) < 0.3


def test_bad_arguments_fail_before_training(tmp_path):
    dataset = _dataset(tmp_path, regression_frame(60), "price")
    params = ParameterSet.from_mapping(FAST)
    spec = sample_architecture(params, output_size=1, final_activation="linear", seed=0)
    for fraction in (0, 1, -0.1, True, "0.1"):
        with pytest.raises(ParameterError, match="early_stopping_fraction"):
            retrain_best(spec, params, dataset, str(tmp_path / "o"), early_stopping_fraction=fraction)
    with pytest.raises(ParameterError, match="local directory"):
        retrain_best(spec, params, dataset, "gs://bucket/out")
    tiny = _dataset(tmp_path, regression_frame(12), "price")
    with pytest.raises(DataError, match="too small for an early-stopping slice|no test rows"):
        retrain_best(spec, params, tiny, str(tmp_path / "o"), early_stopping_fraction=0.01)


def test_roc_and_confusion_helpers_on_known_numbers():
    from sklearn.metrics import roc_auc_score
    from sklearn.metrics import roc_curve as sk_roc_curve

    rng = np.random.default_rng(0)
    positive = rng.random(200) < 0.4
    score = np.round(np.clip(positive * 0.3 + rng.random(200) * 0.7, 0, 1), 2)  # with ties
    ours = roc_curve(positive, score)
    fpr, tpr, thresholds = sk_roc_curve(positive, score, drop_intermediate=False)
    np.testing.assert_allclose(ours["fpr"], fpr)
    np.testing.assert_allclose(ours["tpr"], tpr)
    np.testing.assert_allclose(ours["thresholds"][1:], thresholds[1:])
    assert np.isfinite(ours["thresholds"][0]) and ours["thresholds"][0] > score.max()
    assert ours["auc"] == pytest.approx(roc_auc_score(positive, score))
    assert roc_curve(np.ones(3, bool), np.array([0.1, 0.2, 0.3])) is None

    codes = np.array([0, 1, 2, 2, 1, 0])
    proba = np.array([[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7],
                      [0.3, 0.4, 0.3], [0.6, 0.3, 0.1], [0.5, 0.25, 0.25]])
    assert confusion_matrix(codes, proba.argmax(axis=1), 3) == [[2, 0, 0], [1, 1, 0], [0, 1, 1]]
    multi = roc_points(codes, proba, ("a", "b", "c"))
    assert multi["kind"] == "one_vs_rest" and list(multi["curves"]) == ["a", "b", "c"]
    for k, label in enumerate("abc"):
        assert multi["curves"][label]["auc"] == pytest.approx(roc_auc_score(codes == k, proba[:, k]))


def test_ensemble_members_and_arguments_are_checked_before_training(tmp_path):
    dataset = _dataset(tmp_path, regression_frame(60), "price")
    params = ParameterSet.from_mapping(FAST)
    spec = sample_architecture(params, output_size=1, final_activation="linear", seed=0)
    with pytest.raises(ParameterError, match="member 'a' has no networks"):
        Member("a", 1.0, params, ())
    for weight in (0, -1.0, True, "2"):
        with pytest.raises(ParameterError, match="member 'a': weight must be a number > 0"):
            Member("a", weight, params, (spec,))
    with pytest.raises(ParameterError, match="member 'a': link must be one of identity, log1p, got 'log'"):
        Member("a", 1.0, params, (spec,), link="log")
    with pytest.raises(ParameterError, match="the ensemble's link must be one of"):
        retrain_ensemble([Member("a", 1.0, params, (spec,))], dataset, str(tmp_path / "o"), link="mean")
    with pytest.raises(ParameterError, match="at least one member"):
        retrain_ensemble([], dataset, str(tmp_path / "o"), link="identity")
    with pytest.raises(ParameterError, match="local directory"):
        retrain_ensemble([Member("a", 1.0, params, (spec,))], dataset, "gs://bucket/out", link="identity")


def test_the_ensemble_record_names_every_network_and_hashes_the_whole():
    params = ParameterSet.from_mapping(FAST)
    a, b = (sample_architecture(params, output_size=1, final_activation="linear", seed=s) for s in (1, 2))
    members = [Member("t1", 2.0, params, (a, b), link="log1p"), Member("t2", 1.0, params, (b,))]
    record = ensemble_record(members, "log1p")
    assert [(m["trial"], m["weight"], m["link"], len(m["networks"])) for m in record["members"]] == \
        [("t1", 2.0, "log1p", 2), ("t2", 1.0, "identity", 1)]
    assert record["members"][0]["networks"][1] == json.loads(b.to_json())
    assert record["members"][0]["parameters"] == params.to_dict()
    reweighted = [Member("t1", 1.0, params, (a, b), link="log1p"), members[1]]
    assert record["spec_hash"] == ensemble_record(members, "log1p")["spec_hash"]
    assert len({record["spec_hash"], ensemble_record(reweighted, "log1p")["spec_hash"],
                ensemble_record(members, "identity")["spec_hash"]}) == 3
