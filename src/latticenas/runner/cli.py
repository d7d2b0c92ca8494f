"""``latticenas experiment run|status``: the local runner's commands.

* ``experiment run MANIFEST [--dir DIR] [--name NAME] [--max-trials N] [--parallel N]`` runs the
  Katib Experiment in MANIFEST (``--name`` picks one of several) in DIR (default
  ``experiments/<metadata.name>``). Running it again on the same DIR resumes; ``--resume --dir
  DIR`` does so without the manifest. ``--max-trials``/``--parallel`` override the budget for a
  quick local run and are remembered in DIR. ``--time-budget 10m`` bounds this run's wall-clock
  time (:mod:`latticenas.runner.timebudget`; not remembered). Exit 0 when the experiment succeeded, 1 when it
  failed (too many failed trials), 130 when interrupted.
* ``experiment status DIR`` prints the summary and leaderboard and rewrites the report files,
  at any time, also while a run is going; a directory it cannot write (read-only, full) is
  read all the same, with a warning that the files were not rewritten.

Bad input raises :class:`~latticenas.errors.LatticeNASError` (one ``error:`` line).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from latticenas.errors import storage_error
from latticenas.runner.warm import WORKER_KINDS


def register(subparsers) -> None:
    parser = subparsers.add_parser("experiment", help="run a Katib Experiment locally, or show its status")
    actions = parser.add_subparsers(dest="experiment_action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run (or resume) a Katib Experiment manifest on this machine")
    run.add_argument("manifest", nargs="?", help="Katib Experiment YAML (optional with --resume)")
    run.add_argument("--dir", type=Path, help="experiment directory (default experiments/<metadata.name>)")
    run.add_argument("--name", help="the Experiment to run when MANIFEST holds several")
    run.add_argument("--max-trials", type=_positive, help="override spec.maxTrialCount")
    run.add_argument("--parallel", type=_positive, help="override spec.parallelTrialCount")
    run.add_argument("--time-budget", metavar="DURATION",
                     help="wall-clock budget of this run, e.g. 90s, 10m, 1h: no trial starts that would "
                          "overrun it, running trials stop at the deadline and run again on the next run")
    run.add_argument("--resume", action="store_true", help="continue the experiment stored in --dir")
    add_workers_flag(run)
    run.set_defaults(func=run_command)
    status = actions.add_parser("status", help="summary and leaderboard of an experiment directory")
    status.add_argument("dir", type=Path, help="the experiment directory")
    status.set_defaults(func=status_command)


def add_workers_flag(parser) -> None:
    parser.add_argument("--workers", choices=WORKER_KINDS, default=WORKER_KINDS[0],
                        help="warm (default): run latticenas-trial trials in long-lived worker processes that "
                             "import TensorFlow once; process: a new process for every trial. Other trial "
                             "programs always run as processes")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def run_command(args) -> int:
    from latticenas.runner.session import run_experiment

    return run_experiment(args.manifest, args.dir, name=args.name, max_trials=args.max_trials,
                          parallel=args.parallel, resume=args.resume, time_budget=args.time_budget,
                          workers=args.workers)


def status_command(args) -> int:
    from latticenas.runner.state import is_locked
    from latticenas.runner.workspace import open_for_status

    workspace, store, experiment = open_for_status(args.dir)
    row = store.experiment()
    status = row["status"] + (f" ({row['reason']})" if row["reason"] else "")
    if row["status"] == "Running" and not is_locked(args.dir):
        status += " - no runner attached (it was stopped or killed); run again to resume"
    trials = store.trials()
    print(_report(workspace, experiment, trials, status))
    now = time.time()
    for trial in trials:
        if not trial.state.finished:
            elapsed = f"{now - trial.started:.0f}s" if trial.started else "not started"
            print(f"{trial.state.value}: {trial.name} ({elapsed})")
    store.close()
    return 0


def _report(workspace, experiment, trials, status: str) -> str:
    """The report text, rewriting the report files where the directory can be written (a
    read-only or full one still gets its status read)."""
    from latticenas.final import FINAL, load_final
    from latticenas.runner.report import leaderboard, render_table, summary_lines, write_report

    try:
        return write_report(workspace, experiment, trials, status)
    except OSError as exc:
        fault = storage_error(exc, workspace.directory)
        if fault is None:
            raise
        print(f"warning: the report files were not rewritten: {fault}", file=sys.stderr)
    final = load_final(workspace.directory / FINAL)
    summary = summary_lines(experiment, trials, status, workspace) + (final.lines() if final else [])
    return "\n".join([*summary, "", render_table(experiment, leaderboard(experiment, trials, final))])
