"""A planned search run by Model Hopper Parallelism: the Katib Experiment that the pipeline's
search step or ``latticenas search`` plans -> the models :func:`latticenas.mop.run.run_mop`
trains on a Dask cluster, in an experiment directory the rest of latticenas reads.

Contract:

* One parameter set for every model. MOP hops models of one configuration over the
  partitions; model ``k`` differs from the others only by its seed (its sampled lattice and
  its initialization, docs/mop.md). So each parameter the Experiment searches is fixed
  (:func:`mop_assignment`): to the trial's default (``latticenas-trial --help``) where the
  space allows that value, else to the first value the space allows (its ``min``, or its first
  listed value). The values taken are logged (a warning); to choose them, move them under the
  space's ``fixed:``. The search algorithm is not used: the run is a grid over ``seed``.
* The trial configuration (:func:`mop_config`) is the Experiment's own trial command with
  those values, parsed by the trial program: the data, split options, objective and fixed
  values a trial of the Experiment would get.
* :func:`run_mop_search` trains ``models`` models (the Experiment's trial budget) on the Dask
  scheduler at ``scheduler`` or on a new LocalCluster of ``local_workers`` processes, over
  ``partitions`` training partitions (0: one per worker) written to ``partition_root``
  (default ``<directory>/mop/partitions``: with a remote cluster, a ``gs://`` prefix or a
  volume the workers share). ``directory`` becomes the MOP run's experiment directory
  (trials, leaderboard, report, ``trials.json``), its experiment named as the Experiment
  (the pipeline's lineage shows that name, not the directory's); it must not hold a run already.
* :func:`check_request` refuses, before anything is written or started, what MOP cannot do:
  a time budget (MOP trains every model for its ``epochs``, early stopping by ``patience``),
  a scheduler that is not an address, a negative partition count.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from latticenas.errors import LatticeNASError, ParameterError
from latticenas.params import parameter_fields
from latticenas.runner.experiment import Experiment, ParamValue, parse_experiment
from latticenas.runner.process import build_command
from latticenas.trial import TrialConfig, parse_config

log = logging.getLogger("latticenas.mop")

ADDRESS = re.compile(r"[a-z][a-z0-9+.-]*://\S+")  # tcp://HOST:PORT, tls://..., inproc://...


def check_scheduler(address: str, name: str) -> None:
    """ParameterError unless ``address`` (named ``name`` in the message) is a scheduler address."""
    if not isinstance(address, str) or not ADDRESS.fullmatch(address):
        raise ParameterError(f"{name}: {address!r} is not a Dask scheduler address; pass tcp://HOST:PORT "
                             "(e.g. tcp://latticenas-mop-scheduler:8786)")


def check_request(*, scheduler: str | None = None, partitions: int = 0, time_budget=None) -> None:
    """Refuse what the mop backend cannot run (module doc), before anything starts."""
    if time_budget not in (None, ""):
        raise ParameterError("the mop backend has no time budget (every model trains for the space's epochs, "
                             "early stopping by patience): leave the time budget out, or use the local backend")
    if scheduler:
        check_scheduler(scheduler, "mop scheduler")
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 0:
        raise ParameterError(f"mop partitions must be a whole number >= 0 (0: one per Dask worker), not {partitions!r}")


def mop_assignment(experiment: Experiment) -> dict[str, ParamValue]:
    """The value every model gets for each searched parameter (module doc), logged."""
    defaults = {f.name: (f.type, f.default) for f in parameter_fields()}
    chosen = {p.name: _fixed_value(p, *defaults.get(p.name, (None, None))) for p in experiment.parameters}
    if chosen:
        log.warning("mop trains every model with one parameter set: the searched parameters are fixed to %s "
                    "(the trial default where the space allows it, else the space's first value; "
                    "set them under fixed: to choose)",
                    ", ".join(f"{name}={experiment.parameter(name).format(v)}" for name, v in chosen.items()))
    return chosen


def _fixed_value(p, kind: type | None, default: Any) -> ParamValue:
    if p.choices:
        return next((c for c in p.choices if _equal(kind, c, default)), p.choices[0])
    if isinstance(default, (int, float)) and not isinstance(default, bool) and p.low <= default <= p.high:
        steps = (default - p.low) / p.step if p.step else 0.0
        if abs(steps - round(steps)) < 1e-9:
            return type(p.low)(default)
    return p.low


def _equal(kind: type | None, choice: ParamValue, default: Any) -> bool:
    try:
        return kind is not None and default is not None and kind(choice) == default
    except (TypeError, ValueError):
        return False


def mop_config(experiment: Experiment, directory: str | Path) -> TrialConfig:
    """The trial configuration of every model: the Experiment's trial command, parsed (module doc)."""
    command = build_command(experiment, f"{experiment.name}-mop", mop_assignment(experiment), Path(directory))
    return parse_config(list(command.argv[1:]))


def run_mop_search(manifest: Mapping[str, Any], directory: str | Path, *, models: int, scheduler: str | None = None,
                   local_workers: int | None = None, partitions: int = 0, partition_root: str | None = None,
                   memory_limit: str = "auto"):
    """Train the Experiment's models by MOP (module doc); the :class:`~latticenas.mop.run.MopOutcome`."""
    check_request(scheduler=scheduler, partitions=partitions)
    experiment = parse_experiment(manifest)
    config = mop_config(experiment, directory)
    # TensorFlow comes with the MOP modules: imported when a run starts, not with this module
    from latticenas.mop.driver import live_workers
    from latticenas.mop.run import check_request as check_mop, dask_client, run_mop

    check_mop(config, models, partitions or None)
    with dask_client(scheduler or None, local_workers, memory_limit) as client:
        workers = len(live_workers(client))
        if not workers:
            raise LatticeNASError(f"the Dask cluster at {scheduler} has no workers; start some and run again")
        return run_mop(config, client, directory, partitions=partitions or workers, models=models,
                       partition_root=partition_root, name=experiment.name)
