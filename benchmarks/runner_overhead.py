"""Benchmark: the local runner's orchestration overhead.

Runs N trials of an Experiment through ``latticenas experiment run`` (one at a time), then
runs the very same N trial commands (read back from each trial's ``command.json``) back to back
by hand, and reports the wall-time ratio runner / by-hand. Two cases:

- ``short``: a ~2 s trial (``tests/runner/fake_trials/quadratic.py --sleep 2``);
- ``ames``: the default Ames trial of ``manifests/base/experiment-random.yaml``.

    .venv/bin/python benchmarks/runner_overhead.py [--case short|ames|both] [--trials N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "runner"))
LATTICENAS = str(Path(sys.executable).parent / "latticenas")


def short_manifest(directory: Path) -> Path:
    from runner_helpers import experiment_manifest, write_manifest

    manifest = experiment_manifest(name="overhead-short", max_trials=100, trial_args=("--sleep=2",))
    return write_manifest(directory, manifest)


def run_runner(manifest: Path, directory: Path, trials: int) -> float:
    started = time.perf_counter()
    subprocess.run([LATTICENAS, "experiment", "run", str(manifest), "--dir", str(directory),
                    "--max-trials", str(trials), "--parallel", "1"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def run_by_hand(directory: Path) -> float:
    commands = [json.loads(p.read_text()) for p in sorted(directory.glob("trials/*/command.json"))]
    env_base = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    started = time.perf_counter()
    for index, command in enumerate(commands):
        argv = [a.replace(str(directory), str(directory) + "-byhand") for a in command["argv"]]
        subprocess.run(argv, env={**env_base, **command["env"]}, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def measure(case: str, trials: int, work: Path) -> dict:
    manifest = short_manifest(work) if case == "short" else ROOT / "manifests/base/experiment-random.yaml"
    directory = work / f"exp-{case}"
    runner_s = run_runner(manifest, directory, trials)
    by_hand_s = run_by_hand(directory)
    return {"case": case, "trials": trials, "runner_s": round(runner_s, 2), "by_hand_s": round(by_hand_s, 2),
            "ratio_runner_over_by_hand": round(runner_s / by_hand_s, 4),
            "overhead_percent": round(100 * (runner_s / by_hand_s - 1), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=["short", "ames", "both"], default="both")
    parser.add_argument("--trials", type=int, default=None, help="default: 10 short, 3 ames")
    args = parser.parse_args()
    cases = ["short", "ames"] if args.case == "both" else [args.case]
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            trials = args.trials or (10 if case == "short" else 3)
            print(json.dumps(measure(case, trials, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
