"""The whole pipeline on this machine: kfp.local SubprocessRunner, local search backend, a small
generated table, a tiny budget (2 trials of one lattice, 3 epochs, differing in their seed:
ENSEMBLE_SPACE, whose two trials ensemble better than either); every artifact checked, down to
the registered ensemble predicting from the registry."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json

import numpy as np
import pytest
from pipeline_helpers import ENSEMBLE_SPACE, artifact_metadata, executor_output

from latticenas.aggregate import SearchResults
from latticenas.arch import ArchitectureSpec
from latticenas.pipeline import cli
from latticenas.pipeline.build import collect_local_run
from latticenas.pipeline.choice import FinalChoice
from latticenas.pipeline.prepared import read_prepared
from latticenas.predict import Predictor
from latticenas.registry import REQUIRED_FILES, LocalRegistry
from latticenas.runner.trials import TrialState


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="latticenas")
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.mark.slow
def test_the_whole_pipeline_runs_locally(tmp_path, houses_csv, capsys):
    space = tmp_path / "tiny.yaml"
    space.write_text(ENSEMBLE_SPACE)
    work = tmp_path / "work"
    code = run_cli("pipeline", "run", "--local", "--data", str(houses_csv), "--target", "price", "--drop-columns", "",
                   "--search-space", str(space), "--algorithm", "grid", "--max-trials", "2", "--parallel", "2",
                   "--model-name", "houses", "--dir", str(work))
    assert code == 0
    out = capsys.readouterr().out
    [run_dir] = [p for p in (work / "kfp").iterdir() if p.is_dir()]
    run = collect_local_run(run_dir)
    assert f"leaderboard: {run.leaderboard}" in out and f"diagram:     {run.diagram}" in out
    assert f"registered:  houses v1 at {work / 'registry' / 'models' / 'houses' / 'v1'}" in out
    assert "retrained final model (ensemble of " in out and "HistGradientBoosting baseline, same test split: mae " in out

    steps = {p.name for p in run_dir.iterdir() if p.is_dir()}
    assert steps == {"prepare-data", "search", "aggregate", "retrain-best", "register"}

    # prepare: the split every later step uses
    prep = run_dir / "prepare-data"
    prepared = read_prepared(record=str(prep / "schema"), train=str(prep / "train"), val=str(prep / "val"), test=str(prep / "test"))
    assert prepared.record.task == "regression" and sum(prepared.record.rows.values()) == 300
    assert executor_output(prep)["parameterValues"]["Output"] == "regression"

    # search: both trials ran on the prepared train/validation rows
    search = run_dir / "search"
    results = SearchResults.read(search / "trials")
    assert len(results.trials) == 2 and all(t.state is TrialState.SUCCEEDED for t in results.trials)
    best = results.best()
    best_parameters = json.loads((search / "best_parameters").read_text())
    assert best_parameters["trial"] == best.name and best_parameters["objective"]["value"] == best.objective
    for trial in results.trials:
        config = json.loads((search / "experiment" / "run" / "trials" / trial.name / "output" / "params.json").read_text())
        assert config["data"].endswith("search/experiment/data/search.parquet") and config["test_fraction"] == 0.0
        summary = json.loads((search / "experiment" / "run" / "trials" / trial.name / "output" / "summary.json").read_text())
        assert summary["data_rows"] == {"train": prepared.record.rows["train"], "val": prepared.record.rows["val"], "test": 0}

    # aggregate: the final model (the two trials ensembled) beside the baseline; leaderboard, plot, diagram
    choice = FinalChoice.read(run.final_model)
    members = [m.trial for m in choice.members]
    assert choice.kind == "ensemble" and sorted(members) == sorted(t.name for t in results.trials) and members[0] == best.name
    final_metrics = artifact_metadata(run_dir / "aggregate", "final_metrics")
    assert final_metrics["final-val-rmse"] < final_metrics["best-trial-val-rmse"] == pytest.approx(best.objective)
    assert {"baseline-val-rmse", "baseline-test-rmse", "final-test-rmse"} <= set(final_metrics)
    assert final_metrics["ensemble-size"] == 2
    page = run.leaderboard.read_text()
    assert all(t.name in page for t in results.trials) and f"Best trial: {best.name}" in page
    assert "Final model (ensemble)" in page and "HistGradientBoosting baseline" in page
    assert "val-rmse" in page and page.count("<svg") == choice.network_count  # the final model's networks
    assert ">Feature importance<" in page and ">Parameter importance<" in page
    summary = run.summary.read_text()
    assert f"best: {best.name} val-rmse=" in summary and "2 of 2 (2 Succeeded)" in summary
    assert "## Final model (ensemble)" in summary and "HistGradientBoosting baseline" in summary
    rows = list(csv.DictReader(run.leaderboard_table.open()))
    assert [r["trial"] for r in rows if r["rank"] == "1"] == [best.name] and len(rows) == 4
    assert {r["state"] for r in rows} == {"Succeeded", "Final", "Baseline"}
    assert run.progress_plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    spec = ArchitectureSpec.from_json((search / "best_spec").read_text())
    assert "<svg" in run.diagram.read_text() and spec.content_hash[:12] in page
    assert artifact_metadata(run_dir / "aggregate", "best_metrics")["val-rmse"] == pytest.approx(best.objective)

    # retrain: every member refit on train + validation, fused into one model that loads and predicts
    model_dir = run.model_dir
    for name in (*REQUIRED_FILES, "diagram.svg", "ensemble.json"):
        assert (model_dir / name).is_file(), name
    assert (model_dir / "saved_model").is_dir()
    ensemble = json.loads((model_dir / "ensemble.json").read_text())
    assert [(m["trial"], m["weight"]) for m in ensemble["members"]] == [(m.trial, m.weight) for m in choice.members]
    assert ArchitectureSpec.from_json((model_dir / "spec.json").read_text()).content_hash == spec.content_hash
    predictor = Predictor.load(model_dir)
    test = prepared.dataset.test
    predictions = predictor.predict_frame(test.drop(columns=["price"]))["prediction"].to_numpy()
    assert predictions.shape == (len(test),) and np.isfinite(predictions).all()
    test_metrics = artifact_metadata(run_dir / "retrain-best", "test_metrics")
    assert set(test_metrics) >= {"rmse", "mae", "r2", "baseline-rmse"}
    assert test_metrics["baseline-rmse"] == pytest.approx(final_metrics["baseline-test-rmse"])
    metrics_record = json.loads((model_dir / "metrics.json").read_text())
    assert metrics_record["rows"]["test"] == len(test) and metrics_record["final"]["kind"] == "ensemble"
    assert test_metrics["rmse"] == pytest.approx(metrics_record["metrics"]["rmse"])
    assert artifact_metadata(run_dir / "retrain-best", "model")["members"] == members
    importance = json.loads((model_dir / "importance.json").read_text())  # the refit model on the test rows
    assert importance["split"] == "test" and {f["name"] for f in importance["features"]} == set(test.columns) - {"price"}
    assert "data:image/svg+xml;base64," in (run_dir / "retrain-best" / "feature_importance").read_text()

    # register: a complete registry entry whose lineage says it is the ensemble
    registry = LocalRegistry(work / "registry")
    entry = registry.get("houses", "v1")
    assert registry.latest("houses").version == "v1" and entry.uri == run.registered_uri
    version_dir = work / "registry" / "models" / "houses" / "v1"
    manifest = json.loads((version_dir / "manifest.json").read_text())
    for relative, info in manifest["files"].items():
        data = (version_dir / relative).read_bytes()
        assert len(data) == info["size"] and hashlib.sha256(data).hexdigest() == info["sha256"]
        assert (model_dir / relative).read_bytes() == data
    assert set(manifest["files"]) == {p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file()}
    lineage = registry.lineage("houses", "v1")
    assert lineage.data_uri == str(houses_csv) and lineage.data_fingerprint == prepared.record.data_fingerprint
    assert lineage.experiment_name == results.name and lineage.trial_name == "+".join(members)
    assert lineage.parameters["final_model"] == "ensemble" and lineage.spec_hash == ensemble["spec_hash"]
    assert [m["parameters"] for m in lineage.parameters["members"]] == [m.parameters for m in choice.members]
    assert lineage.metrics["val-rmse"] == pytest.approx(final_metrics["final-val-rmse"])
    assert lineage.metrics["baseline-val-rmse"] == pytest.approx(final_metrics["baseline-val-rmse"])
    assert lineage.metrics["test-rmse"] == pytest.approx(metrics_record["metrics"]["rmse"])
    assert lineage.metrics["ensemble-size"] == 2
    assert run.registration["lineage"]["created_at"] == lineage.created_at
    registered = Predictor.load(version_dir).predict(test.head(3))
    np.testing.assert_array_equal(registered, predictor.predict(test.head(3)))
