"""The MOP driver: models hop between Dask workers, each of which holds its own partitions.

Contract of :class:`MopDriver`:

* partitions are owned by workers (:func:`~latticenas.mop.schedule.assign_partitions`) and every
  hop is pinned to its partition's owner (``workers=[addr]``, no other worker allowed), so a
  worker reads only the partitions it owns, each once (:class:`~latticenas.mop.worker.WorkerCache`);
* :class:`~latticenas.mop.schedule.HopScheduler` picks the hops: one model per worker, one
  worker per model, every partition once per epoch in a randomized order;
* after every hop the model's state comes back and is written to ``last.npz``; after the hop
  that ends an epoch the model is validated, ``best.npz`` keeps the best epoch, and the model
  stops when ``epochs`` are done or the validation loss has not improved for ``patience``
  epochs (0: never stops early), as a trial's network does (its best epoch's weights kept);
  a non-finite loss stops it as diverged, an error inside its hop as failed;
* a worker that leaves (dies, is killed) costs only the hops it was running: each of those
  models goes back to its ``last.npz`` and the lost partitions to another worker, which reads
  them there; nothing else is repeated. Without any worker for ``worker_timeout_s`` the run
  stops with one error line.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from latticenas.extras import require
from latticenas.arch import ArchitectureSpec
from latticenas.errors import LatticeNASError
from latticenas.metrics import format_metric_lines
from latticenas.mop.finish import FinishJob, ModelArtifacts, model_artifacts
from latticenas.mop.partitions import PartitionManifest
from latticenas.mop.schedule import Hop, HopScheduler, assign_partitions
from latticenas.mop.state import Checkpoints
from latticenas.mop.worker import HopJob, HopResult, hop_seed, train_hop
from latticenas.params import ParameterSet
from latticenas.train import NetworkStatus

log = logging.getLogger("latticenas.mop")


@dataclass
class ModelRun:
    """One model's progress on the driver (mutated by the driver only)."""

    name: str
    params: ParameterSet
    spec: ArchitectureSpec
    seed: int  # the network's initialization seed
    state: bytes | None = None
    best_val: float = math.inf
    best_epoch: int = 0
    wait: int = 0
    history: dict = field(default_factory=lambda: {"loss": [], "val_loss": []})
    visits: list = field(default_factory=list)  # per epoch: [(partition, worker), ...]
    losses: list = field(default_factory=list)  # (loss, rows) of this epoch's hops
    status: NetworkStatus | None = None  # set when the model stops
    error: str | None = None
    seconds: float = 0.0
    lines: list = field(default_factory=list)  # the metric lines of its epochs


def live_workers(client) -> list[str]:
    """The addresses of the workers the scheduler has now (asked each time, never cached)."""
    return sorted(client.nthreads())


