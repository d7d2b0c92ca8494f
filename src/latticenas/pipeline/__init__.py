"""The Kubeflow pipeline: prepare the data, search, aggregate the trials, retrain the best
network, register it.

* :mod:`.steps` — the five steps as typed library calls, one a step (what the Kale notebook
  and the components call): ``from latticenas.pipeline import steps``;
  ``steps.prepare_data`` -> ``steps.search`` -> ``steps.aggregate`` -> ``steps.retrain_best``
  -> ``steps.register``, each returning a frozen record that pickles;
* :mod:`.prepared` — the prepared train/validation/test parts and their typed record;
* :mod:`.search` and :mod:`.outcome` — the search on the local runner or Katib, and what it
  hands on (the trials, the best trial's parameters and network);
* :mod:`.choice` — the final model (an ensemble of trials, or the best one) and its refit;
* :mod:`.outputs` — the step records written to KFP output artifacts;
* :mod:`.placement` — which node, device and image each accelerator means;
* :mod:`.parameters` — :class:`PipelineParameters`, the pipeline's parameters, defined once;
* :mod:`.definition` and :mod:`.components` — the KFP pipeline and its components;
* :mod:`.build` — :func:`compile_pipeline`, :func:`run_local`, :func:`submit`;
* :mod:`.cli` — ``latticenas pipeline compile|run|submit``.

The components and the pipeline are thin wrappers over these modules. Importing this package
is cheap (no kfp, no TensorFlow).
"""

from __future__ import annotations

__all__ = ["PipelineParameters", "compile_pipeline", "run_local", "submit"]


def __getattr__(name: str):
    if name == "PipelineParameters":
        from latticenas.pipeline.parameters import PipelineParameters

        return PipelineParameters
    if name in __all__:
        from latticenas.pipeline import build

        return getattr(build, name)
    raise AttributeError(name)
