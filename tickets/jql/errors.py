"""JQL syntax errors with a position, and the caret display used by the CLI."""

from __future__ import annotations

import unicodedata

from tickets.errors import InputError


class JqlSyntaxError(InputError):
    """A query that does not follow the JQL grammar (exit status 2).

    ``position`` is the 0-based character offset into the query where the
    problem is; ``message`` says what is wrong and what to do, and already
    names the position.
    """

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.position = position

    def __reduce__(self):  # keep pickling/copying working with the two-argument constructor
        return (type(self), (self.message, self.position))


def _display(ch: str) -> str:
    """One display cell per source character, so the caret lines up."""
    if ch == "\t":
        return ch
    if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Cn", "Zl", "Zp"):
        return "\N{REPLACEMENT CHARACTER}"
    return ch


def _pad(ch: str) -> str:
    """Blank space as wide as ``ch`` is displayed."""
    if ch == "\t":
        return ch
    if unicodedata.combining(ch):
        return ""
    return "  " if unicodedata.east_asian_width(ch) in ("W", "F") else " "


def format_error(query: str, err: JqlSyntaxError) -> str:
    """Two lines: the line of ``query`` holding ``err.position`` and a caret under that position.

    For a multi-line query the first line is prefixed with ``line N: `` (the
    caret is shifted to match).  Tabs are kept in the caret line so it lines
    up in a terminal; other control characters show as U+FFFD.
    """
    pos = max(0, min(err.position, len(query)))
    line_start = max(query.rfind("\n", 0, pos), query.rfind("\r", 0, pos)) + 1
    ends = [e for e in (query.find("\n", pos), query.find("\r", pos)) if e != -1]
    line_end = min(ends) if ends else len(query)
    line = query[line_start:line_end]
    col = pos - line_start
    prefix = ""
    if "\n" in query or "\r" in query:
        line_no = query.count("\n", 0, line_start) + 1 if "\n" in query else query.count("\r", 0, line_start) + 1
        prefix = f"line {line_no}: "
    shown = "".join(_display(c) for c in line)
    caret = " " * len(prefix) + "".join(_pad(c) for c in line[:col]) + "^"
    return f"{prefix}{shown}\n{caret}"
