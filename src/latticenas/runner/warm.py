"""Warm trial workers: the local runner's ``--workers=warm`` (the default).

A trial whose command is this project's own trial program, from the runner's own installation
(``latticenas-trial`` beside this interpreter, or ``python -m latticenas.trial`` with this
interpreter), runs in a long-lived worker process (:mod:`.warm_worker`) that imported TensorFlow
once, instead of a new process that imports it again. Any other command runs as a process, as
before. Programs of your own that are safe to run repeatedly in one process may be added with
``LATTICENAS_WARM_HOSTS``: script paths, separated by ``os.pathsep``, run as
``<this python> SCRIPT ...``.

Contract: :meth:`WarmPool.run_trial` has the signature and the result of
:func:`~latticenas.runner.process.run_trial_process`, so the orchestrator cannot tell them apart:

* the same argv and environment reach the program, its stdout+stderr go to the trial's log as
  they come, and metric lines are parsed live by the Experiment's filters;
* stopping (early stopping, Ctrl-C, the time budget's deadline) interrupts the trial with
  SIGINT; one that has not ended ``grace`` seconds later is killed with its worker;
* the pid and run id recorded for a running trial are the worker's, and the worker's
  environment carries that run id, so a runner killed with ``kill -9`` leaves nothing a resumed
  run does not kill (:func:`~latticenas.runner.process.kill_orphan`); an idle worker ends when
  its runner's pipe closes;
* a worker that dies mid-trial makes that trial Failed, with the reason; the pool replaces it.
  A worker is replaced after :data:`MAX_TRIALS_PER_WORKER` trials, to bound what a long search
  can accumulate in one process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from latticenas.runner.process import (
    MetricCollector,
    ProcessResult,
    Running,
    TrialCommand,
    resolve_executable,
    run_trial_process,
    stream_output,
)
from latticenas.runner.warm_worker import DONE, READY

WORKER_KINDS = ("warm", "process")
TRIAL_PROGRAM = "latticenas-trial"
TRIAL_HOST = "module:latticenas.trial:main"
HOSTS_ENV = "LATTICENAS_WARM_HOSTS"
MAX_TRIALS_PER_WORKER = 50


def host_for(argv: Sequence[str]) -> tuple[str, list[str]] | None:
    """What a warm worker runs for this command (its host and the program's ``sys.argv``), or
    ``None``: the command runs as a process."""
    if not argv:
        return None
    program = resolve_executable(argv[0])
    if program is None:
        return None
    if Path(program).absolute() == Path(sys.executable).parent.absolute() / TRIAL_PROGRAM:
        return TRIAL_HOST, [TRIAL_PROGRAM, *argv[1:]]
    if Path(program).absolute() != Path(sys.executable).absolute() or len(argv) < 2:
        return None
    if tuple(argv[1:3]) == ("-m", "latticenas.trial"):
        return TRIAL_HOST, [TRIAL_PROGRAM, *argv[3:]]
    scripts = {str(Path(p).absolute()) for p in os.environ.get(HOSTS_ENV, "").split(os.pathsep) if p}
    script = str(Path(argv[1]).absolute())
    return (f"script:{script}", [script, *argv[2:]]) if script in scripts else None


class _Worker:
    def __init__(self, host: str) -> None:
        self.run_id = uuid.uuid4().hex
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "LATTICENAS_RUN_ID": self.run_id}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "latticenas.runner.warm_worker", host],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )
        self.trials = 0
        self.ready = False
        self.killed = False

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and not self.killed

    def kill(self) -> None:
        self.killed = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def interrupt(self, grace: float, finished: threading.Event) -> None:
        """SIGINT the running trial; kill the worker if the trial has not ended after ``grace``."""
        if finished.is_set():  # it ended already; the worker may be idle or on another trial
            return
        try:
            os.kill(self.proc.pid, signal.SIGINT)
        except ProcessLookupError:
            return
        timer = threading.Timer(grace, lambda: finished.is_set() or self.kill())
        timer.daemon = True
        timer.start()

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass


class WarmPool:
    """Warm workers for one run; use as a context manager (closing ends every worker)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._all: list[_Worker] = []
        self._closed = False

    def __enter__(self) -> WarmPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            workers, self._idle = list(self._all), []
        for worker in workers:
            worker.close()
        for worker in workers:
            try:
                worker.proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.proc.wait()

    def run_trial(
        self,
        command: TrialCommand,
        log_path: Path,
        collector: MetricCollector,
        objective_metric: str,
        should_stop: Callable[[Sequence[float]], bool] = lambda values: False,
        on_start: Callable[[Running], None] = lambda running: None,
    ) -> ProcessResult:
        hosted = host_for(command.argv)
        if hosted is None:
            return run_trial_process(command, log_path, collector, objective_metric, should_stop, on_start)
        host, argv = hosted
        worker = self._acquire(host)
        token = uuid.uuid4().hex
        finished = threading.Event()
        request = {"host": host, "argv": argv, "env": dict(command.env), "token": token}
        with open(log_path, "w", encoding="utf-8") as log:
            try:
                worker.proc.stdin.write((json.dumps(request) + "\n").encode())
                worker.proc.stdin.flush()
            except OSError:  # it died before the trial started
                pass
            on_start(Running(worker.proc.pid, worker.run_id, lambda grace: worker.interrupt(grace, finished)))
            ended: list[tuple[int, bool]] = []
            stopped = stream_output(_trial_lines(worker, token, ended), log, collector, objective_metric,
                                    should_stop, lambda: worker.interrupt(3.0, finished))
            finished.set()
            if not ended:
                code = worker.proc.wait()
                message = f"the warm worker (pid {worker.proc.pid}) died while running the trial ({_death(code)})"
                log.write(message + "\n")
                self._discard(worker)
                return ProcessResult(code if code else 1, collector.snapshot(), stopped=stopped, message=message)
        code, stays = ended[0]
        self._release(worker, stays)
        return ProcessResult(code, collector.snapshot(), stopped=stopped)

    # -- the pool --------------------------------------------------------------------------

    def _acquire(self, host: str) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("the warm pool is closed")
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
                self._all.remove(worker)
            worker = _Worker(host)
            self._all.append(worker)
            return worker

    def _release(self, worker: _Worker, stays: bool) -> None:
        worker.trials += 1
        if not stays or not worker.alive or worker.trials >= MAX_TRIALS_PER_WORKER:
            worker.close()
            self._discard(worker)
            return
        with self._lock:
            if self._closed:
                worker.close()
            else:
                self._idle.append(worker)

    def _discard(self, worker: _Worker) -> None:
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)
        if worker.proc.poll() is None:
            threading.Thread(target=worker.proc.wait, daemon=True).start()  # reaped once it exits


def _trial_lines(worker: _Worker, token: str, ended: list[tuple[int, bool]]):
    """The trial's output lines, up to the worker's end-of-trial line (its exit code and whether
    the worker takes another trial go to ``ended``); stops early at end of output if the worker
    died."""
    done = f"{DONE} {token} ".encode()
    ready = READY.encode()
    for raw in worker.proc.stdout:
        if not worker.ready and raw.startswith(ready):
            worker.ready = True
            continue
        before, marker, after = raw.partition(done)
        if marker:
            if before:
                yield before + b"\n"
            code, stays = after.split()[:2]
            ended.append((int(code), stays == b"1"))
            return
        yield raw


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"
