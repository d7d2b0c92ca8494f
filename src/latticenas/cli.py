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

# Modules that contribute subcommands; each defines register(subparsers).
COMMAND_MODULES = (
    "latticenas.trial_cli",
    "latticenas.search_cli",
    "latticenas.katib.cli",
    "latticenas.runner.cli",
    "latticenas.pipeline.cli",
    "latticenas.mop.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latticenas",
        description="Neural architecture search for tabular data with randomly connected lattices.",
    )
    parser.add_argument("--version", action="version", version=f"latticenas {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMMAND_MODULES:
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
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    return run(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
