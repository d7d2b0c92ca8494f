"""``latticenas pipeline compile|run|submit``.

* ``compile [--output PATH] [--accelerator cpu|gpu|tpu] [--check]`` writes the pipeline YAML
  (default ``pipelines/latticenas_pipeline.yaml``; with ``--accelerator`` the variant for one
  accelerator). ``--check`` writes nothing and exits 1 when the file differs from a fresh
  compilation.
* ``run --local [--data URI --target COL ... --max-trials N --dir DIR]`` runs the whole
  pipeline on this machine (kfp.local, local search backend) and prints where the
  leaderboard, the diagram and the registered model are.
* ``submit --host URL [--package PATH] [--param NAME=VALUE ...] [data options]`` starts a run
  on a Kubeflow Pipelines endpoint and prints its id.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from latticenas.errors import LatticeNASError
from latticenas.pipeline import parameters
from latticenas.fileio import atomic_write, check_output_file, storage_faults


def register(subparsers) -> None:
    parser = subparsers.add_parser("pipeline", help="compile, run locally or submit the Kubeflow pipeline",
                                   description="The Kubeflow pipeline: prepare, search, aggregate, retrain, register.")
    actions = parser.add_subparsers(dest="pipeline_action", required=True, metavar="ACTION")

    comp = actions.add_parser("compile", help="write the pipeline YAML")
    comp.add_argument("--output", type=Path, help="output file (default pipelines/latticenas_pipeline.yaml)")
    comp.add_argument("--accelerator", choices=["cpu", "gpu", "tpu"],
                      help="compile the variant for one accelerator (default: a runtime parameter)")
    comp.add_argument("--check", action="store_true", help="write nothing; exit 1 if --output differs")
    comp.set_defaults(func=compile_command)

    run = actions.add_parser("run", help="run the whole pipeline on this machine (kfp.local)")
    run.add_argument("--local", action="store_true", required=True,
                     help="run here with kfp.local and the local search backend (the only mode)")
    _data_options(run)
    run.add_argument("--registry", help="registry directory or gs:// prefix (default DIR/registry)")
    run.add_argument("--dir", type=Path, default=Path("runs/pipeline"), help="work directory (default runs/pipeline)")
    run.set_defaults(func=run_command)

    sub = actions.add_parser("submit", help="start a run on a Kubeflow Pipelines endpoint")
    sub.add_argument("--host", required=True, help="KFP API endpoint, e.g. http://localhost:8080")
    sub.add_argument("--package", type=Path, help="compiled pipeline (default: the committed YAML)")
    sub.add_argument("--registry", required=True, help="registry gs:// prefix (pipeline parameter registry_target)")
    _data_options(sub, defaults=False)
    sub.add_argument("--accelerator", choices=["cpu", "gpu", "tpu"], help="pipeline parameter accelerator")
    sub.add_argument("--backend", choices=parameters.BACKENDS, help="pipeline parameter search_backend")
    sub.add_argument("--trial-output-root", help="gs:// prefix for trial outputs (katib backend)")
    sub.add_argument("--namespace", help="Kubeflow namespace of the run (and of the Katib Experiment)")
    sub.add_argument("--experiment", help="KFP experiment to file the run under")
    sub.add_argument("--run-name", help="name of the run")
    sub.add_argument("--service-account", default="latticenas-pipeline",
                     help="service account of the run's pods (default latticenas-pipeline; '' for the default)")
    sub.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                     help="any other pipeline parameter (repeatable)")
    sub.set_defaults(func=submit_command)


#: --option -> the pipeline parameter it sets (latticenas.pipeline.parameters)
DATA_OPTIONS = {"--data": "data_uri", "--target": "target", "--task": "task", "--drop-columns": "drop_columns",
                "--allow-leakage": "allow_leakage", "--algorithm": "algorithm", "--max-trials": "max_trials",
                "--parallel": "parallel_trials", "--model-name": "model_name",
                "--model-registry-address": "model_registry_address", "--seed": "seed", "--time-budget": "time_budget"}


def _data_options(parser: argparse.ArgumentParser, defaults: bool = True) -> None:
    """The options of :data:`DATA_OPTIONS`, typed, with the pipeline's defaults (``defaults``)
    or None (keep the compiled pipeline's)."""
    for option, name in DATA_OPTIONS.items():
        value = parameters.default(name)
        shown = f" (default {value!r})" if defaults else ""
        parser.add_argument(option, dest=name, type=type(value), default=value if defaults else None,
                            metavar=option.removeprefix("--").upper().replace("-", "_"),
                            help=parameters.help_text(name).replace("`", "") + shown,
                            **({"choices": parameters.TASKS} if name == "task" else {}))
    parser.add_argument("--search-space", help="search-space YAML (default search_spaces/ames.yaml)")


def compile_command(args) -> int:
    from latticenas.pipeline.build import COMPILED_FILE, compile_pipeline, repo_root

    target = args.output or repo_root() / COMPILED_FILE
    if not args.check:
        check_compile_output(target)
        with tempfile.TemporaryDirectory() as tmp, storage_faults(target):  # the old file stays whole if the disk is full
            atomic_write(target, compile_pipeline(Path(tmp) / target.name, args.accelerator).read_text())
        print(f"wrote {target}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = compile_pipeline(Path(tmp) / "pipeline.yaml", args.accelerator).read_text()
    if not target.is_file() or target.read_text() != fresh:
        print(f"drift: {target} differs from a fresh compilation; run: latticenas pipeline compile", file=sys.stderr)
        return 1
    print(f"OK {target}")
    return 0


def check_compile_output(target: Path) -> None:
    """One error line, before kfp loads, for an ``--output`` that cannot take the YAML."""
    check_output_file(target, "--output", example="pipeline.yaml", new_parents=True)
    if target.suffix not in (".yaml", ".yml"):
        raise LatticeNASError(f"--output {target} does not end in .yaml: pass a .yaml file path")


def _print_results(result) -> None:
    """The leaderboard and the retrained model's test metrics beside the baseline's."""
    import json

    import pandas as pd

    table = pd.read_csv(result.leaderboard_table)
    table["rank"] = table["rank"].astype("Int64").astype("string").fillna("-")
    print("\nleaderboard (best first; the final model and the baseline unranked):")
    print(table.head(10).to_string(index=False, max_colwidth=48, na_rep="-"))
    metrics_path = Path(result.model_dir) / "metrics.json"
    if metrics_path.exists():
        record = json.loads(metrics_path.read_text())
        final = record.get("final") or {}
        members = final.get("members") or []
        what = ("ensemble of " + ", ".join(f"{m['trial']} x{m['weight']:g}" for m in members)
                if final.get("kind") == "ensemble" else "best network")
        shown = ", ".join(f"{name} {value:.6g}" for name, value in record.get("metrics", {}).items())
        print(f"\nretrained final model ({what}), untouched test split: {shown}")
        baseline = final.get("baseline") or {}
        if baseline.get("test_metrics"):
            shown = ", ".join(f"{name} {value:.6g}" for name, value in baseline["test_metrics"].items())
            print(f"{baseline['name']} baseline, same test split: {shown}")
        print()


def run_command(args) -> int:
    from latticenas.pipeline.build import run_local

    chosen = {name: getattr(args, name) for name in DATA_OPTIONS.values()}
    result = run_local(parameters.PipelineParameters(**chosen, registry_target=args.registry or "",
                                                     search_space=args.search_space or ""), work_dir=args.dir)
    _print_results(result)
    print(f"leaderboard: {result.leaderboard}  (HTML: open it in a browser)")
    print(f"summary:     {result.summary}")
    print(f"diagram:     {result.diagram}")
    print(f"model:       {result.model_dir}")
    print(f"registered:  {result.registration['name']} {result.version} at {result.registered_uri}")
    return 0


def _parse_params(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise LatticeNASError(f"--param {item!r}: expected NAME=VALUE")
        out[name.strip()] = value
    return out


def submit_command(args) -> int:
    from latticenas.pipeline.build import read_search_space, submit

    given = {
        **{name: getattr(args, name) for name in DATA_OPTIONS.values()}, "registry_target": args.registry,
        "accelerator": args.accelerator, "search_backend": args.backend,
        "trial_output_root": args.trial_output_root, "katib_namespace": args.namespace,
    }
    arguments = {k: v for k, v in given.items() if v is not None}
    if args.search_space:
        arguments["search_space"] = read_search_space(args.search_space)
    arguments.update(_parse_params(args.param))
    run_id = submit(args.host, arguments, package_path=args.package, run_name=args.run_name,
                    experiment_name=args.experiment, namespace=args.namespace,
                    service_account=args.service_account or None)
    print(f"run {run_id} started on {args.host}")
    return 0
