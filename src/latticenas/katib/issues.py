"""The validator's records: :class:`Issue` (one finding), :class:`DocumentResult` (the verdict
on one YAML document), and the small helpers every check module shares.

An issue's ``severity`` is :class:`~latticenas.katib.rules.Severity`: ``ERROR`` for what Katib
rejects or what breaks on a cluster, ``WARNING`` for what Katib admits but ignores or silently
changes. Every message reads ``problem; fix``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from latticenas.katib.rules import Severity


@dataclass(frozen=True)
class Issue:
    """One finding: ``path`` like ``spec.parameters[2].feasibleSpace.min``, and a message that
    names the problem and the fix (``problem; fix``)."""

    path: str
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        return f"{self.path}: {prefix}{self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


@dataclass(frozen=True)
class DocumentResult:
    """The outcome for one YAML document: ``name`` is the Experiment's metadata.name (or a
    placeholder), ``index`` its position in the stream; ``issues`` are the errors (Katib
    rejects it or it breaks), ``warnings`` what Katib admits but ignores or changes."""

    source: str
    index: int
    name: str
    issues: tuple[Issue, ...]
    warnings: tuple[Issue, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.issues


class Collector:
    """Gathers the issues of one Experiment, in the order the checks find them."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, path: str, message: str) -> None:
        self.issues.append(Issue(path, message))

    def warn(self, path: str, message: str) -> None:
        self.issues.append(Issue(path, message, Severity.WARNING))

    def report(self, path: str, message: str, severity: Severity) -> None:
        self.issues.append(Issue(path, message, severity))


def join_path(*parts: str | int) -> str:
    """``join_path("spec.parameters", 2, "name")`` -> ``spec.parameters[2].name``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = part
    return out


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def closest(name: Any, options: Iterable[Any]) -> str:
    """`` (did you mean 'x'?)`` for the closest option, or ``""``."""
    close = difflib.get_close_matches(str(name), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def settings_map(settings: Any, path: str, out: Collector) -> tuple[dict[str, str], dict[str, int]]:
    """``{name: value}`` of an ``algorithmSettings`` list (the last of a repeated name wins,
    as in Katib's services) and each name's index."""
    found: dict[str, str] = {}
    index: dict[str, int] = {}
    if settings is None:
        return found, index
    if not isinstance(settings, list):
        out.add(path, "must be a list of {name, value} entries; rewrite it as a list")
        return found, index
    for i, setting in enumerate(settings):
        setting = mapping(setting)
        name, value = setting.get("name"), setting.get("value")
        if not isinstance(name, str) or not name:
            out.add(join_path(path, i, "name"), "is missing; name the setting")
            continue
        if name in found:
            out.warn(join_path(path, i, "name"), f"setting {name!r} is given twice and the "
                                                 "service uses one of them; keep one")
        found[name] = "" if value is None else str(value)
        index[name] = i
    return found, index
