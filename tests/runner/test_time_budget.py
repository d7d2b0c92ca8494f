"""The local runner's time budget (``--time-budget``), with real trial subprocesses (the fake
quadratic trial: stdlib only, seconds each)."""

from __future__ import annotations

import time

import pytest
from runner_helpers import experiment_manifest, experiment_row, trial_rows, write_manifest

from latticenas.errors import LatticeNASError
from latticenas.runner.timebudget import TimeBudget, estimate_duration, format_seconds, parse_time_budget
from latticenas.runner.trials import TrialRecord, TrialState

pytestmark = pytest.mark.usefixtures("worker_kind")  # process trials and warm workers alike

ONE_PARAMETER = [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.0", "max": "1.0"}}]


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("10m", 600), ("1h", 3600), ("1.5h", 5400), ("1h30m", 5400), ("2m 30s", 150),
    ("600", 600), (45, 45), (2.5, 2.5),
])
def test_durations_parse(text, seconds):
    assert parse_time_budget(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "m", "-5", "0", "0s", "nan", True])
def test_bad_durations_say_how_to_write_one(text):
    with pytest.raises(LatticeNASError, match=r"time budget .* (is not a duration|must be more than 0).*90s, 10m"):
        parse_time_budget(text)


def test_format_seconds():
    assert [format_seconds(s) for s in (2.5, 90, 600, 5400)] == ["2.5s", "1m30s", "10m", "1h30m"]


def trial(index, state=TrialState.SUCCEEDED, duration=10.0, objective=1.0):
    return TrialRecord(index, f"t-{index}", {}, state=state, objective=objective, started=100.0,
                       ended=None if duration is None else 100.0 + duration)


def test_a_trial_starts_only_when_its_estimated_duration_fits():
    budget = TimeBudget(seconds=60, started=1000.0)
    assert budget.allows_start([], now=1059.0)  # nothing finished yet: any start while time is left
    assert not budget.allows_start([], now=1060.0)
    done = [trial(1, duration=10), trial(2, duration=30)]  # mean 20 s
    assert budget.allows_start(done, now=1040.0)
    assert not budget.allows_start(done, now=1041.0)


def test_the_estimate_prefers_trials_with_an_objective():
    failed_fast = trial(1, TrialState.FAILED, duration=1.0, objective=None)
    assert estimate_duration([failed_fast]) == 1.0
    assert estimate_duration([failed_fast, trial(2, duration=30.0)]) == 30.0
    assert estimate_duration([trial(3, TrialState.RUNNING, duration=None)]) is None


def test_the_deadline_stops_running_trials_and_leaves_them_to_run_again(tmp_path, cli):
    manifest = experiment_manifest(max_trials=2, parallel=2, parameters=ONE_PARAMETER,
                                   trial_args=("--steps=14", "--sleep=0.5"))  # 7 s each
    path = write_manifest(tmp_path, manifest)
    started = time.time()  # the budget counts the runner's setup too (validation, engine)
    code, out, err = cli("experiment", "run", path, "--dir", tmp_path / "exp", "--time-budget", "6s")
    elapsed = time.time() - started
    assert code == 0 and "ExperimentTimeBudgetReached" in out
    assert elapsed < 6 * 1.1 + 3.0  # the deadline, plus stopping the trials and the report
    assert "time budget reached: stopping" in err
    trials = trial_rows(tmp_path / "exp")
    assert [t["state"] for t in trials] == ["Created", "Created"]  # none left Running
    assert all(t["pid"] is None and t["attempts"] == 1 for t in trials)
    assert not list((tmp_path / "exp" / "trials").glob("*/output/times.json"))  # cut short
    assert experiment_row(tmp_path / "exp")["reason"] == "ExperimentTimeBudgetReached"

    code, out, _ = cli("experiment", "run", path, "--dir", tmp_path / "exp")  # resume, no budget
    assert code == 0 and "ExperimentMaxTrialsReached" in out
    trials = trial_rows(tmp_path / "exp")
    assert [(t["state"], t["attempts"]) for t in trials] == [("Succeeded", 2), ("Succeeded", 2)]


def test_no_trial_starts_that_would_overrun_the_budget(tmp_path, cli):
    manifest = experiment_manifest(max_trials=20, parallel=1, parameters=ONE_PARAMETER,
                                   trial_args=("--sleep=1.5",))
    budget = 8.0
    started = time.time()
    code, out, err = cli("experiment", "run", write_manifest(tmp_path, manifest), "--dir", tmp_path / "exp",
                         "--time-budget", str(budget))
    elapsed = time.time() - started
    assert code == 0 and "ExperimentTimeBudgetReached" in out
    assert elapsed < budget * 1.1 + 2.0
    trials = trial_rows(tmp_path / "exp")
    assert 1 <= len(trials) < 20 and all(t["state"] != "Running" for t in trials)
    deadline = started + budget + 0.5  # the runner's clock starts a little after ours
    for i, t in enumerate(trials):  # each start left room for a trial as long as the earlier ones
        earlier = [u["ended"] - u["started"] for u in trials[:i] if u["ended"] and u["ended"] <= t["started"]]
        if earlier:
            assert t["started"] + sum(earlier) / len(earlier) <= deadline
    if trials[-1]["state"] == "Succeeded":  # it ended before the deadline: nothing more fitted
        assert "too little for another trial" in err


def test_a_time_budget_may_replace_max_trial_count(tmp_path, cli):
    manifest = experiment_manifest(max_trials=None, parallel=1, parameters=ONE_PARAMETER,
                                   trial_args=("--sleep=0.5",))
    code, out, _ = cli("experiment", "run", write_manifest(tmp_path, manifest), "--dir", tmp_path / "exp",
                       "--time-budget", "6s")
    assert code == 0 and "ExperimentTimeBudgetReached" in out
    assert len(trial_rows(tmp_path / "exp")) >= 2


def test_a_bad_budget_is_one_error_line(tmp_path, cli):
    path = write_manifest(tmp_path, experiment_manifest())
    code, out, err = cli("experiment", "run", path, "--dir", tmp_path / "exp", "--time-budget", "soon")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and err.startswith("error: time budget 'soon' is not a duration")
    assert not (tmp_path / "exp").exists()


def test_a_final_model_gets_the_last_part_of_the_budget():
    budget = TimeBudget(180.0, started=1000.0)
    assert budget.final_reserve() == 27.0  # 15%
    assert budget.for_trials() == TimeBudget(153.0, started=1000.0)
    assert TimeBudget(30.0, 0.0).final_reserve() == 10.0  # at least 10 s
    assert TimeBudget(8.0, 0.0).final_reserve() == 4.0  # at most half
