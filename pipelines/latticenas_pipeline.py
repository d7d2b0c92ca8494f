"""The latticenas Kubeflow pipeline: prepare the data, search, aggregate the trials (the final
model: an ensemble of trials when it validates better, beside a gradient-boosting baseline),
retrain the final model, register it.

``latticenas_pipeline`` is the pipeline compiled to ``pipelines/latticenas_pipeline.yaml``
(``latticenas pipeline compile``). Its ``accelerator`` parameter (cpu, gpu, tpu) picks, at run
time, one of three mutually exclusive ``dsl.If`` branches, each holding the steps after
``prepare_data``:

* ``cpu``: every step on the component image, no accelerator;
* ``gpu`` / ``tpu``: ``retrain_best`` on an accelerator node
  (:func:`latticenas.pipeline.placement.place_task`: GKE node selector, toleration, device
  limit, the trial-gpu / trial-tpu image); ``search`` too when it trains in its own pod
  (``search_backend`` ``local``); with ``katib`` the search pod only waits, on a CPU node, and
  the Experiment's trials get the accelerator instead. So each accelerator branch splits once
  more on ``search_backend``.

Separate ``dsl.If`` blocks (not ``If/Elif/Else``) and no ``dsl.OneOf``: kfp.local 2.16 runs
every branch of an ``If/Elif/Else`` group and supports no ``OneOf``, so each branch is a
complete chain. :func:`build_pipeline` gives the compile-time variant for one accelerator (no
``accelerator`` parameter, no accelerator branch); ``latticenas pipeline run --local`` runs
the ``cpu`` variant, which holds no condition at all (kfp.local 2.16 evaluates none correctly).
"""

import json
from pathlib import Path

import yaml
from kfp import dsl

from components.aggregate import aggregate
from components.prepare_data import prepare_data
from components.register import register
from components.retrain_best import retrain_best
from components.search import search
from latticenas.pipeline.placement import ACCELERATORS, place_task

REPO = Path(__file__).resolve().parents[1]
#: The default search space (search_spaces/ames.yaml) inlined, so the compiled pipeline needs no
#: file; as one line of JSON (which is YAML), because kfp copies defaults into a comment header
#: of the compiled file, where a multi-line text would break the YAML.
AMES_SEARCH_SPACE = json.dumps(yaml.safe_load((REPO / "search_spaces" / "ames.yaml").read_text(encoding="utf-8")))
DESCRIPTION = (
    "Neural architecture search for tabular data: prepare the data, search random-connectivity "
    "lattices (local runner or Katib), aggregate the trials into a final model (an ensemble when it "
    "validates better; a gradient-boosting baseline beside it), retrain it, register it."
)


def _prepare(p: dict, accelerator):
    task = prepare_data(
        data_uri=p["data_uri"], target=p["target"], task=p["task"], drop_columns=p["drop_columns"],
        allow_leakage=p["allow_leakage"], val_fraction=p["val_fraction"], test_fraction=p["test_fraction"],
        accelerator=accelerator,
    )
    return task.set_display_name("prepare data")


def _chain(p: dict, prep, accelerator: str, place_search: bool, label: str) -> None:
    """search -> aggregate -> retrain_best -> register, for one compile-time accelerator (the
    retrain refits the final model that aggregate chose)."""
    found = search(
        train=prep.outputs["train"], val=prep.outputs["val"], schema=prep.outputs["schema"],
        backend=p["search_backend"], search_space=p["search_space"], algorithm=p["algorithm"],
        max_trials=p["max_trials"], parallel_trials=p["parallel_trials"], accelerator=accelerator,
        namespace=p["katib_namespace"], trial_output_root=p["trial_output_root"],
        trial_service_account=p["trial_service_account"], timeout_s=p["search_timeout_s"],
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    ).set_display_name(f"search{label}")
    if place_search:
        place_task(found, accelerator)
    summary = aggregate(
        trials=found.outputs["trials"], best_spec=found.outputs["best_spec"], experiment=found.outputs["experiment"],
        train=prep.outputs["train"], val=prep.outputs["val"], test=prep.outputs["test"], schema=prep.outputs["schema"],
    ).set_display_name(f"aggregate{label}")
    model = retrain_best(
        train=prep.outputs["train"], val=prep.outputs["val"], test=prep.outputs["test"], schema=prep.outputs["schema"],
        final_model=summary.outputs["final_model"], seed=p["seed"],
    ).set_display_name(f"retrain best{label}")
    place_task(model, accelerator)
    register(
        model=model.outputs["model"], schema=prep.outputs["schema"], best_parameters=found.outputs["best_parameters"],
        registry_target=p["registry_target"], model_name=p["model_name"],
        model_registry_address=p["model_registry_address"],
    ).set_display_name(f"register{label}").set_caching_options(False)


