"""Benchmark: Model Hopper Parallelism vs task parallelism under a small worker memory limit.

One generated table (``mop_table.py``'s, widened with ``--extra-columns`` noise columns and
``--text-columns`` ID-like text columns, written chunk by chunk, so it may exceed this machine's
memory) as Parquet, and K models: model ``k`` is the lattice a one-network trial with ``--seed=k`` samples
and initializes (the same spec and initial weights under both schemes, checked by spec hash).
Each scheme gets a fresh ``LocalCluster`` of W one-thread worker processes from
``latticenas.mop.run.dask_client`` (the memory limit enforced by the nanny, which restarts a
worker above 95% of it):

* ``mop``: ``latticenas.mop.run.run_mop`` with P partitions, each worker loading only its own;
* ``task``: K Dask tasks, each a whole trial of one model (``load_trial_data`` + ``run_trial``,
  what a Katib trial runs), so every task loads the whole table; at ``--memory-limit``, and
  again at ``--task-limit`` (larger, so that it completes and its models can be compared).

A thread samples every worker process's RSS (psutil, every 0.1 s) and this process's (the MOP
driver, which streams the table in chunks and writes the partitions; ``first_hop_s`` is when
its first hop ended, so roughly the driver's time to partition); the nanny's "exceeded 95%
memory budget" restarts are counted from its log. Networks per minute are K over the scheme's wall time
(loading, training, artifacts). Prints Markdown tables and writes ``<dir>/results.json``.

    .venv/bin/python benchmarks/mop_vs_task.py [--rows 400000] [--extra-columns 32] [--memory-limit 1.5GiB]
    .venv/bin/python benchmarks/mop_vs_task.py --rows 4700000 --extra-columns 0 --text-columns 6 --text-chars 64 \
        --memory-limit 2GiB --task-limit '' --partitions 16 --cached-partitions 1 --epochs 1 \
        --val-fraction 0.01 --test-fraction 0.01
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from mop_table import write_table  # noqa: E402

from latticenas.mop.experiment import model_params  # noqa: E402
from latticenas.mop.run import dask_client, network_seed, run_mop  # noqa: E402
from latticenas.trial import parse_config  # noqa: E402

GiB = 2**30
LATTICE = ["--maximum_levels=2", "--maximum_units_per_level=2", "--minimum_neurons_per_unit=4",
           "--maximum_neurons_per_unit=8", "--learning_rate_schedule=constant", "--patience=0"]


class RssSampler(threading.Thread):
    """Peak RSS of every worker process (the driver's ``spawn_main`` children, so restarted
    ones too), labelled by worker name (``client.run``) while they answer."""

    def __init__(self, client, interval: float = 0.1):
        super().__init__(daemon=True)
        self.client, self.interval = client, interval
        self.peak: dict[int, int] = {}  # pid -> bytes
        self.names: dict[int, str] = {}  # pid -> worker name
        self.driver = 0  # this process (the MOP driver loads and partitions the table)
        self.done = threading.Event()

    def run(self) -> None:
        labelled = 0.0
        me = psutil.Process()
        while not self.done.wait(self.interval):
            self.driver = max(self.driver, me.memory_info().rss)
            for proc in me.children(recursive=True):
                try:
                    if "spawn_main" in " ".join(proc.cmdline()):
                        self.peak[proc.pid] = max(self.peak.get(proc.pid, 0), proc.memory_info().rss)
                except psutil.Error:  # it has just ended
                    continue
            if time.monotonic() - labelled > 0.5:
                labelled = time.monotonic()
                try:
                    answers = self.client.run(_name_and_pid, on_error="return")
                except Exception:  # the cluster is restarting a worker or closing: later
                    continue
                self.names.update({pid: name for name, pid in (a for a in answers.values() if isinstance(a, tuple))})

    def stop(self) -> dict:
        self.done.set()
        self.join()
        by_name: dict[str, int] = {}
        for pid, rss in self.peak.items():
            name = self.names.get(pid, "unnamed")
            by_name[name] = max(by_name.get(name, 0), rss)
        return {"peak_rss_gib": {n: round(b / GiB, 3) for n, b in sorted(by_name.items())},
                "driver_peak_rss_gib": round(self.driver / GiB, 3), "worker_processes": len(self.peak)}


def _name_and_pid(dask_worker) -> tuple[str, int]:
    return str(dask_worker.name), os.getpid()


class _Kills(logging.Handler):
    def __init__(self):
        super().__init__()
        self.count = 0

    def emit(self, record) -> None:
        self.count += "exceeded" in record.getMessage()


@contextlib.contextmanager
def measured(client, result: dict):
    """Fill ``result`` with the block's seconds, peak RSS, the nanny's memory kills
    (``distributed.nanny.memory`` runs in this process for a LocalCluster) and the load."""
    sampler, kills, logger = RssSampler(client), _Kills(), logging.getLogger("distributed.nanny.memory")
    logger.addHandler(kills)
    load, started = os.getloadavg()[0], time.perf_counter()
    sampler.start()
    try:
        yield
    finally:
        result.update(seconds=time.perf_counter() - started, load=(round(load, 2), round(os.getloadavg()[0], 2)),
                      kills=kills.count, **sampler.stop())
        logger.removeHandler(kills)


def whole_trial(config) -> dict:
    """One model as a trial on a Dask worker: it loads, splits and encodes the whole table.
    Keras draws its initializers' seeds from a generator of its own meanwhile (the Dask worker's
    threads draw from Python's global one), seeded as the trial seeds the global one, so the
    network starts from the weights a trial process gives it, as MOP's model does."""
    from latticenas.mop.worker import keras_seed_source, limit_threads

    limit_threads()
    from latticenas.trial import load_trial_data
    from latticenas.trial_loop import run_trial

    started = time.perf_counter()
    with keras_seed_source(network_seed(config.params.seed)):
        outcome = run_trial(config, load_trial_data(config), emit=lambda lines: None)
    return {"seconds": time.perf_counter() - started, "objective": outcome.best_value}


