"""Sample ArchitectureSpecs from a ParameterSet and a seed.

The sampling is a pure function of ``(params, output_size, final_activation, seed,
input_units)``: it uses only ``numpy.random.default_rng`` generators built from the seed, so
the same inputs give the same spec in every process and on every platform. Each phase draws
from its own child generator (``SeedSequence(seed).spawn(4)``: shape, predecessors, laterals,
skip repair), so changing one phase's parameters leaves the draws of the other phases alone
(e.g. a larger affinity never changes the level shapes).

Semantics (deliberately not reproducing Cerebros' defects: predecessors drawn twice,
unseeded randomness, the lateral decay ignored, gating not applied, skip depths ignored by
repairs):

1. shape: hidden levels ~ U{minimum_levels..maximum_levels}; units per hidden level ~
   U{minimum..maximum units}; neurons per unit ~ U{minimum..maximum neurons}; the output level
   is one unit of ``output_size``; the input level has ``input_units`` units of 0 neurons.
2. predecessors: a unit at level k >= 1 draws, once per earlier level j, ``rounding(affinity
   * decay(k - j - 1) * units_in_j)`` distinct units of level j (capped at the level's size),
   with the ``_first`` affinity and rounding for j == 0 and ``_main`` otherwise. A unit that
   drew nothing gets one edge from a random unit of level k - 1.
3. laterals (hidden levels): for each unit i, for each try, for d in 1..max_consecutive, the
   edge i -> i + d is added with probability ``p_lateral_connection * lateral_decay(d - 1)``.
   A unit's lateral inputs (sorted by source) are grouped in chunks of
   ``gate_after_n_lateral_connections``; each full chunk gets gate_group 0, 1, ...; a partial
   remainder is ungated. 0 means no gating.
4. skip repair: a unit of level k < output with no outgoing edge gets one skip edge to a
   random unit of a level drawn from [k + min_depth, min(k + max_depth, output)], or to the
   output unit when k + min_depth > output. Every unit then lies on an input-output path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from latticenas.arch.spec import ArchitectureSpec, Edge, EdgeKind, UnitRef
from latticenas.errors import ParameterError
from latticenas.params import FINAL_ACTIVATIONS, ParameterSet, resolve_decay, resolve_rounding

__all__ = ["derive_seed", "sample_architecture", "sample_architectures"]

log = logging.getLogger(__name__)

#: Distinct-architecture attempts per requested architecture before duplicates are allowed.
ATTEMPTS_PER_ARCHITECTURE = 10


def derive_seed(base_seed: int, index: int) -> int:
    """Return the ``index``-th seed derived from ``base_seed`` (a 63-bit int), the same in
    every process: ``SeedSequence((base_seed, index))``'s first 64-bit word, top bit cleared."""
    state = np.random.SeedSequence((int(base_seed), int(index))).generate_state(1, np.uint64)
    return int(state[0]) & (2**63 - 1)


def sample_architecture(params: ParameterSet, *, output_size: int, final_activation: str,
                        seed: int, input_units: int = 1) -> ArchitectureSpec:
    """Sample one validated ArchitectureSpec (see the module docstring for the rules).

    ``seed`` (>= 0) fixes every draw and is recorded in the spec's ``seed``. Raises
    ParameterError for an output_size or input_units < 1, a negative seed or an unknown
    final_activation.
    """
    _check_call(output_size, final_activation, seed, input_units)
    shape_rng, pred_rng, lat_rng, skip_rng = (
        np.random.default_rng(child) for child in np.random.SeedSequence(seed).spawn(4)
    )
    levels = _sample_levels(params, shape_rng, output_size, input_units)
    edges = _predecessor_edges(params, levels, pred_rng)
    edges += _lateral_edges(params, levels, lat_rng)
    edges += _skip_repairs(params, levels, edges, skip_rng)
    spec = ArchitectureSpec(levels=levels, edges=tuple(edges), activation=params.activation,
                            final_activation=final_activation,
                            gate_activation=params.gate_activation_function, seed=int(seed))
    return spec.validate()


def sample_architectures(params: ParameterSet, *, output_size: int, final_activation: str,
                         input_units: int = 1) -> list[ArchitectureSpec]:
    """Return ``params.number_of_architecture_moities_to_try`` specs, distinct by content hash.

    The i-th attempt uses seed ``derive_seed(params.seed, i)``. After
    ``ATTEMPTS_PER_ARCHITECTURE`` attempts per requested spec (a narrow parameter set may not
    have enough distinct lattices) a warning is logged and further attempts are kept even if
    they repeat an architecture.
    """
    wanted = params.number_of_architecture_moities_to_try
    bound = ATTEMPTS_PER_ARCHITECTURE * wanted
    specs: list[ArchitectureSpec] = []
    seen: set[str] = set()
    attempt = 0
    while len(specs) < wanted:
        spec = sample_architecture(params, output_size=output_size,
                                   final_activation=final_activation,
                                   seed=derive_seed(params.seed, attempt), input_units=input_units)
        if attempt == bound:
            log.warning("only %d distinct architectures in %d attempts; allowing duplicates "
                        "to reach %d (widen the parameter ranges for more variety)",
                        len(specs), bound, wanted)
        if spec.content_hash not in seen or attempt >= bound:
            seen.add(spec.content_hash)
            specs.append(spec)
        attempt += 1
    return specs


