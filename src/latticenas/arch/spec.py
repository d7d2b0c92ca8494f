"""ArchitectureSpec: a sampled lattice as plain, framework-free data with a JSON form.

A lattice is a list of levels of units. Level 0 is the input level (its units' neurons are 0:
their widths come from the data); the last level is the output level with one unit whose
neurons are the output size; the levels between are hidden levels of dense units. Edges feed
one unit's output into another's input:

* ``predecessor`` and ``skip`` edges go from a lower level to a higher one;
* ``lateral`` edges stay within a hidden level and go from a lower unit index to a higher one.

Lateral edges into the same unit with the same ``gate_group`` are concatenated and pass
through one gate together; lateral edges with ``gate_group=None`` are ungated.

Every edge therefore goes forward in (level, index) order, so the graph is acyclic and
:meth:`ArchitectureSpec.units` is a topological order. :meth:`ArchitectureSpec.validate`
checks this and that every unit lies on a path from an input unit to the output unit.

JSON form (``schema_version`` 1)::

    {"schema_version": 1, "levels": [[0], [16, 8], [1]],
     "edges": [{"src": [0, 0], "dst": [1, 0], "kind": "predecessor", "gate_group": null}, ...],
     "activation": "relu", "final_activation": "sigmoid", "gate_activation": "sigmoid",
     "seed": 7}

``seed`` is provenance only and is not part of :attr:`ArchitectureSpec.content_hash`.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import cached_property
from typing import Any

from latticenas.errors import LatticeNASError
from latticenas.params import ACTIVATIONS, FINAL_ACTIVATIONS

__all__ = ["SCHEMA_VERSION", "ArchitectureSpec", "Edge", "EdgeKind", "SpecError", "UnitRef"]

SCHEMA_VERSION = 1

_KEYS = ("schema_version", "levels", "edges", "activation", "final_activation",
         "gate_activation", "seed")
_EDGE_KEYS = ("src", "dst", "kind", "gate_group")


class SpecError(LatticeNASError, ValueError):
    """A malformed or inconsistent architecture specification (one-line message)."""


class EdgeKind(str, Enum):
    """Why an edge exists: drawn from an earlier level, a repair skip, or within a level."""

    PREDECESSOR = "predecessor"
    SKIP = "skip"
    LATERAL = "lateral"


_KIND_ORDER = {EdgeKind.PREDECESSOR: 0, EdgeKind.SKIP: 1, EdgeKind.LATERAL: 2}


@dataclass(frozen=True, order=True)
class UnitRef:
    """A unit by (level, index within the level). JSON: ``[level, index]``."""

    level: int
    index: int

    def to_json(self) -> list[int]:
        return [self.level, self.index]

    def __str__(self) -> str:
        return f"({self.level},{self.index})"


@dataclass(frozen=True)
class Edge:
    """A connection from ``src``'s output to ``dst``'s input."""

    src: UnitRef
    dst: UnitRef
    kind: EdgeKind
    gate_group: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", EdgeKind(self.kind))  # accept "lateral" etc.

    def sort_key(self) -> tuple[int, int, int, int, int, int]:
        """Canonical order: by destination, then source, then kind, then gate group."""
        gate = -1 if self.gate_group is None else self.gate_group
        return (self.dst.level, self.dst.index, self.src.level, self.src.index,
                _KIND_ORDER[self.kind], gate)

    def to_dict(self) -> dict[str, Any]:
        return {"src": self.src.to_json(), "dst": self.dst.to_json(),
                "kind": self.kind.value, "gate_group": self.gate_group}


@dataclass(frozen=True)
class ArchitectureSpec:
    """An immutable lattice. Construction normalises containers to tuples and sorts ``edges``
    canonically, so equal lattices compare equal (``seed`` included: compare
    :attr:`content_hash` for the architecture alone); :meth:`validate` checks consistency."""

    levels: tuple[tuple[int, ...], ...]
    edges: tuple[Edge, ...]
    activation: str
    final_activation: str
    gate_activation: str
    schema_version: int = SCHEMA_VERSION
    seed: int | None = None

    def __post_init__(self) -> None:
        levels = tuple(tuple(level) for level in self.levels)
        edges = tuple(sorted(self.edges, key=Edge.sort_key))
        object.__setattr__(self, "levels", levels)
        object.__setattr__(self, "edges", edges)

    # ------------------------------------------------------------------ structure

    @property
    def n_hidden_levels(self) -> int:
        """Number of levels between the input level and the output level."""
        return len(self.levels) - 2

    @property
    def output_level(self) -> int:
        """Index of the output level (the last one)."""
        return len(self.levels) - 1

    @property
    def output_unit(self) -> UnitRef:
        """The single unit of the output level."""
        return UnitRef(self.output_level, 0)

    @property
    def input_units(self) -> tuple[UnitRef, ...]:
        """The units of level 0."""
        return tuple(UnitRef(0, i) for i in range(len(self.levels[0])))

    def units(self) -> list[UnitRef]:
        """Every unit in topological order: level by level, index ascending."""
        return [UnitRef(k, i) for k, level in enumerate(self.levels) for i in range(len(level))]

    def neurons(self, unit: UnitRef) -> int:
        """Neurons of ``unit`` (0 for input units, the output size for the output unit)."""
        return self.levels[unit.level][unit.index]

    def inputs_of(self, unit: UnitRef) -> tuple[Edge, ...]:
        """Edges into ``unit``, in canonical order (by source, then kind, then gate group)."""
        return self._incoming.get(unit, ())

    def outputs_of(self, unit: UnitRef) -> tuple[Edge, ...]:
        """Edges out of ``unit``, ordered by destination."""
        return self._outgoing.get(unit, ())

    @cached_property
    def _incoming(self) -> dict[UnitRef, tuple[Edge, ...]]:
        return _group(self.edges, lambda e: e.dst)

    @cached_property
    def _outgoing(self) -> dict[UnitRef, tuple[Edge, ...]]:
        return _group(self.edges, lambda e: e.src)

    # ------------------------------------------------------------------ identity & JSON

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 hex digest of the canonical JSON without ``seed``."""
        body = self.to_dict()
        del body["seed"]
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (see the module docstring)."""
        return {
            "schema_version": self.schema_version,
            "levels": [list(level) for level in self.levels],
            "edges": [edge.to_dict() for edge in self.edges],
            "activation": self.activation,
            "final_activation": self.final_activation,
            "gate_activation": self.gate_activation,
            "seed": self.seed,
        }

    def to_json(self, indent: int | None = None) -> str:
        """Serialise to JSON; ``from_json(to_json())`` gives an equal spec with the same seed."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchitectureSpec:
        """Parse and :meth:`validate` the JSON-ready form; raise SpecError if malformed."""
        if not isinstance(data, Mapping):
            raise SpecError(f"architecture spec must be a JSON object, got {type(data).__name__}")
        _check_keys("architecture spec", data, _KEYS, required=_KEYS[:-1])
        version = data["schema_version"]
        if version != SCHEMA_VERSION:
            raise SpecError(f"schema_version={version!r} is not supported; this latticenas "
                            f"reads schema_version {SCHEMA_VERSION} (re-sample or upgrade)")
        spec = cls(
            levels=_parse_levels(data["levels"]),
            edges=tuple(_parse_edge(i, e) for i, e in enumerate(_as_list("edges", data["edges"]))),
            activation=_parse_str("activation", data["activation"]),
            final_activation=_parse_str("final_activation", data["final_activation"]),
            gate_activation=_parse_str("gate_activation", data["gate_activation"]),
            schema_version=version,
            seed=_parse_seed(data.get("seed")),
        )
        spec.validate()
        return spec

    @classmethod
    def from_json(cls, text: str | bytes) -> ArchitectureSpec:
        """Parse JSON text with :meth:`from_dict`; raise SpecError if it is not valid JSON."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SpecError(f"architecture spec is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    # ------------------------------------------------------------------ checks

    def validate(self) -> ArchitectureSpec:
        """Check the spec; return it unchanged or raise SpecError naming the first problem.

        Checks: schema version; level shapes (inputs 0 neurons, hidden >= 1, one output unit
        >= 1); known activations; edge endpoints exist; predecessor/skip edges go to a higher
        level; lateral edges stay in a hidden level from a lower to a higher index; gate groups
        only on lateral edges; no two edges join the same pair; acyclic; every unit reachable
        from an input unit and reaching the output unit.
        """
        if self.schema_version != SCHEMA_VERSION:
            raise SpecError(f"schema_version={self.schema_version!r} is not {SCHEMA_VERSION}")
        self._validate_levels()
        self._validate_activations()
        for edge in self.edges:
            self._validate_edge(edge)
        self._validate_unique_edges()
        self._validate_acyclic()
        self._validate_reachability()
        return self

    def _validate_levels(self) -> None:
        if len(self.levels) < 2:
            raise SpecError(f"levels has {len(self.levels)} level(s); a lattice needs an input "
                            "level and an output level")
        for k, level in enumerate(self.levels):
            if not level:
                raise SpecError(f"level {k} has no units; every level needs at least one")
            for n in level:
                if isinstance(n, bool) or not isinstance(n, int):
                    raise SpecError(f"level {k} has neurons={n!r}; neurons must be integers")
        if any(n != 0 for n in self.levels[0]):
            raise SpecError(f"input level has neurons {list(self.levels[0])}; input units "
                            "must have 0 neurons (widths come from the data)")
        if len(self.levels[-1]) != 1 or self.levels[-1][0] < 1:
            raise SpecError(f"output level is {list(self.levels[-1])}; it must be one unit "
                            "with neurons = output size >= 1")
        for k in range(1, self.output_level):
            if min(self.levels[k]) < 1:
                raise SpecError(f"hidden level {k} has neurons {list(self.levels[k])}; "
                                "hidden units need >= 1 neuron")

    def _validate_activations(self) -> None:
        for name, value, allowed in (("activation", self.activation, ACTIVATIONS),
                                     ("final_activation", self.final_activation,
                                      FINAL_ACTIVATIONS),
                                     ("gate_activation", self.gate_activation, ACTIVATIONS)):
            if value not in allowed:
                raise SpecError(f"{name}={value!r} is not allowed; use one of "
                                f"{', '.join(allowed)}")

    def _validate_edge(self, edge: Edge) -> None:
        for end in (edge.src, edge.dst):
            if not self._exists(end):
                raise SpecError(f"edge {_describe(edge)} refers to unit {end}, which does "
                                "not exist")
        if edge.kind is EdgeKind.LATERAL:
            same_hidden = (edge.src.level == edge.dst.level
                           and 0 < edge.src.level < self.output_level)
            if not (same_hidden and edge.src.index < edge.dst.index):
                raise SpecError(f"lateral edge {_describe(edge)} must stay within a hidden "
                                "level and go from a lower to a higher index")
        elif edge.dst.level <= edge.src.level:
            raise SpecError(f"{edge.kind.value} edge {_describe(edge)} must go to a higher level")
        gate = edge.gate_group
        if gate is not None and (edge.kind is not EdgeKind.LATERAL
                                 or isinstance(gate, bool) or not isinstance(gate, int)
                                 or gate < 0):
            raise SpecError(f"edge {_describe(edge)} has gate_group={gate!r}; only lateral "
                            "edges have gate groups, which are integers >= 0")

    def _exists(self, unit: UnitRef) -> bool:
        return 0 <= unit.level < len(self.levels) and 0 <= unit.index < len(
            self.levels[unit.level])

    def _validate_unique_edges(self) -> None:
        seen: set[tuple[UnitRef, UnitRef]] = set()
        for edge in self.edges:
            if (edge.src, edge.dst) in seen:
                raise SpecError(f"two edges join {edge.src} to {edge.dst}; keep one")
            seen.add((edge.src, edge.dst))

    def _validate_acyclic(self) -> None:
        # With every edge going forward in (level, index) order, units() is a topological order.
        for edge in self.edges:
            if not edge.src < edge.dst:
                raise SpecError(f"edge {_describe(edge)} goes backwards; the graph must be "
                                "acyclic")

    def _validate_reachability(self) -> None:
        forward = _reach(self.input_units, self._outgoing, lambda e: e.dst)
        backward = _reach([self.output_unit], self._incoming, lambda e: e.src)
        for unit in self.units():
            if unit not in forward:
                raise SpecError(f"unit {unit} is not reachable from any input unit")
            if unit not in backward:
                raise SpecError(f"unit {unit} does not reach the output unit")

    def summary(self) -> dict[str, int]:
        """Counts: levels, hidden levels, units, hidden units, edges (all and by kind), gated
        groups (distinct (destination, gate_group) pairs) and gated edges."""
        by_kind = {kind: sum(e.kind is kind for e in self.edges) for kind in EdgeKind}
        gated = [e for e in self.edges if e.gate_group is not None]
        return {
            "levels": len(self.levels),
            "hidden_levels": self.n_hidden_levels,
            "units": len(self.units()),
            "hidden_units": sum(len(level) for level in self.levels[1:-1]),
            "edges": len(self.edges),
            "predecessor_edges": by_kind[EdgeKind.PREDECESSOR],
            "skip_edges": by_kind[EdgeKind.SKIP],
            "lateral_edges": by_kind[EdgeKind.LATERAL],
            "gated_groups": len({(e.dst, e.gate_group) for e in gated}),
            "gated_edges": len(gated),
        }


# ---------------------------------------------------------------------- helpers


def _group(edges: Iterable[Edge], key: Any) -> dict[UnitRef, tuple[Edge, ...]]:
    grouped: dict[UnitRef, list[Edge]] = {}
    for edge in edges:
        grouped.setdefault(key(edge), []).append(edge)
    return {unit: tuple(group) for unit, group in grouped.items()}


def _reach(start: Iterable[UnitRef], adjacency: Mapping[UnitRef, tuple[Edge, ...]],
           step: Any) -> set[UnitRef]:
    seen = set(start)
    queue = deque(seen)
    while queue:
        for edge in adjacency.get(queue.popleft(), ()):
            nxt = step(edge)
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def _describe(edge: Edge) -> str:
    return f"{edge.src}->{edge.dst}"


def _check_keys(what: str, data: Mapping[str, Any], allowed: tuple[str, ...],
                required: tuple[str, ...]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise SpecError(f"{what} has unknown key(s) {unknown}; allowed: {', '.join(allowed)}")
    missing = [key for key in required if key not in data]
    if missing:
        raise SpecError(f"{what} is missing key(s) {missing}")


def _as_list(name: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise SpecError(f"{name} must be a JSON array, got {type(value).__name__}")
    return value


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{name}={value!r} must be an integer")
    return value


def _parse_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SpecError(f"{name}={value!r} must be a string")
    return value


def _parse_seed(value: Any) -> int | None:
    return None if value is None else _as_int("seed", value)


def _parse_levels(value: Any) -> tuple[tuple[int, ...], ...]:
    return tuple(
        tuple(_as_int(f"levels[{k}][{i}]", n) for i, n in enumerate(_as_list(f"levels[{k}]", lv)))
        for k, lv in enumerate(_as_list("levels", value))
    )


def _parse_unit(name: str, value: Any) -> UnitRef:
    if not isinstance(value, list) or len(value) != 2:
        raise SpecError(f"{name}={value!r} must be [level, index]")
    return UnitRef(_as_int(f"{name} level", value[0]), _as_int(f"{name} index", value[1]))


def _parse_edge(i: int, value: Any) -> Edge:
    what = f"edges[{i}]"
    if not isinstance(value, Mapping):
        raise SpecError(f"{what} must be a JSON object, got {type(value).__name__}")
    _check_keys(what, value, _EDGE_KEYS, required=_EDGE_KEYS[:3])
    try:
        kind = EdgeKind(value["kind"])
    except ValueError:
        raise SpecError(f"{what} kind={value['kind']!r} is not one of "
                        f"{', '.join(k.value for k in EdgeKind)}") from None
    gate = value.get("gate_group")
    return Edge(_parse_unit(f"{what}.src", value["src"]), _parse_unit(f"{what}.dst", value["dst"]),
                kind, None if gate is None else _as_int(f"{what}.gate_group", gate))
