"""The ``latticenas`` command: a thin dispatcher over the library.

Each command group lives beside the code it drives and registers itself here through a
``register(subparsers)`` function that adds its parsers and sets ``func``. User mistakes and
environment faults become one ``error:`` line and a non-zero exit
(:class:`~latticenas.errors.ErrorBoundary`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from latticenas import __version__
from latticenas.errors import ErrorBoundary

#: Each command and the module that registers it (``register(subparsers)``). Only the module of
#: the command being run is imported (the others import pandas, kfp, the Katib SDK: ~1 s on
#: every call); ``--help`` and unknown commands import them all. A test checks that the modules
#: register exactly these commands.
COMMANDS = {
    "trial": "latticenas.trial_cli",
    "predict": "latticenas.trial_cli",
    "search": "latticenas.search_cli",
    "manifests": "latticenas.katib.cli",
    "experiment": "latticenas.runner.cli",
    "pipeline": "latticenas.pipeline.cli",
    "mop": "latticenas.mop.cli",
}
COMMAND_MODULES = tuple(dict.fromkeys(COMMANDS.values()))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command, or, for one of :data:`COMMANDS`, of that command's module."""
    parser = argparse.ArgumentParser(
        prog="latticenas",
        description="Neural architecture search for tabular data with randomly connected lattices.",
    )
    parser.add_argument("--version", action="version", version=f"latticenas {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = (COMMANDS[command],) if command in COMMANDS else COMMAND_MODULES
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                continue  # a command group this installation does not have
            raise
        module.register(subparsers)
    return parser


def run(func, args) -> int:
    """Call a command function inside the error boundary (:class:`~latticenas.errors.ErrorBoundary`)."""
    with ErrorBoundary() as boundary:
        return int(func(args) or 0)
    return boundary.exit_code


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ info lines are noise here
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    return run(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
