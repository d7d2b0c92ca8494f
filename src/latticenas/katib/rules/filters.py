"""The metrics collector's filters (``spec.metricsCollectorSpec.source.filter.metricsFormat``).

* The webhook (``validator.go`` ``validateMetricsCollector``) compiles each filter with Go's
  ``regexp`` (RE2 syntax) and requires two parenthesised groups (its own check is the regex
  ``.*\\(.*\\).*\\(.*\\).*``); the collector reads group 1 as the name and group 2 as the value
  (``file-metricscollector.go`` ``parseLogsInTextFormat``), so two capturing groups are needed.
* The pod webhook passes the filters to the collector as one ``-f`` flag joined with ``;``
  (``inject_webhook.go``) and the collector splits it on ``;`` again (``main.go``): a filter
  containing ``;`` is cut in pieces and reads nothing.

RE2 is checked with the ``google-re2`` binding when it is installed (plus Go's one refusal
C++ RE2 lacks, ``\\C``). Without it, :func:`compile_filter` approximates: it refuses the Perl
constructs RE2 lacks (look-around, back-references, atomic groups, possessive quantifiers,
conditionals, ``\\Z``), rewrites RE2-only syntax Python's ``re`` refuses (``\\pL``/``\\p{..}``
classes, ``\\z``, ``\\Q..\\E``, flags like ``(?i)`` in mid-pattern, POSIX ``[[:alpha:]]``) and
compiles the result with ``re``. :func:`matcher` gives a Python pattern to test lines with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

try:  # google-re2: the C++ RE2 engine, same syntax as Go's regexp
    import re2 as _re2

    if not hasattr(_re2, "Options"):  # another package named re2 (pyre2 falls back to re)
        _re2 = None
except ImportError:  # pragma: no cover - depends on the environment
    _re2 = None

HAVE_RE2 = _re2 is not None

_TWO_GROUPS = re.compile(r".*\(.*\).*\(.*\).*")  # validator.go mustTwoBracket
_NOT_RE2 = [
    (re.compile(r"\(\?<?[=!]"), "look-around"),
    (re.compile(r"(?<!\\)(?:\\\\)*\\[1-9]|\(\?P=|\\g<"), "back-references"),
    (re.compile(r"\(\?>"), "atomic groups"),
    (re.compile(r"(?<!\\)[*+?}]\+"), "possessive quantifiers"),
    (re.compile(r"\(\?\("), "conditionals"),
    (re.compile(r"(?<!\\)(?:\\\\)*\\Z"), "\\Z (RE2 writes \\z)"),
]
_POSIX = {"alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z",
          "lower": "a-z", "space": r" \t\n\r\f\v", "word": r"\w", "xdigit": "0-9A-Fa-f",
          "punct": r"!-/:-@\[-`{-~", "blank": r" \t", "cntrl": r"\x00-\x1f\x7f",
          "print": r" -~", "graph": r"!-~", "ascii": r"\x00-\x7f"}
_UNICODE = {"L": (r"[^\W\d_]", r"[\W\d_]", "a-zA-Z\u00aa-\uffff"),
            "N": (r"\d", r"\D", r"\d"), "Nd": (r"\d", r"\D", r"\d"),
            "Z": (r"\s", r"\S", r"\s"), "Zs": (r"\s", r"\S", r"\s")}


@dataclass(frozen=True)
class Compiled:
    """A filter that compiles as RE2: its capture-group count and a Python pattern to test
    lines with (None when RE2 syntax could not be rendered in Python)."""

    groups: int
    python: re.Pattern[str] | None


class FilterError(ValueError):
    """The filter is not valid RE2 (the message says why)."""


def compile_filter(pattern: str) -> Compiled:
    """Compile ``pattern`` with RE2 semantics; FilterError when Go's regexp would refuse it."""
    if _re2 is not None:
        options = _re2.Options()
        options.log_errors = False
        try:
            groups = _re2.compile(pattern, options=options).groups
        except _re2.error as exc:
            raise FilterError(_text(exc)) from None
        if re.search(r"(?<!\\)(?:\\\\)*\\C", pattern):
            raise FilterError("invalid escape sequence: \\C (Go's regexp has no \\C)")
        try:
            python = re.compile(to_python(pattern))
        except (re.error, Untranslatable):
            python = None
        return Compiled(groups, python)
    masked = re.sub(r"\\[pP]\{\^?\w+\}", "X", pattern)  # \p{Greek}+ is no possessive quantifier
    for construct, name in _NOT_RE2:
        if construct.search(masked):
            raise FilterError(f"uses {name}, which RE2 (Go's regexp) does not support")
    try:
        python = re.compile(to_python(pattern))
    except Untranslatable:  # RE2 syntax without a Python rendering: count the groups only
        return Compiled(_capture_groups(pattern), None)
    except re.error as exc:
        raise FilterError(f"{exc} (checked with Python's re after rewriting RE2-only syntax; "
                          "install google-re2 for an exact RE2 check)") from None
    return Compiled(python.groups, python)


