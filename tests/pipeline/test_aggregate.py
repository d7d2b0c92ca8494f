"""latticenas.aggregate: the report of a search from either backend."""

from __future__ import annotations

import csv
import json

import pytest
import yaml
from pipeline_helpers import REPO

from latticenas.aggregate import SearchResults, best_metrics, trial_from_dict, trial_to_dict, write_report
from latticenas.arch import sample_architectures
from latticenas.errors import LatticeNASError
from latticenas.params import ParameterSet
from latticenas.runner.trials import TrialRecord, TrialState


@pytest.fixture
def manifest():
    return yaml.safe_load((REPO / "manifests" / "base" / "experiment-random.yaml").read_text())


def record(index, state, rmse=None, **params):
    metrics = {} if rmse is None else {"val-rmse": (rmse * 1.5, rmse), "val-mae": (rmse / 2,), "param-count": (900.0,)}
    return TrialRecord(
        index=index, name=f"ames-random-{index:04d}",
        params={"maximum_levels": 2, "maximum_units_per_level": 3, "maximum_neurons_per_unit": 16,
                "p_lateral_connection": 0.2, "learning_rate": 0.003, "activation": "relu", "batch_size": 64, **params},
        state=state, metrics=metrics, objective=rmse, created=100.0 + index, started=101.0 + index, ended=160.0 + index,
        message="" if state is not TrialState.FAILED else "exit 1",
    )


@pytest.fixture
def results(manifest):
    trials = (
        record(1, TrialState.SUCCEEDED, 31000.0),
        record(2, TrialState.FAILED),
        record(3, TrialState.SUCCEEDED, 27000.5, activation="gelu"),
        record(4, TrialState.EARLY_STOPPED, 45000.0),
        record(5, TrialState.METRICS_UNAVAILABLE),
    )
    return SearchResults(manifest=manifest, trials=trials, backend="katib", status="Succeeded (ExperimentMaxTrialsReached)")


@pytest.fixture
def spec():
    return sample_architectures(ParameterSet(), output_size=1, final_activation="linear")[0]


def test_results_round_trip_through_json(results, tmp_path):
    path = results.write(tmp_path / "trials.json")
    again = SearchResults.read(path)
    assert again == results
    assert again.trials[0].metrics["val-rmse"] == (46500.0, 31000.0)
    assert trial_from_dict(trial_to_dict(results.trials[1])) == results.trials[1]
    with pytest.raises(LatticeNASError, match="not a latticenas trials document"):
        SearchResults.from_dict({"format": "other"})


def test_best_trial_and_metrics(results):
    assert results.best().name == "ames-random-0003"
    assert best_metrics(results) == {"val-rmse": 27000.5, "val-mae": 13500.25, "param-count": 900.0}


def test_report_files(results, spec, tmp_path):
    report = write_report(results, tmp_path / "r", spec)
    assert report.best_trial == "ames-random-0003"
    assert report.progress_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(report.leaderboard_csv.open()))
    assert [r["trial"] for r in rows[:3]] == ["ames-random-0003", "ames-random-0001", "ames-random-0004"]
    assert rows[0]["rank"] == "1" and rows[3]["rank"] in ("", "-")  # unranked: no objective
    assert json.loads(report.leaderboard_json.read_text())["objective"]["metric"] == "val-rmse"

    page = report.html.read_text()
    for name in (t.name for t in results.trials):
        assert name in page
    assert "Best trial: ames-random-0003" in page and "Best network" in page and spec.content_hash[:12] in page
    assert page.count("<svg") == 1 and page.rstrip().endswith("</html>")  # the network, inline
    assert page.count('<img src="data:image/svg+xml;base64,') == 1  # the progress plot

    md = report.markdown.read_text()
    assert md.startswith("# Search results: ames-random")
    assert "katib backend" in md and "5 of 8" in md and "| val-rmse | 27000.5 |" in md and "| activation | gelu |" in md
    assert "ames-random-0005" in md and "MetricsUnavailable" in md
    assert report.diagram_html.read_text().lstrip().lower().startswith("<!doctype html")
    assert "<svg" in report.diagram_svg.read_text()
    assert json.loads(report.best_metrics_json.read_text()) == {"trial": "ames-random-0003", "metrics": best_metrics(results)}


def test_a_search_without_a_scored_trial_still_reports(manifest, tmp_path):
    results = SearchResults(manifest=manifest, trials=(record(1, TrialState.FAILED),), status="Failed")
    report = write_report(results, tmp_path)
    assert report.best_trial is None and report.best_metrics == {} and report.diagram_html is None
    assert "No trial reported the objective" in report.html.read_text()
    assert "best: none" in report.markdown.read_text()


def test_the_report_shows_the_final_model_and_the_baseline(results, spec, tmp_path):
    from latticenas.final import FinalModel

    final = FinalModel(
        directory="", kind="ensemble", metric="rmse",
        members=[{"trial": "ames-random-0003", "weight": 2}, {"trial": "ames-random-0001", "weight": 1}],
        val_metrics={"rmse": 26000.0, "mae": 13000.0}, best_trial="ames-random-0003",
        best_trial_val_metrics={"rmse": 27000.5, "mae": 13500.25}, test_metrics={"rmse": 29000.0},
        best_trial_test_metrics={"rmse": 30000.0},
        baseline={"name": "HistGradientBoosting", "val_metrics": {"rmse": 28000.0, "mae": 14000.0},
                  "test_metrics": {"rmse": 31000.0}, "fit_seconds": 0.5},
        importance={"metric": "rmse", "score": 26000.0, "rows": 300, "repeats": 3,
                    "features": [{"name": "Gr Liv Area", "mean": 9000.0, "std": 500.0},
                                 {"name": "Yr Sold", "mean": -10.0, "std": 40.0}]},
    )
    report = write_report(results, tmp_path / "r", spec, final=final)
    rows = list(csv.DictReader(report.leaderboard_csv.open()))
    assert [(r["trial"], r["state"], r["rank"]) for r in rows[:4]] == [
        ("final (ensemble of 2 trials)", "Final", ""), ("ames-random-0003", "Succeeded", "1"),
        ("HistGradientBoosting baseline", "Baseline", ""), ("ames-random-0001", "Succeeded", "2")]
    page = report.html.read_text()
    assert "<h2>Final model (ensemble)</h2>" in page and "<td>final: ensemble of ames-random-0003 x2, ames-random-0001 x1</td>" in page
    assert "<td>HistGradientBoosting baseline</td><td>28000</td><td>31000</td>" in page
    assert ">Feature importance<" in page and page.count('<img src="data:image/svg+xml;base64,') == 2
    md = report.markdown.read_text()
    assert "## Feature importance" in md and "| Gr Liv Area | 9000 |" in md and "| Yr Sold | -10 |" in md
    assert "## Final model (ensemble)" in md and "| validation rmse | test rmse |" in md
    assert "| best trial ames-random-0003 | 27000.5 | 30000 |" in md and "| HistGradientBoosting baseline | 28000 | 31000 |" in md
    assert report.best_trial == "ames-random-0003"  # the best trial stays the search's best
