"""The latticenas Kubeflow pipeline: prepare the data, search, aggregate the trials (the final
model: an ensemble of trials when it validates better, beside a gradient-boosting baseline),
retrain the final model, register it.

:func:`build_pipeline` makes the KFP pipeline; its parameters are
:class:`~latticenas.pipeline.parameters.PipelineParameters` (the signature is generated from
that definition, so the two variants cannot drift apart). ``build_pipeline()`` is the pipeline
compiled to ``pipelines/latticenas_pipeline.yaml`` (``latticenas pipeline compile``): its
``accelerator`` parameter (cpu, gpu, tpu) picks, at run time, one of three mutually exclusive
``dsl.If`` branches, each holding the steps after ``prepare_data``:

* ``cpu``: every step on the component image, no accelerator;
* ``gpu`` / ``tpu``: ``retrain_best`` on an accelerator node
  (:func:`latticenas.pipeline.placement.place_task`: GKE node selector, toleration, device
  limit, the trial-gpu / trial-tpu image); ``search`` too when it trains in its own pod
  (``search_backend`` ``local``); with ``katib`` the search pod only waits, on a CPU node, and
  the Experiment's trials get the accelerator instead; with ``mop`` the models train on the
  Dask cluster's workers (with no ``mop_scheduler``, CPU processes in the search pod), and the
  search pod stays on a CPU node. So each accelerator branch splits once more on
  ``search_backend``.

Separate ``dsl.If`` blocks (not ``If/Elif/Else``) and no ``dsl.OneOf``: kfp.local 2.16 runs
every branch of an ``If/Elif/Else`` group and supports no ``OneOf``, so each branch is a
complete chain. ``build_pipeline(accelerator)`` is the compile-time variant for one accelerator
(no ``accelerator`` parameter, no accelerator branch); ``latticenas pipeline run --local`` runs
the ``cpu`` variant, which holds no condition at all (kfp.local 2.16 evaluates none correctly).
``search_space`` is the default of the pipeline's ``search_space`` parameter (the compiled file
inlines the Ames space, :func:`latticenas.pipeline.build.pipeline_function`).
"""

from __future__ import annotations

from latticenas.extras import require

require("kfp")  # without the pipeline extra: MissingExtraError naming it, not a bare import error
from kfp import dsl  # noqa: E402

from latticenas.pipeline.components.aggregate import aggregate
from latticenas.pipeline.components.prepare_data import prepare_data
from latticenas.pipeline.components.register import register
from latticenas.pipeline.components.retrain_best import retrain_best
from latticenas.pipeline.components.search import search
from latticenas.pipeline.parameters import pipeline_docstring, pipeline_signature
from latticenas.pipeline.placement import ACCELERATORS, place_task

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
        time_budget=p["time_budget"], mop_scheduler=p["mop_scheduler"], mop_partitions=p["mop_partitions"],
        run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
    ).set_display_name(f"search{label}")
    if place_search:
        place_task(found, accelerator)
    summary = aggregate(
        trials=found.outputs["trials"], best_parameters=found.outputs["best_parameters"],
        best_spec=found.outputs["best_spec"], experiment=found.outputs["experiment"],
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
    with dsl.If(p["search_backend"] == "mop", name=f"{accelerator}-search-on-dask"):
        _chain(p, prep, accelerator, place_search=False, label=label)


def _runtime(p: dict) -> None:
    prep = _prepare(p, p["accelerator"])
    for choice in ACCELERATORS:
        with dsl.If(p["accelerator"] == choice, name=f"accelerator-{choice}"):
            _steps_for(p, prep, choice, label=f" ({choice})")


def build_pipeline(accelerator: str | None = None, search_space: str = ""):
    """The pipeline (``accelerator`` None: chosen at run time) or its variant for one
    accelerator; see the module doc."""
    if accelerator is not None and accelerator not in ACCELERATORS:
        raise ValueError(f"accelerator {accelerator!r} is not one of {', '.join(ACCELERATORS)}")
    exclude = () if accelerator is None else ("accelerator",)
    signature = pipeline_signature(exclude, {"search_space": search_space} if search_space else None)

    def body(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        p = dict(bound.arguments)
        if accelerator is None:
            _runtime(p)
        else:
            _steps_for(p, _prepare(p, accelerator), accelerator)

    body.__signature__ = signature
    body.__name__ = body.__qualname__ = "latticenas_pipeline" if accelerator is None else "latticenas_fixed"
    body.__doc__ = pipeline_docstring("The latticenas pipeline: prepare, search, aggregate, retrain, register.", exclude)
    name = "latticenas" if accelerator is None else f"latticenas-{accelerator}"
    description = DESCRIPTION if accelerator is None else f"{DESCRIPTION} Accelerator: {accelerator}."
    return dsl.pipeline(name=name, description=description)(body)
