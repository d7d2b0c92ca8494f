"""latticenas.pipeline.steps: the typed records of the five steps cross Kale notebook steps as
pickles and come back equal; their JSON forms round-trip; the register step on a model
directory; the steps' keyword arguments are the pipeline's parameters."""

from __future__ import annotations

import inspect
import json
import pickle

import pandas as pd
import pytest
import yaml
from pipeline_helpers import REPO, model_directory

from latticenas.aggregate import SearchResults, write_report
from latticenas.arch import sample_architectures
from latticenas.data import Task
from latticenas.errors import DataError, LatticeNASError
from latticenas.importance import FeatureImportance, FeatureScore
from latticenas.params import ParameterSet
from latticenas.pipeline import steps
from latticenas.pipeline.choice import ChoiceMember, FinalChoice
from latticenas.pipeline.outcome import BestParameters, SearchOutcome
from latticenas.pipeline.parameters import PipelineParameters, names
from latticenas.pipeline.prepared import read_record, write_prepared
from latticenas.retrain import RetrainResult
from latticenas.runner.trials import TrialRecord, TrialState

#: keyword arguments of the steps that are no pipeline parameter
STEP_ONLY = {"work_dir", "epochs", "networks_per_trial", "run_id"}
#: where a step's default differs from the pipeline's: a search on this machine, no Ames columns
STEP_DEFAULTS = {"search_backend": "local", "drop_columns": ""}


def pickled(record):
    return pickle.loads(pickle.dumps(record))


@pytest.fixture
def prepared(houses_csv):
    return steps.prepare_data(str(houses_csv), "price", drop_columns="rooms")


@pytest.fixture
def spec():
    return sample_architectures(ParameterSet(), output_size=1, final_activation="linear")[0]


@pytest.fixture
def searched(spec, tmp_path):
    """Two finished trials of the random-search Experiment; the second is the best."""
    manifest = yaml.safe_load((REPO / "manifests" / "base" / "experiment-random.yaml").read_text())
    trials = tuple(TrialRecord(index=i, name=f"ames-random-{i:04d}", params={"maximum_levels": i, "activation": "relu"},
                               state=TrialState.SUCCEEDED, metrics={"val-rmse": (rmse,), "val-mae": (rmse / 2,)},
                               objective=rmse, created=float(i), started=float(i), ended=i + 30.0)
                   for i, rmse in ((1, 31000.0), (2, 27000.0)))
    results = SearchResults(manifest=manifest, trials=trials, backend="local", status="Succeeded")
    params = {"parameters": ParameterSet(maximum_levels=2).to_dict(), "data": "/d/search.parquet", "log_target": True}
    best = BestParameters.of_trial(results, trials[1], params, spec.to_json())
    return SearchOutcome(results, best, spec.to_json(), tmp_path / "search")


@pytest.fixture
def choice(spec):
    member = ChoiceMember(trial="ames-random-0002", weight=1.0, parameters=ParameterSet(maximum_levels=2).to_dict(),
                          networks=({"id": "m0-t0", "spec": json.loads(spec.to_json())},), log_target=True)
    return FinalChoice(kind="single", objective="val-rmse", metric="rmse", link="identity", members=(member,),
                       best_trial="ames-random-0002", best_objective=27000.0,
                       baseline={"name": "HistGradientBoosting", "val_metrics": {"rmse": 28000.0},
                                 "test_metrics": {"rmse": 29500.0}})


def test_the_records_cross_steps_as_pickles(prepared, searched, choice, spec, tmp_path):
    back = pickled(prepared)
    assert back.record == prepared.record and back.schema == prepared.schema
    for part in ("train", "val", "test"):
        pd.testing.assert_frame_equal(back.part(part), prepared.part(part))

    back = pickled(searched)
    assert back == searched and back.best == searched.best and back.results.best().name == "ames-random-0002"
    assert back.best_spec.content_hash == spec.content_hash == searched.best_parameters.spec_hash

    aggregated = steps.Aggregated(choice, write_report(searched.results, tmp_path / "report", spec))
    back = pickled(aggregated)
    assert back == aggregated and back.leaderboard().equals(aggregated.leaderboard())
    assert back.best_metrics == {"val-rmse": 27000.0, "val-mae": 13500.0} and back.final_metrics["ensemble-size"] == 1.0

    model = tmp_path / "model"
    files = {f"{kind}_path": str(model / name) for kind, name in (
        ("model", "model.keras"), ("spec", "spec.json"), ("preprocessing", "preprocessing.json"),
        ("metrics", "metrics.json"), ("diagram", "diagram.svg"))}
    result = RetrainResult(output_dir=str(model), saved_model_dir=str(model / "saved_model"), **files,
                           confusion_matrix_path=None, roc_path=None, task=Task.REGRESSION,
                           test_metrics={"rmse": 26000.0, "mae": 12000.0}, confusion_matrix=None, roc=None, classes=None)
    importance = FeatureImportance(metric="rmse", score=26000.0, rows=45, repeats=3,
                                   features=(FeatureScore("size", 9000.0, 300.0), FeatureScore("zone", 40.0, 20.0)),
                                   split="test")
    retrained = pickled(steps.Retrained(result, choice, importance))
    assert retrained == steps.Retrained(result, choice, importance) and retrained.model_dir == model
    assert (retrained.test_objective, retrained.val_objective) == (26000.0, 27000.0)
    assert "feature importance of the retrained single model" in retrained.importance_page()


