"""``latticenas experiment run|status`` end to end, with real trial programs: every test runs
once with process trials and once with warm workers (the ``worker_kind`` fixture)."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from runner_helpers import experiment_manifest, experiment_row, trial_rows, write_manifest

from latticenas.runner.experiment import parse_experiment
from latticenas.runner.orchestrator import ExperimentStatus, completion
from latticenas.runner.trials import TrialRecord, TrialState

pytestmark = pytest.mark.usefixtures("worker_kind")


def test_parallel_trials_overlap(tmp_path, cli):
    manifest = experiment_manifest(max_trials=3, parallel=3, trial_args=("--sleep=1.2",))
    code, _, _ = cli("experiment", "run", write_manifest(tmp_path, manifest), "--dir", tmp_path / "exp")
    assert code == 0
    times = [json.loads(p.read_text()) for p in sorted((tmp_path / "exp" / "trials").glob("*/output/times.json"))]
    assert len(times) == 3
    assert max(t["start"] for t in times) < min(t["end"] for t in times)  # all three ran at once


def test_failures_reaching_max_failed_trial_count_fail_the_experiment(tmp_path, cli):
    manifest = experiment_manifest(max_trials=10, max_failed=2, trial_args=("--fail-above=-1",))
    code, out, err = cli("experiment", "run", write_manifest(tmp_path, manifest), "--dir", tmp_path / "exp")
    assert code == 1
    rows = trial_rows(tmp_path / "exp")
    assert [r["state"] for r in rows] == ["Failed", "Failed"]
    assert all(r["exit_code"] == 3 for r in rows)
    assert experiment_row(tmp_path / "exp")["status"] == "Failed"
    assert "Failed" in out and err.count("Failed") >= 2  # one line per finished trial


def test_reaching_the_goal_stops_early(tmp_path, cli):
    manifest = experiment_manifest(max_trials=10, goal=0.6, parameters=[
        {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.0", "max": "1.0"}},
    ])
    code, out, _ = cli("experiment", "run", write_manifest(tmp_path, manifest), "--dir", tmp_path / "exp")
    assert code == 0 and "ExperimentGoalReached" in out
    assert len(trial_rows(tmp_path / "exp")) == 1  # (x - 0.3)^2 <= 0.49 < 0.6 at once


def test_silent_trials_are_metrics_unavailable_and_count_as_failures(tmp_path, cli):
    manifest = experiment_manifest(max_trials=5, max_failed=3, parallel=2, trial_args=("--silent-above=-1",))
    code, _, _ = cli("experiment", "run", write_manifest(tmp_path, manifest), "--dir", tmp_path / "exp")
    rows = trial_rows(tmp_path / "exp")
    assert code == 1 and 3 <= len(rows) <= 4  # parallel 2: a 4th may be running when the 3rd fails
    assert {r["state"] for r in rows} == {"MetricsUnavailable"} and all(r["objective"] is None for r in rows)


def test_medianstop_stops_a_bad_trial_while_it_runs(tmp_path, cli):
    manifest = experiment_manifest(
        max_trials=4,
        early_stopping={"min_trials_required": 2, "start_step": 2},
        trial_args=("--steps=8", "--sleep=0.08", "--bad-from=3"),  # trials 3 and 4 are bad
    )
    code, _, _ = cli("experiment", "run", write_manifest(tmp_path, manifest), "--dir", tmp_path / "exp")
    assert code == 0
    rows = trial_rows(tmp_path / "exp")
    assert [r["state"] for r in rows] == ["Succeeded", "Succeeded", "EarlyStopped", "EarlyStopped"]
    for row in rows[2:]:
        losses = json.loads(row["metrics"])["loss"]
        assert 2 <= len(losses) < 8 and row["objective"] == min(losses) > 10


def test_grid_runs_every_point_then_succeeds(tmp_path, cli):
    parameters = [
        {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.3", "step": "0.1"}},
        {"name": "opt", "parameterType": "categorical", "feasibleSpace": {"list": ["a", "b"]}},
    ]
    manifest = experiment_manifest(algorithm="grid", parameters=parameters, max_trials=None, parallel=3)
    code, out, _ = cli("experiment", "run", write_manifest(tmp_path, manifest), "--dir", tmp_path / "exp")
    assert code == 0 and "ExperimentSuggestionEndReached" in out
    points = {(json.loads(r["params"])["x"], json.loads(r["params"])["opt"]) for r in trial_rows(tmp_path / "exp")}
    assert points == {(x, o) for x in (0.1, 0.2, 0.3) for o in "ab"}


def test_reports_leaderboard_plots_best_model_and_status(tmp_path, cli):
    manifest = experiment_manifest(max_trials=4, parallel=2, settings={"random_state": 5})
    directory = tmp_path / "exp"
    code, out, _ = cli("experiment", "run", write_manifest(tmp_path, manifest), "--dir", directory)
    assert code == 0
    with open(directory / "leaderboard.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [r["rank"] for r in table] == ["1", "2", "3", "4"]
    losses = [float(r["loss"]) for r in table]
    assert losses == sorted(losses)
    assert set(table[0]) >= {"trial", "state", "loss", "accuracy", "x", "y", "opt"}
    board = json.loads((directory / "leaderboard.json").read_text())
    assert board["objective"] == {"metric": "loss", "type": "minimize"}
    assert board["trials"][0]["trial"] == table[0]["trial"] and board["trials"][0]["objective"] == losses[0]
    assert (directory / "progress.png").read_bytes()[:4] == b"\x89PNG"
    page = (directory / "report.html").read_text()
    assert "data:image/svg+xml;base64," in page and table[0]["trial"] in page
    best = json.loads((directory / "best" / "trial.json").read_text())
    assert best["trial"] == table[0]["trial"]
    assert (directory / "best" / "model.keras").is_file() and (directory / "best" / "spec.json").is_file()
    assert f"best model: {directory / 'best' / 'model.keras'}" in out
    code, status, _ = cli("experiment", "status", directory)
    assert code == 0
    assert "Succeeded (ExperimentMaxTrialsReached)" in status and table[0]["trial"] in status
    assert status.index(table[0]["trial"]) < status.index(table[-1]["trial"])


def test_bad_input_is_one_error_line(tmp_path, cli):
    code, _, err = cli("experiment", "run", tmp_path / "missing.yaml")
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1
    (tmp_path / "pod.yaml").write_text("kind: Pod\n")
    code, _, err = cli("experiment", "run", tmp_path / "pod.yaml")
    assert code == 2 and "Experiment" in err
    code, _, err = cli("experiment", "status", tmp_path)
    assert code == 2 and "no experiment" in err


def test_a_directory_keeps_its_experiment(tmp_path, cli):
    directory = tmp_path / "exp"
    assert cli("experiment", "run", write_manifest(tmp_path, experiment_manifest(max_trials=1)), "--dir", directory)[0] == 0
    other = experiment_manifest(max_trials=1, trial_args=("--steps=2",))
    code, _, err = cli("experiment", "run", write_manifest(tmp_path, other, "other.yaml"), "--dir", directory)
    assert code == 2 and "different experiment" in err
    code, out, _ = cli("experiment", "run", "--resume", "--dir", directory, "--max-trials", "2")
    assert code == 0 and len(trial_rows(directory)) == 2  # Katib-style restart with a bigger budget


def test_completion_follows_katibs_rules():
    experiment = parse_experiment(experiment_manifest(max_trials=3, max_failed=2, goal=0.1))
    def trial(i, state, objective=None):
        return TrialRecord(i, f"t{i}", {}, state, objective=objective)
    assert completion(experiment, [trial(1, TrialState.RUNNING)], False) is None
    failed = [trial(1, TrialState.FAILED), trial(2, TrialState.METRICS_UNAVAILABLE)]
    assert completion(experiment, failed, False).status is ExperimentStatus.FAILED
    done = [trial(1, TrialState.SUCCEEDED, 0.5), trial(2, TrialState.EARLY_STOPPED, 0.4), trial(3, TrialState.FAILED)]
    assert completion(experiment, done, False).reason == "ExperimentMaxTrialsReached"
    assert completion(experiment, [trial(1, TrialState.SUCCEEDED, 0.1)], False).reason == "ExperimentGoalReached"
    assert completion(experiment, [trial(1, TrialState.SUCCEEDED, 0.5)], True).reason == "ExperimentSuggestionEndReached"
    assert completion(experiment, [trial(1, TrialState.SUCCEEDED, 0.5), trial(2, TrialState.RUNNING)], True) is None


# ---------------------------------------------------------------------------- resume

RUNNER = ["-c", "import sys; from latticenas.cli import main; sys.exit(main())", "experiment", "run"]


def start_runner(manifest_path, directory) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *RUNNER, str(manifest_path), "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(directory, predicate, timeout=60.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (directory / "experiment.db").is_file():
            try:
                rows = trial_rows(directory)
            except sqlite3.OperationalError:  # schema not created yet
                rows = []
            if predicate(rows):
                return rows
        time.sleep(0.05)
    raise AssertionError("the runner did not get there in time")


def alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_resume_after_kill_9_keeps_finished_trials_and_counts_none_twice(tmp_path, cli):
    manifest = experiment_manifest(max_trials=6, parallel=2, settings={"random_state": 11}, trial_args=("--sleep=0.7",))
    path, directory = write_manifest(tmp_path, manifest), tmp_path / "exp"
    runner = start_runner(path, directory)
    wait_for(
        directory,
        lambda rows: sum(r["state"] == "Succeeded" for r in rows) >= 2 and any(r["state"] == "Running" for r in rows),
    )
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    before = trial_rows(directory)
    finished = {r["name"]: r for r in before if r["state"] == "Succeeded"}
    interrupted = [r for r in before if r["state"] in ("Created", "Running")]
    orphans = [r["pid"] for r in interrupted if r["pid"]]
    assert len(finished) >= 2 and orphans

    code, out, err = cli("experiment", "run", path, "--dir", directory)
    assert code == 0 and "resuming" in err
    after = {r["name"]: r for r in trial_rows(directory)}
    assert sorted(after) == [f"quad-{i:04d}" for i in range(1, 7)]  # exactly maxTrialCount, no duplicates
    assert all(r["state"] == "Succeeded" for r in after.values())
    for name, row in finished.items():  # finished trials untouched
        assert {k: after[name][k] for k in ("params", "objective", "ended", "attempts")} == {
            k: row[k] for k in ("params", "objective", "ended", "attempts")
        }
    for row in interrupted:  # run again under the same name, with the same parameters
        assert after[row["name"]]["params"] == row["params"] and after[row["name"]]["attempts"] == row["attempts"] + 1
    assert len({r["params"] for r in after.values()}) == 6  # the search went on, it did not replay
    assert not any(alive(pid) for pid in orphans)  # the killed runner's trials did not run on


def test_ctrl_c_leaves_running_trials_to_resume(tmp_path, cli):
    manifest = experiment_manifest(max_trials=2, parallel=2, trial_args=("--sleep=30",))
    path, directory = write_manifest(tmp_path, manifest), tmp_path / "exp"
    runner = start_runner(path, directory)
    wait_for(directory, lambda rows: len(rows) == 2 and all(r["state"] == "Running" for r in rows))
    runner.send_signal(signal.SIGINT)
    assert runner.wait(timeout=30) == 130
    assert [r["state"] for r in trial_rows(directory)] == ["Running", "Running"]
    assert experiment_row(directory)["status"] == "Interrupted"
    code, out, _ = cli("experiment", "status", directory)
    assert code == 0 and "Interrupted" in out and "Running: quad-0001" in out


def test_a_missing_trial_program_is_refused_before_any_trial(tmp_path, cli):
    manifest = experiment_manifest()
    container = manifest["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"]["containers"][0]
    container["command"][0] = "no-such-latticenas-trial"
    code, _, err = cli("experiment", "run", write_manifest(tmp_path, manifest), "--dir", tmp_path / "exp")
    assert code == 2 and "'no-such-latticenas-trial' not found" in err
    assert trial_rows(tmp_path / "exp") == []
    fixed = experiment_manifest(max_trials=1)  # the same directory takes the fixed manifest
    assert cli("experiment", "run", write_manifest(tmp_path, fixed), "--dir", tmp_path / "exp")[0] == 0


HYPERBAND_PARAMETERS = [
    {"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0.0", "max": "1.0"}},
    {"name": "level", "parameterType": "int", "feasibleSpace": {"min": "1", "max": "3"}},
]
HYPERBAND_SETTINGS = {"r_l": 3, "eta": 3, "resource_name": "level"}


def test_hyperband_runs_its_brackets_through_the_runner(tmp_path, cli):
    # Katib's controller accepts a promotion only when it asks for exactly one trial, i.e. with one
    # trial of maxTrialCount left (katib.rules.hyperband): parallel 3 -> maxTrialCount 4
    manifest = experiment_manifest(algorithm="hyperband", settings=HYPERBAND_SETTINGS,
                                   parameters=HYPERBAND_PARAMETERS, max_trials=4, parallel=3)
    code, out, _ = cli("experiment", "run", write_manifest(tmp_path, manifest), "--dir", tmp_path / "exp")
    assert code == 0 and "ExperimentMaxTrialsReached" in out
    rows = trial_rows(tmp_path / "exp")
    levels = [json.loads(r["params"])["level"] for r in rows]
    assert levels == [1, 1, 1, 3]  # bracket 1: 3 at level 1 -> the best one promoted to level 3
    first_rung = sorted(rows[:3], key=lambda r: r["objective"])
    assert json.loads(rows[3]["params"])["x"] == json.loads(first_rung[0]["params"])["x"]


def test_a_hyperband_reply_katib_would_reject_is_named_and_ends_the_run(tmp_path, cli):
    # after rung 0 the controller asks for min(3, 9 - 3) = 3 and the service promotes 1
    manifest = experiment_manifest(algorithm="hyperband", settings=HYPERBAND_SETTINGS,
                                   parameters=HYPERBAND_PARAMETERS, max_trials=9, parallel=3)
    code, out, err = cli("experiment", "run", write_manifest(tmp_path, manifest), "--dir", tmp_path / "exp")
    assert code == 0 and len(trial_rows(tmp_path / "exp")) == 3
    stalled = [line for line in err.splitlines() if line.startswith("warning: the suggestion stalled")]
    assert len(stalled) == 1, err
    # the controller asks for min(3, 9 - 3) = 3 when the rung's trials end together, for 2 when one
    # still runs at that reconcile (trials of parallel workers end a little apart): Katib rejects both
    assert re.search(r"answers 1 assignment\(s\) to the controller's request for [23]\b", stalled[0]), stalled[0]
    assert "controller rejects the reply" in stalled[0] and "would stay Running" in stalled[0]


def test_an_objective_the_trials_never_print_is_named_once(tmp_path, cli):
    manifest = experiment_manifest(max_trials=2, max_failed=2)
    manifest["spec"]["objective"]["objectiveMetricName"] = "val-loss"  # the fake trial prints "loss"
    manifest["spec"]["objective"]["additionalMetricNames"] = []
    code, out, err = cli("experiment", "run", write_manifest(tmp_path, manifest), "--dir", tmp_path / "exp")
    assert [r["state"] for r in trial_rows(tmp_path / "exp")] == ["MetricsUnavailable"] * 2
    warnings = [line for line in err.splitlines() if line.startswith("warning:") and "val-loss" in line]
    assert len(warnings) == 1 and "it printed: " in warnings[0] and "loss" in warnings[0].split("it printed: ")[1]