def _steps_for(p: dict, prep, accelerator: str, label: str = "") -> None:
    if accelerator == "cpu":
        _chain(p, prep, accelerator, place_search=False, label=label)
        return
    with dsl.If(p["search_backend"] == "local", name=f"{accelerator}-search-in-pipeline"):
        _chain(p, prep, accelerator, place_search=True, label=label)
    with dsl.If(p["search_backend"] == "katib", name=f"{accelerator}-search-on-katib"):
        _chain(p, prep, accelerator, place_search=False, label=label)


@dsl.pipeline(name="latticenas", description=DESCRIPTION)
def latticenas_pipeline(
    registry_target: str,
    data_uri: str = "example:ames",
    target: str = "price",
    task: str = "auto",
    drop_columns: str = "Order,PID",
    allow_leakage: str = "",
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    search_space: str = AMES_SEARCH_SPACE,
    algorithm: str = "random",
    max_trials: int = 0,
    parallel_trials: int = 0,
    search_backend: str = "katib",
    katib_namespace: str = "",
    trial_output_root: str = "",
    trial_service_account: str = "",
    search_timeout_s: int = 86400,
    accelerator: str = "cpu",
    seed: int = 0,
    model_name: str = "latticenas",
    model_registry_address: str = "",
):
    """Parameters: ``registry_target`` (directory or gs:// prefix of the model registry);
    ``data_uri``/``target``/``task``/``drop_columns``/``allow_leakage``/fractions (the table);
    ``search_space`` (search-space YAML text, or its path / gs:// URI), ``algorithm`` (a Katib
    algorithm), ``max_trials``/``parallel_trials`` (0: the space's budget); ``search_backend``
    ``katib`` (Experiment in ``katib_namespace``, default the run's namespace; trials write to
    ``trial_output_root``, a gs:// prefix, as ``trial_service_account``) or ``local`` (trials in
    the search pod); ``accelerator`` cpu, gpu or tpu; ``seed`` of the retrain; ``model_name``
    and ``model_registry_address`` for the registration."""
    p = dict(locals())
    prep = _prepare(p, accelerator)
    for choice in ACCELERATORS:
        with dsl.If(accelerator == choice, name=f"accelerator-{choice}"):
            _steps_for(p, prep, choice, label=f" ({choice})")


def build_pipeline(accelerator: str):
    """The pipeline with the accelerator fixed at compile time (see the module docstring)."""
    if accelerator not in ACCELERATORS:
        raise ValueError(f"accelerator {accelerator!r} is not one of {', '.join(ACCELERATORS)}")

    @dsl.pipeline(name=f"latticenas-{accelerator}", description=f"{DESCRIPTION} Accelerator: {accelerator}.")
    def latticenas_fixed(
        registry_target: str,
        data_uri: str = "example:ames",
        target: str = "price",
        task: str = "auto",
        drop_columns: str = "Order,PID",
        allow_leakage: str = "",
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        search_space: str = AMES_SEARCH_SPACE,
        algorithm: str = "random",
        max_trials: int = 0,
        parallel_trials: int = 0,
        search_backend: str = "katib",
        katib_namespace: str = "",
        trial_output_root: str = "",
        trial_service_account: str = "",
        search_timeout_s: int = 86400,
        seed: int = 0,
        model_name: str = "latticenas",
        model_registry_address: str = "",
    ):
        p = dict(locals())
        prep = _prepare(p, accelerator)
        _steps_for(p, prep, accelerator)

    return latticenas_fixed
