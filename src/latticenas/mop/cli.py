"""``latticenas mop``: train K lattices by Model Hopper Parallelism on a Dask cluster.

``latticenas mop --data ... --target ... (--scheduler tcp://HOST:PORT | --local-workers N)
[--partitions P] [--cached-partitions N] [--partition-root DIR|gs://BUCKET/PREFIX] --models K [--epochs E] [--dir DIR]
[trial options and parameters]``. The trial options (``--task``, ``--objective``,
``--drop-columns``, ``--val-fraction``, ...) and the search parameters (``--epochs``,
``--batch_size``, ``--seed``, ...) are the trial program's own, parsed by it
(``latticenas-trial --help``). Prints the report; the directory is an
experiment directory (``latticenas experiment status DIR``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from latticenas.errors import ParameterError


def register(subparsers) -> None:
    parser = subparsers.add_parser("mop", add_help=False,
                                   help="train many lattices over a partitioned table by model hopping on Dask")
    parser.set_defaults(func=_run, accepts_extra=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latticenas mop", allow_abbrev=False,
        description="Model Hopper Parallelism: the table is split into partitions held by Dask workers; "
                    "each model trains one sub-epoch on a worker's partition, then hops to the next.",
        epilog="Every other flag is a trial option or search parameter (see the list below).")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="the Dask scheduler of a running cluster")
    parser.add_argument("--local-workers", type=int, metavar="N", help="start a LocalCluster of N worker processes")
    parser.add_argument("--memory-limit", default="auto", help="memory limit per local worker, e.g. 2GiB")
    parser.add_argument("--partitions", type=int, metavar="P", help="training partitions (default: one per worker)")
    parser.add_argument("--models", type=int, required=True, metavar="K", help="lattices to train (seeds seed..seed+K-1)")
    parser.add_argument("--dir", type=Path, help="experiment directory (default experiments/<data>-mop)")
    parser.add_argument("--cached-partitions", type=int, metavar="N",
                        help="encoded partitions a worker keeps in memory (default: all it owns; 1 bounds a "
                             "worker's memory by one partition, at the cost of reading them again)")
    parser.add_argument("--partition-root", metavar="DIR|gs://BUCKET/PREFIX",
                        help="where the partitions are written, for every worker to read (default DIR/mop/partitions)")
    return parser


def _run(args) -> int:
    from latticenas.trial import build_parser as trial_parser
    from latticenas.trial import parse_config

    parser = build_parser()
    if {"-h", "--help"} & set(args.extra):
        print(parser.format_help() + "\n" + trial_parser().format_help().split("\n\n", 1)[1])
        return 0
    own, rest = parser.parse_known_args(args.extra)
    if any(a.split("=", 1)[0] == "--output-dir" for a in rest):
        raise ParameterError("--output-dir is not a mop option: the models' artifacts go under --dir")
    from latticenas.search_plan import experiment_base_name

    data = next((a.split("=", 1)[1] for a in rest if a.startswith("--data=")), None)
    if data is None and "--data" in rest and rest.index("--data") + 1 < len(rest):
        data = rest[rest.index("--data") + 1]
    directory = own.dir or Path("experiments") / f"{experiment_base_name(data or 'mop')}-mop"
    config = parse_config([*rest, f"--output-dir={directory}"])
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("distributed").setLevel(logging.ERROR)  # cluster start/stop chatter; lost hops are ours
    from latticenas.mop.driver import live_workers
    from latticenas.mop.run import check_request, dask_client, run_mop

    check_request(config, own.models, own.partitions, own.cached_partitions)
    with dask_client(own.scheduler, own.local_workers, own.memory_limit) as client:
        workers = len(live_workers(client))
        outcome = run_mop(config, client, directory, partitions=own.partitions or max(1, workers), models=own.models,
                          partition_root=own.partition_root, name=f"{experiment_base_name(data or 'mop')}-mop",
                          cached_partitions=own.cached_partitions)
    print(outcome.report)
    print(f"\nexperiment directory: {directory}   (latticenas experiment status {directory})")
    return 0 if any(r.status and r.status.value == "succeeded" for r in outcome.runs) else 1
