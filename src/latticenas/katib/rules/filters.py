"""The metrics collector's filters (``spec.metricsCollectorSpec.source.filter.metricsFormat``).

* The webhook (``validator.go`` ``validateMetricsCollector``) compiles each filter with Go's
  ``regexp`` (RE2 syntax) and requires two parenthesised groups (its own check is the regex
  ``.*\\(.*\\).*\\(.*\\).*``); the collector reads group 1 as the name and group 2 as the value
  (``file-metricscollector.go`` ``parseLogsInTextFormat``), so two capturing groups are needed.
* The pod webhook passes the filters to the collector as one ``-f`` flag joined with ``;``
  (``inject_webhook.go``) and the collector splits it on ``;`` again (``main.go``): a filter
  containing ``;`` is cut in pieces and reads nothing.

Filters are compiled and matched with RE2 itself (the ``google-re2`` binding, the C++ engine
Go's ``regexp`` follows), plus Go's one refusal C++ RE2 lacks, ``\\C``; Python's ``re`` never
judges them (it refuses ``\\pL`` and a mid-pattern ``(?i)``, and admits look-arounds and
back-references, which Go refuses).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import re2

_TWO_GROUPS = re2.compile(r".*\(.*\).*\(.*\).*")  # validator.go mustTwoBracket (MatchString)
_GO_ONLY_REFUSAL = re.compile(r"(?<!\\)(?:\\\\)*\\C")  # Go's regexp has no \C (any byte)


@dataclass(frozen=True)
class Compiled:
    """A filter that compiles as RE2: its capture-group count and the RE2 pattern."""

    groups: int
    pattern: Any


class FilterError(ValueError):
    """The filter is not valid RE2 (the message says why)."""


def compile_filter(pattern: str) -> Compiled:
    """Compile ``pattern`` with RE2; FilterError when Go's regexp would refuse it."""
    options = re2.Options()
    options.log_errors = False
    try:
        compiled = re2.compile(pattern, options=options)
    except re2.error as exc:
        raise FilterError(_text(exc)) from None
    if _GO_ONLY_REFUSAL.search(pattern):
        raise FilterError("invalid escape sequence: \\C (Go's regexp has no \\C)")
    return Compiled(compiled.groups, compiled)


def has_two_groups(pattern: str, compiled: Compiled) -> bool:
    return bool(_TWO_GROUPS.search(pattern)) and compiled.groups >= 2


def _text(exc: BaseException) -> str:
    detail = exc.args[0] if exc.args else exc
    return detail.decode() if isinstance(detail, bytes) else str(detail)


def breaks_on_join(pattern: str) -> bool:
    """True when Katib's ``;`` join and split would cut this filter."""
    return ";" in pattern


def reads(compiled: Compiled, line: str, name: str, value: float) -> bool:
    """Whether the filter reads ``name`` = ``value`` from ``line`` as Katib's collector does
    (group 1 stripped is the name, group 2 stripped parses as the value)."""
    for match in compiled.pattern.finditer(line):
        try:
            if match.group(1).strip() == name and float(match.group(2).strip()) == value:
                return True
        except (IndexError, TypeError, ValueError, AttributeError):
            continue
    return False
