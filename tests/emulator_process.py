"""Starting a local Cloud Storage emulator process for tests: a free port and a readiness wait."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(host: str, proc: subprocess.Popen, name: str = "gcp-storage-emulator", timeout: float = 30.0) -> None:
    """Return once ``host`` lists buckets; raise if the process exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{host}/storage/v1/b", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} did not answer at {host} within {timeout:.0f}s")


@contextlib.contextmanager
def running(cmd: list[str], host: str, name: str = "gcp-storage-emulator"):
    """Start ``cmd`` (an emulator serving ``host``), wait until it answers, stop it afterwards."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_up(host, proc, name)
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Terminate ``proc`` (this test's own child), killing it if it does not exit in time."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
