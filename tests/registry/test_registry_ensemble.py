"""An ensemble registers like a single network: a real refit ensemble of two trials (one fused
Keras model, its SavedModel, ensemble.json) through the pipeline's register step into a local
directory and into Cloud Storage (the real gcp-storage-emulator), then loaded back from the
registry: it predicts exactly what the original directory predicts."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from factories import regression_frame

from latticenas.registry import registry_for

pytestmark = pytest.mark.slow

TINY = dict(epochs=3, patience=0, learning_rate=0.02, batch_size=32, maximum_levels=1, maximum_units_per_level=2,
            maximum_neurons_per_unit=8)


@pytest.fixture(scope="module")
def ensemble(tmp_path_factory):
    """Two one-network trials refit on train + validation and fused 2:1 (retrain_choice)."""
    from latticenas.arch import sample_architecture
    from latticenas.baseline import run_baseline
    from latticenas.params import ParameterSet
    from latticenas.pipeline.choice import ChoiceMember, FinalChoice, retrain_choice
    from latticenas.pipeline.prepared import prepare, write_prepared

    directory = tmp_path_factory.mktemp("ensemble")
    regression_frame(300, seed=4).to_csv(directory / "houses.csv", index=False)
    prepared = prepare(str(directory / "houses.csv"), "price")
    files = {name: str(directory / name) for name in ("train", "val", "test", "record")}
    write_prepared(prepared, **files)
    members = []
    for trial, seed, weight in (("duo-0001", 1, 2.0), ("duo-0002", 2, 1.0)):
        params = ParameterSet.from_mapping({**TINY, "seed": seed})
        spec = sample_architecture(params, output_size=1, final_activation="linear", seed=seed)
        members.append(ChoiceMember(trial=trial, weight=weight, parameters=params.to_dict(),
                                    networks=({"id": "m0-t0", "spec": json.loads(spec.to_json())},)))
    choice = FinalChoice(kind="ensemble", objective="val-rmse", metric="rmse", link="log1p", members=tuple(members),
                         best_trial="duo-0001", baseline=run_baseline(prepared.dataset).to_dict())
    result = retrain_choice(choice, prepared.dataset, str(directory / "model"), seed=0)
    best = {"experiment": "duo", "trial": "duo-0001", "parameters": members[0].parameters,
            "metrics": {"val-rmse": 30000.0}}
    (directory / "best.json").write_text(json.dumps(best))
    return SimpleNamespace(model=Path(result.output_dir), result=result, prepared=prepared, files=files,
                           best=directory / "best.json")


def _download(registry, name: str, version: str, target: Path) -> Path:
    for relative in registry.get(name, version).files:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_bytes(registry.read_bytes(name, version, relative))
    return target


@pytest.mark.parametrize("store", ["local", "gcs"])
def test_an_ensemble_registers_and_loads_back_with_the_same_predictions(ensemble, store, tmp_path, request):
    from latticenas.pipeline.outcome import BestParameters
    from latticenas.pipeline.prepared import read_record
    from latticenas.pipeline.steps import register
    from latticenas.predict import Predictor
    from latticenas.retrain import ENSEMBLE

    target = str(tmp_path / "registry") if store == "local" else f"gs://{request.getfixturevalue('gcs_bucket')}/models"
    registered = register(ensemble.model, read_record(ensemble.files["record"]), BestParameters.read(ensemble.best),
                          registry_target=target, model_name="houses")
    assert registered.version == "v1" and registered.uri == f"{target}/models/houses/v1"
    assert {ENSEMBLE, "model.keras", "saved_model/1/saved_model.pb", "spec.json"} <= set(registered.model.files)

    registry = registry_for(target)
    lineage = registry.lineage("houses", "v1")
    assert lineage.trial_name == "duo-0001+duo-0002" and lineage.experiment_name == "duo"
    assert lineage.parameters["final_model"] == "ensemble" and lineage.parameters["link"] == "log1p"
    assert [(m["trial"], m["weight"], m["parameters"]["seed"]) for m in lineage.parameters["members"]] == \
        [("duo-0001", 2.0, 1), ("duo-0002", 1.0, 2)]
    assert lineage.spec_hash == json.loads((ensemble.model / ENSEMBLE).read_text())["spec_hash"]
    assert lineage.metrics["ensemble-size"] == 2.0
    assert lineage.metrics["test-rmse"] == pytest.approx(ensemble.result.test_metrics["rmse"])
    assert np.isfinite(lineage.metrics["baseline-test-rmse"]) and np.isfinite(lineage.metrics["baseline-val-rmse"])

    copy = _download(registry, "houses", "v1", tmp_path / "loaded")
    test = ensemble.prepared.dataset.test
    original = Predictor.load(ensemble.model).predict(test)
    loaded = Predictor.load(copy).predict(test)
    assert loaded.shape == (len(test), 1)
    np.testing.assert_array_equal(loaded, original)

    import tensorflow as tf

    from latticenas.features import model_inputs

    served = tf.saved_model.load(str(copy / "saved_model" / "1")).signatures["serving_default"]
    inputs = {k: tf.constant(v) for k, v in model_inputs(test, Predictor.load(copy).stats).items()}
    np.testing.assert_allclose(served(**inputs)["output_0"].numpy(), original, rtol=1e-5)
