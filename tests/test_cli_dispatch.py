"""The ``latticenas`` dispatcher: each command's module, and only it, is imported to run it."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from latticenas import cli


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(action.choices)


@pytest.mark.parametrize("module", cli.COMMAND_MODULES)
def test_each_module_registers_the_commands_the_table_gives_it(module):
    parser = argparse.ArgumentParser()
    importlib.import_module(module).register(parser.add_subparsers(dest="command"))
    assert sorted(_commands(parser)) == sorted(c for c, m in cli.COMMANDS.items() if m == module)


def test_the_full_parser_has_every_command_and_one_command_builds_alone():
    assert sorted(_commands(cli.build_parser())) == sorted(cli.COMMANDS)
    assert _commands(cli.build_parser("experiment")) == ["experiment"]
    assert sorted(_commands(cli.build_parser("--help"))) == sorted(cli.COMMANDS)


def test_running_an_experiment_does_not_import_the_other_commands_libraries():
    code = ("import sys; from latticenas import cli; cli.build_parser('experiment'); "
            "print(sorted(m for m in ('pandas', 'kfp', 'kubeflow.katib', 'latticenas.pipeline.cli') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_still_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in cli.COMMANDS:
        assert command in out
