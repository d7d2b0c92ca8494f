"""What runs inside a Dask worker: its partitions, its networks, one hop.

Each worker process keeps one :class:`WorkerCache` (keyed by the worker's address, so threads
of one process never share one): the partitions it owns, read once and encoded once with the
manifest's encoder (or, with ``cached_partitions=N``, only the N it used last, so that a
worker's memory is bounded by N partitions, not by its share of the table: the others are
read again, from its own files only, when a model hops onto them); the validation rows, read once; the networks it has trained, built once
and reused by the next hop of the same model (their weights and optimizer state come with
every hop, :mod:`latticenas.mop.state`); and the files it read (``reads``: their URIs, under a
local root or a ``gs://`` prefix, which the tests count).

:func:`train_hop` trains one model for one sub-epoch on one partition: one pass over it in
batches of ``batch_size``, shuffled with the hop's seed, through the same builder, compile
step and ``fit`` as a trial's network (:mod:`latticenas.train`); after the model's last
partition of an epoch it also validates (the loss and the metrics in the target's units).
TensorFlow is imported inside the task, with one thread, in the worker process only.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from latticenas.extras import require
from latticenas.mop.partitions import VALIDATION, PartitionManifest, partition_file, read_manifest, read_partition
from latticenas.mop.state import ModelState, capture, restore
from latticenas.params import ParameterSet

_CACHES: dict[str, WorkerCache] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class HopJob:
    model: str
    spec_json: str
    params: dict
    root: str  # the partitioned table (manifest directory)
    partition: int
    epoch: int
    seed: int  # the network's initialization seed (first hop)
    hop_seed: int  # this sub-epoch's shuffle seed
    steps_per_epoch: int  # batches over all partitions (the learning-rate schedule's epoch)
    state: bytes | None  # None: the first hop builds the network fresh
    validate: bool
    cached_partitions: int | None = None  # encoded partitions the worker keeps; None: every one it owns


@dataclass(frozen=True)
class HopResult:
    model: str
    partition: int
    epoch: int
    worker: str
    state: bytes
    loss: float
    val_loss: float | None = None
    metrics: dict = field(default_factory=dict)
    seconds: float = 0.0


def hop_seed(seed: int, epoch: int, partition: int) -> int:
    """The shuffle seed of a model's sub-epoch (the same wherever it runs)."""
    return (seed * 7919 + epoch * 104_729 + partition * 1_299_709) % (2**31 - 1)


def shuffled(x: dict, y: np.ndarray, seed: int) -> tuple[dict, np.ndarray]:
    """The partition's rows in the sub-epoch's order (a numpy permutation of the hop seed: the
    same order in every process, whatever TensorFlow's seed state there)."""
    order = np.random.default_rng(seed).permutation(len(y))
    return {k: v[order] for k, v in x.items()}, y[order]


class WorkerCache:
    def __init__(self):
        self.manifests: dict[str, PartitionManifest] = {}
        self.encoders: dict[str, object] = {}
        self.partitions: dict[tuple[str, int], tuple[dict, np.ndarray]] = {}
        self.validation: dict[str, object] = {}  # root -> (Prepared, validation frame)
        self.networks: dict[str, object] = {}
        self.reads: list[str] = []

    def manifest(self, root: str) -> PartitionManifest:
        if root not in self.manifests:
            self.manifests[root] = read_manifest(root)
        return self.manifests[root]

    def encoder(self, root: str):
        from latticenas.arch.keras_builder import build_encoder

        if root not in self.encoders:
            self.encoders[root] = build_encoder(self.manifest(root).stats)
        return self.encoders[root]

    def partition(self, root: str, index: int, keep: int | None = None) -> tuple[dict, np.ndarray]:
        if (root, index) in self.partitions:
            self.partitions[(root, index)] = self.partitions.pop((root, index))  # the most recent last
        else:
            while keep is not None and self.partitions and len(self.partitions) >= keep:
                self.partitions.pop(next(iter(self.partitions)))  # the least recently used, before reading
            manifest = self.manifest(root)
            frame = read_partition(manifest, partition_file(index))
            self.reads.append(manifest.uri(partition_file(index)))
            self.partitions[(root, index)] = self._encoded_frame(root, frame)
        return self.partitions[(root, index)]

    def prepared_validation(self, root: str):
        """The validation rows as a :class:`~latticenas.train.Prepared` (no training arrays) and their frame."""
        from latticenas.features import model_inputs
        from latticenas.train import Prepared

        if root not in self.validation:
            manifest = self.manifest(root)
            frame = read_partition(manifest, VALIDATION)
            self.reads.append(manifest.uri(VALIDATION))
            (x_val, y_val), x_raw = self._encoded_frame(root, frame), model_inputs(frame, manifest.stats)
            y_raw = frame[manifest.schema.target].to_numpy(dtype="float64") if manifest.transform else y_val
            prepared = Prepared(manifest.schema, manifest.stats, manifest.transform, self.encoder(root),
                                x_train={}, y_train=np.empty(0), x_val=x_val, y_val=y_val, y_val_raw=y_raw, x_val_raw=x_raw)
            self.validation[root] = (prepared, frame)
        return self.validation[root]

    def _encoded_frame(self, root: str, frame) -> tuple[dict, np.ndarray]:
        from latticenas.arch.keras_builder import encode
        from latticenas.features import encode_target, model_inputs

        manifest = self.manifest(root)
        x = encode(self.encoder(root), model_inputs(frame, manifest.stats))
        return x, encode_target(frame[manifest.schema.target], manifest.schema, manifest.transform)

    def network(self, job: HopJob):
        """The job's network with the job's state (built fresh, with the model's seed, on its first hop)."""
        import keras

        from latticenas.arch import ArchitectureSpec
        from latticenas.arch.keras_builder import build_network
        from latticenas.train import compile_network

        network = None if job.state is None else self.networks.get(job.model)
        if network is None:
            manifest = self.manifest(job.root)
            params = ParameterSet.from_mapping(job.params)
            with keras_seed_source(job.seed):
                keras.utils.set_random_seed(job.seed)
                network = build_network(ArchitectureSpec.from_json(job.spec_json), manifest.stats, manifest.schema,
                                        manifest.transform, self.encoder(job.root), dropout=params.dropout)
            compile_network(network, params, manifest.schema.task, job.steps_per_epoch)
            self.networks[job.model] = network
        if job.state is not None:
            restore(network, ModelState.from_bytes(job.state))
        return network


