"""Benchmark: trials in warm workers vs one process a trial (the local runner's ``--workers``).

Part 1, the original Cerebros example's parameter set (Ames' numeric columns, 20 epochs, batch
634, 4 networks a trial; ``fused_throughput.ORIGINAL``): T trials one after another, each as a
new ``latticenas-trial`` process and each in one warm worker, through the runner's own
launchers (``run_trial_process`` and ``WarmPool.run_trial``). Reports networks trained per
minute of trial wall time and the share of that time spent training (the trial's own
``train_seconds``), for the first (cold) trial and the later ones.

Part 2, a whole local search: ``latticenas search`` on Ames with the shipped default space,
shortened to E epochs and 2 networks a trial (``--trials`` trials, 2 in parallel), once with
``--workers=process`` and once with ``--workers=warm``: wall time of the whole run and the share
of trial wall time spent training.

    .venv/bin/python benchmarks/warm_workers.py [--trials 4] [--search-trials 8] [--epochs 10] [--part 1|2|both]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from fused_throughput import ORIGINAL  # noqa: E402

from latticenas.datasets import example_path  # noqa: E402
from latticenas.runner.process import MetricCollector, TrialCommand, run_trial_process  # noqa: E402
from latticenas.runner.warm import WarmPool  # noqa: E402
from latticenas.search_plan import default_space  # noqa: E402

TRIAL = str(Path(sys.executable).parent / "latticenas-trial")


def original_trials(count: int) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        frame = pd.read_csv(example_path("ames")).select_dtypes("number").drop(columns=["Order", "PID"])
        data = Path(tmp) / "ames_numeric.csv"
        frame.to_csv(data, index=False)
        base = [TRIAL, f"--data={data}", "--target=price", "--fused=off", *(f"--{k}={v}" for k, v in ORIGINAL.items())]
        with WarmPool() as pool:
            for kind, launch in (("process", run_trial_process), ("warm", pool.run_trial)):
                rows = []
                for i in range(count):
                    output = Path(tmp) / f"{kind}-{i}"
                    command = TrialCommand((*base, f"--output-dir={output}"))
                    started = time.perf_counter()
                    result = launch(command, Path(tmp) / f"{kind}-{i}.log", MetricCollector([r"([\w-]+)=([\d.e+-]+)"],
                                                                                              ["val-rmse"]), "val-rmse")
                    seconds = time.perf_counter() - started
                    if result.exit_code != 0:
                        raise SystemExit(f"error: trial failed: {(Path(tmp) / f'{kind}-{i}.log').read_text()[-2000:]}")
                    train = json.loads((output / "summary.json").read_text())["train_seconds"]
                    rows.append({"trial_s": round(seconds, 2), "networks_per_min": round(60 * 4 / seconds, 2),
                                 "training_share": round(train / seconds, 3)})
                    print(json.dumps({kind: rows[-1]}), flush=True)
                later = rows[1:] or rows
                out[kind] = {"first": rows[0], "later_mean_networks_per_min": round(
                    sum(r["networks_per_min"] for r in later) / len(later), 2), "later_mean_training_share": round(
                    sum(r["training_share"] for r in later) / len(later), 3), "trials": rows}
    return out


def whole_search(trials: int, epochs: int) -> dict:
    space = default_space()
    space["fixed"] = {**space.get("fixed", {}), "epochs": epochs, "number_of_architecture_moities_to_try": 2}
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "space.yaml"
        path.write_text(yaml.safe_dump(space, sort_keys=False))
        for kind in ("process", "warm"):
            directory = Path(tmp) / kind
            started = time.perf_counter()
            subprocess.run([str(Path(sys.executable).parent / "latticenas"), "search", "--data", "example:ames",
                            "--target", "price", "--drop-columns", "Order,PID", "--space", str(path),
                            "--algorithm", "random", "--max-trials", str(trials), "--parallel", "2",
                            "--dir", str(directory), "--workers", kind],
                           check=True, capture_output=True)
            wall = time.perf_counter() - started
            with sqlite3.connect(directory / "experiment.db") as conn:
                rows = conn.execute("SELECT name, started, ended FROM trials").fetchall()
            trial_s = sum(end - start for _, start, end in rows)
            train_s = sum(json.loads((directory / "trials" / name / "output" / "summary.json").read_text())["train_seconds"]
                          for name, _, _ in rows)
            out[kind] = {"wall_s": round(wall, 1), "trial_wall_s": round(trial_s, 1),
                         "training_share_of_trial_time": round(train_s / trial_s, 3)}
            print(json.dumps({kind: out[kind]}), flush=True)
    out["warm_speedup_of_trial_time"] = round(out["process"]["trial_wall_s"] / out["warm"]["trial_wall_s"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4, help="part 1: trials of each kind")
    parser.add_argument("--search-trials", type=int, default=8, help="part 2: trials of each search")
    parser.add_argument("--epochs", type=int, default=10, help="part 2: epochs of a network")
    parser.add_argument("--part", choices=["1", "2", "both"], default="both")
    args = parser.parse_args()
    report = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()[0]}
    if args.part in ("1", "both"):
        report["original_parameter_set"] = original_trials(args.trials)
    if args.part in ("2", "both"):
        report["whole_search"] = whole_search(args.search_trials, args.epochs)
    report["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
