"""Fixtures for the local runner's tests (helpers live in runner_helpers.py)."""

from __future__ import annotations

import pytest

from latticenas.cli import main


@pytest.fixture
def cli(capsys):
    """Run ``latticenas ARGS`` in-process; return (exit code, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture(params=["process", "warm"])
def worker_kind(request, monkeypatch):
    """Run the test once with each kind of trial worker. For ``warm`` the fake trial program is
    declared hostable (``LATTICENAS_WARM_HOSTS``, inherited by runners the test starts), so the
    runner's default ``--workers=warm`` runs it in warm workers; for ``process`` it is not, so
    every trial is a process, exactly as before."""
    from runner_helpers import FAKE_TRIAL

    from latticenas.runner.warm import HOSTS_ENV

    if request.param == "warm":
        monkeypatch.setenv(HOSTS_ENV, str(FAKE_TRIAL))
    else:
        monkeypatch.delenv(HOSTS_ENV, raising=False)
    return request.param


@pytest.fixture
def launch(worker_kind):
    """The trial launcher of that worker kind: ``run_trial_process`` or a warm pool's ``run_trial``."""
    from latticenas.runner.process import run_trial_process
    from latticenas.runner.warm import WarmPool

    if worker_kind == "process":
        yield run_trial_process
        return
    with WarmPool() as pool:
        yield pool.run_trial
