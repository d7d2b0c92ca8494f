"""Benchmark: sampled lattices vs a plain Keras MLP of the same parameter count, same data.

For each of N sampled lattices (default parameter set, seeds 0..N-1) on the bundled Ames data,
train E epochs (no early stopping, so the work is equal), then train an MLP whose two hidden
layers are sized to the lattice's parameter count, with the same in-model preprocessing,
optimizer, batch size and data. Reports seconds per epoch, networks per minute (build +
compile + fit + evaluate) and the lattice/MLP ratios, measured in the same run.

    .venv/bin/python benchmarks/trial_throughput.py [--networks 4] [--epochs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import replace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from latticenas.arch import sample_architecture  # noqa: E402
from latticenas.arch.keras_builder import Network, body_inputs, build_network  # noqa: E402
from latticenas.data import load_dataset  # noqa: E402
from latticenas.datasets import example_path  # noqa: E402
from latticenas.params import ParameterSet  # noqa: E402
from latticenas.train import compile_network, evaluate, fit, prepare  # noqa: E402


def mlp_like(data, target_params: int) -> Network:
    """Two equal hidden layers, width chosen so the MLP has about ``target_params`` weights."""
    best = None
    for width in range(4, 1024):
        inputs, features = body_inputs(data.encoder, data.stats)
        x = keras.layers.Dense(width, activation="relu")(features)
        x = keras.layers.Dense(width, activation="relu")(x)
        out = keras.layers.Dense(1)(x)
        model = keras.Model(inputs, out)
        if best is None or abs(model.count_params() - target_params) < abs(best.count_params() - target_params):
            best = model
        if model.count_params() > target_params:
            break
    from latticenas.arch.keras_layers import InverseTarget

    encoded = data.encoder(data.encoder.input)
    output = InverseTarget(**data.transform.to_dict())(best({k: encoded[k] for k in best.input}))
    return Network(best, keras.Model(data.encoder.input, output))


def timed_training(network: Network, data, params) -> dict:
    started = time.perf_counter()
    compile_network(network, params, data.schema.task)
    history = fit(network, data, params, seed=0)
    fitted = time.perf_counter()
    metrics = evaluate(network, data.x_val_raw, data.y_val_raw, data.schema)
    done = time.perf_counter()
    epochs = len(history["loss"])
    return {"params": network.core.count_params(), "epochs": epochs, "fit_s": fitted - started,
            "total_s": done - started, "s_per_epoch": (fitted - started) / epochs, "val_rmse": metrics["rmse"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    dataset = load_dataset(example_path("ames"), "price", drop_columns=("Order", "PID"))
    data = prepare(dataset)
    params = replace(ParameterSet(), epochs=args.epochs, patience=args.epochs)
    rows = []
    for seed in range(args.networks):
        spec = sample_architecture(params, output_size=1, final_activation="linear", seed=seed)
        keras.utils.set_random_seed(seed)
        lattice = timed_training(build_network(spec, data.stats, data.schema, data.transform, data.encoder), data, params)
        keras.utils.set_random_seed(seed)
        mlp = timed_training(mlp_like(data, lattice["params"]), data, params)
        rows.append({"seed": seed, "lattice": lattice, "mlp": mlp})
        print(f"seed {seed}: lattice {lattice['params']} params {lattice['s_per_epoch']:.3f} s/epoch | "
              f"mlp {mlp['params']} params {mlp['s_per_epoch']:.3f} s/epoch", flush=True)
    report = summarize(rows, args)
    print(json.dumps(report, indent=2))


def summarize(rows, args) -> dict:
    def mean(kind, key):
        return statistics.mean(r[kind][key] for r in rows)

    lattice_epoch, mlp_epoch = mean("lattice", "s_per_epoch"), mean("mlp", "s_per_epoch")
    lattice_rate, mlp_rate = 60 / mean("lattice", "total_s"), 60 / mean("mlp", "total_s")
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, keras {keras.__version__}",
        "networks": args.networks, "epochs": args.epochs,
        "lattice_s_per_epoch": round(lattice_epoch, 4), "mlp_s_per_epoch": round(mlp_epoch, 4),
        "s_per_epoch_ratio_lattice_over_mlp": round(lattice_epoch / mlp_epoch, 3),
        "lattice_networks_per_min": round(lattice_rate, 2), "mlp_networks_per_min": round(mlp_rate, 2),
        "networks_per_min_ratio_lattice_over_mlp": round(lattice_rate / mlp_rate, 3),
        "mean_params": {"lattice": round(mean("lattice", "params")), "mlp": round(mean("mlp", "params"))},
        "mean_val_rmse": {"lattice": round(mean("lattice", "val_rmse")), "mlp": round(mean("mlp", "val_rmse"))},
    }


if __name__ == "__main__":
    main()
