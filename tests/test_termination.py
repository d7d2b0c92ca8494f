"""SIGTERM (how Kubernetes and ``docker stop`` end a container) takes the trial's Ctrl-C path.
In a container the trial is PID 1, which gets no signal it has no handler for; the image test
(tests/images/test_trial_image.py) stops one there."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from factories import regression_frame

from latticenas.metrics import parse_metric_lines
from latticenas.termination import sigterm_as_interrupt

TRIAL = str(Path(sys.executable).parent / "latticenas-trial")


SNIPPET = """
import atexit, signal, sys
from latticenas.termination import sigterm_as_interrupt
atexit.register(print, "teardown ran")
with sigterm_as_interrupt():
    {body}
print("after the block")
"""


def _snippet(body: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SNIPPET.format(body=body)], capture_output=True, text=True,
                          timeout=120)


def test_sigterm_interrupts_the_block_then_ends_the_process_at_once():
    proc = _snippet("try:\n        signal.raise_signal(signal.SIGTERM)\n"
                    "    except KeyboardInterrupt:\n        print('interrupted', flush=False)")
    assert proc.returncode == 130, proc.stderr
    assert proc.stdout.split() == ["interrupted"]  # flushed; no teardown, nothing after the block


def test_without_a_sigterm_the_block_changes_nothing():
    proc = _snippet("assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[:2] == ["after the block", "teardown ran"]
    before = signal.getsignal(signal.SIGTERM)
    with sigterm_as_interrupt():
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.slow
def test_sigterm_stops_a_training_trial_with_the_interrupted_line(tmp_path):
    data = tmp_path / "houses.csv"
    regression_frame(300).to_csv(data, index=False)
    out = tmp_path / "trial"
    proc = subprocess.Popen([TRIAL, f"--data={data}", "--target=price", f"--output-dir={out}", "--epochs=500",
                             "--patience=500", "--maximum_levels=1", "--maximum_units_per_level=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:  # the first epoch's objective: training is under way
            if parse_metric_lines(line):
                break
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr[-3000:]
    assert "interrupted: the networks trained so far are in the output directory" in stderr
    assert "Traceback" not in stderr
