"""The trial program: one invocation is one Katib trial.

``latticenas-trial --data=URI --target=COL --output-dir=DIR|gs://... --<parameter>=<value> ...``
samples ``number_of_architecture_moities_to_try`` lattices, trains each
``number_of_tries_per_architecture_moity`` times, and reports

* on stdout, ``name=value`` lines for Katib's StdOut metrics collector: the objective (best
  over the trained networks, on validation data; repeated as a running best after each
  network so early stopping can see progress) and, at the end, the additional metrics;
* in the output location, the artifacts of :mod:`latticenas.artifacts`.

Logs go to stderr and never contain ``=`` signs next to metric names. A network that
diverges is recorded as failed and the trial goes on; a trial where every network failed
exits 1 with one line saying so. Bad input exits 2 with one ``error:`` line.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
import time
from dataclasses import dataclass

from latticenas import __version__
from latticenas.capacity import check_memory
from latticenas.errors import ErrorBoundary, ParameterError
from latticenas.params import ParameterSet, parameter_fields
from latticenas.termination import sigterm_as_interrupt

log = logging.getLogger("latticenas.trial")

EXAMPLE_SCHEME = "example:"


@dataclass(frozen=True)
class TrialConfig:
    """Everything one trial needs, typed: the data arguments and the parameter set."""

    data: str
    target: str
    task: str
    objective: str
    output_dir: str
    drop_columns: tuple[str, ...]
    allow_leakage: tuple[str, ...]
    val_fraction: float
    test_fraction: float
    log_target: bool | None
    params: ParameterSet
    fused: str = "auto"

    def to_dict(self) -> dict:
        return {
            "data": self.data,
            "target": self.target,
            "task": self.task,
            "objective": self.objective,
            "output_dir": self.output_dir,
            "drop_columns": list(self.drop_columns),
            "allow_leakage": list(self.allow_leakage),
            "val_fraction": self.val_fraction,
            "test_fraction": self.test_fraction,
            "log_target": self.log_target,
            "fused": self.fused,
            "parameters": self.params.to_dict(),
            "latticenas_version": __version__,
        }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latticenas-trial",
        allow_abbrev=False,
        description="Run one search trial: sample lattices, train them, report Katib metrics.",
        epilog="Data URIs: a local CSV/Parquet path, gs://bucket/path, or example:ames (bundled).",
    )
    data = parser.add_argument_group("data and reporting")
    data.add_argument("--data", required=True, help="CSV/Parquet path, gs:// URI, or example:ames")
    data.add_argument("--target", required=True, help="name of the target column")
    data.add_argument("--task", default="auto", choices=["auto", "regression", "binary", "multiclass"])
    data.add_argument("--objective", default="auto", help="objective metric, e.g. val-rmse (auto: by task)")
    data.add_argument("--output-dir", required=True, help="local directory or gs:// prefix for artifacts")
    data.add_argument("--drop-columns", default="", help="comma-separated columns that are not features")
    data.add_argument("--allow-leakage", default="", help="comma-separated columns allowed to mirror the target")
    data.add_argument("--val-fraction", type=float, default=0.15)
    data.add_argument("--test-fraction", type=float, default=0.15)
    data.add_argument("--log-target", default="auto", choices=["auto", "true", "false"],
                      help="train regression on log1p(target) (auto: when positive and skewed)")
    data.add_argument("--fused", default="auto", choices=["auto", "on", "off"],
                      help="train the trial's networks as one fused model (auto: on a GPU/TPU, when more "
                           "than one and they fit the memory bound); results match training them one by one")
    data.add_argument("--verbose", action="store_true", help="log each epoch")
    search = parser.add_argument_group("search parameters (Cerebros names)")
    for field in parameter_fields():
        search.add_argument(f"--{field.name}", default=None, metavar=field.type.__name__.upper(),
                            help=f"{field.help} (default: {field.default})")
    return parser


def parse_config(argv: list[str] | None = None) -> TrialConfig:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        raise ParameterError(_unknown_flag_message(unknown[0], parser))
    given = {f.name: getattr(args, f.name) for f in parameter_fields() if getattr(args, f.name) is not None}
    params = ParameterSet.from_mapping(given)
    return TrialConfig(
        data=args.data,
        target=args.target,
        task=args.task,
        objective=args.objective,
        output_dir=args.output_dir,
        drop_columns=_csv(args.drop_columns),
        allow_leakage=_csv(args.allow_leakage),
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        log_target={"auto": None, "true": True, "false": False}[args.log_target],
        params=params,
        fused=args.fused,
    )


def _unknown_flag_message(flag: str, parser: argparse.ArgumentParser) -> str:
    name = flag.split("=", 1)[0]
    known = [option for action in parser._actions for option in action.option_strings]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}?" if close else "see latticenas-trial --help for the flags"
    return f"unknown flag {name}; {hint}"


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def check_trial_resources(config: TrialConfig, memory_bytes: int | None = None) -> None:
    """Before any data loads: the output location must be writable and the largest lattice the
    parameter set allows must be able to train in this machine's (or container's) memory."""
    from latticenas.data.io import is_gcs_uri
    from latticenas.fileio import check_directory

    if not is_gcs_uri(config.output_dir):
        check_directory(config.output_dir, "--output-dir")
    check_memory(config.params, memory_bytes)


def resolve_data_uri(uri: str) -> str:
    """``example:<name>`` -> the bundled data set's path; anything else unchanged."""
    if not uri.startswith(EXAMPLE_SCHEME):
        return uri
    from latticenas.datasets import example_path

    return example_path(uri[len(EXAMPLE_SCHEME):])


