"""The one error boundary of every entry point (issue 10): user mistakes and environment faults
are one ``error:`` line and an exit code; programming errors keep their traceback."""

from __future__ import annotations

import errno
import subprocess
import sys

import pytest

from latticenas.cli import run as latticenas_run
from latticenas.errors import DataError, ErrorBoundary, StorageError, TrialFailedError, storage_error


def boundary_of(exc: BaseException, capsys, interrupted: str = "interrupted") -> tuple[int | None, str]:
    with ErrorBoundary(interrupted) as boundary:
        raise exc
    return boundary.exit_code, capsys.readouterr().err


@pytest.mark.parametrize(("exc", "code", "line"), [
    (DataError("the table is empty; pass a table with rows"), 2, "error: the table is empty; pass a table with rows"),
    (StorageError("cannot write x: read-only file system; use a writable location"), 2, "error: cannot write x: read-only"),
    (TrialFailedError("every network failed"), 1, "error: every network failed"),
    (OSError(errno.ENOSPC, "No space left on device", "/data/out/model.keras"), 2,
     "error: cannot write /data/out/model.keras: no space left on the device; free some space"),
    (OSError(errno.EROFS, "Read-only file system", "/ro/x"), 2, "error: cannot write /ro/x: read-only file system"),
])
def test_user_and_environment_errors_are_one_line_and_an_exit_code(capsys, exc, code, line):
    got, err = boundary_of(exc, capsys)
    assert got == code
    assert err.splitlines() == [err.splitlines()[0]] and err.startswith(line)


def test_ctrl_c_gives_130_and_the_entry_points_own_words(capsys):
    assert boundary_of(KeyboardInterrupt(), capsys, "interrupted: resume later") == (130, "interrupted: resume later\n")


@pytest.mark.parametrize("exc", [ZeroDivisionError("bug"), KeyError("bug"), OSError(errno.ENOENT, "No such file"),
                                 OSError(errno.EACCES, "Permission denied"), SystemExit(2)])
def test_programming_errors_and_argparse_exits_pass_through(capsys, exc):
    with pytest.raises(type(exc)):
        with ErrorBoundary():
            raise exc
    assert capsys.readouterr().err == ""


def test_a_finished_block_has_no_exit_code():
    with ErrorBoundary() as boundary:
        pass
    assert boundary.exit_code is None


def test_storage_error_names_the_fault_or_leaves_it():
    assert storage_error(ValueError("x")) is None
    assert storage_error(OSError(errno.ENOENT, "No such file", "f")) is None
    assert "is a directory" in str(storage_error(OSError(errno.EISDIR, "Is a directory", "d")))


def test_the_latticenas_command_uses_the_boundary(capsys):
    def disk_full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "/exp/experiment.db")

    assert latticenas_run(disk_full, None) == 2
    assert capsys.readouterr().err.startswith("error: cannot write /exp/experiment.db: no space left")
    with pytest.raises(ZeroDivisionError):
        latticenas_run(lambda args: 1 / 0, None)


@pytest.mark.parametrize(("command", "code", "last"), [
    (["-m", "latticenas", "experiment", "status", "/nonexistent-dir"], 2, "error: "),
    (["-m", "latticenas.trial", "--data=nope.csv", "--target=y", "--output-dir=o"], 2, "error: "),
])
def test_each_entry_point_prints_one_line_and_no_traceback(tmp_path, command, code, last):
    done = subprocess.run([sys.executable, *command], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("error: ")] == [done.stderr.strip().splitlines()[-1]]
    assert done.stderr.strip().splitlines()[-1].startswith(last)


def test_the_trial_main_returns_its_exit_code_in_process(tmp_path, capsys):
    from latticenas.trial import main

    assert main(["--data=nope.csv", "--target=y", f"--output-dir={tmp_path / 'o'}"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: ")
    with pytest.raises(SystemExit) as caught:  # argparse's own usage error, as in a process
        main(["--target=y"])
    assert caught.value.code == 2
