"""A warm trial worker: one long-lived process that runs trial programs in-process, one after
another, so TensorFlow (or whatever the program imports) is imported once, not once a trial.

Started by :class:`latticenas.runner.warm.WarmPool` as ``python -m latticenas.runner.warm_worker
HOST``, with stdout and stderr on one pipe. Protocol (one request at a time):

* the worker preloads HOST's modules, then prints ``READY``;
* the runner writes one JSON line on stdin: ``{"host": ..., "argv": [...], "env": {...},
  "token": ...}`` (``argv`` is the program's ``sys.argv``); the worker sets ``sys.argv`` and the
  environment, runs the program, and prints
  everything it prints, then ``DONE <token> <exit code> <1 if it takes another trial, else 0>``.
  The token is fresh per trial, so no trial output can fake the end of a trial;
* SIGINT while a trial runs interrupts that trial (``KeyboardInterrupt``, exit 130) and the
  worker stays; between trials it is ignored. End of stdin ends the worker.

Between trials the environment, working directory, ``sys.argv``, signal handlers and the
standard streams are restored and the Keras session is cleared. A program that raised (a crash
a fresh process would not survive either) is reported with its traceback and exit 1, and the
worker then exits, so the next trial gets a fresh process.

HOST is ``module:function`` (the function is called with ``argv[1:]`` and returns the exit
code), ``script:PATH`` (run as ``__main__``) or ``module:NAME`` with no function (``python -m``).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import runpy
import signal
import sys
import traceback

READY = "\0latticenas-warm-ready"
DONE = "\0latticenas-warm-done"
PRELOAD = {"latticenas.trial": ("tensorflow", "keras", "latticenas.trial_loop")}
#: what a host's worker turns on once: the trial program's data cache (latticenas.data.cache)
SETUP = {"latticenas.trial": "latticenas.data.cache:enable"}


def preload(host: str) -> None:
    kind, _, target = host.partition(":")
    if kind != "module":
        return
    module = target.partition(":")[0]
    for name in (*PRELOAD.get(module, ()), module):
        importlib.import_module(name)
    if module in SETUP:
        setup_module, _, function = SETUP[module].partition(":")
        getattr(importlib.import_module(setup_module), function)()


def run_program(host: str, argv: list[str]) -> int:
    """Run one program as its own process would, returning its exit code."""
    kind, _, target = host.partition(":")
    sys.argv = list(argv)
    try:
        if kind == "script":
            runpy.run_path(target, run_name="__main__")
            return 0
        module, _, function = target.partition(":")
        if not function:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
            return 0
        code = getattr(importlib.import_module(module), function)(list(argv[1:]))
        return _exit_code(code)
    except SystemExit as exc:
        return _exit_code(exc.code)


def _exit_code(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message"), as the interpreter prints it
    return 1


class _Interruptible:
    """SIGINT raises KeyboardInterrupt only while a trial runs."""

    def __init__(self) -> None:
        self.running = False
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.running:
            raise KeyboardInterrupt


def serve(host: str) -> int:
    preload(host)
    # TensorFlow and Keras leave ~400k objects that live as long as the worker: out of the
    # collector's sight, a full collection (each trial's clean-up, and the automatic ones while
    # it traces) takes milliseconds, not ~0.4 s. Later objects are collected as usual.
    gc.freeze()
    interrupt = _Interruptible()
    _say(READY, str(os.getpid()))
    base_env, base_cwd = dict(os.environ), os.getcwd()
    base_signals = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for line in sys.stdin:
        request = json.loads(line)
        crashed = False
        os.environ.update(request["env"])
        stdin = sys.stdin
        sys.stdin = open(os.devnull)  # as a process trial: nothing to read
        interrupt.running = True
        try:
            try:
                code = run_program(request["host"], request["argv"])
            finally:
                interrupt.running = False
        except KeyboardInterrupt:
            code = 130
        except BaseException as exc:  # the program crashed: its traceback, as the interpreter prints it
            _print_program_traceback(exc)
            code, crashed = 1, True
        sys.stdin.close()
        sys.stdin = stdin
        _restore(base_env, base_cwd, base_signals)
        _say(DONE, f"{request['token']} {code} {0 if crashed else 1}")
        if crashed:
            return 1
    return 0


def _print_program_traceback(exc: BaseException) -> None:
    """The traceback from the program's own frames on, without this worker's and runpy's."""
    own = {__file__, runpy.__file__, "<frozen runpy>"}
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in own and tb.tb_next is not None:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


def _restore(env: dict[str, str], cwd: str, signals: dict) -> None:
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for sig, handler in signals.items():
        signal.signal(sig, handler)
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()  # which ends with gc.collect() (free_memory=True): not twice
    else:
        gc.collect()


def _say(marker: str, text: str) -> None:
    sys.stderr.flush()
    sys.stdout.write(f"{marker} {text}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1]))
