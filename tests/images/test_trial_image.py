"""The trial-cpu image, built with docker/build.sh and run as Katib runs a trial: the command of
the random Experiment's trial template on the bundled data, with a read-only root filesystem and
a writable /tmp, as the image's unprivileged user; its metric lines read by the Experiment's own
collector filters; a stop (SIGTERM to PID 1) reaching the trial's interrupted path."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest
from image_tools import IMAGE_TEST, REPO, run, writable_dir

from latticenas import artifacts as layout
from latticenas.runner.experiment import load_experiment
from latticenas.runner.process import MetricCollector, TrialCommand, build_command

pytestmark = IMAGE_TEST

EXPERIMENT = REPO / "manifests" / "base" / "experiment-random.yaml"
UID = "10001"
OUT = "/out"  # where the host directory is mounted
LOCKED_DOWN = ("--read-only", "--tmpfs", "/tmp")  # readOnlyRootFilesystem plus an emptyDir at /tmp
INTERRUPTED = "interrupted: the networks trained so far are in the output directory"


@pytest.fixture(scope="module")
def experiment():
    return load_experiment(EXPERIMENT)


def trial_command(experiment, *extra: str) -> TrialCommand:
    """The template's command for the smallest parameter values, output in the mounted dir, with
    ``extra`` flags after it (the last value of a flag wins)."""
    smallest = {p.name: p.choices[0] if p.choices else p.low for p in experiment.parameters}
    command = build_command(experiment, "image-test-0001", smallest, Path(OUT) / "trial")
    return TrialCommand((*command.argv, *extra), command.env)


def options(command: TrialCommand, out: Path) -> list[str]:
    env = [f"--env={name}={value}" for name, value in command.env.items()]
    return [*LOCKED_DOWN, "--volume", f"{writable_dir(out)}:{OUT}", *env]


def test_trial_image_runs_as_its_unprivileged_user(tools, trial_image):
    proc = run(tools, trial_image, ["python", "-c", "import os; print(os.getuid(), os.getgid())"],
               *LOCKED_DOWN, check=True)
    assert proc.stdout.split() == [UID, UID]
    inspect = subprocess.run([tools.run, "image", "inspect", "--format", "{{.Config.User}}", trial_image],
                             capture_output=True, text=True, check=True)
    assert inspect.stdout.strip() == f"{UID}:{UID}"


def test_trial_on_bundled_data_reports_metrics_and_writes_artifacts(tools, trial_image, experiment, tmp_path):
    command = trial_command(experiment, "--epochs=3", "--patience=2")
    proc = run(tools, trial_image, list(command.argv), *options(command, tmp_path))
    assert proc.returncode == 0, proc.stderr[-4000:]

    collector = MetricCollector(experiment.metric_filters, experiment.objective.metric_names)
    for line in proc.stdout.splitlines():
        collector.feed(line)
    values = collector.snapshot()
    assert set(experiment.objective.metric_names) <= set(values), (values, proc.stdout)

    trial = tmp_path / "trial"
    summary = json.loads((trial / layout.SUMMARY).read_text())
    assert summary["status"] == "succeeded"
    assert summary["metrics"][experiment.objective.metric] == pytest.approx(values[experiment.objective.metric][-1])
    assert json.loads((trial / layout.PARAMS).read_text())["data"] == "example:ames"
    for name in (layout.SPEC, layout.MODEL, layout.METRICS, layout.PREPROCESSING, layout.DIAGRAM):
        assert (trial / layout.BEST / name).stat().st_size > 0, name
    assert (trial / layout.VAL_PREDICTIONS).stat().st_size > 0
    # Nothing complained about the read-only root: no traceback, no font cache rebuilt at start.
    assert "Traceback" not in proc.stderr
    assert "matplotlib" not in proc.stderr.lower(), proc.stderr[-3000:]


def test_unwritable_output_dir_is_one_error_line_before_the_data_loads(tools, trial_image, experiment, tmp_path):
    command = trial_command(experiment, "--output-dir=/opt/venv/trial-out")  # the read-only root
    proc = run(tools, trial_image, list(command.argv), *options(command, tmp_path))
    assert proc.returncode == 2, proc.stderr[-4000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "/opt/venv/trial-out" in errors[0], proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""  # no metric line: nothing trained
    assert not (tmp_path / "trial").exists()


def test_stop_reaches_the_interrupted_path_within_the_grace_period(tools, trial_image, experiment, tmp_path):
    """``stop --time 5`` sends SIGTERM, then SIGKILL (exit 137) when the container is still up
    after 5 s; exit 130 and the interrupted line mean the trial itself stopped in time."""
    command = trial_command(experiment, "--epochs=500", "--patience=500")
    name = f"latticenas-image-test-{uuid.uuid4().hex[:8]}"
    stderr = tmp_path / "stderr.txt"
    with open(stderr, "w") as err:
        proc = subprocess.Popen([tools.run, "run", "--rm", "--name", name, *options(command, tmp_path / "o"),
                                 trial_image, *command.argv], stdout=subprocess.PIPE, stderr=err, text=True)
        try:
            collector = MetricCollector(experiment.metric_filters, experiment.objective.metric_names)
            for line in proc.stdout:  # training has started once the first epoch is reported
                if collector.feed(line):
                    break
            assert collector.snapshot(), "the trial reported no metric before it ended"
            subprocess.run([tools.run, "stop", "--time", "5", name], capture_output=True, timeout=120, check=True)
            proc.stdout.read()
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                subprocess.run([tools.run, "rm", "--force", name], capture_output=True, timeout=120)
                proc.kill()
    log = stderr.read_text()
    assert code == 130, f"exit {code} (137: killed after the grace period)\n{log[-3000:]}"
    assert INTERRUPTED in log
    assert "Traceback" not in log
