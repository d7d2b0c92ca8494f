"""What ``sh -c`` does to the trial command Katib's metrics collector wraps.

``pkg/webhook/v1beta1/pod/utils.go`` ``wrapWorkerContainer`` (StdOut, File and TensorFlowEvent
collectors) takes the primary container's ``command`` + ``args``, keeps a leading ``sh -c`` /
``bash -c`` as it is, and joins every other word with single spaces into one shell script,
followed by ``1>/var/log/katib/metrics.log 2>&1 && echo completed > ...`` (the redirect only for
StdOut). ``${trialParameters.X}`` and ``${trialSpec.Y}`` are substituted before the shell runs.

So each word of a plain command is shell syntax: a word must keep its quotes balanced, and its
unquoted text must not split (blanks) or run shell operators (``;&|<>()`` and backquotes); a
leading ``#`` drops the rest of the command. Quotes are fine, and needed for values with
blanks: ``--architecture="${trialParameters.arch}"`` reaches the program as one argument. ``$``,
globs and a leading ``~`` are expanded by the shell (a warning). After ``sh -c`` the script is
the author's own shell code: only its quoting is checked, and a script of several commands
only has its last command's output collected. A substituted value must survive the context it
lands in: unquoted, shell-safe; in double quotes, none of ``"\\$``` ``; in single quotes, no ``'``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from latticenas.katib.rules import Severity

_SHELL_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_PLACEHOLDER = re.compile(r"\$\{(trialParameters|trialSpec)\.(.+?)\}")
_OPERATORS = set(";&|<>()`")
_EXPANSIONS = set("$*?[")
UNQUOTED, SINGLE, DOUBLE = "unquoted", "single quotes", "double quotes"


def is_shell_safe(text: str) -> bool:
    """True when ``text`` needs no quoting in ``sh`` (letters, digits, ``_@%+=:,./-``)."""
    return bool(_SHELL_SAFE.fullmatch(text))


def split_wrapper(words: list[str]) -> tuple[bool, list[str]]:
    """``(script, words)``: whether the command is ``sh -c``/``bash -c`` (Katib keeps it) and the
    words Katib joins into the shell script."""
    if len(words) >= 2 and words[0] in ("sh", "bash") and words[1] == "-c":
        return True, words[2:]
    return False, words


@dataclass(frozen=True)
class Placeholder:
    """A ``${trialParameters.name}`` in word ``word``, and the quoting it lands in."""

    word: int
    name: str
    context: str


@dataclass(frozen=True)
class Finding:
    word: int
    message: str
    severity: Severity = Severity.ERROR


class _Scanner:
    """POSIX sh quoting, one character at a time; placeholders are recorded, not scanned."""

    def __init__(self) -> None:
        self.context = UNQUOTED
        self.escaped = False
        self.word_start = True

    def feed(self, char: str) -> str | None:
        """The unquoted character that matters here (or None)."""
        if self.escaped:
            self.escaped, self.word_start = False, False
            return None
        if self.context == SINGLE:
            self.context = UNQUOTED if char == "'" else SINGLE
            return None
        if char == "\\":
            self.escaped = True
            return None
        if self.context == DOUBLE:
            if char == '"':
                self.context = UNQUOTED
            return "$" if char in "$`" else None
        if char in "'\"":
            self.context = SINGLE if char == "'" else DOUBLE
            self.word_start = False
            return None
        at_start, self.word_start = self.word_start, char in " \t\n"
        if char in "#~" and at_start:
            return char
        return char if (char in _OPERATORS or char in _EXPANSIONS or char in " \t\n") else None


def scan(words: list[str], *, script: bool) -> tuple[list[Finding], list[Placeholder]]:
    """Findings about the words Katib joins into the shell script, and every placeholder with
    the quoting it lands in."""
    findings: list[Finding] = []
    placeholders: list[Placeholder] = []
    scanner = _Scanner()
    for index, word in enumerate(words):
        seen: set[str] = set()
        for piece, match in _pieces(word):
            if match is not None:
                if match.group(1) == "trialParameters":
                    placeholders.append(Placeholder(index, match.group(2), scanner.context))
                scanner.word_start = False
                continue
            for char in piece:
                special = scanner.feed(char)
                if special is not None:
                    seen.add(special)
        if not script:
            findings.extend(_word_findings(index, word, seen, scanner))
            scanner = _Scanner()
        else:
            scanner.feed(" ")
    if script and (scanner.context != UNQUOTED or scanner.escaped):
        findings.append(Finding(len(words) - 1, f"the script leaves {scanner.context} open, so "
                                                "'sh -c' fails; close the quote"))
    return findings, placeholders


def _pieces(word: str):
    position = 0
    for match in _PLACEHOLDER.finditer(word):
        yield word[position:match.start()], None
        yield "", match
        position = match.end()
    yield word[position:], None


def _word_findings(index: int, word: str, seen: set[str], scanner: _Scanner) -> list[Finding]:
    found = []
    if scanner.context != UNQUOTED or scanner.escaped:
        found.append(Finding(index, f"{word!r} leaves {scanner.context} open, so the shell "
                                    "Katib runs the command with joins it with the next words; "
                                    "close the quote"))
    breaking = sorted(c for c in seen if c in _OPERATORS or c in " \t\n#")
    if breaking:
        shown = ", ".join(repr(c) for c in breaking)
        found.append(Finding(index, f"{word!r} is not shell-safe: it has {shown} outside "
                                    "quotes, and Katib's metrics collector runs the command "
                                    "through 'sh -c' joined by spaces, which splits or runs it; "
                                    "quote the argument (e.g. --name=\"a b\") or drop those "
                                    "characters"))
    expanding = sorted(c for c in seen if c in _EXPANSIONS or c == "~")
    if expanding:
        shown = ", ".join(repr(c) for c in expanding)
        found.append(Finding(index, f"{word!r} has {shown}, which the 'sh -c' Katib wraps the "
                                    "command in expands; quote the argument if it is meant "
                                    "literally", Severity.WARNING))
    return found


def script_has_several_commands(script: str) -> bool:
    """True when ``script`` runs more than one command at its top level (``;``, a newline,
    ``&&``, ``||``, ``&``): Katib's redirect then only captures the last one's output."""
    scanner = _Scanner()
    for piece, match in _pieces(script):
        if match is not None:
            continue
        for char in piece:
            if scanner.feed(char) in (";", "&", "|", "\n") and char != "|":
                return True
    return False


def value_problem(value: str, context: str) -> str | None:
    """Why ``value`` breaks where it is substituted, or None."""
    if context == UNQUOTED and not is_shell_safe(value):
        return "has spaces or shell characters and lands outside quotes"
    if context == DOUBLE and any(c in value for c in '"\\$`'):
        return 'has one of " \\ $ ` and lands in double quotes'
    if context == SINGLE and "'" in value:
        return "has a ' and lands in single quotes"
    return None
