"""Katib ``algorithmName`` -> suggestion engine.

:func:`create_engine` builds the engine for an Experiment (unknown names and bad settings raise
:class:`~latticenas.errors.ManifestError`); every engine keeps the contract of
:mod:`latticenas.runner.algorithms.base`. The mapping is documented in ``docs/local-runner.md``.
"""

from __future__ import annotations

from latticenas.errors import ManifestError
from latticenas.runner.algorithms.base import Suggestion, SuggestionEngine, Suggestions
from latticenas.runner.algorithms.bayesian import BayesianOptimizationEngine
from latticenas.runner.algorithms.grid import GridEngine
from latticenas.runner.algorithms.hyperband import HyperbandEngine
from latticenas.runner.algorithms.hyperopt_engine import HyperoptEngine
from latticenas.runner.algorithms.optuna_samplers import CmaEsEngine, SobolEngine, TPEEngine
from latticenas.runner.experiment import Experiment

ENGINES: dict[str, type[SuggestionEngine]] = {
    name: engine
    for engine in (
        HyperoptEngine,
        TPEEngine,
        CmaEsEngine,
        GridEngine,
        SobolEngine,
        BayesianOptimizationEngine,
        HyperbandEngine,
    )
    for name in engine.names
}

__all__ = ["ENGINES", "Suggestion", "SuggestionEngine", "Suggestions", "create_engine"]


def create_engine(experiment: Experiment) -> SuggestionEngine:
    name = experiment.algorithm.name
    engine = ENGINES.get(name)
    if engine is None:
        known = ", ".join(sorted(ENGINES))
        raise ManifestError(
            f"spec.algorithm.algorithmName: {name!r} is not supported by the local runner "
            f"(supported: {known})"
        )
    return engine(experiment)
