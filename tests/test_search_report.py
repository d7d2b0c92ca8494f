"""latticenas.search_report: the one HTML report of a search, also rendered in headless Chromium."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from browser import chromium, open_page

from latticenas.arch import sample_architectures
from latticenas.data import Task
from latticenas.final import FinalModel
from latticenas.importance import permutation_importance
from latticenas.params import ParameterSet
from latticenas.runner.experiment import parse_experiment
from latticenas.runner.report import leaderboard, leaderboard_cells, plot_progress
from latticenas.runner.trials import TrialRecord, TrialState
from latticenas.runner.workspace import Workspace
from latticenas.search_report import MIN_TRIALS, parameter_importance, write_search_report

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def experiment():
    return parse_experiment(yaml.safe_load((REPO / "manifests" / "base" / "experiment-random.yaml").read_text()))


def trials(n: int) -> list[TrialRecord]:
    """``n`` finished trials whose objective follows the learning rate (and nothing else)."""
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        rate = float(rng.uniform(0.0003, 0.01))
        params = {"maximum_levels": int(rng.integers(1, 5)), "maximum_units_per_level": 2, "maximum_neurons_per_unit": 16,
                  "p_lateral_connection": float(rng.uniform(0.05, 0.6)), "learning_rate": rate,
                  "activation": str(rng.choice(["relu", "gelu"])), "batch_size": 64, "dropout": "0.1"}
        rmse = 20000.0 + 2e6 * rate
        out.append(TrialRecord(index=i + 1, name=f"t-{i + 1:04d}", params=params, state=TrialState.SUCCEEDED,
                               metrics={"val-rmse": (rmse,), "val-mae": (rmse / 2,)}, objective=rmse,
                               created=100.0 + i, started=101.0 + i, ended=150.0 + i))
    out.append(TrialRecord(index=n + 1, name=f"t-{n + 1:04d}", params=out[0].params, state=TrialState.FAILED,
                           message="exit 1"))
    return out


def _final() -> FinalModel:
    rng = np.random.default_rng(0)
    inputs = {"area": rng.normal(size=200), "rooms": rng.normal(size=200), "city": rng.choice(["a", "b"], size=200)}
    model = lambda x: 50 * x["area"] + 10 * x["rooms"]  # noqa: E731
    importance = permutation_importance(model, inputs, model(inputs), task=Task.REGRESSION, metric="rmse")
    return FinalModel(directory="", kind="ensemble", metric="rmse",
                      members=[{"trial": "t-0001", "weight": 2}, {"trial": "t-0002", "weight": 1}],
                      val_metrics={"rmse": 21000.0, "mae": 10000.0}, best_trial="t-0001",
                      best_trial_val_metrics={"rmse": 21500.0, "mae": 10100.0}, test_metrics={"rmse": 23000.0},
                      best_trial_test_metrics={"rmse": 24000.0},
                      baseline={"name": "HistGradientBoosting", "val_metrics": {"rmse": 22000.0},
                                "test_metrics": {"rmse": 25000.0}, "fit_seconds": 0.3},
                      importance=importance.to_dict())


def _write(tmp_path, experiment, records, final=None) -> Path:
    spec = sample_architectures(ParameterSet(), output_size=1, final_activation="linear")[0]
    rows = leaderboard(experiment, records, final)
    svg = plot_progress(Workspace(tmp_path), experiment, records)
    networks = [("t-0001 (weight 2)", spec), ("t-0002 (weight 1)", spec)] if final else []
    return write_search_report(tmp_path / "report.html", experiment, records, leaderboard_cells(experiment, rows),
                               ["experiment ames-random: Succeeded"], svg, final, networks)


def test_parameter_importance_finds_the_parameter_that_matters(experiment):
    found, reason = parameter_importance(experiment, trials(12))
    assert reason == "" and max(found, key=found.get) == "learning_rate"
    assert sum(found.values()) == pytest.approx(1.0)


def test_too_few_trials_give_a_sentence(experiment):
    found, reason = parameter_importance(experiment, trials(MIN_TRIALS - 1))
    assert found == {} and f"at least {MIN_TRIALS} finished trials" in reason and f"has {MIN_TRIALS - 1}" in reason


def test_the_page_holds_every_section(experiment, tmp_path):
    page = _write(tmp_path, experiment, trials(8), _final()).read_text()
    for heading in ("Final model (ensemble)", "All metrics", "Search progress", "Leaderboard", "Parameter importance",
                    "Feature importance", "Networks of the final model", "Best trial: t-0001"):
        assert f">{heading}<" in page, heading
    assert "<td>HistGradientBoosting baseline</td><td>22000</td><td>25000</td>" in page
    assert page.count('<img src="data:image/svg+xml;base64,') == 2  # progress and feature importance
    assert page.count("<svg") == 2  # the two networks, inline
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page  # nothing external
    few = _write(tmp_path / "few", experiment, trials(2)).read_text()
    assert "needs at least" in few and "No final model was built" in few and ">Best network<" not in few


@pytest.mark.skipif(chromium() is None, reason="no chromium here: install Debian's `chromium` (apt-get install chromium)")
def test_the_report_renders_in_headless_chromium(experiment, tmp_path):
    path = _write(tmp_path, experiment, trials(8), _final())
    with open_page(path) as page:
        images = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        assert len(images) == 2 and all(done and width > 0 for done, width in images)
        column = "learning_rate"
        index = page.evaluate(f"Array.from(document.querySelectorAll('#leaderboard th')).findIndex(h => h.textContent === '{column}')")
        values = f"Array.from(document.querySelectorAll('#leaderboard tbody tr')).map(r => r.cells[{index}].getAttribute('data-sort'))"
        before = page.evaluate(values)
        box = page.evaluate(f"(() => {{ const h = document.querySelectorAll('#leaderboard th')[{index}]; h.scrollIntoView();"
                            " const r = h.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        page.click(*box)
        after = page.evaluate(values)
        numbers = [float(v) for v in after if v]
        assert numbers == sorted(numbers) and sorted(after, key=str) == sorted(before, key=str) and after != before
        blanks = [v for v in after if not v]  # the final model's and the baseline's rows have no parameters
        assert blanks and after[len(after) - len(blanks):] == blanks  # last
        page.click(*page.evaluate(f"(() => {{ const r = document.querySelectorAll('#leaderboard th')[{index}]"
                                  ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"))
        again = [float(v) for v in page.evaluate(values) if v]
        assert again == sorted(numbers, reverse=True)
        assert page.errors == []
