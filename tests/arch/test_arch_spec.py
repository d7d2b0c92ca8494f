"""ArchitectureSpec: structure queries, JSON round trip, content hash, validation errors."""

from __future__ import annotations

import json

import pytest

from latticenas.arch.spec import (
    SCHEMA_VERSION,
    ArchitectureSpec,
    Edge,
    EdgeKind,
    SpecError,
    UnitRef,
)
from latticenas.errors import LatticeNASError

P, S, L = EdgeKind.PREDECESSOR, EdgeKind.SKIP, EdgeKind.LATERAL


def u(level: int, index: int) -> UnitRef:
    return UnitRef(level, index)


def small_edges() -> list[Edge]:
    """inputs(1) -> level1 [8, 4, 6] -> level2 [5] -> output [2], laterals gated in level 1."""
    return [
        Edge(u(0, 0), u(1, 0), P), Edge(u(0, 0), u(1, 1), P), Edge(u(0, 0), u(1, 2), P),
        Edge(u(1, 0), u(1, 2), L, 0), Edge(u(1, 1), u(1, 2), L, 0), Edge(u(1, 0), u(1, 1), L),
        Edge(u(1, 1), u(2, 0), P), Edge(u(1, 2), u(2, 0), P),
        Edge(u(2, 0), u(3, 0), P), Edge(u(1, 0), u(3, 0), S),
    ]


def small_spec(edges=None, levels=((0,), (8, 4, 6), (5,), (2,)), seed=11, **kw) -> ArchitectureSpec:
    fields = dict(activation="relu", final_activation="sigmoid", gate_activation="sigmoid")
    fields.update(kw)
    return ArchitectureSpec(levels=levels, edges=tuple(small_edges() if edges is None else edges),
                            seed=seed, **fields)


def test_structure_queries():
    spec = small_spec().validate()
    assert spec.n_hidden_levels == 2 and spec.output_level == 3 and spec.output_unit == u(3, 0)
    assert spec.units() == [u(0, 0), u(1, 0), u(1, 1), u(1, 2), u(2, 0), u(3, 0)]
    assert spec.neurons(u(1, 2)) == 6 and spec.neurons(u(0, 0)) == 0 and spec.neurons(u(3, 0)) == 2
    assert [(e.src, e.kind, e.gate_group) for e in spec.inputs_of(u(1, 2))] == [
        (u(0, 0), P, None), (u(1, 0), L, 0), (u(1, 1), L, 0)]
    assert {e.dst for e in spec.outputs_of(u(1, 0))} == {u(1, 1), u(1, 2), u(3, 0)}
    assert spec.inputs_of(u(0, 0)) == () and spec.outputs_of(spec.output_unit) == ()
    assert spec.summary() == {
        "levels": 4, "hidden_levels": 2, "units": 6, "hidden_units": 4, "edges": 10,
        "predecessor_edges": 6, "skip_edges": 1, "lateral_edges": 3, "gated_groups": 1,
        "gated_edges": 2,
    }


def test_edges_are_sorted_canonically_whatever_the_input_order():
    a, b = small_spec(), small_spec(edges=list(reversed(small_edges())))
    assert a == b and a.edges == b.edges and a.content_hash == b.content_hash
    assert list(a.edges) == sorted(a.edges, key=Edge.sort_key)


def test_units_are_a_topological_order():
    spec = small_spec()
    position = {unit: n for n, unit in enumerate(spec.units())}
    assert all(position[e.src] < position[e.dst] for e in spec.edges)


def test_edge_kind_accepts_its_string_value():
    assert Edge(u(0, 0), u(1, 0), "skip").kind is EdgeKind.SKIP  # type: ignore[arg-type]


def test_json_round_trip_is_exact():
    spec = small_spec()
    text = spec.to_json()
    back = ArchitectureSpec.from_json(text)
    assert back == spec and back.seed == 11 and back.to_json() == text
    assert ArchitectureSpec.from_dict(json.loads(text)) == spec
    data = json.loads(text)
    assert data["schema_version"] == SCHEMA_VERSION and data["levels"][1] == [8, 4, 6]
    assert data["edges"][0] == {"src": [0, 0], "dst": [1, 0], "kind": "predecessor",
                                "gate_group": None}
    no_seed = small_spec(seed=None)
    assert ArchitectureSpec.from_json(no_seed.to_json()) == no_seed


def test_content_hash_ignores_seed_and_tracks_content():
    spec = small_spec(seed=1)
    assert spec != small_spec(seed=2)  # seed is provenance: compared, but not hashed
    assert spec.content_hash == small_spec(seed=2).content_hash
    assert spec.content_hash == small_spec(seed=None).content_hash
    assert len(spec.content_hash) == 64 and int(spec.content_hash, 16) >= 0
    edges = small_edges()
    regated = [Edge(e.src, e.dst, e.kind, 1 if e.gate_group == 0 else e.gate_group) for e in edges]
    changed = [
        small_spec(edges=edges[:-1] + [Edge(u(1, 0), u(2, 0), S)]),
        small_spec(edges=regated),
        small_spec(edges=edges[:-1] + [Edge(u(1, 0), u(3, 0), P)]),
        small_spec(levels=((0,), (8, 4, 7), (5,), (2,))),
        small_spec(activation="tanh"),
        small_spec(final_activation="linear"),
        small_spec(gate_activation="tanh"),
    ]
    hashes = {spec.content_hash} | {other.content_hash for other in changed}
    assert len(hashes) == len(changed) + 1