def test_the_prepared_record_is_typed_and_its_json_round_trips(prepared, tmp_path):
    paths = {name: str(tmp_path / name) for name in ("train", "val", "test", "record")}
    write_prepared(prepared, **paths)
    record = read_record(paths["record"])
    assert record == prepared.record and record.task == "regression" and record.drop_columns == ("rooms",)
    assert record.columns == {"size": "numeric", "zone": "text", "price": "numeric"}
    assert sum(record.rows.values()) == 300 and record.rows["test"] == len(prepared.dataset.test)
    (tmp_path / "broken").write_text('{"format": "latticenas-prepared/1", "target": "price"}')
    with pytest.raises(DataError, match="malformed prepared-data record .* pass the prepare step's schema output"):
        read_record(str(tmp_path / "broken"))
    (tmp_path / "words").write_text("not json")
    with pytest.raises(DataError, match="is not a prepared-data record"):
        read_record(str(tmp_path / "words"))


def test_best_parameters_round_trip_and_the_lineage_needs_little(searched):
    best = searched.best_parameters
    assert BestParameters.from_dict(json.loads(json.dumps(best.to_dict()))) == best
    assert best.assignments == {"maximum_levels": "2", "activation": "relu"} and best.trial_config["log_target"] is True
    assert searched.describe() == "best trial ames-random-0002: val-rmse = 27000 (2 trials, Succeeded)"
    minimal = BestParameters.from_dict({"experiment": "e", "trial": "t", "parameters": {}})
    assert minimal.objective_value is None and minimal.metrics == {}
    with pytest.raises(LatticeNASError, match="not the search step's best parameters .*pass its best_parameters output"):
        BestParameters.from_dict({"trial": "t"})


def test_register_a_model_directory_with_its_lineage(prepared, searched, spec, tmp_path):
    model = model_directory(tmp_path / "model", spec, {"split": "test", "metrics": {"rmse": 26000.0}})
    registered = steps.register(model, prepared.record, searched.best_parameters,
                                registry_target=str(tmp_path / "registry"), model_name="houses")
    assert pickled(registered) == registered
    assert (registered.name, registered.version, registered.uri) == ("houses", "v1", f"{tmp_path}/registry/models/houses/v1")
    lineage = registered.lineage
    assert (lineage.experiment_name, lineage.trial_name) == (searched.results.name, "ames-random-0002")
    assert lineage.metrics == {"test-rmse": 26000.0, "val-rmse": 27000.0, "val-mae": 13500.0}
    assert lineage.data_fingerprint == prepared.record.data_fingerprint and lineage.spec_hash == spec.content_hash
    assert lineage.parameters == ParameterSet(maximum_levels=2).to_dict()
    written = registered.to_dict()
    assert written["lineage"] == lineage.to_dict() and "model.keras" in written["files"]
    with pytest.raises(LatticeNASError, match="no registry target"):
        steps.register(model, prepared.record, searched.best_parameters, registry_target="", model_name="houses")


def test_the_steps_take_the_pipeline_parameters():
    defaults = PipelineParameters()
    for function in (steps.prepare_data, steps.search, steps.aggregate, steps.retrain_best, steps.register):
        for parameter in inspect.signature(function).parameters.values():
            if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
                continue
            assert parameter.name in set(names()) | STEP_ONLY, f"{function.__name__}({parameter.name}=): no such parameter"
            if parameter.name in names() and parameter.default is not inspect.Parameter.empty:
                expected = STEP_DEFAULTS.get(parameter.name, getattr(defaults, parameter.name))
                assert parameter.default == expected, f"{function.__name__}({parameter.name}=)"
