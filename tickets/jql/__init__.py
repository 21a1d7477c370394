"""JQL: lexer, parser, AST and canonical printer (jql.md §2).

    >>> from tickets.jql import parse, normalise
    >>> normalise(parse('project = "ABC" && status was not in (open, "In progress") order by key'))
    'project = ABC AND status WAS NOT IN (open, "In progress") ORDER BY key'

Pure domain code: no I/O.  Local evaluation (compiling the AST to SQL)
lives elsewhere and consumes :mod:`tickets.jql.ast`.
"""

from __future__ import annotations

from tickets.jql.ast import (
    And, Clause, Empty, Field, FieldProperty, FunctionCall, HistoryPredicate, ListValue, Not, Operand,
    Or, Query, SortField, Terminal, Value,
)
from tickets.jql.errors import JqlSyntaxError, format_error
from tickets.jql.parser import parse
from tickets.jql.printer import normalise

__all__ = [
    "And", "Clause", "Empty", "Field", "FieldProperty", "FunctionCall", "HistoryPredicate", "JqlSyntaxError",
    "ListValue", "Not", "Operand", "Or", "Query", "SortField", "Terminal", "Value", "format_error",
    "normalise", "parse",
]