def replace_edge(old: Edge, new: Edge) -> list[Edge]:
    return [new if e == old else e for e in small_edges()]


BROKEN = [
    ("backwards lateral", dict(edges=small_edges() + [Edge(u(1, 2), u(1, 1), L)]), "lateral"),
    ("predecessor in a level", dict(edges=small_edges() + [Edge(u(1, 0), u(1, 1), P)]),
     "higher level"),
    ("predecessor backwards", dict(edges=small_edges() + [Edge(u(2, 0), u(1, 1), P)]),
     "higher level"),
    ("lateral in input level", dict(levels=((0, 0), (8, 4, 6), (5,), (2,)),
                                    edges=small_edges() + [Edge(u(0, 0), u(0, 1), L)]),
     "lateral"),
    ("unit not reached", dict(edges=[e for e in small_edges() if e.dst != u(1, 1)]),
     r"unit \(1,1\) is not reachable"),
    ("unit reaches nothing", dict(edges=[e for e in small_edges() if e.src != u(2, 0)]),
     r"unit \(1,1\) does not reach the output"),
    ("missing unit", dict(edges=small_edges() + [Edge(u(1, 0), u(2, 3), P)]), "does not exist"),
    ("two output units", dict(levels=((0,), (8, 4, 6), (5,), (2, 2))), "output level"),
    ("input with neurons", dict(levels=((3,), (8, 4, 6), (5,), (2,))), "input"),
    ("empty hidden level", dict(levels=((0,), (8, 4, 6), (), (2,))), "no units"),
    ("zero neurons", dict(levels=((0,), (8, 0, 6), (5,), (2,))), "hidden level 1"),
    ("one level", dict(levels=((0,),), edges=[]), "input level and an output level"),
    ("gate on predecessor", dict(edges=replace_edge(Edge(u(0, 0), u(1, 0), P),
                                                    Edge(u(0, 0), u(1, 0), P, 0))), "gate_group"),
    ("negative gate", dict(edges=replace_edge(Edge(u(1, 0), u(1, 1), L),
                                              Edge(u(1, 0), u(1, 1), L, -1))), "gate_group"),
    ("duplicate pair", dict(edges=small_edges() + [Edge(u(2, 0), u(3, 0), S)]), "two edges"),
    ("unknown activation", dict(activation="softmax"), "activation"),
    ("unknown final activation", dict(final_activation="nope"), "final_activation"),
    ("wrong schema", dict(schema_version=2), "schema_version"),
]


@pytest.mark.parametrize("case, changes, match", BROKEN, ids=[c[0] for c in BROKEN])
def test_validate_rejects_broken_specs(case, changes, match):
    spec = small_spec(**changes)
    with pytest.raises(SpecError, match=match):
        spec.validate()
    with pytest.raises(SpecError):
        ArchitectureSpec.from_dict(spec.to_dict())


def test_spec_error_is_a_user_facing_error():
    assert issubclass(SpecError, LatticeNASError)


def _data(**changes):
    data = small_spec().to_dict()
    data.update(changes)
    return data


MALFORMED = [
    ("not an object", [1, 2], "JSON object"),
    ("schema version", _data(schema_version=99), "schema_version=99"),
    ("missing key", {k: v for k, v in _data().items() if k != "levels"}, "missing"),
    ("unknown key", _data(colour="red"), "unknown key"),
    ("levels not list", _data(levels="abc"), "levels"),
    ("neuron not int", _data(levels=[[0], [8, "4", 6], [5], [2]]), r"levels\[1\]\[1\]"),
    ("neuron bool", _data(levels=[[0], [8, True, 6], [5], [2]]), r"levels\[1\]\[1\]"),
    ("edges not list", _data(edges={}), "edges"),
    ("edge not object", _data(edges=[[0, 0]]), r"edges\[0\]"),
    ("bad kind", _data(edges=[{"src": [0, 0], "dst": [1, 0], "kind": "jump"}]), "kind"),
    ("bad unit", _data(edges=[{"src": [0], "dst": [1, 0], "kind": "skip"}]), "src"),
    ("edge extra key", _data(edges=[{"src": [0, 0], "dst": [1, 0], "kind": "skip", "w": 1}]),
     "unknown key"),
    ("bad gate", _data(edges=[{"src": [0, 0], "dst": [1, 0], "kind": "skip",
                               "gate_group": "a"}]), "gate_group"),
    ("activation not str", _data(activation=3), "activation"),
    ("seed not int", _data(seed="7"), "seed"),
]


@pytest.mark.parametrize("case, data, match", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_from_dict_rejects_malformed_data(case, data, match):
    with pytest.raises(SpecError, match=match):
        ArchitectureSpec.from_dict(data)


@pytest.mark.parametrize("text", ["", "{", "not json", b"\xff\xfe"])
def test_from_json_rejects_invalid_json(text):
    with pytest.raises(SpecError, match="not valid JSON"):
        ArchitectureSpec.from_json(text)


def test_missing_seed_key_reads_as_none():
    data = _data()
    del data["seed"]
    assert ArchitectureSpec.from_dict(data).seed is None
