"""Benchmark: what building a lattice's training step costs, and what the project's optimizer saves.

On the original Cerebros example's parameter set (Ames' numeric columns, batch 634) most of a
network's training time on a CPU is its first epoch: TensorFlow traces and optimizes a new
graph for every sampled architecture. For the largest of the example's four lattices this
measures, in one run and in CPU seconds of this process (robust to other load on the machine):

* ``keras``: Keras' AdamW with the project's settings (cosine schedule, weight decay, clipnorm),
  fitted as Keras does it (the optimizer's variables created inside the first traced call);
* ``slots``: the same, with the optimizer's variables built before ``fit`` (one trace, not two);
* ``step-constants``: :class:`latticenas.optimizer.LatticeAdamW`'s per-step constants computed
  once per step, with Keras' op-by-op Adam update and clipping (the optimizer as it was first);
* ``fused-adam``: ``LatticeAdamW`` as it is: TensorFlow's fused Adam kernel, one clipping vector;
* ``+nograppler``: and TensorFlow's graph optimizer off, as the trial does on a CPU;
* ``+fused-bn``: and the units' :class:`~latticenas.arch.keras_layers.LatticeBatchNorm` (TensorFlow's
  fused batch-norm kernel) instead of Keras' BatchNormalization: what a trial trains;
* ``eager``: the last, run eagerly (``run_eagerly=True``), for scale: no trace at all.

For each: the first epoch, the mean of the next epochs, and the largest difference of the
trained weights from ``keras`` after all epochs. Each variant runs in its own process.

    .venv/bin/python benchmarks/trace_cost.py [--epochs 20]
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

VARIANTS = ("keras", "slots", "step-constants", "fused-adam", "+nograppler", "+fused-bn", "eager")


def measure(variant: str, epochs: int, weights_path: str) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    rank = VARIANTS.index(variant)
    if rank >= VARIANTS.index("+nograppler"):
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    import keras
    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).parent))
    from fused_throughput import ORIGINAL

    from latticenas.arch import sample_architectures
    from latticenas.arch import keras_builder
    from latticenas.arch.keras_builder import as_dataset, build_network
    from latticenas.data import load_dataset
    from latticenas.datasets import example_path
    from latticenas.optimizer import CLIPNORM, LatticeAdamW, build_slots, make_optimizer
    from latticenas.params import ParameterSet
    from latticenas.train import learning_rate, steps_per_epoch

    with tempfile.TemporaryDirectory() as tmp:
        frame = pd.read_csv(example_path("ames")).select_dtypes("number").drop(columns=["Order", "PID"])
        frame.to_csv(Path(tmp) / "ames_numeric.csv", index=False)
        dataset = load_dataset(str(Path(tmp) / "ames_numeric.csv"), "price")
    params = ParameterSet.from_mapping({k: str(v) for k, v in ORIGINAL.items()})
    from latticenas.train import prepare

    data = prepare(dataset, None, params.numeric_encoding)
    specs = sample_architectures(params, output_size=1, final_activation="linear")
    spec = max(specs, key=lambda s: len(s.edges))
    if rank < VARIANTS.index("+fused-bn"):
        keras_builder.LatticeBatchNorm = keras.layers.BatchNormalization  # Keras' own layer in the units
    keras.utils.set_random_seed(0)
    network = build_network(spec, data.stats, data.schema, data.transform, data.encoder, dropout=params.dropout)
    schedule = learning_rate(params, steps_per_epoch(data, params))
    if variant in ("keras", "slots"):
        optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=params.weight_decay, clipnorm=CLIPNORM)
    elif variant == "step-constants":
        class StepConstants(LatticeAdamW):  # Keras' op-by-op update and clipping, shared constants
            _clip_gradients = keras.optimizers.AdamW._clip_gradients
            _backend_update_step = keras.optimizers.AdamW._backend_update_step

            def update_step(self, gradient, variable, learning_rate):
                step = self._constants(variable.dtype)
                alpha = step.lr * keras.ops.sqrt(1 - step.beta_2_power) / (1 - step.beta_1_power)
                gradient = keras.ops.cast(gradient, variable.dtype)
                m = self._momentums[self._get_variable_index(variable)]
                v = self._velocities[self._get_variable_index(variable)]
                self.assign_add(m, keras.ops.multiply(keras.ops.subtract(gradient, m), 1 - self.beta_1))
                self.assign_add(v, keras.ops.multiply(keras.ops.subtract(keras.ops.square(gradient), v), 1 - self.beta_2))
                self.assign_sub(variable, keras.ops.divide(keras.ops.multiply(m, alpha),
                                                           keras.ops.add(keras.ops.sqrt(v), self.epsilon)))

        optimizer = StepConstants(learning_rate=schedule, weight_decay=params.weight_decay, clipnorm=CLIPNORM)
    else:
        optimizer = make_optimizer(schedule, params.weight_decay)
    network.core.compile(optimizer=optimizer, loss="mean_squared_error", jit_compile=False,
                         run_eagerly=variant == "eager")
    if variant != "keras":
        build_slots(network.core)
    train = as_dataset(data.x_train, data.y_train, batch_size=params.batch_size, shuffle_seed=0)
    started = time.process_time()
    network.core.fit(train, epochs=1, verbose=0)
    first = time.process_time() - started
    started = time.process_time()
    network.core.fit(train, epochs=epochs - 1, verbose=0)
    rest = (time.process_time() - started) / max(1, epochs - 1)
    weights = np.concatenate([v.numpy().ravel() for v in network.core.trainable_variables])
    np.save(weights_path, weights)
    return {"variant": variant, "layers": len(network.core.layers), "variables": len(network.core.trainable_variables),
            "first_epoch_cpu_s": round(first, 2), "later_epoch_cpu_s": round(rest, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(measure(args.variant, args.epochs, args.weights)))
        return
    import numpy as np

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for variant in VARIANTS:
            weights = str(Path(tmp) / f"{variant}.npy")
            out = subprocess.run([sys.executable, __file__, "--variant", variant, "--weights", weights,
                                  "--epochs", str(args.epochs)], capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
            reference = np.load(str(Path(tmp) / "keras.npy"))
            rows[-1]["max_weight_diff_vs_keras"] = float(np.abs(np.load(weights) - reference).max())
            print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["first_epoch_cpu_s"]
    print(json.dumps({"first_epoch_ratio_vs_keras": {r["variant"]: round(base / r["first_epoch_cpu_s"], 2) for r in rows},
                      "load_average": os.getloadavg()}))


if __name__ == "__main__":
    main()