# ---------------------------------------------------------------------- phases


def _check_call(output_size: int, final_activation: str, seed: int, input_units: int) -> None:
    for name, value in (("output_size", output_size), ("input_units", input_units)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ParameterError(f"{name}={value!r} is not a whole number >= 1; "
                                 f"set {name} >= 1")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed={seed!r} is not a whole number >= 0; set seed >= 0")
    if final_activation not in FINAL_ACTIVATIONS:
        raise ParameterError(f"final_activation={final_activation!r} is not allowed; use one "
                             f"of {', '.join(FINAL_ACTIVATIONS)}")


def _uniform(rng: np.random.Generator, low: int, high: int) -> int:
    """An integer drawn uniformly from [low, high] inclusive."""
    return int(rng.integers(low, high + 1))


def _sample_levels(params: ParameterSet, rng: np.random.Generator, output_size: int,
                   input_units: int) -> tuple[tuple[int, ...], ...]:
    n_hidden = _uniform(rng, params.minimum_levels, params.maximum_levels)
    hidden = []
    for _ in range(n_hidden):
        n_units = _uniform(rng, params.minimum_units_per_level, params.maximum_units_per_level)
        hidden.append(tuple(
            _uniform(rng, params.minimum_neurons_per_unit, params.maximum_neurons_per_unit)
            for _ in range(n_units)
        ))
    return ((0,) * input_units, *hidden, (int(output_size),))


def _affinity_rules(params: ParameterSet) -> dict[bool, tuple[float, Callable[[float], int]]]:
    """``{is_input_level: (affinity, rounding)}``: ``_first`` for level 0, else ``_main``."""
    prefix = "predecessor_level_connection_affinity_factor"
    return {
        is_first: (getattr(params, f"{prefix}_{which}"),
                   resolve_rounding(getattr(params, f"{prefix}_{which}_rounding_rule")))
        for is_first, which in ((True, "first"), (False, "main"))
    }


def _predecessor_edges(params: ParameterSet, levels: tuple[tuple[int, ...], ...],
                       rng: np.random.Generator) -> list[Edge]:
    decay = resolve_decay(params.predecessor_level_connection_affinity_factor_decay_main)
    rules = _affinity_rules(params)
    edges: list[Edge] = []
    for k in range(1, len(levels)):
        for i in range(len(levels[k])):
            dst = UnitRef(k, i)
            drawn = []
            for j in range(k):  # one draw per earlier level
                affinity, rounding = rules[j == 0]
                size = len(levels[j])
                count = min(max(rounding(affinity * decay(k - j - 1) * size), 0), size)
                for src in sorted(rng.choice(size, size=count, replace=False).tolist()):
                    drawn.append(Edge(UnitRef(j, src), dst, EdgeKind.PREDECESSOR))
            if not drawn:
                src = _uniform(rng, 0, len(levels[k - 1]) - 1)
                drawn.append(Edge(UnitRef(k - 1, src), dst, EdgeKind.PREDECESSOR))
            edges += drawn
    return edges


def _lateral_edges(params: ParameterSet, levels: tuple[tuple[int, ...], ...],
                   rng: np.random.Generator) -> list[Edge]:
    decay = resolve_decay(params.p_lateral_connection_decay)
    edges: list[Edge] = []
    for k in range(1, len(levels) - 1):
        n = len(levels[k])
        pairs: set[tuple[int, int]] = set()
        for i in range(n):
            for _ in range(params.num_lateral_connection_tries_per_unit):
                for d in range(1, params.max_consecutive_lateral_connections + 1):
                    if i + d >= n:
                        break
                    if rng.random() < min(1.0, params.p_lateral_connection * decay(d - 1)):
                        pairs.add((i, i + d))
        edges += _gate(k, sorted(pairs), params.gate_after_n_lateral_connections)
    return edges


def _gate(level: int, pairs: list[tuple[int, int]], group_size: int) -> list[Edge]:
    """Turn sorted (src, dst) index pairs into lateral edges: per destination, the sorted
    sources in full chunks of ``group_size`` get gate groups 0, 1, ...; the rest None."""
    by_dst: dict[int, list[int]] = {}
    for src, dst in pairs:
        by_dst.setdefault(dst, []).append(src)
    edges = []
    for dst, sources in sorted(by_dst.items()):
        full_groups = len(sources) // group_size if group_size else 0
        for position, src in enumerate(sorted(sources)):
            group = position // group_size if position < full_groups * group_size else None
            edges.append(Edge(UnitRef(level, src), UnitRef(level, dst), EdgeKind.LATERAL, group))
    return edges


def _skip_repairs(params: ParameterSet, levels: tuple[tuple[int, ...], ...],
                  edges: list[Edge], rng: np.random.Generator) -> list[Edge]:
    output_level = len(levels) - 1
    used = {edge.src for edge in edges}
    repairs = []
    for k in range(output_level):
        for i in range(len(levels[k])):
            if UnitRef(k, i) in used:
                continue
            low = k + params.minimum_skip_connection_depth
            if low > output_level:
                dst = UnitRef(output_level, 0)
            else:
                target = _uniform(rng, low, min(k + params.maximum_skip_connection_depth,
                                                output_level))
                dst = UnitRef(target, _uniform(rng, 0, len(levels[target]) - 1))
            repairs.append(Edge(UnitRef(k, i), dst, EdgeKind.SKIP))
    return repairs
