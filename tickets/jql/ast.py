"""JQL abstract syntax tree (jql.md §2): frozen dataclasses.

Every node carries ``pos``, the 0-based character offset of its first token in
the query, for error reporting.  ``pos`` and other purely presentational
fields (``quoted``, the spelling of a keyword) are excluded from equality, so
two trees compare equal when they mean the same query: this is what makes
``parse(normalise(parse(s))) == parse(s)`` hold.

Shapes produced by the parser (the later SQL compiler can rely on them):

- ``Or``/``And`` have at least two children and never a direct child of their
  own type (``a AND (b AND c)`` is flattened to ``And(a, b, c)``; parentheses
  around a single clause disappear).
- ``Terminal.op`` is one of :data:`OPERATORS` (upper case, single spaces).
- ``Terminal.operand`` is ``None`` only for ``CHANGED``.
- ``Value.number`` is true only for an unquoted ``-?[0-9]+`` token that fits a
  signed 64-bit integer; everything else is a string (``"123"``, ``-4w``,
  ``2019-11-15``, ``ABC-123``, ``3.14``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

EQUALITY_OPERATORS = ("=", "!=")
LIKE_OPERATORS = ("~", "!~")
COMPARISON_OPERATORS = ("<", ">", "<=", ">=")
IN_OPERATORS = ("IN", "NOT IN")
IS_OPERATORS = ("IS", "IS NOT")
WAS_OPERATORS = ("WAS", "WAS NOT")
WAS_IN_OPERATORS = ("WAS IN", "WAS NOT IN")
CHANGED_OPERATOR = "CHANGED"
OPERATORS = (EQUALITY_OPERATORS + LIKE_OPERATORS + COMPARISON_OPERATORS + IN_OPERATORS
             + IS_OPERATORS + WAS_OPERATORS + WAS_IN_OPERATORS + (CHANGED_OPERATOR,))
HISTORY_OPERATORS = WAS_OPERATORS + WAS_IN_OPERATORS + (CHANGED_OPERATOR,)

WAS_PREDICATES = ("AFTER", "BEFORE", "ON", "DURING", "BY")
CHANGED_PREDICATES = WAS_PREDICATES + ("FROM", "TO")


def _pos() -> int:
    return field(default=-1, compare=False, repr=False)


@dataclass(frozen=True)
class Empty:
    """``EMPTY`` or its synonym ``NULL``."""

    pos: int = _pos()


@dataclass(frozen=True)
class Value:
    """A string or number literal; ``text`` is the decoded text (escapes resolved).

    ``number`` tells numbers from strings (``5`` vs ``"5"``); ``quoted`` only
    records how it was written and does not take part in equality.
    """

    text: str
    number: bool = False
    quoted: bool = field(default=False, compare=False)
    pos: int = _pos()


@dataclass(frozen=True)
class FunctionCall:
    """``name(arg, ...)``; arguments are strings or numbers only (no nesting)."""

    name: str
    args: tuple[Value, ...] = ()
    quoted: bool = field(default=False, compare=False)
    pos: int = _pos()


@dataclass(frozen=True)
class ListValue:
    """``(operand, ...)``: at least one item; items may be lists again."""

    items: tuple["Operand", ...]
    pos: int = _pos()


Operand = Union[Empty, Value, FunctionCall, ListValue]


@dataclass(frozen=True)
class FieldProperty:
    """``[key]`` followed by an optional dotted path: ``[foo].bar.baz`` is key ``foo``, path ``bar.baz``."""

    key: str
    path: str = ""
    pos: int = _pos()


@dataclass(frozen=True)
class Field:
    """A field reference: ``status``, ``"Epic Link"``, ``cf[10010]``, ``issue.property[foo].bar``.

    For ``cf[N]`` ``cf_id`` is N and ``name`` is ``"cf[N]"``; a quoted
    ``"cf[N]"`` is an ordinary name (``cf_id`` None).
    """

    name: str
    cf_id: int | None = None
    properties: tuple[FieldProperty, ...] = ()
    quoted: bool = field(default=False, compare=False)
    pos: int = _pos()


@dataclass(frozen=True)
class HistoryPredicate:
    """``AFTER|BEFORE|ON|DURING|BY|FROM|TO operand`` after ``WAS*`` or ``CHANGED``."""

    name: str
    operand: Operand
    pos: int = _pos()


@dataclass(frozen=True)
class Terminal:
    """``field op operand predicates*`` (one comparison clause)."""

    field: Field
    op: str
    operand: Operand | None
    predicates: tuple[HistoryPredicate, ...] = ()
    pos: int = _pos()


@dataclass(frozen=True)
class Not:
    clause: "Clause"
    pos: int = _pos()


@dataclass(frozen=True)
class And:
    clauses: tuple["Clause", ...]
    pos: int = _pos()


@dataclass(frozen=True)
class Or:
    clauses: tuple["Clause", ...]
    pos: int = _pos()


Clause = Union[Or, And, Not, Terminal]


@dataclass(frozen=True)
class SortField:
    field: Field
    direction: str | None = None  # "ASC", "DESC" or None (Jira's default for the field)
    pos: int = _pos()


@dataclass(frozen=True)
class Query:
    """A whole query: ``where`` is None for an empty query; ``order_by`` is () without ORDER BY."""

    where: Clause | None = None
    order_by: tuple[SortField, ...] = ()
    pos: int = _pos()
