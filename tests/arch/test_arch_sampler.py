"""sample_architecture(s): validity over many seeds, determinism across processes, and the
effect of every connection parameter."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import Counter

import pytest

from latticenas.arch import (
    ArchitectureSpec,
    EdgeKind,
    UnitRef,
    derive_seed,
    sample_architecture,
    sample_architectures,
)
from latticenas.errors import ParameterError
from latticenas.params import ParameterSet, resolve_decay, resolve_rounding

P, S, L = EdgeKind.PREDECESSOR, EdgeKind.SKIP, EdgeKind.LATERAL

PARAM_SETS = {
    "default": ParameterSet(),
    "wide": ParameterSet(minimum_levels=2, maximum_levels=6, maximum_units_per_level=7,
                         p_lateral_connection=0.8, p_lateral_connection_decay="no_decay",
                         num_lateral_connection_tries_per_unit=2,
                         gate_after_n_lateral_connections=1),
    "sparse": ParameterSet(maximum_levels=5, maximum_units_per_level=6,
                           predecessor_level_connection_affinity_factor_first=0.1,
                           predecessor_level_connection_affinity_factor_main=0.1,
                           predecessor_level_connection_affinity_factor_main_rounding_rule="floor",
                           predecessor_level_connection_affinity_factor_first_rounding_rule="floor",
                           minimum_skip_connection_depth=2, maximum_skip_connection_depth=3,
                           p_lateral_connection=0.0),
    "tiny": ParameterSet(minimum_levels=1, maximum_levels=1, minimum_units_per_level=1,
                         maximum_units_per_level=1, minimum_neurons_per_unit=4,
                         maximum_neurons_per_unit=4),
}
SEEDS = range(50)


def sample(params: ParameterSet, seed: int, **kw) -> ArchitectureSpec:
    kw.setdefault("output_size", 3)
    kw.setdefault("final_activation", "softmax")
    return sample_architecture(params, seed=seed, **kw)


def all_samples(params: ParameterSet, seeds=SEEDS, **kw) -> list[ArchitectureSpec]:
    return [sample(params, seed, **kw) for seed in seeds]


# ---------------------------------------------------------------------- validity


@pytest.mark.parametrize("name", PARAM_SETS)
def test_specs_are_valid_and_within_ranges(name):
    params = PARAM_SETS[name]
    for seed in SEEDS:
        spec = sample(params, seed, input_units=1 + seed % 3)
        spec.validate()  # acyclic, reachable from inputs, reaching the output
        ArchitectureSpec.from_json(spec.to_json())  # from_dict validates again
        assert spec.seed == seed and len(spec.levels[0]) == 1 + seed % 3
        assert params.minimum_levels <= spec.n_hidden_levels <= params.maximum_levels
        assert spec.levels[-1] == (3,) and spec.final_activation == "softmax"
        assert spec.activation == params.activation
        assert spec.gate_activation == params.gate_activation_function
        for level in spec.levels[1:-1]:
            assert params.minimum_units_per_level <= len(level) <= params.maximum_units_per_level
            assert all(params.minimum_neurons_per_unit <= n <= params.maximum_neurons_per_unit
                       for n in level)
        for unit in spec.units()[len(spec.levels[0]):]:
            assert any(e.kind is P for e in spec.inputs_of(unit)), unit


def test_structure_varies_with_the_seed():
    hashes = {spec.content_hash for spec in all_samples(ParameterSet())}
    assert len(hashes) > 40


def test_deterministic_within_a_process():
    for name, params in PARAM_SETS.items():
        for seed in (0, 1, 12345, 2**40):
            a, b = sample(params, seed), sample(params, seed)
            assert a == b and a.to_json() == b.to_json(), name


CHILD = """
import json, sys
from latticenas.arch import sample_architecture, sample_architectures
from latticenas.params import ParameterSet
params = ParameterSet.from_mapping(json.loads(sys.argv[1]))
one = [sample_architecture(params, output_size=2, final_activation="sigmoid", seed=s).content_hash
       for s in range(20)]
many = [(s.seed, s.content_hash) for s in
        sample_architectures(params, output_size=2, final_activation="sigmoid")]
