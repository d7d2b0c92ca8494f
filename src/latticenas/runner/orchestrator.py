"""Drive an experiment's trials to completion by Katib's rules.

Contract:

* Up to ``parallelTrialCount`` trials run at once, each a process (or a warm worker's trial,
  :mod:`.warm`: ``launch_trial``) watched by its own thread;
  the main thread asks the suggestion engine for new assignments, and the store records each
  transition as it happens (a trial thread commits its own Running and final states).
* :func:`completion` is Katib's experiment status rule, a pure function of the trials: the
  experiment succeeds when the objective goal is reached (best <= goal when minimizing, >= when
  maximizing), fails when Failed + MetricsUnavailable trials reach ``maxFailedTrialCount``
  (and are not zero), succeeds when finished trials reach ``maxTrialCount``, and succeeds when
  the engine is exhausted (grid or hyperband done) with no trial active. Once complete, no new
  trial starts; trials still running finish and are recorded (as on a cluster). An engine that
  says a cluster would stall here (``Suggestions.stalled``: Katib's controller rejects the
  service's reply, or never ends a finished grid) gets one ``warning:`` line with the reason.
* No trial starts while finished + active trials already reach ``maxTrialCount``.
* Early stopping (medianstop) gives every trial the rule computed from the history when it
  starts; the trial is stopped once the rule says so.
* Resuming: a trial a previous runner left Created or Running is run again under the same name
  with the same parameters (its process, if a killed runner left it alive, is killed first;
  its old output is discarded). Finished trials are never run again, so a killed and resumed
  experiment ends with exactly the trials an uninterrupted one would count.
* Ctrl-C (KeyboardInterrupt) or any error: running trials are terminated and left in the store
  as Running, to be re-run by the next run.
* Time budget (:mod:`.timebudget`, optional): no trial starts unless the budget allows it; at
  the deadline running trials are terminated and put back to Created (the next run re-runs
  them), and the experiment ends ``ExperimentTimeBudgetReached`` (Succeeded, with what
  finished). It also ends so, without waiting for the deadline, once nothing runs and the
  budget allows no start.
"""

from __future__ import annotations

import json
import queue
import shutil
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from latticenas.runner.algorithms import SuggestionEngine
from latticenas.runner.earlystop import MedianStop, StopRule
from latticenas.runner.experiment import Experiment
from latticenas.runner.process import (
    MetricCollector,
    ProcessResult,
    Running,
    build_command,
    classify,
    kill_orphan,
    run_trial_process,
)
from latticenas.runner.progress import Progress
from latticenas.runner.state import ExperimentStore
from latticenas.runner.timebudget import REASON as TIME_BUDGET_REASON
from latticenas.runner.timebudget import TimeBudget
from latticenas.metrics import parse_metric_lines
from latticenas.runner.trials import TrialRecord, TrialState, best_trial
from latticenas.runner.workspace import Workspace

POLL_S = 0.5


class ExperimentStatus(str, Enum):
    CREATED = "Created"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    INTERRUPTED = "Interrupted"  # local only: the runner was stopped; run again to resume


@dataclass(frozen=True)
class Completion:
    status: ExperimentStatus
    reason: str


def completion(experiment: Experiment, trials: Sequence[TrialRecord], exhausted: bool) -> Completion | None:
    """Katib's experiment condition for these trials, or ``None`` while it goes on."""
    finished = [t for t in trials if t.state.finished]
    failed = sum(1 for t in finished if t.state.counts_as_failure)
    best = best_trial(trials, experiment.objective)
    budget = experiment.budget
    if experiment.objective.goal_reached(best.objective if best else None):
        return Completion(ExperimentStatus.SUCCEEDED, "ExperimentGoalReached")
    if budget.max_failed is not None and failed and failed >= budget.max_failed:
        return Completion(ExperimentStatus.FAILED, "ExperimentFailed: max failed trial count reached")
    if budget.max_trials is not None and len(finished) >= budget.max_trials:
        return Completion(ExperimentStatus.SUCCEEDED, "ExperimentMaxTrialsReached")
    if exhausted and len(finished) == len(trials):
        return Completion(ExperimentStatus.SUCCEEDED, "ExperimentSuggestionEndReached")
    return None


