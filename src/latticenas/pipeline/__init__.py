"""The Kubeflow pipeline: prepare the data, search, aggregate the trials, retrain the best
network, register it.

* :mod:`.prepared` — the prepared train/validation/test parts and their record;
* :mod:`.search` — the search step on the local runner or Katib;
* :mod:`.steps` — aggregate, retrain and register as library calls;
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