def data_options(config: TrialConfig) -> dict:
    """The loading options of the trial's table (:func:`latticenas.data.load_dataset`'s keywords)."""
    return {"target": config.target, "task": config.task, "drop_columns": config.drop_columns,
            "val_fraction": config.val_fraction, "test_fraction": config.test_fraction,
            "allow_leakage": config.allow_leakage, "infinite": config.params.infinite_values}


def stream_trial_data(config: TrialConfig, *, chunk_rows: int | None = None, workdir=None):
    """The trial's table checked and split as :func:`load_trial_data` would, but read in chunks and
    staged on disk under ``workdir`` (:func:`latticenas.data.streamed.stream_dataset`; close it)."""
    from latticenas.data.chunks import CHUNK_ROWS
    from latticenas.data.streamed import stream_dataset

    return stream_dataset(resolve_data_uri(config.data), **data_options(config),
                          chunk_rows=chunk_rows or CHUNK_ROWS, workdir=workdir)


def load_trial_data(config: TrialConfig, memory_bytes: int | None = None):
    """The trial's checked, split table; the memory bound checked again now that the input's
    width (at least one column a feature) is known, still before TensorFlow loads."""
    from latticenas.data import cache, load_dataset

    uri, options = resolve_data_uri(config.data), data_options(config)
    data_cache = cache.enabled()  # a warm worker's: the last trial's table, by content and options
    if data_cache is None:
        dataset = load_dataset(uri, **options)
    else:
        dataset = data_cache.load(uri, tuple(options.items()), lambda: load_dataset(uri, **options))
    check_memory(config.params, memory_bytes, input_width=len(dataset.schema.feature_names))
    return dataset


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.perf_counter()
    # A container's stop (SIGTERM to PID 1) takes the Ctrl-C path, then ends the process at once.
    with (sigterm_as_interrupt(),
          ErrorBoundary("interrupted: the networks trained so far are in the output directory") as boundary):
        config = parse_config(argv)
        check_trial_resources(config)  # an unusable output location or memory bound fails first
        dataset = load_trial_data(config)  # bad data fails fast, before TensorFlow loads
        from latticenas.trial_loop import run_trial

        outcome = run_trial(config, dataset, emit=_emit)
    if boundary.exit_code is not None:
        return boundary.exit_code
    log.info("trial finished in %.1f s: best network %s, artifacts in %s",
             time.perf_counter() - started, outcome.best_network_id, config.output_dir)
    return 0


def _emit(lines: str) -> None:
    if lines:
        print(lines, flush=True)


__all__ = ["TrialConfig", "build_parser", "parse_config", "check_trial_resources", "load_trial_data",
           "resolve_data_uri", "main"]

if __name__ == "__main__":
    sys.exit(main())