def summary(output: Path) -> dict:
    data = json.loads((output / "summary.json").read_text())
    return {"spec": data["best_spec_hash"][:12], **{k: data["metrics"][k] for k in ("val-rmse", "val-r2")}}


def run_mop_scheme(config, args, directory: Path) -> dict:
    result = {"scheme": "mop", "limit": args.memory_limit, "workers": args.workers}
    hops = []
    with (dask_client(local_workers=args.workers, memory_limit=args.memory_limit) as client,
          measured(client, result)):
        started = time.perf_counter()
        outcome = run_mop(config, client, directory, partitions=args.partitions, models=args.models,
                          on_hop=lambda hop: hops.append(time.perf_counter() - started), name="bench-mop",
                          cached_partitions=args.cached_partitions)
    result["first_hop_s"] = round(hops[0], 1) if hops else None
    models = {}
    for run in outcome.runs:
        out = directory / "trials" / run.name / "output"
        found = summary(out) if (out / "summary.json").is_file() else {}
        models[run.params.seed] = {"status": run.status.value, **found}
    done = sum(m["status"] == "succeeded" for m in models.values())
    return {**result, "finished": done, "lost_hops": outcome.lost_hops, "models": models}


def run_task_scheme(config, args, directory: Path, limit: str) -> dict:
    from distributed import wait

    result = {"scheme": "task", "limit": limit, "workers": args.workers}
    models = {}
    with dask_client(local_workers=args.workers, memory_limit=limit) as client, measured(client, result):
        futures = {}
        for k in range(args.models):
            own = replace(config, params=model_params(config.params, config.params.seed + k),
                          output_dir=str(directory / f"model-{k}"))
            futures[own.params.seed] = client.submit(whole_trial, own, pure=False, key=f"trial-{k}-{time.time_ns()}")
        wait(list(futures.values()), timeout=args.timeout)
        for seed, future in futures.items():
            if future.status == "finished":
                models[seed] = {"status": "succeeded", **summary(directory / f"model-{seed - config.params.seed}")}
            elif future.status == "error":
                models[seed] = {"status": f"error: {type(future.exception()).__name__}"}
            else:
                models[seed] = {"status": f"not done after {args.timeout:.0f} s"}
                future.cancel()
    done = sum(m["status"] == "succeeded" for m in models.values())
    return {**result, "finished": done, "models": models}


