"""Katib metric lines: one formatter (used by the trial) and one parser (used by the local
runner), both bound to the regular expression Katib's StdOut metrics collector applies.

Katib's default filter is ``([\\w|-]+)\\s*=\\s*([+-]?\\d*(\\.\\d+)?([Ee][+-]?\\d+)?)``: group 1 is
the metric name, group 2 its value. The trial prints ``name=value`` lines that match it; a run
of the local runner reads them back with the Experiment's own filter (or this default),
matched with RE2 (``google-re2``), the syntax of Katib's Go collector (``\\w`` is ASCII there).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping

import re2

KATIB_DEFAULT_FILTER = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"


def format_metric_lines(metrics: Mapping[str, float]) -> str:
    """Return one ``name=value`` line per finite metric, in the order given.

    Values use ``repr``-precision floats in plain or exponent notation, which Katib's filter
    parses in full. Non-finite values are left out (Katib would read ``nan`` as no value).
    """
    lines = []
    for name, value in metrics.items():
        if not re.fullmatch(r"[\w|-]+", name):
            raise ValueError(f"metric name {name!r} does not match Katib's [\\w|-]+")
        value = float(value)
        if math.isfinite(value):
            lines.append(f"{name}={_format_number(value)}")
    return "\n".join(lines)


def _format_number(value: float) -> str:
    """Integers without a fraction (``param-count=92622``), others in full ``repr`` precision."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def parse_metric_lines(
    text: str | Iterable[str], metric_filter: str | None = None
) -> dict[str, list[float]]:
    """Parse metric values the way Katib's StdOut collector does.

    Returns every value seen for each name, in order (Katib reports the latest, the min or
    the max according to the objective's ``metricStrategies``).
    """
    pattern = _compiled(metric_filter or KATIB_DEFAULT_FILTER)
    lines = text.splitlines() if isinstance(text, str) else list(text)
    found: dict[str, list[float]] = {}
    for line in lines:
        for match in pattern.finditer(line):
            name, raw = match.group(1).strip(), match.group(2).strip()
            try:
                value = float(raw)
            except ValueError:
                continue
            found.setdefault(name, []).append(value)
    return found


@functools.lru_cache(maxsize=32)
def _compiled(metric_filter: str):
    return re2.compile(metric_filter)
