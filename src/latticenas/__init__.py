"""latticenas: neural architecture search for tabular data with randomly connected lattices.

The Python API (:mod:`latticenas.api`), loaded on first use so that ``import latticenas`` stays
light (no TensorFlow, no pandas):

* :func:`search` — search a table (path, ``gs://`` URI, ``example:NAME`` or DataFrame) on this
  machine and get a :class:`SearchResult` (leaderboard, final model, baseline, report);
* :func:`load` — a saved model as a :class:`~latticenas.predict.Predictor`.

The Kubeflow pipeline's steps, one typed call each (what the Kale notebook runs), are
:mod:`latticenas.pipeline.steps`; its parameters, defined once,
:class:`latticenas.pipeline.PipelineParameters`.
"""

__version__ = "0.1.0"

__all__ = ["Predictor", "SearchResult", "__version__", "load", "search"]

_LAZY = {
    "search": "latticenas.api",
    "load": "latticenas.api",
    "SearchResult": "latticenas.api",
    "Predictor": "latticenas.predict",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'latticenas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