print(json.dumps({"one": one, "many": many, "heavy": sorted(
    m for m in ("tensorflow", "keras", "torch", "matplotlib") if m in sys.modules)}))
"""


def test_deterministic_across_processes_and_framework_free():
    params = PARAM_SETS["wide"]
    mapping = {k: v for k, v in params.to_dict().items()}
    mapping["number_of_architecture_moities_to_try"] = 4
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(mapping)], env=env,
                         capture_output=True, text=True, check=True, timeout=60)
    child = json.loads(out.stdout)
    here = ParameterSet.from_mapping(mapping)
    assert child["one"] == [sample(here, s, output_size=2, final_activation="sigmoid")
                            .content_hash for s in range(20)]
    assert child["many"] == [[s.seed, s.content_hash] for s in sample_architectures(
        here, output_size=2, final_activation="sigmoid")]
    assert child["heavy"] == []


# ---------------------------------------------------------------------- predecessors


def test_predecessor_counts_follow_affinity_decay_and_rounding():
    prefix = "predecessor_level_connection_affinity_factor"
    for name, params in PARAM_SETS.items():
        decay = resolve_decay(getattr(params, f"{prefix}_decay_main"))
        rules = {is_first: (getattr(params, f"{prefix}_{which}"),
                            resolve_rounding(getattr(params, f"{prefix}_{which}_rounding_rule")))
                 for is_first, which in ((True, "first"), (False, "main"))}
        for spec in all_samples(params, input_units=4):
            for unit in spec.units()[4:]:
                counts = Counter(e.src.level for e in spec.inputs_of(unit) if e.kind is P)
                expected = {}
                for j in range(unit.level):
                    affinity, rounding = rules[j == 0]
                    size = len(spec.levels[j])
                    expected[j] = min(rounding(affinity * decay(unit.level - j - 1) * size), size)
                expected = {j: c for j, c in expected.items() if c}
                if not expected:  # the fallback: one edge from the previous level
                    expected = {unit.level - 1: 1}
                assert dict(counts) == expected, (name, spec.seed, unit)


def test_affinity_factors_change_edge_counts_monotonically():
    def predecessor_edges(**kw):
        params = ParameterSet(maximum_levels=4, maximum_units_per_level=6, **kw)
        return [spec.summary()["predecessor_edges"]
                for spec in all_samples(params, seeds=range(30), input_units=6)]

    for field in ("predecessor_level_connection_affinity_factor_main",
                  "predecessor_level_connection_affinity_factor_first"):
        rows = [predecessor_edges(**{field: value}) for value in (0.05, 0.3, 0.6, 1.0)]
        for low, high in zip(rows, rows[1:]):
            # same seed -> same shape (separate generators), so counts never decrease
            assert all(a <= b for a, b in zip(low, high)), field
            assert sum(low) < sum(high), field


def test_main_decay_reaches_far_levels_only_when_slow():
    def far_edges(decay):
        prefix = "predecessor_level_connection_affinity_factor"
        params = ParameterSet.from_mapping({
            "minimum_levels": 4, "maximum_levels": 4, "p_lateral_connection": 0.0,
            f"{prefix}_main": 0.5, f"{prefix}_decay_main": decay,
            f"{prefix}_main_rounding_rule": "floor"})
        return sum(1 for spec in all_samples(params, seeds=range(20)) for e in spec.edges
                   if e.kind is P and e.src.level > 0 and e.dst.level - e.src.level > 1)

    assert far_edges("zero_0_exp_decay") == 0
    assert far_edges("no_decay") > far_edges("zero_5_exp_decay") > 0


# ---------------------------------------------------------------------- laterals


def lateral_pairs(spec: ArchitectureSpec) -> set[tuple[UnitRef, UnitRef]]:
    return {(e.src, e.dst) for e in spec.edges if e.kind is L}


def test_no_laterals_when_probability_is_zero():
    params = ParameterSet(p_lateral_connection=0.0, maximum_units_per_level=8,
                          num_lateral_connection_tries_per_unit=5)
    assert all(not lateral_pairs(spec) for spec in all_samples(params))


def test_every_allowed_lateral_when_probability_is_one():
    params = ParameterSet(p_lateral_connection=1.0, p_lateral_connection_decay="no_decay",
                          minimum_units_per_level=2, maximum_units_per_level=8,
                          max_consecutive_lateral_connections=3)
    for spec in all_samples(params):
        expected = {(UnitRef(k, i), UnitRef(k, i + d))
                    for k in range(1, spec.output_level) for i in range(len(spec.levels[k]))
                    for d in (1, 2, 3) if i + d < len(spec.levels[k])}
        assert lateral_pairs(spec) == expected and expected


def test_the_users_lateral_decay_is_honoured():
    strong = ParameterSet(p_lateral_connection=1.0, p_lateral_connection_decay="zero_0_exp_decay",
                          minimum_units_per_level=3, maximum_units_per_level=8)
    for spec in all_samples(strong):
        pairs = lateral_pairs(spec)
        assert pairs and all(dst.index - src.index == 1 for src, dst in pairs)

    def distances(decay):
        params = ParameterSet(p_lateral_connection=0.6, p_lateral_connection_decay=decay,
                              minimum_units_per_level=4, maximum_units_per_level=8)
        return Counter(dst.index - src.index for spec in all_samples(params)
                       for src, dst in lateral_pairs(spec))

    slow, fast = distances("no_decay"), distances("zero_3_exp_decay")
    assert slow[3] > 2 * fast[3] and fast[1] > 0


def test_max_consecutive_bounds_lateral_distance():
    params = ParameterSet(p_lateral_connection=1.0, p_lateral_connection_decay="no_decay",
                          maximum_units_per_level=8, max_consecutive_lateral_connections=2)
    assert {d.index - s.index for spec in all_samples(params) for s, d in lateral_pairs(spec)} \
        == {1, 2}
    none = ParameterSet(p_lateral_connection=1.0, max_consecutive_lateral_connections=0)
    assert all(not lateral_pairs(spec) for spec in all_samples(none))


def test_lateral_tries_add_connections():
    def count(tries):
        params = ParameterSet(p_lateral_connection=0.2, maximum_units_per_level=8,
                              num_lateral_connection_tries_per_unit=tries)
        return sum(len(lateral_pairs(spec)) for spec in all_samples(params))

    assert count(4) > count(1) > 0


@pytest.mark.parametrize("group_size", [1, 2, 3])
def test_full_chunks_of_lateral_inputs_share_a_gate(group_size):
    params = ParameterSet(p_lateral_connection=0.7, p_lateral_connection_decay="no_decay",
                          minimum_units_per_level=3, maximum_units_per_level=8,
                          max_consecutive_lateral_connections=5,
                          gate_after_n_lateral_connections=group_size)
    gated = 0
    for spec in all_samples(params):
        for unit in spec.units():
            laterals = [e for e in spec.inputs_of(unit) if e.kind is L]
            assert [e.src for e in laterals] == sorted(e.src for e in laterals)
            full = len(laterals) // group_size
            expected = [n // group_size if n // group_size < full else None
                        for n in range(len(laterals))]
            assert [e.gate_group for e in laterals] == expected
            gated += sum(g is not None for g in expected)
        assert all(e.gate_group is None for e in spec.edges if e.kind is not L)
    assert gated > 0


def test_gate_after_zero_means_no_gating():
    params = ParameterSet(p_lateral_connection=1.0, maximum_units_per_level=8,
                          gate_after_n_lateral_connections=0)
    specs = all_samples(params)
    assert sum(len(lateral_pairs(spec)) for spec in specs) > 0
    assert all(e.gate_group is None for spec in specs for e in spec.edges)


def test_exact_gate_groups_on_a_full_lateral_level():
    params = ParameterSet(minimum_levels=1, maximum_levels=1, minimum_units_per_level=5,
                          maximum_units_per_level=5, p_lateral_connection=1.0,
                          p_lateral_connection_decay="no_decay",
                          max_consecutive_lateral_connections=4,
                          gate_after_n_lateral_connections=2)
    spec = sample(params, 0)
    groups = {i: [e.gate_group for e in spec.inputs_of(UnitRef(1, i)) if e.kind is L]
              for i in range(5)}
    assert groups == {0: [], 1: [None], 2: [0, 0], 3: [0, 0, None], 4: [0, 0, 1, 1]}
    assert spec.summary()["gated_groups"] == 4


# ---------------------------------------------------------------------- skip repair


@pytest.mark.parametrize("low, high", [(1, 1), (1, 3), (2, 2), (2, 4), (3, 5)])
def test_skip_repairs_respect_the_depth_range(low, high):
    params = ParameterSet(minimum_levels=2, maximum_levels=6, maximum_units_per_level=6,
                          predecessor_level_connection_affinity_factor_first=0.1,
                          predecessor_level_connection_affinity_factor_main=0.1,
                          predecessor_level_connection_affinity_factor_main_rounding_rule="floor",
                          predecessor_level_connection_affinity_factor_first_rounding_rule="floor",
                          p_lateral_connection=0.0, minimum_skip_connection_depth=low,
                          maximum_skip_connection_depth=high)
    depths = Counter()
    for spec in all_samples(params, input_units=3):
        for edge in spec.edges:
            if edge.kind is not S:
                continue
            assert spec.outputs_of(edge.src) == (edge,)  # only units with no other use
            k = edge.src.level
            if k + low > spec.output_level:
                assert edge.dst == spec.output_unit
            else:
                assert k + low <= edge.dst.level <= min(k + high, spec.output_level)
                depths[edge.dst.level - k] += 1
    assert depths and set(depths) <= set(range(low, high + 1))
    if high > low:
        assert len(depths) > 1


def test_no_skip_edges_when_every_unit_is_used():
    params = ParameterSet(predecessor_level_connection_affinity_factor_main=1.0,
                          predecessor_level_connection_affinity_factor_first=1.0)
    assert all(spec.summary()["skip_edges"] == 0 for spec in all_samples(params))


# ---------------------------------------------------------------------- sample_architectures


def test_sample_architectures_returns_distinct_specs_with_derived_seeds():
    params = ParameterSet(number_of_architecture_moities_to_try=6, seed=42)
    specs = sample_architectures(params, output_size=1, final_activation="linear")
    assert len(specs) == 6 and len({s.content_hash for s in specs}) == 6
    seeds = [s.seed for s in specs]
    assert all(seed in {derive_seed(42, i) for i in range(60)} for seed in seeds)
    assert specs == sample_architectures(params, output_size=1, final_activation="linear")
    other = sample_architectures(ParameterSet(number_of_architecture_moities_to_try=6, seed=43),
                                 output_size=1, final_activation="linear")
    assert {s.content_hash for s in other} != {s.content_hash for s in specs}


def test_duplicates_are_allowed_with_a_warning_when_the_space_is_too_small(caplog):
    params = ParameterSet(minimum_levels=1, maximum_levels=1, minimum_units_per_level=1,
                          maximum_units_per_level=1, minimum_neurons_per_unit=4,
                          maximum_neurons_per_unit=4, number_of_architecture_moities_to_try=3)
    with caplog.at_level(logging.WARNING, logger="latticenas.arch.sampler"):
        specs = sample_architectures(params, output_size=2, final_activation="sigmoid")
    assert len(specs) == 3 and len({s.content_hash for s in specs}) == 1
    assert len({s.seed for s in specs}) == 3
    assert "duplicates" in caplog.text


def test_derive_seed_is_stable():
    assert derive_seed(0, 0) == derive_seed(0, 0) != derive_seed(0, 1) != derive_seed(1, 0)
    assert 0 <= derive_seed(7, 3) < 2**63


@pytest.mark.parametrize("kw, name", [
    ({"output_size": 0}, "output_size"), ({"input_units": 0}, "input_units"),
    ({"seed": -1}, "seed"), ({"final_activation": "softmx"}, "final_activation"),
    ({"output_size": 2.5}, "output_size"),
])
def test_bad_call_arguments(kw, name):
    kw = {"output_size": 2, "final_activation": "sigmoid", "seed": 0, **kw}
    with pytest.raises(ParameterError, match=rf"^{name}="):
        sample_architecture(ParameterSet(), **kw)
