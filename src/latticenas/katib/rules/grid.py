"""Grid points as Katib's optuna grid service enumerates and orders them.

Points (``pkg/suggestion/v1beta1/internal/search_space.py`` ``convert_to_combinations``):
``int`` is ``range(int(min), int(max) + 1, int(step))`` (step defaults to 1), ``double`` is
``numpy.arange(min, max + step, step)`` with a last point above ``max`` dropped (so its size can
differ by one from ``(max - min) / step + 1``), ``categorical`` and ``discrete`` are their lists
as strings. The grid is the product over the parameter names in sorted order.

Order (``optuna==3.3.0``, the version Katib's optuna image pins, ``GridSampler``): one
``numpy.random.RandomState(random_state)`` lives as long as the service; each ask picks
``rng.choice(list(unvisited))``, where unvisited is ``set(range(n)) - set(finished) -
set(running)`` over the grid ids asked so far (finished: trials the service was told, i.e.
Succeeded or EarlyStopped with an objective). Once every point has been asked the set is empty
and the sampler re-asks a point that has not finished (or, when all have, any point): Katib's
controller never ends a grid Experiment because the grid is done, only ``maxTrialCount`` does.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from latticenas.katib.rules.values import parse_float, parse_int


def int_points(low: Any, high: Any, step: Any = None) -> range:
    """Katib's int grid; ValueError where the service's ``int()`` fails."""
    return range(int(str(low)), int(str(high)) + 1, int(str(step)) if step not in (None, "") else 1)


def double_points(low: Any, high: Any, step: Any) -> list[float]:
    """Katib's double grid (``numpy.arange``, last point above ``max`` dropped)."""
    low, high, step = float(low), float(high), float(step)
    values = np.arange(low, high + step, step)
    if len(values) and values[-1] > high:
        values = values[:-1]
    return [float(v) for v in values]


def parameter_points(param: Mapping[str, Any]) -> list[Any] | None:
    """The grid values of one manifest parameter, or None when Katib cannot make a grid of it
    (a double without a step, a bound its service cannot parse, a step <= 0)."""
    kind = param.get("parameterType")
    space = param.get("feasibleSpace") if isinstance(param.get("feasibleSpace"), Mapping) else {}
    if kind in ("categorical", "discrete"):
        values = space.get("list")
        return [str(v) for v in values] if isinstance(values, list) else None
    try:
        if kind == "int":
            step = space.get("step")
            if step not in (None, "") and (parse_int(step) or 0) <= 0:
                return None
            return list(int_points(space.get("min"), space.get("max"), step))
        if kind == "double":
            step = parse_float(space.get("step")) if space.get("step") not in (None, "") else None
            if step is None or not math.isfinite(step) or step <= 0:
                return None
            return double_points(space.get("min"), space.get("max"), step)
    except (TypeError, ValueError):
        return None
    return None


def grid_size(parameters: Sequence[Mapping[str, Any]]) -> int | None:
    """Number of grid points, or None when some parameter has no Katib grid."""
    total = 1
    for param in parameters:
        points = parameter_points(param)
        if points is None:
            return None
        total *= len(points)
    return total


def grid_points(values: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every point, indexed by grid id: the product over the names in sorted order."""
    names = sorted(values)
    return [dict(zip(names, combo)) for combo in itertools.product(*(values[n] for n in names))]


class GridOrder:
    """The grid ids Katib's service assigns, replayed from a seed. The RandomState's progress
    depends only on how many ids each earlier ask chose among, so :meth:`skip` replays an
    earlier ask from that count; :meth:`ask` makes the next choice from the grid ids asked so
    far, split as the service sees them (``done``: told, ``running``: the rest), both in the
    order the trials were created."""

    def __init__(self, size: int, seed: int | None) -> None:
        self.size = size
        self.rng = np.random.RandomState(seed)

    def skip(self, population: int) -> None:
        self.rng.choice(population)

    def ask(self, done: Sequence[int], running: Sequence[int]) -> tuple[int, int]:
        """``(grid id, how many ids it was chosen among)``."""
        candidates = set(range(self.size)) - set(done) - set(running)
        if not candidates:
            candidates = set(range(self.size)) - set(done)
        choices = list(candidates) if candidates else list(range(self.size))
        return int(self.rng.choice(choices)), len(choices)
