"""Run one trial program as a subprocess, the way Katib runs the trial's primary container.

Contract:

* :func:`build_command` substitutes ``${trialParameters.NAME}`` in each element of the primary
  container's ``command`` + ``args`` (and ``env`` values) separately; no shell is involved.
  A trial parameter's ``reference`` names a search parameter (its value formatted as Katib
  formats assignments) or trial metadata: ``${trialSpec.Name}`` (the local trial name),
  ``${trialSpec.Namespace}``, ``${trialSpec.Kind}``, ``${trialSpec.APIVersion}``,
  ``${trialSpec.Labels[key]}``, ``${trialSpec.Annotations[key]}``.
* The trial's ``--output-dir`` argument (``--output-dir=X`` or ``--output-dir X``) is
  redirected to ``<trial dir>/output``: on a cluster the manifest chooses the path, locally
  everything of an experiment stays in its directory. A command without one is left alone.
* :func:`check_command` refuses, before any trial runs, unknown references and a program
  that cannot be found.
* The first element is resolved beside the running interpreter first (a venv's ``bin`` that
  is not activated), then on ``PATH``; a path with a ``/`` is used as written.
* :func:`run_trial_process` runs the command in its own process group (working directory: the
  runner's), with ``LATTICENAS_TRIAL_NAME`` set, writes stdout+stderr to ``logs.txt`` and
  parses metric lines live with the Experiment's filters (Katib's StdOut collector). After each
  new objective value ``should_stop`` may ask to stop the trial (early stopping): the process
  group gets SIGTERM, then SIGKILL after a grace period.
* :func:`classify` maps the result to Katib's trial states: stopped -> EarlyStopped; exit 0 with
  the objective -> Succeeded; exit 0 without it -> MetricsUnavailable; otherwise Failed. Only
  Succeeded and EarlyStopped trials carry an objective value.
* :func:`kill_orphan` ends a trial process a killed runner left behind (identified by the
  ``LATTICENAS_RUN_ID`` of that attempt in its environment).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from latticenas.errors import LatticeNASError, ManifestError
from latticenas.metrics import parse_metric_lines
from latticenas.runner.experiment import Experiment, Objective, ParamValue
from latticenas.runner.trials import TrialState, reduce_metric

META_REFERENCE = re.compile(r"\$\{trialSpec\.(.+?)\}")
INDEXED_META = re.compile(r"(.+)\[(.+)]")
OUTPUT_DIR_FLAGS = ("--output-dir", "--output_dir")
TERMINATE_GRACE_S = 10.0


@dataclass(frozen=True)
class TrialCommand:
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Running:
    """A started trial, as the orchestrator sees it: the pid and run id the store records (to
    kill an orphan after a runner died) and how to stop it (gracefully, then kill after
    ``grace`` seconds)."""

    pid: int
    run_id: str
    stop: Callable[[float], None]


@dataclass(frozen=True)
class ProcessResult:
    exit_code: int
    metrics: Mapping[str, tuple[float, ...]]
    stopped: bool = False
    message: str = ""


# ------------------------------------------------------------------------- the command


def build_command(
    experiment: Experiment, trial_name: str, params: Mapping[str, ParamValue], output_dir: Path
) -> TrialCommand:
    values = placeholder_values(experiment, trial_name, params)
    template = experiment.template
    argv = tuple(substitute(part, values) for part in (*template.command, *template.args))
    env = {name: substitute(value, values) for name, value in template.env}
    env["LATTICENAS_TRIAL_NAME"] = trial_name
    return TrialCommand(redirect_output_dir(argv, output_dir), env)


def check_command(experiment: Experiment) -> None:
    """Refuse, before any trial runs, a template whose references or program cannot work."""
    sample = {p.name: p.choices[0] if p.choices else p.low for p in experiment.parameters}
    build_command(experiment, f"{experiment.name}-0000", sample, Path("output"))
    program = experiment.template.command[0]
    if "${" not in program and resolve_executable(program) is None:
        raise LatticeNASError(
            f"trial program {program!r} not found beside {sys.executable} or on PATH; "
            "install it (pip install latticenas) or fix the manifest's command"
        )


def placeholder_values(
    experiment: Experiment, trial_name: str, params: Mapping[str, ParamValue]
) -> dict[str, str]:
    """``trialParameters`` name -> the string that replaces ``${trialParameters.name}``."""
    values = {}
    for item in experiment.template.trial_parameters:
        meta = META_REFERENCE.fullmatch(item.reference)
        if meta:
            values[item.name] = _meta_value(experiment, trial_name, meta.group(1))
        elif item.reference in params:
            values[item.name] = experiment.parameter(item.reference).format(params[item.reference])
        else:
            raise ManifestError(
                f"spec.trialTemplate.trialParameters: {item.name!r} references "
                f"{item.reference!r}, which is neither a parameter nor trial metadata"
            )
    return values


def _meta_value(experiment: Experiment, trial_name: str, key: str) -> str:
    template = experiment.template
    indexed = INDEXED_META.fullmatch(key)
    if indexed:
        source = {"Labels": template.labels, "Annotations": template.annotations}.get(indexed.group(1))
        found = dict(source or ()).get(indexed.group(2))
        if found is not None:
            return found
    else:
        simple = {
            "Name": trial_name,
            "Namespace": experiment.namespace,
            "Kind": template.kind,
            "APIVersion": template.api_version,
        }
        if key in simple:
            return simple[key]
    raise ManifestError(f"spec.trialTemplate.trialParameters: illegal trial metadata reference ${{trialSpec.{key}}}")


def substitute(text: str, values: Mapping[str, str]) -> str:
    for name, value in values.items():
        text = text.replace(f"${{trialParameters.{name}}}", value)
    return text


def redirect_output_dir(argv: Sequence[str], output_dir: Path) -> tuple[str, ...]:
    out = list(argv)
    for i, part in enumerate(out):
        for flag in OUTPUT_DIR_FLAGS:
            if part.startswith(flag + "="):
                out[i] = f"{flag}={output_dir}"
            elif part == flag and i + 1 < len(out):
                out[i + 1] = str(output_dir)
    return tuple(out)


def resolve_executable(name: str) -> str | None:
    """The program to run: beside ``sys.executable`` first, then on PATH; paths as written."""
    if os.sep in name or (os.altsep and os.altsep in name):
        return name if Path(name).exists() else None
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


# ------------------------------------------------------------------------- running


class MetricCollector:
    """Katib's StdOut collector: keeps the values of the experiment's metrics, in order."""

    def __init__(self, filters: Sequence[str], names: Sequence[str]) -> None:
        self.filters = tuple(filters)
        self.names = set(names)
        self.values: dict[str, list[float]] = {}

    def feed(self, line: str) -> set[str]:
        """Parse one line; return the names that got a new value."""
        seen = set()
        for metric_filter in self.filters:
            for name, values in parse_metric_lines(line, metric_filter).items():
                if name in self.names:
                    self.values.setdefault(name, []).extend(values)
                    seen.add(name)
        return seen

    def snapshot(self) -> dict[str, tuple[float, ...]]:
        return {name: tuple(values) for name, values in self.values.items()}


def run_trial_process(
    command: TrialCommand,
    log_path: Path,
    collector: MetricCollector,
    objective_metric: str,
    should_stop: Callable[[Sequence[float]], bool] = lambda values: False,
    on_start: Callable[[Running], None] = lambda running: None,
) -> ProcessResult:
    """Run the trial to the end (or until ``should_stop``); stdout+stderr go to ``log_path``."""
    executable = resolve_executable(command.argv[0])
    with open(log_path, "w", encoding="utf-8") as log:
        if executable is None:
            message = f"trial program {command.argv[0]!r} not found (beside {sys.executable} or on PATH)"
            log.write(message + "\n")
            return ProcessResult(127, {}, message=message)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **command.env}
        proc = subprocess.Popen(
            [executable, *command.argv[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        on_start(Running(proc.pid, command.env.get("LATTICENAS_RUN_ID", ""), lambda grace: terminate(proc, grace)))
        stopped = stream_output(proc.stdout, log, collector, objective_metric, should_stop, lambda: terminate(proc))
        exit_code = proc.wait()
    return ProcessResult(exit_code, collector.snapshot(), stopped=stopped)


def stream_output(lines, log, collector, objective_metric, should_stop, stop: Callable[[], None]) -> bool:
    """Copy the trial's output lines (bytes) to ``log`` as they come, feed them to the
    collector, and call ``stop`` once if ``should_stop`` says so; return whether it did."""
    stopped = False
    for raw in lines:
        line = raw.decode("utf-8", errors="replace")
        log.write(line)
        log.flush()
        if objective_metric in collector.feed(line) and not stopped:
            if should_stop(collector.values[objective_metric]):
                stopped = True
                stop()
    return stopped


def terminate(proc: subprocess.Popen, grace: float = TERMINATE_GRACE_S) -> None:
    """SIGTERM to the trial's process group, SIGKILL if it is still alive after ``grace``."""
    _signal_group(proc.pid, signal.SIGTERM)

    def kill_if_alive() -> None:
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGKILL)

    timer = threading.Timer(grace, kill_if_alive)
    timer.daemon = True
    timer.start()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def kill_orphan(pid: int, run_id: str) -> bool:
    """Kill the process group of a trial left running by a runner that died (``kill -9``).

    Only a process whose environment carries ``LATTICENAS_RUN_ID=<run_id>`` is touched, so a
    reused pid is never killed by mistake (Linux ``/proc``; elsewhere this does nothing).
    """
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    if f"LATTICENAS_RUN_ID={run_id}".encode() not in environ:
        return False
    _signal_group(pid, signal.SIGKILL)
    return True


def classify(result: ProcessResult, objective: Objective) -> tuple[TrialState, float | None]:
    """Katib's trial state and objective value for a finished process."""
    values = result.metrics.get(objective.metric, ())
    value = reduce_metric(values, objective.strategy(objective.metric))
    if result.stopped:
        return TrialState.EARLY_STOPPED, value
    if result.exit_code != 0:
        return TrialState.FAILED, None
    if value is None:
        return TrialState.METRICS_UNAVAILABLE, None
    return TrialState.SUCCEEDED, value
