"""SIGTERM takes Ctrl-C's path in the trial program, and ends it promptly.

Kubernetes (a Katib trial's Job, a KFP step, ``docker stop``) stops a container by sending
SIGTERM to its PID 1, and the kernel drops a signal that PID 1 has no handler for: without one,
``latticenas-trial`` run as the container's command ignores the stop, is killed after the grace
period (exit 137) and never reaches its interrupted path. Inside :func:`sigterm_as_interrupt`,
SIGTERM raises ``KeyboardInterrupt`` as Ctrl-C does, so the entry point's error boundary (inside
the block) prints its ``interrupted`` line; then, the block left, the process ends at once with
exit 130. It skips the interpreter's teardown on purpose: once TensorFlow is loaded that takes
seconds (its C++ runtime winding down; 2-5 s here), which a stop's grace period may not have.
The networks trained so far are written already, and stdout, stderr and the logs are flushed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator

INTERRUPTED_EXIT = 130  # what a shell reports for a program ended by Ctrl-C


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises ``KeyboardInterrupt``; after a SIGTERM the process
    exits with 130 as soon as the block is left, else the previous handler is put back. Outside
    the main thread (where no handler can be set) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = _RECEIVED
    received.clear()

    def interrupt(signum, frame) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if received:
            _exit_now(INTERRUPTED_EXIT)


_RECEIVED: list[int] = []  # the SIGTERMs of the running block


def interrupt_pending() -> bool:
    """Whether a SIGTERM has arrived in the running :func:`sigterm_as_interrupt` block. Code that
    turns a network's exceptions into a failed network asks this first: TensorFlow may deliver
    the ``KeyboardInterrupt`` raised inside one of its calls as an error of its own."""
    return bool(_RECEIVED)


def _exit_now(code: int) -> None:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or broken stream: nothing left to save
            stream.flush()
    os._exit(code)


__all__ = ["INTERRUPTED_EXIT", "interrupt_pending", "sigterm_as_interrupt"]
