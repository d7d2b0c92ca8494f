"""Benchmark: a trial's networks trained fused in one model vs one after another.

Part 1, in-process (the training itself): for k = 2, 4, 8, 16 lattices sampled with the default
parameter set on the bundled Ames data (E epochs) and with the original Cerebros example's
(Ames' numeric columns, its 20 epochs and batch 634), train them sequentially (``train_network``,
one seed per network) and fused (``FusedTrial``, same specs and initial weights), without early
stopping so the work is equal; report networks per minute of wall time (build + compile + fit +
evaluate), seconds per network-epoch, their ratio, and the mean validation RMSE of both; at the
``--xla-ks`` also the fused model compiled with XLA (``jit_compile=True``).

Part 2, whole trials (what a user waits for): the trial program as a process on the original
Cerebros example's parameter set (Ames' numeric columns only, 20 epochs, batch 634, 4
networks), ``--fused=on`` vs ``--fused=off``: networks per minute of trial wall time, and the
peak RSS of a fused trial of 8 networks of the default parameter set on all of Ames.

    .venv/bin/python benchmarks/fused_throughput.py [--ks 2,4,8,16] [--epochs 10] [--part 1|2|both] [--settings default,original] [--xla-ks 4,8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from latticenas.arch import sample_architectures  # noqa: E402
from latticenas.data import load_dataset  # noqa: E402
from latticenas.datasets import example_path  # noqa: E402
from latticenas.fused import FusedTrial, Member  # noqa: E402
from latticenas.params import ParameterSet  # noqa: E402
from latticenas.train import prepare, train_network  # noqa: E402

TRIAL = [sys.executable, "-m", "latticenas.trial"]
ORIGINAL = {
    "minimum_levels": 1, "maximum_levels": 5, "minimum_units_per_level": 1, "maximum_units_per_level": 5,
    "minimum_neurons_per_unit": 1, "maximum_neurons_per_unit": 25, "activation": "gelu",
    "minimum_skip_connection_depth": 1, "maximum_skip_connection_depth": 7,
    "predecessor_level_connection_affinity_factor_first": 19.613,
    "predecessor_level_connection_affinity_factor_main": 0.5518,
    "predecessor_level_connection_affinity_factor_decay_main": "zero_7_exp_decay",
    "max_consecutive_lateral_connections": 34, "gate_after_n_lateral_connections": 3,
    "gate_activation_function": "sigmoid", "p_lateral_connection": 0.36014,
    "p_lateral_connection_decay": "zero_95_exp_decay", "num_lateral_connection_tries_per_unit": 11,
    "seed": 8675309, "epochs": 20, "batch_size": 634, "number_of_architecture_moities_to_try": 4,
}


def _setting(name: str, epochs: int):
    """(dataset, params) of a parameter set: the default one on all of Ames, or the original
    Cerebros example's on Ames' numeric columns (its 20 epochs and batch 634 unless --epochs)."""
    if name == "default":
        return load_dataset(example_path("ames"), "price", drop_columns=("Order", "PID")), \
            replace(ParameterSet(), epochs=epochs, patience=0)
    with tempfile.TemporaryDirectory() as tmp:
        frame = pd.read_csv(example_path("ames")).select_dtypes("number").drop(columns=["Order", "PID"])
        frame.to_csv(Path(tmp) / "ames_numeric.csv", index=False)
        dataset = load_dataset(str(Path(tmp) / "ames_numeric.csv"), "price")
    params = ParameterSet.from_mapping({k: str(v) for k, v in ORIGINAL.items()})
    return dataset, replace(params, epochs=epochs, patience=0)


def in_process(ks: list[int], epochs: int, setting: str = "default", xla_ks: tuple[int, ...] = ()) -> list[dict]:
    dataset, params = _setting(setting, epochs)
    data = prepare(dataset, numeric_encoding=params.numeric_encoding)
    rows = []
    for k in ks:
        specs = sample_architectures(replace(params, number_of_architecture_moities_to_try=k), output_size=1,
                                     final_activation="linear")
        members = [Member(f"m{i}", spec, seed=i) for i, spec in enumerate(specs)]
        started = time.perf_counter()
        sequential = [train_network(m.spec, data, params, network_id=m.network_id, seed=m.seed)[0] for m in members]
        sequential_s = time.perf_counter() - started
        keras.backend.clear_session()
        started = time.perf_counter()
        fused = [r for r, _ in FusedTrial(members, data, params).fit()]
        fused_s = time.perf_counter() - started
        keras.backend.clear_session()
        row = {
            "setting": setting, "k": k, "epochs": epochs, "load": round(os.getloadavg()[0], 1),
            "sequential_networks_per_min": round(60 * k / sequential_s, 2),
            "fused_networks_per_min": round(60 * k / fused_s, 2),
            "ratio_fused_over_sequential": round(sequential_s / fused_s, 2),
            "sequential_s_per_network_epoch": round(sequential_s / (k * epochs), 4),
            "fused_s_per_network_epoch": round(fused_s / (k * epochs), 4),
            "mean_val_rmse": {"sequential": round(float(np.mean([r.metrics["rmse"] for r in sequential]))),
                              "fused": round(float(np.mean([r.metrics["rmse"] for r in fused])))},
        }
        if k in xla_ks:  # the fused model compiled by XLA: one compile for k networks
            started = time.perf_counter()
            xla = [r for r, _ in FusedTrial(members, data, params, jit_compile=True).fit()]
            xla_s = time.perf_counter() - started
            keras.backend.clear_session()
            row.update(fused_xla_networks_per_min=round(60 * k / xla_s, 2),
                       ratio_fused_xla_over_fused=round(fused_s / xla_s, 2))
            row["mean_val_rmse"]["fused_xla"] = round(float(np.mean([r.metrics["rmse"] for r in xla])))
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def _trial_seconds(argv: list[str]) -> tuple[float, int]:
    """Wall seconds of one trial process and its peak RSS in MiB: the kernel's high-water mark
    of its resident set (``VmHWM``), read while it runs. (``ru_maxrss`` from ``wait4`` is not
    it: a forked child's counter starts at this benchmark's own RSS before the exec.)"""
    started = time.perf_counter()
    proc = subprocess.Popen(TRIAL + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak_kib = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak_kib = max(peak_kib, int(status.split("VmHWM:")[1].split()[0]))
        except (OSError, IndexError, ValueError):
            pass  # between the fork and the exec, or just exited
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"error: trial failed: {proc.stderr.read().decode()[-2000:]}")
    return seconds, peak_kib // 1024


def whole_trials() -> dict:
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        frame = pd.read_csv(example_path("ames")).drop(columns=["Order", "PID"])
        numeric = frame.select_dtypes("number")
        path = Path(tmp) / "ames_numeric.csv"
        numeric.to_csv(path, index=False)
        base = [f"--data={path}", "--target=price", "--fused={}", *(f"--{k}={v}" for k, v in ORIGINAL.items())]
        for mode in ("off", "on"):
            argv = [a.format(mode) if a.startswith("--fused") else a for a in base] + [f"--output-dir={tmp}/o-{mode}"]
            seconds, rss = _trial_seconds(argv)
            out[f"original_fused_{mode}"] = {"trial_s": round(seconds, 2), "networks_per_min": round(60 * 4 / seconds, 2),
                                             "peak_rss_mib": rss, "columns": numeric.shape[1] - 1}
            print(json.dumps({mode: out[f"original_fused_{mode}"]}), flush=True)
        argv = ["--data=example:ames", "--target=price", "--drop-columns=Order,PID", "--fused=on",
                "--number_of_architecture_moities_to_try=8", f"--output-dir={tmp}/k8"]
        seconds, rss = _trial_seconds(argv)
        out["default_k8_fused"] = {"trial_s": round(seconds, 2), "peak_rss_mib": rss}
        print(json.dumps(out["default_k8_fused"]), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ks", default="2,4,8,16")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--part", choices=["1", "2", "both"], default="both")
    parser.add_argument("--settings", default="default,original", help="parameter sets of part 1")
    parser.add_argument("--xla-ks", default="4,8", help="k at which part 1 also fuses with XLA ('' for none)")
    args = parser.parse_args()
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, keras {keras.__version__}",
              "load_average_at_start": os.getloadavg()[0]}
    if args.part in ("1", "both"):
        xla = tuple(int(k) for k in args.xla_ks.split(",") if k)
        report["in_process"] = [row for setting in args.settings.split(",") for row in in_process(
            [int(k) for k in args.ks.split(",")], args.epochs if setting == "default" else ORIGINAL["epochs"],
            setting, xla)]
    if args.part in ("2", "both"):
        report["whole_trials"] = whole_trials()
    report["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
