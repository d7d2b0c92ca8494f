"""``latticenas experiment run|status``: the local runner's commands.

* ``experiment run MANIFEST [--dir DIR] [--name NAME] [--max-trials N] [--parallel N]`` runs the
  Katib Experiment in MANIFEST (``--name`` picks one of several) in DIR (default
  ``experiments/<metadata.name>``). Running it again on the same DIR resumes; ``--resume --dir
  DIR`` does so without the manifest. ``--max-trials``/``--parallel`` override the budget for a
  quick local run and are remembered in DIR. Exit 0 when the experiment succeeded, 1 when it
  failed (too many failed trials), 130 when interrupted.
* ``experiment status DIR`` prints the summary and leaderboard and rewrites the report files,
  at any time, also while a run is going.

Bad input raises :class:`~latticenas.errors.LatticeNASError` (one ``error:`` line).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from pathlib import Path

from latticenas.errors import LatticeNASError

FINITE_ALGORITHMS = ("grid", "hyperband")


def register(subparsers) -> None:
    parser = subparsers.add_parser("experiment", help="run a Katib Experiment locally, or show its status")
    actions = parser.add_subparsers(dest="experiment_action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run (or resume) a Katib Experiment manifest on this machine")
    run.add_argument("manifest", nargs="?", help="Katib Experiment YAML (optional with --resume)")
    run.add_argument("--dir", type=Path, help="experiment directory (default experiments/<metadata.name>)")
    run.add_argument("--name", help="the Experiment to run when MANIFEST holds several")
    run.add_argument("--max-trials", type=_positive, help="override spec.maxTrialCount")
    run.add_argument("--parallel", type=_positive, help="override spec.parallelTrialCount")
    run.add_argument("--resume", action="store_true", help="continue the experiment stored in --dir")
    run.set_defaults(func=run_command)
    status = actions.add_parser("status", help="summary and leaderboard of an experiment directory")
    status.add_argument("dir", type=Path, help="the experiment directory")
    status.set_defaults(func=status_command)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def run_command(args) -> int:
    from latticenas.runner.experiment import load_experiment
    from latticenas.runner.state import run_lock

    if args.manifest is None and not args.resume:
        raise LatticeNASError("pass a MANIFEST, or --resume --dir DIR to continue a stored experiment")
    if args.resume and args.dir is None:
        raise LatticeNASError("--resume needs --dir DIR (the experiment directory to continue)")
    experiment = load_experiment(args.manifest, args.name) if args.manifest else None
    directory = args.dir or Path("experiments") / experiment.name
    if experiment is None and not (directory / "experiment.db").is_file():
        raise LatticeNASError(f"{directory}: no experiment to resume here; pass a MANIFEST")
    directory.mkdir(parents=True, exist_ok=True)
    with run_lock(directory), _sigterm_as_interrupt():
        return _run(experiment, directory, args)


def _run(experiment, directory: Path, args) -> int:
    from latticenas.runner.orchestrator import ExperimentStatus
    from latticenas.runner.report import write_report
    from latticenas.runner.workspace import open_for_run

    workspace, store, experiment = open_for_run(experiment, directory, args.max_trials, args.parallel)
    try:
        done = _execute(experiment, workspace, store)
        print(write_report(workspace, experiment, store.trials(), f"{done.status.value} ({done.reason})"))
    finally:
        store.close()
    return 0 if done.status is ExperimentStatus.SUCCEEDED else 1


def _execute(experiment, workspace, store):
    """Check what can be checked before a trial runs, then drive the trials to completion."""
    from latticenas.runner.algorithms import create_engine
    from latticenas.runner.earlystop import create_early_stopping
    from latticenas.runner.orchestrator import Orchestrator
    from latticenas.runner.process import check_command
    from latticenas.runner.progress import Progress
    from latticenas.runner.report import leaderboard, write_leaderboard

    engine = create_engine(experiment)
    early_stopping = create_early_stopping(experiment.early_stopping, experiment.objective)
    _check_budget(experiment)
    check_command(experiment)
    for warning in engine.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    trials = store.trials()
    print(_banner(experiment, workspace.directory, trials), file=sys.stderr)
    progress = Progress(experiment, experiment.budget.max_trials, sum(t.state.finished for t in trials))
    orchestrator = Orchestrator(
        experiment, workspace, store, engine, early_stopping, progress,
        on_finished=lambda trials: write_leaderboard(workspace, experiment, leaderboard(experiment, trials)),
    )
    try:
        return orchestrator.run()
    except KeyboardInterrupt:
        hint = f"latticenas experiment run --resume --dir {workspace.directory}"
        print(f"\ninterrupted: resume with `{hint}`", file=sys.stderr)
        raise
    finally:
        progress.close()


def _check_budget(experiment) -> None:
    if experiment.budget.max_trials is None and experiment.algorithm.name not in FINITE_ALGORITHMS:
        raise LatticeNASError(
            "spec.maxTrialCount is not set, so the search would never end; set it or pass --max-trials N"
        )


def _banner(experiment, directory: Path, trials) -> str:
    budget = experiment.budget
    limit = f"up to {budget.max_trials} trials" if budget.max_trials else "until the search space is done"
    resumed = f", resuming after {sum(t.state.finished for t in trials)} finished trial(s)" if trials else ""
    return (
        f"experiment {experiment.name}: {experiment.algorithm.name}, {limit}, "
        f"{budget.parallel} in parallel, in {directory}{resumed}"
    )


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM stops a run like Ctrl-C does: trials are terminated and left to resume."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def status_command(args) -> int:
    from latticenas.runner.report import write_report
    from latticenas.runner.state import is_locked
    from latticenas.runner.workspace import open_for_status

    workspace, store, experiment = open_for_status(args.dir)
    row = store.experiment()
    status = row["status"] + (f" ({row['reason']})" if row["reason"] else "")
    if row["status"] == "Running" and not is_locked(args.dir):
        status += " - no runner attached (it was killed); run again to resume"
    trials = store.trials()
    print(write_report(workspace, experiment, trials, status))
    now = time.time()
    for trial in trials:
        if not trial.state.finished:
            elapsed = f"{now - trial.started:.0f}s" if trial.started else "not started"
            print(f"{trial.state.value}: {trial.name} ({elapsed})")
    store.close()
    return 0
