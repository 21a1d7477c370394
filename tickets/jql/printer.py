"""Canonical JQL printing: ``normalise(parse(s))``.

Upper-case keywords and operators (``!`` becomes ``NOT``, ``&&`` ``AND``,
``NULL`` ``EMPTY``), single spaces, values quoted only when they must be
(double quotes, minimal escapes), parentheses only where precedence needs
them.  ``parse(normalise(q)) == q`` for every tree the parser produces.
"""

from __future__ import annotations

from tickets.jql.ast import (
    And, Clause, Empty, Field, FunctionCall, ListValue, Not, Operand, Or, Query, SortField, Terminal, Value,
)
from tickets.jql.lexer import KEYWORDS, NUMBER_RE, RESERVED_WORDS, is_control, is_unquoted_char

_QUOTE_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def quote(text: str) -> str:
    """``text`` as a double-quoted JQL string."""
    out = []
    for ch in text:
        if ch in _QUOTE_ESCAPES:
            out.append(_QUOTE_ESCAPES[ch])
        elif is_control(ch) or 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def needs_quotes(text: str, *, number_ok: bool = False) -> bool:
    """Would ``text`` written bare fail to read back as one string token with this text?

    ``number_ok``: a bare ``-?[0-9]+`` reads back as a number, which is fine
    where numbers and strings mean the same (field and function names).
    """
    if not text or text.lower() in KEYWORDS or text.lower() in RESERVED_WORDS:
        return True
    if NUMBER_RE.match(text):
        return not number_ok
    return not all(is_unquoted_char(c) for c in text)


def string(text: str, *, number_ok: bool = False) -> str:
    return quote(text) if needs_quotes(text, number_ok=number_ok) else text


def value(v: Value) -> str:
    return v.text if v.number else string(v.text)


def function(f: FunctionCall) -> str:
    return f"{string(f.name, number_ok=True)}({', '.join(value(a) for a in f.args)})"


def operand(o: Operand) -> str:
    if isinstance(o, Empty):
        return "EMPTY"
    if isinstance(o, Value):
        return value(o)
    if isinstance(o, FunctionCall):
        return function(o)
    if isinstance(o, ListValue):
        return "(" + ", ".join(operand(i) for i in o.items) + ")"
    raise TypeError(f"not a JQL operand: {o!r}")


def field(f: Field) -> str:
    if f.cf_id is not None:
        out = f"cf[{f.cf_id}]"
    else:
        out = string(f.name, number_ok=not f.properties)
    for p in f.properties:
        out += f"[{string(p.key, number_ok=True)}]"
        if p.path:
            out += string("." + p.path)
    return out


def terminal(t: Terminal) -> str:
    parts = [field(t.field), t.op]
    if t.operand is not None:
        parts.append(operand(t.operand))
    for p in t.predicates:
        parts += [p.name, operand(p.operand)]
    return " ".join(parts)


_LEVEL = {Or: 0, And: 1, Not: 2, Terminal: 3}


def clause(c: Clause, min_level: int = 0) -> str:
    """Print ``c``; parenthesise it if it binds more loosely than ``min_level``."""
    if isinstance(c, Terminal):
        return terminal(c)
    if isinstance(c, Not):
        out = "NOT " + clause(c.clause, 2)
    elif isinstance(c, And):
        out = " AND ".join(clause(x, 2) for x in c.clauses)
    elif isinstance(c, Or):
        out = " OR ".join(clause(x, 1) for x in c.clauses)
    else:
        raise TypeError(f"not a JQL clause: {c!r}")
    return f"({out})" if _LEVEL[type(c)] < min_level else out


def sort_field(s: SortField) -> str:
    return field(s.field) + (f" {s.direction}" if s.direction else "")


def normalise(q: Query) -> str:
    """The canonical text of a parsed query ("" for the empty query)."""
    parts = []
    if q.where is not None:
        parts.append(clause(q.where))
    if q.order_by:
        parts.append("ORDER BY " + ", ".join(sort_field(s) for s in q.order_by))
    return " ".join(parts)