class Orchestrator:
    def __init__(
        self,
        experiment: Experiment,
        workspace: Workspace,
        store: ExperimentStore,
        engine: SuggestionEngine,
        early_stopping: MedianStop | None,
        progress: Progress,
        on_finished: Callable[[Sequence[TrialRecord]], None] = lambda trials: None,
        time_budget: TimeBudget | None = None,
        launch_trial: Callable[..., ProcessResult] = run_trial_process,
    ) -> None:
        self.experiment = experiment
        self.workspace = workspace
        self._warned_metrics = False  # the MetricsUnavailable warning is given once
        self.store = store
        self.engine = engine
        self.early_stopping = early_stopping
        self.progress = progress
        self.on_finished = on_finished
        self.time_budget = time_budget
        self.out_of_time = False  # the budget refused a start
        self.threads: dict[str, threading.Thread] = {}
        self.processes: dict[str, Running] = {}
        self.launch_trial = launch_trial
        self.events: queue.Queue[TrialRecord | BaseException] = queue.Queue()
        self.aborting = threading.Event()
        self.exhausted = False

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> Completion:
        self.recover()
        self.store.set_status(ExperimentStatus.RUNNING.value)
        try:
            done = self._loop()
        except BaseException:
            self.abort()
            raise
        self.store.set_status(done.status.value, done.reason)
        return done

    def _loop(self) -> Completion:
        while True:
            trials = self.store.trials()
            done = completion(self.experiment, trials, self.exhausted)
            if self.time_budget is not None and self.time_budget.expired():
                return self._stop_at_deadline(done)
            launched = self.launch(trials) if done is None else 0
            if not self.threads:
                if done is not None:
                    return done
                if self.out_of_time:
                    return Completion(ExperimentStatus.SUCCEEDED, TIME_BUDGET_REASON)
                if launched == 0:
                    self.exhausted = True  # the engine cannot go on with nothing running
                continue
            self._wait()

    def _stop_at_deadline(self, done: Completion | None) -> Completion:
        """Terminate the running trials and put them back to Created for the next run."""
        if self.threads:
            names = ", ".join(sorted(self.threads))
            self.progress.note(f"time budget reached: stopping {names}; they run again on the next run")
            self._stop_trials()
        self.threads.clear()
        self.processes.clear()
        self.store.reset_interrupted()
        return done or Completion(ExperimentStatus.SUCCEEDED, TIME_BUDGET_REASON)

    def _wait(self) -> None:
        try:
            record = self.events.get(timeout=POLL_S)
        except queue.Empty:
            return
        if isinstance(record, BaseException):
            raise record
        self.threads.pop(record.name).join()
        self.processes.pop(record.name, None)
        trials = self.store.trials()
        so_far = [t for t in trials if t.state.finished and t.ended <= record.ended]
        self.progress.trial_finished(record, best_trial(so_far, self.experiment.objective))
        self._warn_metrics_unavailable(record)
        self.on_finished(trials)

    def _warn_metrics_unavailable(self, record: TrialRecord) -> None:
        """Katib counts such a trial and goes on; say once what the trial printed instead."""
        if record.state is not TrialState.METRICS_UNAVAILABLE or self._warned_metrics:
            return
        self._warned_metrics = True
        try:
            text = self.workspace.log_path(record.name).read_text(errors="replace")
        except OSError:
            text = ""
        names = {n for f in self.experiment.metric_filters for n in parse_metric_lines(text, f)}
        seen = ", ".join(sorted(names)[:12]) or "no metric lines its filter reads"
        self.progress.note(
            f"warning: {record.name} exited 0 without printing the objective {self.experiment.objective.metric} "
            f"(it printed: {seen}); check spec.objective.objectiveMetricName and the metrics filter"
        )

    def launch(self, trials: Sequence[TrialRecord]) -> int:
        """Start pending trials, then new suggestions, within the parallel and trial budgets."""
        budget = self.experiment.budget
        if self._out_of_time(trials):
            return 0
        active = [t for t in trials if not t.state.finished]
        slots = budget.parallel - len(self.threads)
        started = 0
        for trial in active:
            if slots > 0 and trial.name not in self.threads:
                self.start(trial)
                slots, started = slots - 1, started + 1
        room = slots
        if budget.max_trials is not None:
            room = min(room, budget.max_trials - len(trials))
        if room > 0 and not self.exhausted:
            batch = self.engine.suggest(trials, room)
            self.exhausted = batch.exhausted
            if batch.stalled:  # what Katib would do instead of ending: say it, then end
                self.progress.note(f"warning: the suggestion stalled: {batch.stalled}; the local "
                                   "run ends with the trials so far")
            for suggestion in batch.items:
                self.start(self.store.create_trial(self.experiment.name, suggestion.params, suggestion.attrs))
                started += 1
        return started

    def _out_of_time(self, trials: Sequence[TrialRecord]) -> bool:
        """Whether the time budget refuses to start another trial now (noted once)."""
        refused = self.time_budget is not None and not self.time_budget.allows_start(trials)
        if refused and not self.out_of_time:
            left = max(self.time_budget.remaining(), 0.0)
            self.progress.note(f"time budget: {left:.0f}s left, too little for another trial; none starts")
        self.out_of_time = refused
        return refused

    # -- one trial -----------------------------------------------------------------------

    def start(self, trial: TrialRecord) -> None:
        rule = self.early_stopping.rule(self.store.trials()) if self.early_stopping else None
        directory = self.workspace.trial_dir(trial.name)
        if directory.exists():
            shutil.rmtree(directory)  # a re-run starts from scratch
        directory.mkdir(parents=True)
        command = build_command(self.experiment, trial.name, trial.params, self.workspace.output_dir(trial.name))
        run_id = uuid.uuid4().hex
        command = replace(command, env={**command.env, "LATTICENAS_RUN_ID": run_id})
        self.workspace.command_path(trial.name).write_text(
            json.dumps({"argv": list(command.argv), "env": dict(command.env)}, indent=2)
        )
        thread = threading.Thread(target=self._run_trial, args=(trial, command, rule, run_id), daemon=True)
        self.threads[trial.name] = thread
        thread.start()

    def _run_trial(self, trial: TrialRecord, command, rule: StopRule | None, run_id: str) -> None:
        try:
            self._watch_trial(trial, command, rule, run_id)
        except BaseException as exc:  # e.g. the store failed: the main thread re-raises it
            self.events.put(exc)

    def _watch_trial(self, trial: TrialRecord, command, rule: StopRule | None, run_id: str) -> None:
        objective = self.experiment.objective
        collector = MetricCollector(self.experiment.metric_filters, objective.metric_names)

        def on_start(running: Running) -> None:
            self.processes[trial.name] = running
            if self.aborting.is_set():  # stopped while it was starting
                running.stop(3.0)
            self.store.mark_running(trial.name, running.pid, running.run_id)

        try:
            result = self.launch_trial(
                command,
                self.workspace.log_path(trial.name),
                collector,
                objective.metric,
                should_stop=rule.should_stop if rule else (lambda values: False),
                on_start=on_start,
            )
        except Exception as exc:  # a runner-side problem (e.g. unwritable log): the trial failed
            result = ProcessResult(1, collector.snapshot(), message=f"runner error: {exc}")
        if self.aborting.is_set():
            return  # left Running in the store: the next run re-runs it
        state, value = classify(result, objective)
        message = result.message
        if state is TrialState.FAILED and not message:
            message = f"exit code {result.exit_code}; see {self.workspace.log_path(trial.name)}"
        self.events.put(self.store.finish(trial.name, state, result.metrics, value, result.exit_code, message))

    # -- resume and abort ------------------------------------------------------------------

    def recover(self) -> None:
        """Kill what a dead runner left running and queue its trials to run again."""
        for pid, run_id in self.store.running_pids():
            kill_orphan(pid, run_id)
        interrupted = self.store.reset_interrupted()
        if interrupted:
            names = ", ".join(t.name for t in interrupted)
            self.progress.note(f"resuming: {len(interrupted)} interrupted trial(s) run again: {names}")

    def abort(self) -> None:
        self._stop_trials()
        self.store.set_status(ExperimentStatus.INTERRUPTED.value, "the runner was stopped; run again to resume")

    def _stop_trials(self) -> None:
        """Terminate every running trial; their threads return without recording a state."""
        self.aborting.set()
        for running in list(self.processes.values()):
            running.stop(3.0)
        for thread in list(self.threads.values()):
            thread.join(timeout=10.0)