class MopDriver:
    def __init__(self, client, manifest: PartitionManifest, runs: list[ModelRun], checkpoints: Checkpoints, *,
                 objective: str, seed: int = 0, poll_s: float = 0.5, worker_timeout_s: float = 120.0,
                 on_hop: Callable[[Hop], None] | None = None, cached_partitions: int | None = None):
        self.client, self.manifest, self.checkpoints = client, manifest, checkpoints
        self.cached_partitions = cached_partitions  # encoded partitions a worker keeps (None: all it owns)
        self.runs = {r.name: r for r in runs}
        self.metric = objective.removeprefix("val-")
        self.objective = objective
        self.scheduler = HopScheduler(self.runs, manifest.partitions, seed)
        self.poll_s, self.worker_timeout_s, self.on_hop = poll_s, worker_timeout_s, on_hop
        self.owner: dict[int, str] = {}
        self.lost_hops = 0

    def steps_per_epoch(self, params: ParameterSet) -> int:
        return sum(max(1, math.ceil(n / params.batch_size)) for n in self.manifest.rows)

    def run(self) -> None:
        """Train every model to its end (see the module doc)."""
        require("distributed")
        from distributed import wait

        running: dict = {}  # future -> Hop
        alone_since = None
        while self.scheduler.active():
            workers = live_workers(self.client)
            for future, hop in list(running.items()):
                if hop.worker not in workers:
                    future.cancel()
                    self._lose(running.pop(future), "its worker left")
            alone_since = self._check_workers(workers, alone_since)
            self.owner = assign_partitions(self.manifest.partitions, workers, self.owner)
            for hop in self.scheduler.next_hops(workers, self.owner):
                running[self._submit(hop)] = hop
                if self.on_hop is not None:
                    self.on_hop(hop)
            if not running:
                time.sleep(self.poll_s)
                continue
            try:
                done, _ = wait(list(running), timeout=self.poll_s, return_when="FIRST_COMPLETED")
            except TimeoutError:
                continue
            for future in done:
                self._finished(future, running.pop(future), workers)

    def _check_workers(self, workers: list, alone_since: float | None) -> float | None:
        if workers:
            return None
        now = time.monotonic()
        if alone_since is not None and now - alone_since > self.worker_timeout_s:
            raise LatticeNASError(f"no Dask worker for {self.worker_timeout_s:.0f} s: start workers for the "
                                  "scheduler (or use --local-workers N) and run again")
        return alone_since or now

    def _submit(self, hop: Hop):
        run = self.runs[hop.model]
        job = HopJob(run.name, run.spec.to_json(), run.params.to_dict(), self.manifest.root, hop.partition,
                     hop.epoch, run.seed, hop_seed(run.seed, hop.epoch, hop.partition),
                     self.steps_per_epoch(run.params), run.state, hop.last, self.cached_partitions)
        return self.client.submit(train_hop, job, workers=[hop.worker], allow_other_workers=False, pure=False,
                                  key=f"mop-hop-{run.name}-e{hop.epoch}-p{hop.partition}-{time.monotonic_ns()}")

    def _finished(self, future, hop: Hop, workers: list) -> None:
        if future.status == "cancelled":
            self._lose(hop, "its hop was cancelled")
            return
        if future.status == "error":
            exc = future.exception()
            if hop.worker not in workers or type(exc).__name__ in ("KilledWorker", "CommClosedError"):
                self._lose(hop, f"its worker failed ({type(exc).__name__})")
            else:
                self._stop(self.runs[hop.model], NetworkStatus.FAILED, f"{type(exc).__name__}: {exc}")
            return
        self._apply(hop, future.result())

    def _lose(self, hop: Hop, why: str) -> None:
        """A hop that did not finish: its model goes back to its last checkpoint."""
        run = self.runs[hop.model]
        self.lost_hops += 1
        self.scheduler.lost(hop)
        run.state = self.checkpoints.load(run.name)
        log.warning("model %s lost its hop on partition %d (%s): it resumes from its checkpoint", run.name,
                    hop.partition, why)

    def _apply(self, hop: Hop, result: HopResult) -> None:
        run = self.runs[hop.model]
        run.seconds += result.seconds
        if not math.isfinite(result.loss):
            self._stop(run, NetworkStatus.DIVERGED, "loss became NaN/inf")
            return
        run.state = result.state
        self.checkpoints.save(run.name, result.state)
        if not run.losses:
            run.visits.append([])
        run.visits[-1].append((hop.partition, result.worker))
        run.losses.append((result.loss, self.manifest.rows[hop.partition]))
        if self.scheduler.done(hop):
            self._end_epoch(run, hop.epoch, result)

    def _end_epoch(self, run: ModelRun, epoch: int, result: HopResult) -> None:
        loss = sum(value * rows for value, rows in run.losses) / sum(rows for _, rows in run.losses)
        run.losses = []
        val_loss = result.val_loss
        if val_loss is None or not math.isfinite(val_loss):
            self._stop(run, NetworkStatus.DIVERGED, "validation loss became NaN/inf")
            return
        run.history["loss"].append(loss)
        run.history["val_loss"].append(val_loss)
        value = result.metrics.get(self.metric, math.nan)
        run.lines.append(format_metric_lines({self.objective: value}))
        log.info("model %s epoch %d: loss %.5g, val_loss %.5g, %s %.6g (partitions %s)", run.name, epoch, loss,
                 val_loss, self.objective, value, " ".join(str(p) for p, _ in run.visits[-1]))
        if val_loss < run.best_val:
            run.best_val, run.best_epoch, run.wait = val_loss, epoch, 0
            self.checkpoints.save(run.name, result.state, "best")
        else:
            run.wait += 1
        patience = run.params.patience
        if epoch >= run.params.epochs or (patience > 0 and run.wait >= patience):
            self._stop(run, NetworkStatus.SUCCEEDED)

    def _stop(self, run: ModelRun, status: NetworkStatus, error: str | None = None) -> None:
        run.status, run.error = status, error
        self.scheduler.stop(run.name)
        if error:
            log.warning("model %s %s: %s", run.name, status.value, error)

    def finish(self, configs: dict) -> dict[str, ModelArtifacts]:
        """Every model's trial artifacts (written on any worker from its best checkpoint)."""
        futures = {}
        for name, run in self.runs.items():
            best = self.checkpoints.load(name, "best") if run.status is NetworkStatus.SUCCEEDED else None
            job = FinishJob(name, run.spec.to_json(), run.params.to_dict(), self.manifest.root, run.seed,
                            self.steps_per_epoch(run.params), best, configs[name], run.status or NetworkStatus.FAILED,
                            epochs_run=len(run.history["loss"]), best_epoch=run.best_epoch, train_seconds=run.seconds,
                            history=run.history, error=run.error)
            futures[name] = self.client.submit(model_artifacts, job, pure=False, key=f"mop-finish-{name}-{time.monotonic_ns()}")
        return {name: future.result() for name, future in futures.items()}
