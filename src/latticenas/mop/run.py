"""``run_mop``: a table, a parameter set and a Dask cluster -> K trained lattices, as trials.

Steps: stream the table in chunks through the trials' loader's checks and hash split
(:func:`~latticenas.data.streamed.stream_dataset`: the driver never holds the whole table) and
write it as P partitions with the encoders fitted once (:mod:`~latticenas.mop.streamed`); sample K models (model ``k`` is the
network of a one-network trial with ``seed + k``, :mod:`~latticenas.mop.experiment`); train
them by model hopping (:mod:`~latticenas.mop.driver`); write every model's trial artifacts and
the report. The cluster is a new ``LocalCluster`` of ``local_workers`` processes (one thread
each, closed at the end) or the scheduler at ``scheduler`` (a cluster the user runs, e.g. with
dask-kubernetes: docs/mop.md). The partitions go to ``partition_root``, a directory or a
``gs://bucket/prefix`` the workers can read (default ``<dir>/mop/partitions``); they are written
before any trial is recorded, so a run that cannot write them can be started again in ``<dir>``.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from latticenas.extras import require
from latticenas.arch import sample_architectures
from latticenas.errors import LatticeNASError, ParameterError
from latticenas.mop.driver import ModelRun, MopDriver, live_workers
from latticenas.mop.experiment import RunDirectory, model_params, mop_manifest
from latticenas.mop.streamed import write_streamed_partitions
from latticenas.mop.state import Checkpoints
from latticenas.search_plan import experiment_base_name
from latticenas.trial import stream_trial_data
from latticenas.trial_loop import FINAL_ACTIVATION, resolve_objective

log = logging.getLogger("latticenas.mop")

#: Environment of the local worker processes: one TensorFlow thread each, quiet C++ logs.
WORKER_ENV = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1",
              "TF_CPP_MIN_LOG_LEVEL": "2"}


@dataclass(frozen=True)
class MopOutcome:
    directory: Path
    report: str
    runs: tuple[ModelRun, ...]
    lost_hops: int
    partitions: str  # the partition root (manifest directory or gs:// prefix)


def network_seed(seed: int) -> int:
    """The initialization seed of a one-network trial's network (``trial_loop._Loop.seed(0, 0)``)."""
    return (seed * 1_000_003) % (2**31 - 1)


def check_request(config, models: int, partitions: int | None, cached_partitions: int | None = None) -> None:
    """ParameterError for a request MOP cannot run (before any cluster starts or data loads)."""
    for flag, value in (("--models", models), ("--partitions", partitions), ("--cached-partitions", cached_partitions)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ParameterError(f"{flag} must be a whole number >= 1, not {value!r}")
    if config.params.learning_rate_schedule == "plateau":
        raise ParameterError("learning_rate_schedule=plateau is not supported by mop (Keras lowers the rate "
                             "inside one fit); use --learning_rate_schedule=cosine or constant")


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, local_workers: int | None = None, memory_limit: str = "auto"):
    """A client of the scheduler at ``scheduler``, or of a new LocalCluster of ``local_workers`` processes."""
    require("distributed")
    from distributed import Client, LocalCluster

    if (scheduler is None) == (local_workers is None):
        raise ParameterError("pass either --scheduler tcp://HOST:PORT or --local-workers N")
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise LatticeNASError(f"cannot reach the Dask scheduler at {scheduler} ({type(exc).__name__}): "
                                  "check the address and that the scheduler runs") from exc
        with client:
            yield client
        return
    if isinstance(local_workers, bool) or not isinstance(local_workers, int) or local_workers < 1:
        raise ParameterError(f"--local-workers must be a whole number >= 1, not {local_workers!r}")
    require("dask")
    import dask

    # the limit is enforced by the nanny restarting a worker above it; pausing at 80% (the
    # default) would only stall the hops of a TensorFlow worker, which has nothing to spill
    memory = {"distributed.worker.memory.pause": False, "distributed.worker.memory.spill": False,
              "distributed.worker.memory.target": False}
    with dask.config.set(memory), LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                      dashboard_address=None, env=dict(WORKER_ENV)) as cluster, Client(cluster) as client:
        yield client


def run_mop(config, client, directory: str | Path, *, partitions: int, models: int, seed: int | None = None,
            partition_root: str | None = None, on_hop=None, name: str | None = None,
            chunk_rows: int | None = None, cached_partitions: int | None = None) -> MopOutcome:
    """Train ``models`` lattices on ``client``'s workers over ``partitions`` partitions (module doc).

    ``name`` names the run's experiment (a Katib name; default ``<directory name>-grid``); ``chunk_rows`` is how many
    rows of the table the driver reads at a time (default :data:`~latticenas.data.chunks.CHUNK_ROWS`);
    ``cached_partitions`` how many encoded partitions a worker keeps (default: all it owns)."""
    check_request(config, models, partitions, cached_partitions)
    params = config.params
    run_dir_path = Path(directory)
    (run_dir_path / "mop").mkdir(parents=True, exist_ok=True)  # the table is staged there, then removed
    data = stream_trial_data(config, chunk_rows=chunk_rows, workdir=run_dir_path / "mop")
    try:
        task = data.schema.task
        objective = resolve_objective(config.objective, task)
        workers = len(live_workers(client))
        name = name or f"{experiment_base_name(str(run_dir_path.resolve()))}-grid"
        run_dir = RunDirectory(run_dir_path, mop_manifest(config, task, models, workers, name))
        try:
            root = str(partition_root or run_dir.mop_dir / "partitions")
            manifest = write_streamed_partitions(data, root, partitions, seed=params.seed,
                                                 numeric_encoding=params.numeric_encoding, log_target=config.log_target)
            data.close()  # the driver keeps no rows: each worker reads its own partitions
            runs, driver = _train(config, client, run_dir, manifest, models, objective, seed, on_hop,
                                  cached_partitions)
            report = run_dir.report()
        finally:
            run_dir.close()
    finally:
        data.close()
    return MopOutcome(run_dir_path, report, tuple(runs), driver.lost_hops, manifest.root)


def _train(config, client, run_dir: RunDirectory, manifest, models: int, objective: str, seed: int | None, on_hop,
           cached_partitions: int | None):
    """Sample the models, train them by hopping, record their trials; the runs and the driver."""
    params = config.params
    seeds = [params.seed + k for k in range(models)]
    names = run_dir.add_trials(seeds)
    final_activation = params.final_activation or FINAL_ACTIVATION[manifest.schema.task]
    runs, configs = [], {}
    for trial, s in zip(names, seeds):
        own = model_params(params, s)
        spec = sample_architectures(own, output_size=manifest.schema.output_size, final_activation=final_activation)[0]
        runs.append(ModelRun(trial, own, spec, network_seed(s)))
        configs[trial] = replace(config, params=own, output_dir=str(run_dir.output_dir(trial)))
    driver = MopDriver(client, manifest, runs, Checkpoints(run_dir.mop_dir / "checkpoints"), objective=objective,
                       seed=params.seed if seed is None else seed, on_hop=on_hop, cached_partitions=cached_partitions)
    log.info("mop: %d models, %d partitions (%s training rows) in %s, %d workers, objective %s", models,
             len(manifest.rows), "/".join(str(n) for n in manifest.rows), manifest.root, len(live_workers(client)),
             objective)
    driver.run()
    for trial, artifacts in driver.finish(configs).items():
        run_dir.record(trial, artifacts, driver.runs[trial].lines)
    return runs, driver
