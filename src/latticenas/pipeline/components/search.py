"""Step 2: search the lattice space on the prepared data, locally, with Katib or by MOP on Dask."""

from typing import NamedTuple

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Output

from latticenas.images import image_ref


@dsl.component(base_image=image_ref("component"), packages_to_install=None, install_kfp_package=False)
def search(
    train: Input[Dataset],
    val: Input[Dataset],
    schema: Input[Artifact],
    backend: str,
    search_space: str,
    algorithm: str,
    max_trials: int,
    parallel_trials: int,
    accelerator: str,
    namespace: str,
    trial_output_root: str,
    trial_service_account: str,
    timeout_s: int,
    time_budget: str,
    run_id: str,
    trials: Output[Dataset],
    best_parameters: Output[Artifact],
    best_spec: Output[Artifact],
    experiment: Output[Artifact],
    mop_scheduler: str = "",
    mop_partitions: int = 0,
) -> NamedTuple("SearchOutputs", [("experiment_name", str), ("best_trial", str), ("best_objective", float)]):
    """Generate the Katib Experiment for ``search_space`` (YAML text, path or gs:// URI) and
    ``algorithm`` on the prepared train + validation rows and run it: backend ``local`` with the
    local runner in this container, ``katib`` on the cluster (trials on ``accelerator``, outputs
    under ``trial_output_root``), within ``time_budget`` when one is given (the local runner's rule,
    or, on Katib, the Experiment stopped at the deadline); ``mop``: ``max_trials`` models by Model
    Hopper Parallelism on the Dask cluster at ``mop_scheduler`` (empty: a LocalCluster in this
    container) over ``mop_partitions`` partitions (0: one per worker). ``trials``: every trial (JSON); ``best_parameters``: the best
    trial's parameters and metrics (JSON); ``best_spec``: its best network (JSON);
    ``experiment``: the Experiment as run (and the local runner's directory)."""
    from collections import namedtuple

    from latticenas.pipeline import steps
    from latticenas.pipeline.prepared import read_prepared

    prepared = read_prepared(record=schema.path, train=train.path, val=val.path)
    searched = steps.search(
        prepared, search_space=search_space, work_dir=experiment.path, algorithm=algorithm, max_trials=max_trials,
        parallel_trials=parallel_trials, search_backend=backend, accelerator=accelerator, katib_namespace=namespace,
        trial_output_root=trial_output_root, trial_service_account=trial_service_account, search_timeout_s=timeout_s,
        time_budget=time_budget, mop_scheduler=mop_scheduler, mop_partitions=mop_partitions, run_id=run_id,
    )
    searched.write(trials=trials.path, best_parameters=best_parameters.path, best_spec=best_spec.path)
    best = searched.best_parameters
    best_parameters.metadata.update({"trial": best.trial, "objective": best.objective_value})
    return namedtuple("SearchOutputs", ["experiment_name", "best_trial", "best_objective"])(
        best.experiment, best.trial, float(best.objective_value))
