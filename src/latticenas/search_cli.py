"""``latticenas search``: search a table of your own in one command.

``latticenas search --data FILE|gs://...|example:NAME --target COL [--task T] [--drop-columns a,b]
[--time-budget 10m] [--max-trials N] [--parallel N] [--algorithm tpe] [--space FILE] [--dir DIR]
[--seed N] [--emit-manifests DIR] [--backend local|mop [--scheduler tcp://HOST:PORT | --local-workers N]
[--partitions P] [--partition-root DIR|gs://...]]`` plans the Katib Experiment
(:mod:`latticenas.search_plan`), runs it locally (:func:`latticenas.api.search`) and prints the
report, then where everything is. Running it again on the same ``--dir`` resumes.
``--emit-manifests DIR`` writes the same Experiment and its kustomize overlays for a cluster
instead of searching here. ``--backend mop`` trains the Experiment's ``--max-trials`` models by
Model Hopper Parallelism on a Dask cluster (docs/mop.md; default a LocalCluster of ``--parallel``
processes), then builds the same final model, baseline and report; it does not resume.

Exit 0 with a model, 1 when the experiment failed or no trial finished in time, 2 for bad
input (one ``error:`` line, before any trial starts), 130 when interrupted.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from latticenas.errors import LatticeNASError
from latticenas.runner.cli import add_workers_flag


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "search", help="search your own table in one command: trials, final model, baseline, report",
        description="Search a table for a lattice network on this machine (or write the Katib "
                    "manifests for a cluster). The same command on the same --dir resumes.")
    parser.add_argument("--data", required=True, help="CSV/Parquet path, gs:// URI or example:NAME")
    parser.add_argument("--target", required=True, help="the column to predict")
    parser.add_argument("--task", default="auto", help="auto (default), regression, binary or multiclass")
    parser.add_argument("--drop-columns", default="", metavar="A,B", help="columns that are not features (ids)")
    parser.add_argument("--time-budget", metavar="DURATION",
                        help="wall-clock budget, e.g. 90s, 10m, 1h (default: none, --max-trials ends it)")
    parser.add_argument("--max-trials", type=int, metavar="N",
                        help="trials at most (default 8, or 200 with --time-budget, or the --space file's)")
    parser.add_argument("--parallel", type=int, metavar="N", help="trials at a time (default 2)")
    parser.add_argument("--algorithm", default="tpe", help="Katib algorithm: tpe (default), random, "
                                                          "bayesianoptimization, multivariate-tpe, cmaes, sobol, hyperband")
    parser.add_argument("--space", metavar="FILE", help="search-space file instead of the default "
                                                        "(docs/search-space.md)")
    parser.add_argument("--dir", type=Path, help="experiment directory (default experiments/<experiment name>)")
    parser.add_argument("--seed", type=int, help="seed of the algorithm and the trials (default 0)")
    add_workers_flag(parser)
    mop = parser.add_argument_group("search backend (mop: Model Hopper Parallelism on Dask, docs/mop.md)")
    mop.add_argument("--backend", default="local", metavar="local|mop",
                     help="local: trials by the local runner (default); mop: models by MOP on a Dask cluster")
    mop.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="the Dask scheduler of a running cluster")
    mop.add_argument("--local-workers", type=int, metavar="N",
                     help="start a LocalCluster of N worker processes (default: --parallel)")
    mop.add_argument("--partitions", type=int, metavar="P", help="training partitions (default: one per worker)")
    mop.add_argument("--partition-root", metavar="DIR|gs://BUCKET/PREFIX",
                     help="where the partitions are written, for every worker to read (default DIR/mop/partitions)")
    parser.add_argument("--emit-manifests", type=Path, metavar="DIR",
                        help="write the Experiment and its kustomize overlays to DIR for a cluster, and stop")
    parser.set_defaults(func=search_command)


def _setup(args):
    from latticenas.api import make_setup

    return make_setup(args.data, args.target, task=args.task, drop_columns=args.drop_columns,
                      timed=args.time_budget is not None, max_trials=args.max_trials,
                      parallel=args.parallel, algorithm=args.algorithm, space=args.space, seed=args.seed)


def search_command(args) -> int:
    if args.emit_manifests is not None:
        return emit_command(args)
    from latticenas.api import search

    if args.backend == "mop":  # the cluster's start/stop chatter; the run's own lines say what matters
        logging.getLogger("distributed").setLevel(logging.ERROR)
    result = search(args.data, args.target, task=args.task, drop_columns=args.drop_columns,
                    time_budget=args.time_budget, max_trials=args.max_trials, parallel=args.parallel,
                    algorithm=args.algorithm, space=args.space, directory=args.dir, seed=args.seed,
                    workers=args.workers, backend=args.backend, scheduler=args.scheduler,
                    local_workers=args.local_workers, partitions=args.partitions, partition_root=args.partition_root)
    print("\n" + "\n".join(where_lines(result, resumable=args.backend == "local")))
    if result.model_dir is None:
        print("no trial finished: run the same command again (with a larger --time-budget) to continue"
              if args.backend == "local" else "no model finished: see the trials' logs", file=sys.stderr)
    return 0 if result.succeeded else 1


def emit_command(args) -> int:
    from latticenas.runner.timebudget import parse_time_budget
    from latticenas.search_plan import cluster_warning, emit_manifests, plan_search

    if args.backend != "local":
        raise LatticeNASError("--emit-manifests writes a Katib Experiment for a cluster; it takes no --backend mop")
    if args.time_budget is not None:
        parse_time_budget(args.time_budget)  # bad input is refused here too
    plan = plan_search(_setup(args))
    warning = cluster_warning(plan)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    for path in emit_manifests(plan, args.emit_manifests):
        print(f"wrote {path}")
    print(f"{args.emit_manifests}: {plan.describe()}")
    print(f"apply it: kubectl apply -k {args.emit_manifests}/base   (GPU: -k {args.emit_manifests}/overlays/gpu)")
    if args.time_budget is not None:
        print("note: Katib has no time budget; on a cluster the pipeline's search step enforces it "
              "(its time_budget parameter, docs/pipeline.md)")
    return 0


def where_lines(result, resumable: bool = True) -> list[str]:
    """Where everything of a search is, and how to use and (``resumable``) resume it."""
    d = result.experiment_dir
    lines = ["where everything is:", f"  experiment   {d}   (status: latticenas experiment status {d})"]
    if result.model_dir is not None:
        lines.append(f"  model        {result.model_dir}/   (latticenas predict --model {result.model_dir} "
                     "--data FILE; Python: latticenas.load(...))")
    if result.report_path is not None:
        lines.append(f"  report       {result.report_path}, {d}/leaderboard.csv, leaderboard.json, progress.png")
    lines.append(f"  trials       {d}/trials/<trial>/logs.txt, output/")
    if resumable:
        lines.append("  resume       run the same command again (same --dir)")
    return lines
