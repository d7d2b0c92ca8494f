"""Run (or resume) a Katib Experiment on this machine: the local runner's one entry point.

:func:`run_experiment` is what ``latticenas experiment run`` and the pipeline's local search
backend call. It loads and checks the manifest, opens (or resumes) the experiment directory
under a lock, drives the trials to completion, writes the report and returns an exit code:
0 when the experiment succeeded, 1 when it failed. Bad input raises
:class:`~latticenas.errors.LatticeNASError`; Ctrl-C / SIGTERM raise ``KeyboardInterrupt``
after leaving the running trials to resume.

MANIFEST is a YAML path or an Experiment already in memory (a mapping, as ``latticenas
search`` builds it); either is checked by the project's Katib validator. ``time_budget``
(``"10m"``, seconds, or a started :class:`~latticenas.runner.timebudget.TimeBudget`) bounds
this run's wall-clock time by the rule of :mod:`latticenas.runner.timebudget`.

Error boundary: a directory that cannot be used (a file, read-only) is refused before anything
starts; a file-system fault during the run (a full disk) raises
:class:`~latticenas.errors.StorageError` and leaves the stored trials as they were, to resume.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from latticenas.errors import LatticeNASError
from latticenas.fileio import check_directory, storage_faults
from latticenas.runner.timebudget import format_seconds

FINITE_ALGORITHMS = ("grid", "hyperband")
STOPPING_S = 30.0  # repeated interrupts this soon after the first one wait for the stop to finish
#: imported while the manifest is checked and the first trials run (Katib's random and tpe
#: suggest with hyperopt; the report plots with matplotlib)
BACKGROUND_IMPORTS = ("hyperopt", "matplotlib.pyplot")
#: imported once the first trial has started, while the runner waits on trials: the report's
#: parameter importance (optuna's fANOVA imports scikit-learn's ensembles, ~0.4 s)
#: and the report itself (its leaderboard, the final model's summary: pandas, ~0.4 s)
REPORT_IMPORTS = ("latticenas.runner.report", "optuna.importance")


def run_experiment(
    manifest: str | Path | Mapping[str, Any] | None,
    directory: str | Path | None = None,
    *,
    name: str | None = None,
    max_trials: int | None = None,
    parallel: int | None = None,
    resume: bool = False,
    time_budget=None,
    final_model: bool = True,
    workers: str = "warm",
) -> int:
    """Run MANIFEST in DIRECTORY (default ``experiments/<metadata.name>``); see the module doc.

    ``final_model=False`` skips building ``DIRECTORY/final/`` (the pipeline's aggregate step
    builds its own from the pipeline's rows). ``workers="warm"`` runs this project's trial
    program in warm workers (:mod:`latticenas.runner.warm`), ``"process"`` one process a trial."""
    from latticenas.runner.state import run_lock
    from latticenas.runner.timebudget import TimeBudget

    if manifest is None and not resume:
        raise LatticeNASError("pass a MANIFEST, or --resume --dir DIR to continue a stored experiment")
    if resume and directory is None:
        raise LatticeNASError("--resume needs --dir DIR (the experiment directory to continue)")
    if time_budget is not None and not isinstance(time_budget, TimeBudget):
        time_budget = TimeBudget.start(time_budget)
    _import_in_background(BACKGROUND_IMPORTS)
    experiment = _load(manifest, name) if manifest is not None else None
    directory = Path(directory) if directory is not None else Path("experiments") / experiment.name
    check_directory(directory, "experiment directory")  # a file in the way, or read-only: nothing starts
    if experiment is None and not (directory / "experiment.db").is_file():
        raise LatticeNASError(f"{directory}: no experiment to resume here; pass a MANIFEST")
    with storage_faults(directory):  # a disk that fills up during the run: one error line, resumable
        directory.mkdir(parents=True, exist_ok=True)
        with run_lock(directory), _signals_as_interrupt():
            return _run(experiment, directory, max_trials, parallel, time_budget, final_model, workers)


def _import_in_background(modules: tuple[str, ...], after: threading.Event | None = None) -> threading.Thread:
    """Import what the run needs later in a daemon thread: the runner's main thread mostly
    waits on trials, so the report's plotting library (and the search library, when the first
    suggestion does not need it at once) costs the run no wall time. Python's import lock makes
    a module the main thread needs meanwhile wait for the same import, never import it twice;
    a module that fails to import here fails again, with its error, where it is used. With
    ``after``, the imports wait for that event (the first trial's launch), so they do not
    compete with the start-up for the interpreter."""
    import importlib

    def run() -> None:
        if after is not None:
            after.wait()
        for module in modules:
            with contextlib.suppress(Exception):
                if module == "matplotlib.pyplot":
                    importlib.import_module("matplotlib").use("Agg")  # headless, as the report sets it
                importlib.import_module(module)

    thread = threading.Thread(target=run, name="latticenas-imports", daemon=True)
    thread.start()
    return thread


def _load(manifest, name: str | None):
    """A manifest file, or an Experiment mapping built in memory, checked and parsed."""
    from latticenas.runner.experiment import check_with_validator, load_experiment, parse_experiment

    if not isinstance(manifest, Mapping):
        return load_experiment(manifest, name)
    source = f"experiment {(manifest.get('metadata') or {}).get('name', '?')}"
    check_with_validator(dict(manifest), source)
    return parse_experiment(manifest)


def _run(experiment, directory: Path, max_trials: int | None, parallel: int | None, time_budget,
         final_model: bool = True, workers: str = "warm") -> int:
    from latticenas.runner.orchestrator import ExperimentStatus
    from latticenas.runner.workspace import open_for_run

    workspace, store, experiment = open_for_run(experiment, directory, max_trials, parallel)
    try:
        trial_budget = time_budget.for_trials() if time_budget is not None and final_model else time_budget
        done = _execute(experiment, workspace, store, trial_budget, workers, time_budget)
        if done.status is ExperimentStatus.SUCCEEDED and final_model:
            _build_final(experiment, workspace, store.trials())
        from latticenas.runner.report import write_report  # here: imported while the trials ran

        print(write_report(workspace, experiment, store.trials(), f"{done.status.value} ({done.reason})"))
    finally:
        store.close()
    return 0 if done.status is ExperimentStatus.SUCCEEDED else 1


def _execute(experiment, workspace, store, time_budget=None, workers: str = "warm", whole_budget=None):
    """Check what can be checked before a trial runs, then drive the trials to completion
    within ``time_budget`` (the trials' part of ``whole_budget``, the run's)."""
    from latticenas.runner.algorithms import create_engine
    from latticenas.runner.earlystop import create_early_stopping
    from latticenas.runner.orchestrator import Orchestrator
    from latticenas.runner.process import check_command, run_trial_process
    from latticenas.runner.warm import WORKER_KINDS, WarmPool
    from latticenas.runner.progress import Progress

    if workers not in WORKER_KINDS:
        raise LatticeNASError(f"workers={workers!r}: use one of {', '.join(WORKER_KINDS)}")
    engine = create_engine(experiment)
    early_stopping = create_early_stopping(experiment.early_stopping, experiment.objective)
    _check_budget(experiment, time_budget)
    check_command(experiment)
    for warning in engine.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    trials = store.trials()
    print(_banner(experiment, workspace.directory, trials, whole_budget or time_budget, time_budget), file=sys.stderr)
    progress = Progress(experiment, experiment.budget.max_trials, sum(t.state.finished for t in trials))
    pool = WarmPool() if workers == "warm" else None
    launch, first_launch = pool.run_trial if pool else run_trial_process, threading.Event()

    def launch_trial(*args, **kwargs):
        first_launch.set()
        return launch(*args, **kwargs)

    _import_in_background(REPORT_IMPORTS, after=first_launch)
    orchestrator = Orchestrator(
        experiment, workspace, store, engine, early_stopping, progress,
        on_finished=lambda trials: _write_leaderboard(workspace, experiment, trials),
        time_budget=time_budget,
        launch_trial=launch_trial,
    )
    try:
        return orchestrator.run()
    except KeyboardInterrupt:
        hint = f"latticenas experiment run --resume --dir {workspace.directory}"
        print(f"\ninterrupted: resume with `{hint}`", file=sys.stderr)
        raise
    finally:
        progress.close()
        if pool:
            pool.close()


def _write_leaderboard(workspace, experiment, trials) -> None:
    from latticenas.runner.report import leaderboard, write_leaderboard  # here: imported while the first trial ran

    write_leaderboard(workspace, experiment, leaderboard(experiment, trials))


def _build_final(experiment, workspace, trials) -> None:
    """Ensemble the finished trials into ``<dir>/final/`` with the baseline beside it; a
    failure here (the data moved, say) is reported and leaves the search's results intact."""
    from latticenas.final import FINAL, MAX_CANDIDATES, Candidate, build_final
    from latticenas.runner.report import leaderboard
    from latticenas.runner.trials import TrialState

    ranked = [r for r in leaderboard(experiment, trials) if r.state == TrialState.SUCCEEDED.value]  # best first
    candidates = [Candidate(r.trial, str(workspace.output_dir(r.trial)), r.objective) for r in ranked]
    if not candidates:
        return
    print(f"building the final model from {min(len(candidates), MAX_CANDIDATES)} trial(s) and fitting the baseline ...",
          file=sys.stderr)
    try:
        build_final(candidates, experiment.objective.metric, workspace.directory / FINAL)
    except LatticeNASError as exc:
        print(f"warning: no final model: {exc}", file=sys.stderr)


def finish_recorded(directory: str | Path) -> str:
    """A run's ending for trials recorded in ``directory`` by another trainer (a MOP run,
    :mod:`latticenas.mop_search`): the final model and the baseline when the experiment
    succeeded, then the report, rewritten; returns the report's text."""
    from latticenas.runner.report import write_report
    from latticenas.runner.workspace import open_for_status

    workspace, store, experiment = open_for_status(Path(directory))
    try:
        row = store.experiment() or {}
        if row.get("status") == "Succeeded":
            _build_final(experiment, workspace, store.trials())
        status = f"{row.get('status')} ({row['reason']})" if row.get("reason") else str(row.get("status"))
        return write_report(workspace, experiment, store.trials(), status)
    finally:
        store.close()


def _check_budget(experiment, time_budget=None) -> None:
    endless = experiment.budget.max_trials is None and experiment.algorithm.name not in FINITE_ALGORITHMS
    if endless and time_budget is None:
        raise LatticeNASError(
            "spec.maxTrialCount is not set, so the search would never end; set it, "
            "or pass --max-trials N or --time-budget DURATION"
        )


def _banner(experiment, directory: Path, trials, time_budget=None, trial_budget=None) -> str:
    budget = experiment.budget
    limit = f"up to {budget.max_trials} trials" if budget.max_trials else "until the search space is done"
    if time_budget is not None:
        limit += f" within {time_budget.describe()}"
        if trial_budget is not None and trial_budget.seconds < time_budget.seconds:
            kept = format_seconds(round(time_budget.seconds - trial_budget.seconds, 1))
            limit += f" (the last {kept} kept for the final model)"
    resumed = f", resuming after {sum(t.state.finished for t in trials)} finished trial(s)" if trials else ""
    return (
        f"experiment {experiment.name}: {experiment.algorithm.name}, {limit}, "
        f"{budget.parallel} in parallel, in {directory}{resumed}"
    )


@contextlib.contextmanager
def _signals_as_interrupt():
    """SIGTERM stops a run like Ctrl-C does: trials are terminated and left to resume. A second
    Ctrl-C or SIGTERM within :data:`STOPPING_S` of the first is noted and ignored, so the runner
    finishes stopping its trials and records the experiment as Interrupted."""
    first: list[float] = []

    def interrupt(signum, frame):
        if first and time.monotonic() - first[0] < STOPPING_S:
            print("still stopping: terminating the running trials and recording them ...", file=sys.stderr)
            return
        first[:] = [time.monotonic()]
        raise KeyboardInterrupt

    try:
        previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
