"""The optional parts of latticenas and the extra that installs each one.

The core install (``pip install latticenas``) is what the trial program needs; the local tools,
the cluster client and the pipeline come with extras (``pyproject.toml``). A module that needs an
extra's library calls :func:`require` before importing it, so a missing one is a
:class:`MissingExtraError` (a user-facing ``error:`` line at the command line) that names the
extra, rather than a bare ``No module named ...``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from latticenas.errors import LatticeNASError

#: top-level module -> the extra that installs it
EXTRAS: dict[str, str] = {
    "optuna": "search",
    "cmaes": "search",
    "skopt": "search",
    "hyperopt": "search",
    "matplotlib": "search",
    "sklearn": "search",
    "kubernetes_validate": "search",
    "dask": "search",
    "distributed": "search",
    "kubernetes": "search",
    "kubeflow": "search",
    "kfp": "pipeline",
}


class MissingExtraError(LatticeNASError, ImportError):
    """An optional library is not installed; the message names the extra to install."""


def require(module: str) -> ModuleType:
    """Import ``module`` (dotted names allowed), or raise :class:`MissingExtraError` naming the
    extra when its top-level package is missing. A module missing *inside* an installed package
    is not this case and keeps its own error."""
    top = module.partition(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if top not in EXTRAS or exc.name != top:
            raise
        extra = EXTRAS[top]
        raise MissingExtraError(
            f"{top} is not installed; it comes with the {extra!r} extra: pip install 'latticenas[{extra}]'"
        ) from None


__all__ = ["EXTRAS", "MissingExtraError", "require"]
