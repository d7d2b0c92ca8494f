"""A trained MOP model as a trial's artifacts, written by the trial's own code on a worker.

:func:`model_artifacts` (a Dask task) restores the model's best-epoch checkpoint into its
network, evaluates the serving model on the validation rows, and hands the network to the
trial loop's recorder (:mod:`latticenas.trial_loop`), which writes the layout of
:mod:`latticenas.artifacts` (params, summary, networks/<id>/, best/, val_predictions.csv) and
prints the same metric lines a trial prints. It writes into a temporary directory on the
worker and returns the files as bytes, so the driver stores them wherever ``--dir`` is, also
when the workers run on other machines.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from latticenas import artifacts as layout
from latticenas.arch import ArchitectureSpec
from latticenas.artifacts import ArtifactWriter
from latticenas.errors import TrialFailedError
from latticenas.mop.worker import cache, limit_threads
from latticenas.train import NetworkResult, NetworkStatus

NETWORK_ID = "m0-t0"  # one lattice, one try: the network a one-network trial would name so


@dataclass(frozen=True)
class FinishJob:
    model: str
    spec_json: str
    params: dict
    root: str
    seed: int
    steps_per_epoch: int
    state: bytes | None  # the best epoch's checkpoint; None for a model that failed
    config: object  # latticenas.trial.TrialConfig (output_dir: where the driver stores the files)
    status: NetworkStatus
    epochs_run: int = 0
    best_epoch: int = 0
    train_seconds: float = 0.0
    history: dict = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class ModelArtifacts:
    model: str
    files: dict  # path relative to the trial output -> bytes
    lines: tuple[str, ...]  # the metric lines the trial printed
    error: str | None = None  # set when the trial failed (its record says why)


@dataclass(frozen=True)
class _Rows:
    """What the trial recorder reads of a Dataset: the part sizes and the validation rows."""

    train: range
    val: pd.DataFrame
    test: range


def model_artifacts(job: FinishJob) -> ModelArtifacts:
    limit_threads()
    from latticenas.trial_loop import _Loop, resolve_objective

    store = cache()
    manifest = store.manifest(job.root)
    prepared, frame = store.prepared_validation(job.root)
    spec = ArchitectureSpec.from_json(job.spec_json)
    objective = resolve_objective(job.config.objective, manifest.schema.task)
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="latticenas-mop-") as tmp:
        writer = ArtifactWriter(tmp)
        writer.write_json(job.config.to_dict(), layout.PARAMS)
        writer.write_text(spec.to_json(indent=2), layout.NETWORKS, NETWORK_ID, layout.SPEC)
        loop = _Loop(job.config, writer, prepared, objective, None, lines.append)
        result, network = _result(job, spec, prepared, store)
        loop.record(spec, result, network)
        rows = _Rows(range(sum(manifest.rows)), frame, range(manifest.test_rows))
        error = None
        try:
            if loop.best is not None:
                loop.choose_model(rows)
            loop.finish(rows)
        except TrialFailedError as exc:
            error = str(exc)
        files = {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
    return ModelArtifacts(job.model, files, tuple(lines), error)


def _result(job: FinishJob, spec: ArchitectureSpec, prepared, store) -> tuple[NetworkResult, object]:
    from latticenas.train import evaluate

    base = dict(network_id=NETWORK_ID, spec_hash=spec.content_hash, epochs_run=job.epochs_run,
                train_seconds=job.train_seconds, history=job.history)
    if job.status is not NetworkStatus.SUCCEEDED or job.state is None:
        return NetworkResult(status=job.status, error=job.error, **base), None
    network = store.network(job)
    metrics = evaluate(network, prepared.x_val_raw, prepared.y_val_raw, prepared.schema)
    if not all(math.isfinite(v) for k, v in metrics.items() if k != "auc"):
        return NetworkResult(status=NetworkStatus.DIVERGED, error="non-finite predictions", **base), None
    return NetworkResult(status=NetworkStatus.SUCCEEDED, metrics=metrics, param_count=int(network.core.count_params()),
                         best_epoch=job.best_epoch, **base), network
