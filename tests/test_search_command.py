"""``latticenas search`` and the Python API: the planned Experiment, bad input, the emitted
manifests, and (slow) real searches with a time budget, resumed, saved, loaded, predicted."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from factories import TINY_SPACE, classification_frame, regression_frame

import latticenas
from latticenas.cli import main
from latticenas.errors import LatticeNASError
from latticenas.search_plan import SearchSetup, default_space, experiment_base_name, plan_search

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def cli(capsys):
    def run(*argv) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def table(tmp_path) -> Path:
    path = tmp_path / "houses.csv"
    regression_frame(300).to_csv(path, index=False)
    return path


@pytest.fixture
def tiny_space(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY_SPACE, sort_keys=False))
    return path


def trial_rows(directory: Path) -> list[dict]:
    with sqlite3.connect(directory / "experiment.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM trials ORDER BY idx")]


# --------------------------------------------------------------------------- the plan


def test_the_default_space_is_the_shipped_ames_space():
    ames = yaml.safe_load((REPO / "search_spaces" / "ames.yaml").read_text())
    default = default_space()
    assert default["parameters"] == ames["parameters"]
    training = {k: v for k, v in ames["fixed"].items() if k not in ("data", "target", "task", "drop_columns")}
    assert {k: default["fixed"][k] for k in training} == training
    assert default["algorithms"] == ames["algorithms"] and default["resources"] == ames["resources"]


def test_the_objective_follows_the_task(tmp_path, table):
    plan = plan_search(SearchSetup(data=str(table), target="price"))
    assert (plan.task, plan.objective, plan.name) == ("regression", "val-rmsle", "houses-tpe")  # positive prices
    spec = plan.experiment["spec"]
    assert "goal" not in spec["objective"] and "earlyStopping" not in spec
    assert f"--data={table.resolve()}" in spec["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]["command"]

    shifted = regression_frame(300).assign(price=lambda d: d.price - d.price.mean())
    shifted.to_csv(tmp_path / "centred.csv", index=False)
    assert plan_search(SearchSetup(data=str(tmp_path / "centred.csv"), target="price")).objective == "val-rmse"

    classification_frame(300, classes=3).to_csv(tmp_path / "labels.csv", index=False)
    plan = plan_search(SearchSetup(data=str(tmp_path / "labels.csv"), target="label", algorithm="random", seed=7))
    assert (plan.task, plan.objective, plan.name) == ("multiclass", "val-logloss", "labels-random")
    assert plan.experiment["spec"]["algorithm"]["algorithmSettings"] == [{"name": "random_state", "value": "7"}]


def test_the_same_search_plans_the_same_experiment(table, monkeypatch, tmp_path):
    first = plan_search(SearchSetup(data=str(table), target="price", max_trials=3, seed=1))
    monkeypatch.chdir(tmp_path)  # a relative path from elsewhere names the same file
    again = plan_search(SearchSetup(data=table.name, target="price", max_trials=3, seed=1))
    assert first.experiment == again.experiment
    assert first.experiment["spec"]["maxTrialCount"] == 3


def test_experiment_names_come_from_the_data():
    assert experiment_base_name("example:ames") == "ames"
    assert experiment_base_name("gs://b/x/Their Sales 2024.csv.gz") == "their-sales-2024"
    assert experiment_base_name("/d/2024.parquet") == "search-2024"
    assert len(experiment_base_name("/d/" + "a" * 60 + ".csv")) == 23


def test_setups_are_checked_at_construction():
    with pytest.raises(LatticeNASError, match="unknown algorithm 'annealing'"):
        SearchSetup(data="x.csv", target="y", algorithm="annealing")
    with pytest.raises(LatticeNASError, match="max_trials must be a positive whole number, not 0"):
        SearchSetup(data="x.csv", target="y", max_trials=0)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("argv", "message"), [
    (["--data", "{tmp}/missing.csv", "--target", "price"], "error: file .*missing.csv does not exist"),
    (["--data", "{table}", "--target", "prize"], "error: target column 'prize' not found: did you mean 'price'"),
    (["--data", "{table}", "--target", "price", "--time-budget", "ten minutes"],
     "error: time budget 'ten minutes' is not a duration"),
    (["--data", "{table}", "--target", "price", "--task", "binary"], "error: task binary needs 2 classes"),
    (["--data", "{table}", "--target", "price", "--backend", "dask"], "error: backend 'dask' is not one of local, mop"),
    (["--data", "{table}", "--target", "price", "--local-workers", "2"],
     "error: local_workers is an option of the mop backend: add --backend mop"),
    (["--data", "{table}", "--target", "price", "--backend", "mop", "--time-budget", "5m"],
     "error: the mop backend has no time budget"),
    (["--data", "{table}", "--target", "price", "--backend", "mop", "--scheduler", "localhost:8786"],
     "error: mop scheduler: 'localhost:8786' is not a Dask scheduler address; pass tcp://HOST:PORT"),
    (["--data", "{table}", "--target", "prize", "--backend", "mop"], "error: target column 'prize' not found"),
])
def test_bad_input_is_one_error_line_before_any_trial(cli, tmp_path, table, argv, message):
    argv = [a.format(tmp=tmp_path, table=table) for a in argv]
    code, out, err = cli("search", *argv, "--dir", tmp_path / "exp")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert re.match(message, err)
    assert not (tmp_path / "exp" / "experiment.db").exists()


# --------------------------------------------------------------------------- manifests


def test_emitted_manifests_are_the_planned_experiment_and_validate(cli, tmp_path, table):
    out_dir = tmp_path / "k8s"
    code, out, err = cli("search", "--data", table, "--target", "price", "--algorithm", "random",
                         "--emit-manifests", out_dir)
    assert code == 0
    assert err.startswith("warning: the manifests read ") and "gs:// URI" in err  # a local path
    assert not (tmp_path / "experiments").exists()  # nothing ran
    emitted = yaml.safe_load((out_dir / "base" / "experiment-random.yaml").read_text())
    assert emitted == plan_search(SearchSetup(data=str(table), target="price", algorithm="random")).experiment
    code, out, _ = cli("manifests", "validate", out_dir / "base" / "experiment-random.yaml")
    assert code == 0 and out.startswith("OK ")
    overlays = [out_dir / "base", out_dir / "overlays" / "gpu", out_dir / "overlays" / "tpu"]
    code, out, err = cli("manifests", "validate", *overlays)  # rendered with kubectl kustomize
    assert code == 0, err
    assert out.count("OK ") == 3


# --------------------------------------------------------------------------- the API


def test_import_latticenas_stays_light():
    code = ("import sys, latticenas; f = latticenas.search; latticenas.load; latticenas.SearchResult; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    assert {"search", "load", "SearchResult"} <= set(latticenas.__all__)


@pytest.mark.slow
def test_a_tiny_budget_ends_on_time_and_the_same_command_resumes(cli, tmp_path, table, tiny_space):
    argv = ["search", "--data", table, "--target", "price", "--space", tiny_space, "--algorithm", "random",
            "--dir", tmp_path / "exp", "--max-trials", "400", "--parallel", "1"]  # the budget ends it
    started = time.time()
    # 8 s keep 4 s for the final model (half of a budget under 20 s), so the trials get 4 s: more
    # than the runner's start-up (the first trial starts), less than the start of a warm worker
    # plus a trial's training (it is stopped)
    code, out, err = cli(*argv, "--time-budget", "8s")
    elapsed = time.time() - started
    assert elapsed < 8 * 1.1 + 8  # + stopping the trial (TERM, then KILL after 3 s) and the report
    assert code == 1 and "ExperimentTimeBudgetReached" in out and "no trial finished" in err
    assert [(t["state"], t["attempts"]) for t in trial_rows(tmp_path / "exp")] == [("Created", 1)]

    budget = 60
    started = time.time()
    code, out, err = cli(*argv, "--time-budget", f"{budget}s")  # the same search: it resumes
    elapsed = time.time() - started
    assert code == 0, err
    trials = trial_rows(tmp_path / "exp")
    assert trials[0]["name"] == "tiny-random-0001" and trials[0]["attempts"] == 2  # run again
    assert trials[0]["state"] == "Succeeded" and all(t["state"] != "Running" for t in trials)
    assert len(trials) < 400 and "ExperimentTimeBudgetReached" in out
    final = json.loads((tmp_path / "exp" / "final" / "final.json").read_text())
    assert elapsed < budget * 1.1 + final["seconds"] + 10  # + the final model, the report
    assert final["test_metrics"]["rmse"] > 0 and final["baseline"]["test_metrics"]["rmse"] > 0
    assert "final model:" in out and "test rmse:" in out and "HistGradientBoosting" in out
    assert f"model        {tmp_path / 'exp' / 'final'}/" in out and "resume       run the same command" in out


@pytest.mark.slow
def test_search_save_load_predict(tmp_path, tiny_space):
    frame = regression_frame(300)
    result = latticenas.search(frame, target="price", space=tiny_space, algorithm="random", parallel=1,
                               time_budget="10m", directory=tmp_path / "exp")
    assert isinstance(result, latticenas.SearchResult) and result.succeeded
    assert result.reason == "ExperimentMaxTrialsReached"
    assert (tmp_path / "exp" / "data.csv").is_file() and result.experiment_dir == tmp_path / "exp"
    assert isinstance(result.leaderboard, pd.DataFrame)
    assert {"Succeeded", "Final", "Baseline"} <= set(result.leaderboard["state"])
    assert result.final is not None and result.final.test_metrics
    assert result.baseline is not None and result.baseline.name == "HistGradientBoosting"
    assert result.report_path == tmp_path / "exp" / "report.html" and result.model_dir == tmp_path / "exp" / "final"
    importance = result.final.feature_importance  # on the validation rows, one entry per raw column
    assert importance.metric == result.final.metric and {f.name for f in importance.features} == set(frame) - {"price"}
    page = result.report_path.read_text()
    assert ">Feature importance<" in page and ">Parameter importance<" in page and "Networks of the final model" in page

    predicted = result.model.predict(frame.head(20))
    saved = result.model.save(tmp_path / "saved")
    again = latticenas.load(saved).predict(frame.head(20))
    np.testing.assert_allclose(again, predicted, rtol=1e-5)
    np.testing.assert_allclose(latticenas.load(tmp_path / "exp").predict(frame.head(20)), predicted, rtol=1e-5)
    assert sorted(p.name for p in saved.iterdir()) == ["model.keras", "preprocessing.json"]


@pytest.mark.slow
def test_search_by_mop_gives_the_final_model_baseline_and_report(cli, tmp_path, table, tiny_space, caplog):
    directory = tmp_path / "exp"
    argv = ["search", "--data", table, "--target", "price", "--space", tiny_space, "--backend", "mop",
            "--local-workers", "2", "--partitions", "2", "--dir", directory]
    code, out, err = cli(*argv)
    assert code == 0, err
    assert "searched parameters are fixed to maximum_neurons_per_unit=4, learning_rate=0.003" in caplog.text
    result = latticenas.SearchResult.from_directory(directory)
    assert result.succeeded and result.model_dir == directory / "final"
    trials = trial_rows(directory)
    assert [t["state"] for t in trials] == ["Succeeded", "Succeeded"]
    assert len(list((directory / "mop" / "partitions").glob("train-*"))) == 2
    assert {"Succeeded", "Final", "Baseline"} <= set(result.leaderboard["state"])
    assert result.final is not None and result.final.test_metrics["rmse"] > 0
    assert result.baseline is not None and result.baseline.name == "HistGradientBoosting"
    assert result.report_path == directory / "report.html" and "final model:" in out
    predictions = latticenas.load(directory).predict(regression_frame(5, seed=9).drop(columns=["price"]))
    assert len(predictions) == 5 and np.isfinite(np.asarray(predictions, dtype=float)).all()
    assert "resume" not in out  # a MOP run does not resume; the same command again is refused
    code, _, err = cli(*argv)
    last = err.strip().splitlines()[-1]
    assert code == 2 and "Traceback" not in err
    assert last.startswith("error: ") and last.endswith("already holds a run (2 trials): pass a new --dir")
