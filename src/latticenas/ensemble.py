"""Ensembles of trained networks: how predictions combine, greedy selection, one fused model.

- :func:`link_for` names how members combine: ``log1p`` for a regression target trained on
  its log (members are averaged in log space), ``identity`` otherwise (targets, probabilities).
- :func:`combine` is that weighted combination in numpy; :func:`greedy_selection` is Caruana
  et al.'s ensemble selection with replacement (ICML 2004, as AutoGluon's WeightedEnsemble):
  start empty, repeatedly add the member that most improves the validation score, and return
  how often each member was picked (the weights).
- :func:`fuse` turns members (serving models: raw columns in, target units or probabilities
  out) into **one** Keras model with the same inputs and outputs, so an ensemble is saved,
  loaded, predicted, registered and served exactly like a single network.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from latticenas.data import Task
from latticenas.evaluation import DIRECTIONS, Direction, classification_metrics, regression_metrics

SELECTION_ROUNDS = 25  # Caruana et al. / AutoGluon use 25-100; gains flatten after ~20


def link_for(task: Task, log_target: bool) -> str:
    return "log1p" if task is Task.REGRESSION and log_target else "identity"


def combine(predictions: Sequence[np.ndarray], weights: Sequence[float], link: str) -> np.ndarray:
    """``g^-1(sum_i w_i g(p_i))`` with weights normalized to sum 1 (the layer's math, in numpy)."""
    stacked = np.stack([np.asarray(p, dtype="float64") for p in predictions])
    w = np.asarray(weights, dtype="float64")
    w = (w / w.sum()).reshape((-1,) + (1,) * (stacked.ndim - 1))
    if link == "log1p":
        return np.expm1(np.sum(np.log1p(np.maximum(stacked, 0)) * w, axis=0))
    return np.sum(stacked * w, axis=0)


def scorer(task: Task, metric: str, y_true: np.ndarray, n_classes: int = 0) -> Callable[[np.ndarray], float]:
    """``predictions -> metric value`` on fixed true values (original units / class codes)."""
    if task is Task.REGRESSION:
        return lambda p: regression_metrics(y_true, p)[metric]
    return lambda p: classification_metrics(y_true, p, n_classes)[metric]


def greedy_selection(
    candidates: Sequence[np.ndarray],
    score: Callable[[np.ndarray], float],
    metric: str,
    link: str,
    rounds: int = SELECTION_ROUNDS,
) -> list[int]:
    """How many times each candidate is picked by greedy selection with replacement.

    Ties go to the earlier candidate (pass them best first). Stops early when no addition
    improves the score, so a dominant single member ends as ``[1, 0, ...]``... or more picks.
    """
    better = (lambda a, b: a < b) if DIRECTIONS[metric] is Direction.MINIMIZE else (lambda a, b: a > b)
    counts = [0] * len(candidates)
    current: np.ndarray | None = None
    current_score: float | None = None
    for step in range(1, rounds + 1):
        best_i, best_score, best_pred = None, None, None
        for i, candidate in enumerate(candidates):
            trial = candidate if current is None else combine([current, candidate], [step - 1, 1], link)
            value = score(trial)
            if np.isfinite(value) and (best_score is None or better(value, best_score)):
                best_i, best_score, best_pred = i, value, trial
        if best_i is None or (current_score is not None and not better(best_score, current_score)):
            break
        counts[best_i] += 1
        current, current_score = best_pred, best_score
    return counts


def fuse(members: Sequence, weights: Sequence[float], link: str, name: str = "ensemble"):
    """One Keras model over the members' raw inputs whose output is their weighted combination.

    Members share input names and dtypes (they were trained on one table); a member's own
    encoder travels inside it, so members with different numeric encodings fuse too.
    """
    import keras

    from latticenas.arch.keras_layers import WeightedMean

    if len(members) == 1:
        return members[0]
    inputs = {t.name: keras.Input(t.shape[1:], name=t.name, dtype=t.dtype) for t in _named_inputs(members[0]).values()}
    outputs = []
    for i, member in enumerate(members):
        wrapped = keras.Model(member.input, member.output, name=f"member_{i}")  # unique names
        feeds = {key: inputs[t.name] for key, t in _named_inputs(member).items()}
        outputs.append(wrapped(feeds if isinstance(member.input, dict) else list(feeds.values())))
    combined = WeightedMean(list(weights), link, name="weighted_mean")(outputs)
    return keras.Model(inputs, combined, name=name)


def _named_inputs(model) -> dict:
    structure = model.input
    if isinstance(structure, dict):
        return dict(structure)
    return {t.name: t for t in (structure if isinstance(structure, (list, tuple)) else [structure])}