def _capture_groups(pattern: str) -> int:
    """Capturing groups: ``(`` outside classes not followed by ``?``, or named ``(?P<``/``(?<``."""
    count, i = 0, 0
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "[":
            i = _class_end(pattern, i)
            continue
        if pattern[i] == "(" and (not pattern.startswith("(?", i) or pattern.startswith(("(?P<", "(?<"), i)):
            count += 1
        i += 1
    return count


def has_two_groups(pattern: str, compiled: Compiled) -> bool:
    return bool(_TWO_GROUPS.match(pattern)) and compiled.groups >= 2


def _text(exc: BaseException) -> str:
    detail = exc.args[0] if exc.args else exc
    return detail.decode() if isinstance(detail, bytes) else str(detail)


def to_python(pattern: str) -> str:
    """An RE2 pattern rewritten for Python's ``re`` (same matches for the common syntax);
    :class:`Untranslatable` when a construct has no Python rendering here."""
    pattern = re.sub(r"\\Q(.*?)(?:\\E|$)", lambda m: re.escape(m.group(1)), pattern, flags=re.S)
    pattern = re.sub(r"(?<!\\)((?:\\\\)*)\\z", r"\1\\Z", pattern)
    pattern = re.sub(r"\[:(\^?)(\w+):]", lambda m: _posix(m.group(1), m.group(2)), pattern)
    return _scope_inline_flags(_unicode_classes(pattern))


class Untranslatable(ValueError):
    """RE2 syntax this module cannot render for Python's ``re``."""


def _unicode_classes(pattern: str) -> str:
    """``\\pL``-style classes: a bracketed class outside ``[...]``, its members inside."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "[":
            end = _class_end(pattern, i)
            out.append(_UNICODE_ESCAPE.sub(lambda m: _unicode(m, inside=True), pattern[i:end]))
            i = end
            continue
        match = _UNICODE_ESCAPE.match(pattern, i)
        if match:
            out.append(_unicode(match, inside=False))
            i = match.end()
            continue
        out.append(pattern[i:i + 2] if pattern[i] == "\\" else pattern[i])
        i += 2 if pattern[i] == "\\" else 1
    return "".join(out)


def _posix(negate: str, name: str) -> str:
    if name not in _POSIX or negate:
        raise Untranslatable(f"POSIX class [:{negate}{name}:]")
    return _POSIX[name]


_UNICODE_ESCAPE = re.compile(r"\\([pP])(?:\{(\^?)(\w+)\}|(\w))")


def _unicode(match: re.Match[str], *, inside: bool) -> str:
    kind, caret, name = match.group(1), match.group(2), match.group(3) or match.group(4)
    negate = (kind == "P") != bool(caret)
    positive, negative, member = _UNICODE.get(name, _UNICODE["L"])  # other classes: letters, roughly
    if inside:
        if negate:
            raise Untranslatable(f"negated class {match.group(0)} inside [...]")
        return member
    return negative if negate else positive


_FLAGS = re.compile(r"\(\?([imsU]*)(?:-([imsU]*))?\)")


def _scope_inline_flags(pattern: str) -> str:
    """Go allows ``(?i)`` anywhere (it applies to the rest of the group); Python 3.11 only at
    the start, so a later one becomes ``(?i:...)`` around the rest of its group."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if char == "[":
            end = _class_end(pattern, i)
            out.append(pattern[i:end])
            i = end
            continue
        match = _FLAGS.match(pattern, i)
        if match and (i > 0 or "U" in match.group(0)):
            if "U" in match.group(0):
                raise Untranslatable("the U (ungreedy) flag")
            out.append(f"(?{match.group(1)}" + (f"-{match.group(2)}" if match.group(2) else "") + ":")
            i = match.end()
            rest = _scope_inline_flags_group(pattern, i)
            out.append(rest[0] + ")")
            i = rest[1]
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _scope_inline_flags_group(pattern: str, start: int) -> tuple[str, int]:
    """The rest of the current group from ``start`` (rewritten), and where it ends."""
    depth, i = 0, start
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(pattern, i)
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                break
            depth -= 1
        i += 1
    return _scope_inline_flags(pattern[start:i]), i


def _class_end(pattern: str, start: int) -> int:
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern.startswith("[:", i):
            close = pattern.find(":]", i + 2)
            i = close + 2 if close >= 0 else i + 1
            continue
        if pattern[i] == "]":
            return i + 1
        i += 1
    return len(pattern)


def breaks_on_join(pattern: str) -> bool:
    """True when Katib's ``;`` join and split would cut this filter."""
    return ";" in pattern


def reads(compiled: Compiled, line: str, name: str, value: float) -> bool | None:
    """Whether the filter reads ``name`` = ``value`` from ``line`` as Katib's collector does
    (group 1 stripped is the name, group 2 stripped parses as the value); None: cannot tell."""
    if compiled.python is None:
        return None
    for match in compiled.python.finditer(line):
        try:
            if match.group(1).strip() == name and float(match.group(2).strip()) == value:
                return True
        except (IndexError, TypeError, ValueError, AttributeError):
            continue
    return False
