"""One trial as a real subprocess: the command Katib would run, metrics, states, stopping;
and the medianstop rule."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_helpers import FAKE_TRIAL, experiment_manifest

from latticenas.errors import ManifestError
from latticenas.runner.earlystop import MedianStop, create_early_stopping
from latticenas.runner.experiment import parse_experiment
from latticenas.runner.process import (
    MetricCollector,
    TrialCommand,
    build_command,
    classify,
    kill_orphan,
    redirect_output_dir,
    resolve_executable,
    run_trial_process,
)
from latticenas.runner.trials import TrialRecord, TrialState
from latticenas.runner.warm import HOSTS_ENV, WarmPool


def quad_command(*args: str) -> TrialCommand:
    return TrialCommand((sys.executable, str(FAKE_TRIAL), *args), {"LATTICENAS_TRIAL_NAME": "t-1"})


def run(launch, tmp_path, *args, should_stop=lambda values: False):
    experiment = parse_experiment(experiment_manifest())
    collector = MetricCollector(experiment.metric_filters, experiment.objective.metric_names)
    result = launch(quad_command(*args), tmp_path / "logs.txt", collector, "loss", should_stop)
    return result, classify(result, experiment.objective)


def test_command_substitutes_each_element_and_redirects_the_output_dir(tmp_path):
    manifest = experiment_manifest(trial_args=("--note=${trialParameters.kind} and spaces",))
    manifest["spec"]["trialTemplate"]["trialParameters"].append(
        {"name": "kind", "reference": "${trialSpec.Labels[team]}", "description": "label"}
    )
    manifest["spec"]["trialTemplate"]["trialSpec"]["metadata"] = {"labels": {"team": "nas"}}
    experiment = parse_experiment(manifest)
    command = build_command(experiment, "quad-0007", {"x": 0.25, "y": 3, "opt": "b"}, tmp_path / "out")
    assert command.argv[2:] == (
        "--x=0.25",
        "--y=3",
        "--opt=b",
        "--trial-name=quad-0007",
        f"--output-dir={tmp_path / 'out'}",
        "--note=nas and spaces",
    )
    assert command.env["LATTICENAS_TRIAL_NAME"] == "quad-0007"


def test_output_dir_forms_and_absence():
    target = Path("/exp/trials/t/output")
    assert redirect_output_dir(("p", "--output-dir", "gs://b/x"), target) == ("p", "--output-dir", str(target))
    assert redirect_output_dir(("p", "--other=1"), target) == ("p", "--other=1")


def test_unknown_trial_parameter_reference_is_refused(tmp_path):
    manifest = experiment_manifest()
    manifest["spec"]["trialTemplate"]["trialParameters"][0]["reference"] = "nope"
    with pytest.raises(ManifestError, match="nope"):
        build_command(parse_experiment(manifest), "t", {"x": 0.1, "y": 1, "opt": "a"}, tmp_path)


def test_the_program_is_found_beside_the_interpreter_first(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    assert resolve_executable(Path(sys.executable).name) == str(Path(sys.executable).parent / Path(sys.executable).name)
    assert resolve_executable("surely-not-a-program") is None


def test_a_good_trial_succeeds_with_every_step_recorded(launch, tmp_path):
    result, (state, value) = run(launch, tmp_path, "--x=0.3", "--steps=3")
    assert state is TrialState.SUCCEEDED and result.exit_code == 0
    assert len(result.metrics["loss"]) == 3 and value == pytest.approx(0.0)  # min strategy
    assert "accuracy" in result.metrics
    assert "loss=" in (tmp_path / "logs.txt").read_text()
    assert "trial t-1 starts" in (tmp_path / "logs.txt").read_text()  # stderr too


def test_a_crashing_trial_fails(launch, tmp_path):
    result, (state, value) = run(launch, tmp_path, "--x=0.9", "--fail-above=0.5")
    assert result.exit_code == 3 and state is TrialState.FAILED and value is None


def test_a_silent_trial_has_metrics_unavailable(launch, tmp_path):
    _, (state, value) = run(launch, tmp_path, "--x=0.9", "--silent-above=0.5")
    assert state is TrialState.METRICS_UNAVAILABLE and value is None


def test_a_missing_program_fails_with_a_message(tmp_path):
    experiment = parse_experiment(experiment_manifest())
    collector = MetricCollector(experiment.metric_filters, ["loss"])
    result = run_trial_process(TrialCommand(("no-such-trial-program",)), tmp_path / "logs.txt", collector, "loss")
    assert result.exit_code == 127 and "not found" in result.message
    assert classify(result, experiment.objective)[0] is TrialState.FAILED


def test_stopping_kills_the_process_and_marks_it_early_stopped(launch, tmp_path):
    started = time.monotonic()
    result, (state, value) = run(
        launch, tmp_path, "--x=0.3", "--steps=50", "--sleep=0.1", should_stop=lambda values: len(values) >= 2
    )
    assert state is TrialState.EARLY_STOPPED and result.stopped
    assert time.monotonic() - started < 4  # not the 5 s the trial would take
    assert 2 <= len(result.metrics["loss"]) < 50 and value == min(result.metrics["loss"])


def finished(index: int, values: list[float], state=TrialState.SUCCEEDED) -> TrialRecord:
    return TrialRecord(index, f"t{index}", {}, state, {"loss": tuple(values)}, min(values))


def test_medianstop_threshold_is_katibs_mean_of_first_step_averages():
    objective = parse_experiment(experiment_manifest()).objective
    rule_maker = MedianStop(objective, min_trials_required=2, start_step=2)
    history = [finished(1, [4.0, 2.0, 0.1]), finished(2, [2.0, 2.0])]
    assert rule_maker.rule(history[:1]) is None
    history.append(finished(3, [100.0, 100.0], TrialState.EARLY_STOPPED))  # not succeeded: ignored
    rule = rule_maker.rule(history)
    assert rule.threshold == pytest.approx((3.0 + 2.0) / 2) and rule.start_step == 2
    assert not rule.should_stop([9.0])  # before start_step
    assert rule.should_stop([9.0, 3.0])  # best so far 3.0 > 2.5
    assert not rule.should_stop([9.0, 2.0])


def test_medianstop_settings_defaults_and_refusals():
    objective = parse_experiment(experiment_manifest()).objective
    rule = create_early_stopping(parse_experiment(experiment_manifest(early_stopping={})).early_stopping, objective)
    assert (rule.min_trials_required, rule.start_step) == (3, 4)
    spec = parse_experiment(experiment_manifest(early_stopping={"start_step": 0})).early_stopping
    with pytest.raises(ManifestError, match="start_step"):
        create_early_stopping(spec, objective)


def test_environment_reaches_the_trial(tmp_path, worker_kind, monkeypatch):
    script = tmp_path / "env.py"
    script.write_text("import os; print('seen=' + ('1' if os.environ['LATTICENAS_TRIAL_NAME'] == 'abc' else '0'))")
    if worker_kind == "warm":
        monkeypatch.setenv(HOSTS_ENV, str(script))
    collector = MetricCollector([r"(\w+)=(\d+)"], ["seen"])
    command = TrialCommand((sys.executable, str(script)), {"LATTICENAS_TRIAL_NAME": "abc"})
    with WarmPool() as pool:
        launch = pool.run_trial if worker_kind == "warm" else run_trial_process
        result = launch(command, tmp_path / "log.txt", collector, "seen")
    assert result.metrics == {"seen": (1.0,)}
    assert os.environ.get("LATTICENAS_TRIAL_NAME") != "abc"


def test_kill_orphan_only_kills_the_process_of_that_attempt():
    env = {**os.environ, "LATTICENAS_RUN_ID": "attempt-1"}
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], env=env, start_new_session=True)
    try:
        time.sleep(0.2)  # let it exec, so /proc shows its environment
        assert not kill_orphan(proc.pid, "attempt-2") and proc.poll() is None
        assert kill_orphan(proc.pid, "attempt-1")
        assert proc.wait(timeout=5) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