def markdown(results: list[dict], models: int) -> str:
    lines = ["| scheme | memory_limit | models finished | wall s | networks/min | peak RSS per worker (GiB) | "
             "workers killed over the limit | driver peak RSS (GiB) | load (1 min) |", "|---" * 9 + "|"]
    for r in results:
        rate = f"{60 * r['finished'] / r['seconds']:.2f}" if r["finished"] == models else "—"
        # "unnamed": a worker process killed before it answered (its peak is below the named ones')
        peaks = " / ".join(f"{v:.2f}" for n, v in r["peak_rss_gib"].items() if n != "unnamed")
        driver = f"{r['driver_peak_rss_gib']:.2f}" if r["scheme"] == "mop" else "(loads nothing)"
        lines.append(f"| {r['scheme']} | {r['limit']} | {r['finished']}/{models} | {r['seconds']:.0f} | {rate} | "
                     f"{peaks} | {r['kills']} | {driver} | {r['load'][0]:.1f} → {r['load'][1]:.1f} |")
    lines += ["", "| model (seed) | " + " | ".join(f"{r['scheme']} @ {r['limit']}" for r in results) + " |",
              "|---|" + "---|" * len(results)]
    for seed in results[0]["models"]:
        cells = []
        for r in results:
            m = r["models"][seed]
            cells.append(f"rmse {m['val-rmse']:.4f}, r2 {m['val-r2']:.4f}, spec {m['spec']}" if "val-rmse" in m
                         else m["status"])
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--extra-columns", type=int, default=32)
    parser.add_argument("--text-columns", type=int, default=0, help="ID-like text columns (mop_table.py)")
    parser.add_argument("--text-chars", type=int, default=32)
    parser.add_argument("--cached-partitions", type=int, default=None,
                        help="encoded partitions a MOP worker keeps (default: all it owns)")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--memory-limit", default="1.5GiB", help="per worker, both schemes")
    parser.add_argument("--task-limit", default="6GiB", help="task parallelism again at this limit ('' to skip)")
    parser.add_argument("--schemes", default="mop,task", help="mop, task or both")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a task-parallel run may take")
    parser.add_argument("--dir", type=Path, default=Path("runs/mop-vs-task"))
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    shape = f"{args.rows}x{args.extra_columns}" + (f"x{args.text_columns}t{args.text_chars}" if args.text_columns else "")
    table = args.dir / f"table-{shape}.parquet"
    about = table.with_suffix(".json")
    if not about.is_file():
        about.write_text(json.dumps(write_table(table, args.rows, 0, extra_columns=args.extra_columns,
                                                text_columns=args.text_columns, text_chars=args.text_chars)))
    print(f"table {table}: {about.read_text()}", flush=True)
    config = parse_config(["--data", str(table), "--target", "y", "--task", "regression", "--output-dir", "unused",
                           f"--val-fraction={args.val_fraction}", f"--test-fraction={args.test_fraction}", f"--epochs={args.epochs}",
                           f"--batch_size={args.batch_size}", *LATTICE])
    results = []
    schemes = args.schemes.split(",")
    for scheme, limit in [("mop", args.memory_limit), ("task", args.memory_limit), ("task", args.task_limit)]:
        if scheme not in schemes or not limit:
            continue
        directory = args.dir / f"{scheme}-{limit}"
        shutil.rmtree(directory, ignore_errors=True)
        print(f"-- {scheme} at memory_limit {limit} (load: {os.getloadavg()[0]:.2f})", flush=True)
        result = (run_mop_scheme(config, args, directory) if scheme == "mop"
                  else run_task_scheme(config, args, directory, limit))
        print(json.dumps(result), flush=True)
        results.append(result)
    (args.dir / "results.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                       "table": json.loads(about.read_text()), "results": results},
                                                      indent=2))
    print(markdown(results, args.models))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
