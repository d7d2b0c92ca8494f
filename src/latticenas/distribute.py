"""Pick the tf.distribute strategy from the hardware the trial finds, and say which.

TPU (a resolvable TPU cluster) -> TPUStrategy; two or more GPUs -> MirroredStrategy; otherwise
the default strategy (one GPU or the CPU). ``LATTICENAS_STRATEGY=default`` forces the default.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StrategyChoice:
    strategy: object | None  # None = Keras' default strategy
    description: str
    accelerator: bool = False  # a GPU or TPU runs the training


def pick_strategy() -> StrategyChoice:
    import tensorflow as tf

    if os.environ.get("LATTICENAS_STRATEGY", "").lower() == "default":
        return StrategyChoice(None, "default (forced by LATTICENAS_STRATEGY)")
    tpu = _tpu_strategy(tf)
    if tpu is not None:
        return tpu
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        return StrategyChoice(tf.distribute.MirroredStrategy(), f"mirrored over {len(gpus)} GPUs", True)
    if gpus:
        return StrategyChoice(None, "default (1 GPU)", True)
    return StrategyChoice(None, "default (CPU)")


def _tpu_strategy(tf) -> StrategyChoice | None:
    if not (os.environ.get("TPU_NAME") or os.environ.get("TPU_WORKER_ID") or os.path.exists("/dev/accel0")):
        return None
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError) as exc:
        log.warning("a TPU seemed present but could not be initialized (%s); using the default strategy", exc)
        return None
    return StrategyChoice(strategy, f"TPU ({strategy.num_replicas_in_sync} cores)", True)


def configure_graph_optimizer(choice: StrategyChoice) -> None:
    """With no GPU or TPU in use, turn TensorFlow's graph optimizer (grappler) off.

    On a CPU, building a sampled lattice's training step is most of a small network's training
    time (one new graph per network), and grappler's passes over that graph cost about a third
    of it while the steps ran no faster; the trained weights differ only by float rounding
    (~1e-7 relative). Measured in ``benchmarks/README.md`` ("Training a network: tracing").
    Accelerators keep grappler: its layout and fusion passes pay off there."""
    import tensorflow as tf

    if not choice.accelerator and not tf.config.list_physical_devices("GPU"):
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
