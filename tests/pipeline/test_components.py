"""Each component's Python function, run by kfp.local's SubprocessRunner on small data.

Components that take input artifacts run in a two-step pipeline: ``dsl.importer`` brings in
files written here, then the component (kfp.local runs no single component with input
artifacts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kfp import dsl
from pipeline_helpers import TINY_SPACE, artifact_metadata, executor_output, model_directory, only_run, step_dir

from latticenas.aggregate import SearchResults
from latticenas.arch import ArchitectureSpec, sample_architectures
from latticenas.params import ParameterSet
from latticenas.pipeline.prepared import prepare, write_prepared
from latticenas.runner.trials import TrialState


@pytest.fixture(scope="module")
def components():
    import latticenas.pipeline.components.aggregate
    import latticenas.pipeline.components.prepare_data
    import latticenas.pipeline.components.register
    import latticenas.pipeline.components.retrain_best
    import latticenas.pipeline.components.search

    return latticenas.pipeline.components


def write_prepared_files(csv_path: Path, target: str, directory: Path) -> dict[str, str]:
    paths = {name: str(directory / name) for name in ("train", "val", "test", "record")}
    write_prepared(prepare(str(csv_path), target), **paths)
    return paths


def importer(uri, kind):
    return dsl.importer(artifact_uri=str(uri), artifact_class=kind, reimport=False).output


def test_prepare_data(components, kfp_local, houses_csv):
    task = components.prepare_data.prepare_data(
        data_uri=str(houses_csv), target="price", task="auto", drop_columns="", allow_leakage="",
        val_fraction=0.15, test_fraction=0.15, accelerator="gpu",
    )
    assert task.outputs["Output"] == "regression"
    train = Path(task.outputs["train"].path)
    assert train.read_text().splitlines()[0] == "size,rooms,zone,price"
    record = json.loads(Path(task.outputs["schema"].path).read_text())
    rows = record["rows"]
    assert sum(rows.values()) == 300 and rows["train"] == len(train.read_text().splitlines()) - 1
    assert task.outputs["train"].metadata == {"format": "csv", "rows": rows["train"]}
    assert Path(task.outputs["profile"].path).read_text().startswith("# Data profile")


def test_prepare_data_reads_cloud_storage(components, kfp_local, houses_csv, gcs_bucket):
    from latticenas.data import write_bytes

    uri = f"gs://{gcs_bucket}/data/houses.csv"
    write_bytes(uri, houses_csv.read_bytes())
    task = components.prepare_data.prepare_data(
        data_uri=uri, target="price", task="regression", drop_columns="rooms", allow_leakage="",
        val_fraction=0.2, test_fraction=0.2, accelerator="cpu",
    )
    record = json.loads(Path(task.outputs["schema"].path).read_text())
    assert record["data_uri"] == uri and record["drop_columns"] == ["rooms"]
    assert Path(task.outputs["train"].path).read_text().splitlines()[0] == "size,zone,price"


def test_prepare_data_fails_on_a_bad_accelerator(components, kfp_local, houses_csv):
    with pytest.raises(RuntimeError, match="prepare-data"):
        components.prepare_data.prepare_data(
            data_uri=str(houses_csv), target="price", task="auto", drop_columns="", allow_leakage="",
            val_fraction=0.15, test_fraction=0.15, accelerator="GPU",
        )


@pytest.mark.slow
def test_aggregate(components, kfp_local, duo_search, tmp_path):
    from latticenas.data import join_uri, read_bytes
    from latticenas.pipeline.choice import FinalChoice
    from latticenas.pipeline.outcome import BestParameters

    results = duo_search.results
    trials_path = results.write(tmp_path / "trials.json")
    best = results.best().name
    spec = read_bytes(join_uri(duo_search.root, best, "best", "spec.json")).decode()
    (tmp_path / "spec.json").write_text(spec)
    params = json.loads(read_bytes(join_uri(duo_search.root, best, "params.json")))
    (tmp_path / "best.json").write_text(json.dumps(BestParameters.of_trial(results, results.best(), params, spec).to_dict()))
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "experiment.yaml").write_text("# a Katib search: its trials are in Cloud Storage\n")
    files = duo_search.files

    @dsl.pipeline(name="aggregate-only")
    def run():
        components.aggregate.aggregate(
            trials=importer(trials_path, dsl.Dataset), best_parameters=importer(tmp_path / "best.json", dsl.Artifact),
            best_spec=importer(tmp_path / "spec.json", dsl.Artifact),
            experiment=importer(tmp_path / "experiment", dsl.Artifact), train=importer(files["train"], dsl.Dataset),
            val=importer(files["val"], dsl.Dataset), test=importer(files["test"], dsl.Dataset),
            schema=importer(files["record"], dsl.Artifact),
        )

    run()
    step = step_dir(only_run(kfp_local), "aggregate")
    page = (step / "leaderboard").read_text()
    assert all(t.name in page for t in results.trials) and f"Best trial: {best}" in page
    assert page.count("<svg") == sum(len(m.networks) for m in FinalChoice.read(step / "final_model").members)
    assert ">Feature importance<" in page and page.count("data:image/svg+xml;base64,") == 2  # progress, importance
    assert "## Feature importance" in (step / "summary").read_text()
    assert "Final model (ensemble)" in page and "HistGradientBoosting baseline" in page
    summary = (step / "summary").read_text()
    assert f"| val-rmse | {results.best().objective:.6g} |" in summary and "## Final model (ensemble)" in summary
    assert (step / "progress_plot").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in (step / "diagram").read_text()
    table = [line.split(",") for line in (step / "leaderboard_table").read_text().splitlines()[1:]]
    assert sorted(row[2] for row in table) == ["Baseline", "Final", "Succeeded", "Succeeded"]
    assert [row[1] for row in table if row[2] == "Final"] == [f"final (ensemble of {len(FinalChoice.read(step / 'final_model').members)} trials)"]
    assert artifact_metadata(step, "best_metrics") == pytest.approx(
        {k: v for k, v in results.observed(results.best()).items()})
    final = artifact_metadata(step, "final_metrics")
    assert final["final-val-rmse"] < final["best-trial-val-rmse"] and final["ensemble-size"] == 2
    for name in ("baseline-val-rmse", "baseline-test-rmse", "final-test-rmse", "baseline-val-mae"):
        assert name in final, name
    choice = FinalChoice.read(step / "final_model")
    assert choice.kind == "ensemble" and sorted(m.trial for m in choice.members) == sorted(t.name for t in results.trials)
    assert choice.metrics() == pytest.approx(final)
    assert artifact_metadata(step, "final_model") == {"kind": "ensemble", "members": [m.trial for m in choice.members]}


@pytest.mark.slow
def test_search_local_backend(components, kfp_local, houses_csv, tmp_path):
    files = write_prepared_files(houses_csv, "price", tmp_path)

    @dsl.pipeline(name="search-only")
    def run():
        components.search.search(
            train=importer(files["train"], dsl.Dataset), val=importer(files["val"], dsl.Dataset),
            schema=importer(files["record"], dsl.Artifact), backend="local", search_space=TINY_SPACE,
            algorithm="random", max_trials=1, parallel_trials=1, accelerator="cpu", namespace="",
            trial_output_root="", trial_service_account="", timeout_s=600, time_budget="10m",
            run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        )

    run()
    step = step_dir(only_run(kfp_local), "search")
    results = SearchResults.read(step / "trials")
    assert results.backend == "local" and len(results.trials) == 1
    assert results.trials[0].state is TrialState.SUCCEEDED and results.status.startswith("Succeeded")
    best = json.loads((step / "best_parameters").read_text())
    assert best["trial"] == results.trials[0].name and best["parameters"]["epochs"] == 3
    assert best["trial_config"]["test_fraction"] == 0.0 and best["trial_config"]["val_fraction"] == pytest.approx(0.3)
    spec = ArchitectureSpec.from_json((step / "best_spec").read_text())
    assert spec.content_hash == best["spec_hash"]
    assert (step / "experiment" / "experiment.yaml").is_file() and (step / "experiment" / "run" / "experiment.db").is_file()
    parameters = executor_output(step)["parameterValues"]
    assert parameters["best_trial"] == best["trial"] and parameters["best_objective"] == best["objective"]["value"]
    assert parameters["experiment_name"] == results.name and results.name.startswith("tiny-random-")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["single", "ensemble"])
def test_retrain_best_on_classification(components, kfp_local, labels_csv, tmp_path, kind):
    from latticenas.pipeline.choice import ChoiceMember, FinalChoice

    files = write_prepared_files(labels_csv, "label", tmp_path)
    params = ParameterSet(epochs=4, patience=0, maximum_levels=2, maximum_neurons_per_unit=8)
    specs = sample_architectures(params, output_size=1, final_activation="sigmoid")[:1]
    if kind == "ensemble":  # two trials: the first network above, and another trial's
        specs.append(sample_architectures(ParameterSet(epochs=4, patience=0, maximum_levels=2, maximum_neurons_per_unit=8,
                                                       seed=5), output_size=1, final_activation="sigmoid")[0])
    members = tuple(ChoiceMember(trial=f"t{i}", weight=1.0 + i, parameters=params.to_dict(),
                                 networks=({"id": "m0-t0", "spec": json.loads(s.to_json())},))
                    for i, s in enumerate(specs))
    choice = FinalChoice(kind=kind, objective="val-logloss", metric="logloss", link="identity", members=members,
                         best_trial="t0")
    choice.write(tmp_path / "choice.json")

    @dsl.pipeline(name="retrain-only")
    def run():
        components.retrain_best.retrain_best(
            train=importer(files["train"], dsl.Dataset), val=importer(files["val"], dsl.Dataset),
            test=importer(files["test"], dsl.Dataset), schema=importer(files["record"], dsl.Artifact),
            final_model=importer(tmp_path / "choice.json", dsl.Artifact), seed=3,
        )

    run()
    step = step_dir(only_run(kfp_local), "retrain-best")
    model = step / "model"
    for name in ("model.keras", "spec.json", "preprocessing.json", "metrics.json", "confusion_matrix.json", "roc.json"):
        assert (model / name).is_file(), name
    assert (model / "saved_model").is_dir() and (model / "ensemble.json").is_file() == (kind == "ensemble")
    assert ArchitectureSpec.from_json((model / "spec.json").read_text()).content_hash == specs[0].content_hash
    test_metrics = artifact_metadata(step, "test_metrics")
    assert 0.0 <= test_metrics["accuracy"] <= 1.0 and "auc" in test_metrics
    classification = artifact_metadata(step, "classification_metrics")
    matrix = classification["confusionMatrix"]
    assert [c["displayName"] for c in matrix["annotationSpecs"]] == ["class_0", "class_1"]
    assert sum(map(sum, (row["row"] for row in matrix["rows"]))) == json.loads((model / "metrics.json").read_text())["rows"]["test"]
    assert classification["confidenceMetrics"]
    importance = json.loads((model / "importance.json").read_text())  # the refit model, on the test rows
    assert importance["split"] == "test" and importance["metric"] == "logloss" and importance["features"]
    page = (step / "feature_importance").read_text()
    assert "feature importance of the retrained" in page and "data:image/svg+xml;base64," in page
    metadata = artifact_metadata(step, "model")
    assert metadata["task"] == "binary" and metadata["kind"] == kind and metadata["members"] == [m.trial for m in members]


@pytest.mark.parametrize("store", ["directory", "gcs"])
def test_register(components, kfp_local, houses_csv, tmp_path, store, request):
    files = write_prepared_files(houses_csv, "price", tmp_path)
    spec = sample_architectures(ParameterSet(), output_size=1, final_activation="linear")[0]
    model = model_directory(tmp_path / "model", spec, {"split": "test", "metrics": {"rmse": 21000.5, "r2": 0.8}})
    best = {"experiment": "tiny-random-1", "trial": "tiny-random-1-0002", "parameters": ParameterSet().to_dict(),
            "metrics": {"val-rmse": 20000.0}}
    (tmp_path / "best.json").write_text(json.dumps(best))
    if store == "gcs":
        bucket = request.getfixturevalue("gcs_bucket")
        registry = f"gs://{bucket}/registry"
    else:
        registry = tmp_path / "registry"

    @dsl.pipeline(name="register-only")
    def run():
        components.register.register(
            model=importer(model, dsl.Model), schema=importer(files["record"], dsl.Artifact),
            best_parameters=importer(tmp_path / "best.json", dsl.Artifact), registry_target=str(registry),
            model_name="houses", model_registry_address="",
        )

    run()
    run()  # a second registration is a new version
    from latticenas.registry import registry_for

    versions = registry_for(str(registry))
    assert versions.list_versions("houses") == ["v1", "v2"]
    lineage = versions.lineage("houses", "v2")
    record = json.loads(Path(files["record"]).read_text())
    assert lineage.data_uri == str(houses_csv) and lineage.data_fingerprint == record["data_fingerprint"]
    assert (lineage.experiment_name, lineage.trial_name) == ("tiny-random-1", "tiny-random-1-0002")
    assert lineage.metrics == {"test-rmse": 21000.5, "test-r2": 0.8, "val-rmse": 20000.0}
    assert lineage.spec_hash == spec.content_hash and lineage.parameters == ParameterSet().to_dict()
    runs = sorted((p for p in kfp_local.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    step = step_dir(runs[-1], "register")
    registration = json.loads((step / "registration").read_text())
    assert registration["version"] == "v2" and registration["uri"] == f"{registry}/models/houses/v2"
    assert "saved_model/saved_model.pb" in registration["files"] and "lineage.json" in registration["files"]
    assert executor_output(step)["parameterValues"] == {"uri": registration["uri"], "version": "v2"}
