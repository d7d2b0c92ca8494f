"""The search step's ``mop`` backend: the Experiment the step planned, trained by Model Hopper
Parallelism (:mod:`latticenas.mop_search`) on a Dask cluster.

* the models: ``max_trials`` of them (the Experiment's trial budget), one lattice each, with
  the searched parameters fixed as :func:`latticenas.mop_search.mop_assignment` says;
* the cluster: the scheduler at ``mop_scheduler`` (``tcp://HOST:PORT``), or, when it is empty,
  a LocalCluster of ``parallel_trials`` worker processes (the Experiment's parallel count) in
  the search step's own container;
* the partitions: ``mop_partitions`` training partitions of the search table (the prepared
  train + validation rows; the test rows never reach a worker), 0 = one per worker; written
  under ``<trial_output_root>/<experiment>/partitions`` when ``trial_output_root`` is set
  (a ``gs://`` prefix, or a directory the workers mount), else in the step's work directory,
  which only a LocalCluster reads, so ``mop_scheduler`` needs ``trial_output_root``;
* the run directory is ``<work_dir>/run`` (as for the local backend: the runner's
  ``experiment.db``, ``trials/<trial>/output``, leaderboard, ``trials.json``), read back into
  the search step's results like the local runner's (:func:`latticenas.pipeline.search.read_run`),
  so aggregate, retrain and register read it unchanged.

No time budget (:func:`latticenas.mop_search.check_request`): MOP trains every model for the
space's ``epochs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from latticenas.data import join_uri
from latticenas.errors import ParameterError
from latticenas.mop_search import check_request, run_mop_search


def check_mop_backend(*, scheduler: str, partitions: int, trial_output_root: str, time_budget) -> None:
    """Refuse a mop search the step cannot run (module doc) before it writes anything."""
    check_request(scheduler=scheduler, partitions=partitions, time_budget=time_budget)
    if scheduler and not trial_output_root:
        raise ParameterError(
            f"the mop backend on the Dask cluster at {scheduler} needs trial_output_root, where its workers read "
            "the partitions (a gs:// prefix, or a directory they mount): set it, e.g. gs://<bucket>/latticenas/trials"
        )


def run_mop_backend(manifest: Mapping[str, Any], run_dir: Path, *, scheduler: str = "", partitions: int = 0,
                    trial_output_root: str = ""):
    """Train the Experiment's models by MOP into ``run_dir`` (module doc); the MopOutcome."""
    spec = manifest["spec"]
    name = manifest["metadata"]["name"]
    root = join_uri(trial_output_root, name, "partitions") if trial_output_root else None
    return run_mop_search(manifest, run_dir, models=int(spec["maxTrialCount"]), scheduler=scheduler or None,
                          local_workers=None if scheduler else int(spec["parallelTrialCount"]),
                          partitions=partitions, partition_root=root)
