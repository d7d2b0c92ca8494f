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