@contextlib.contextmanager
def keras_seed_source(seed: int):
    """Keras draws its initializers' seeds from Python's global ``random``, which the Dask
    worker's own threads draw from too (at any moment), so a network built in a worker would
    get other weights than one built alone. While this block runs, Keras draws from a generator
    of its own, seeded as ``random.seed(seed)`` seeds the global one: the same weights."""
    from keras.src.random import seed_generator

    with _LOCK:
        saved = seed_generator.python_random
        seed_generator.python_random = random.Random(seed)
        try:
            yield
        finally:
            seed_generator.python_random = saved


def worker_key() -> str:
    """This worker's address; ``"local"`` outside a Dask worker (sequential runs, tests)."""
    try:
        require("distributed")
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def cache(key: str | None = None) -> WorkerCache:
    with _LOCK:
        return _CACHES.setdefault(key or worker_key(), WorkerCache())


def partition_reads(dask_worker=None) -> list[str]:
    """The URIs of the files this worker has read (``client.run(partition_reads)`` asks every worker)."""
    return list(cache(dask_worker.address if dask_worker is not None else None).reads)


def limit_threads() -> None:
    """One TensorFlow thread per worker process (set before TensorFlow starts its pools)."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(os.environ.get("TF_NUM_INTRAOP_THREADS", "1")))
        tf.config.threading.set_inter_op_parallelism_threads(int(os.environ.get("TF_NUM_INTEROP_THREADS", "1")))
    except RuntimeError:  # TensorFlow already started in this process: its pools stay as they are
        pass


def train_hop(job: HopJob) -> HopResult:
    """One sub-epoch of one model on one partition (see the module doc)."""
    limit_threads()
    import keras

    from latticenas.arch.keras_builder import as_dataset
    from latticenas.train import evaluate_encoded

    started = time.perf_counter()
    store = cache()
    x, y = store.partition(job.root, job.partition, job.cached_partitions)
    network = store.network(job)
    params = ParameterSet.from_mapping(job.params)
    keras.utils.set_random_seed(job.hop_seed)
    x, y = shuffled(x, y, job.hop_seed)
    history = network.core.fit(as_dataset(x, y, batch_size=params.batch_size),
                               epochs=1, shuffle=False, verbose=0, callbacks=[keras.callbacks.TerminateOnNaN()])
    loss = float(history.history.get("loss", [math.nan])[-1])
    val_loss, metrics = None, {}
    if job.validate and math.isfinite(loss):
        prepared, _ = store.prepared_validation(job.root)
        val_loss = float(network.core.evaluate(as_dataset(prepared.x_val, prepared.y_val), verbose=0))
        metrics = evaluate_encoded(network, prepared)
    return HopResult(job.model, job.partition, job.epoch, worker_key(), capture(network).to_bytes(), loss,
                     val_loss, metrics, time.perf_counter() - started)
