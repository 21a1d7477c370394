"""Recursive-descent JQL parser (grammar: jql.md §2.1, with the server checks of §2.6).

    query      := where? orderBy? EOF
    or         := and (OR and)*
    and        := not (AND not)*
    not        := (NOT | "!") not | "(" or ")" | terminal
    terminal   := field rhs
    orderBy    := ORDER BY sortField ("," sortField)*
"""

from __future__ import annotations

from tickets.jql.ast import (
    And, Clause, Empty, Field, FieldProperty, FunctionCall, HistoryPredicate, ListValue, Not,
    Operand, Or, Query, SortField, Terminal, Value, CHANGED_PREDICATES, WAS_PREDICATES,
)
from tickets.jql.errors import JqlSyntaxError
from tickets.jql.lexer import INT64_MAX, INT64_MIN, KEYWORDS, Token, tokenize

_PREDICATE_KINDS = frozenset(CHANGED_PREDICATES)
_KEYWORD_KINDS = frozenset(KEYWORDS.values())
#: Deepest nesting of parentheses, NOT and nested lists accepted: deeper queries are refused with
#: a syntax error (not Python's RecursionError), and stay well within what SQLite can compile.
MAX_DEPTH = 100
_OPERATOR_HELP = "=, !=, ~, !~, <, >, <=, >=, IN, NOT IN, IS, IS NOT, WAS, WAS IN, WAS NOT, WAS NOT IN or CHANGED"


def _shown(tok: Token) -> str:
    """How a token is named in a message."""
    if tok.kind == "EOF":
        return "the end of the query"
    text = tok.text if len(tok.text) <= 30 else tok.text[:27] + "..."
    # keep messages on one line: show line breaks and other control characters as escapes
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return f"'{text}'"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0  # open "(" / NOT / nested lists around the current token (MAX_DEPTH)

    # -- token access --------------------------------------------------------------------------
    def peek(self) -> Token:
        """The next token; raises the lexical error if the lexer stopped there."""
        tok = self.tokens[self.i]
        if tok.kind == "ERROR":
            assert tok.error is not None
            raise tok.error
        return tok

    def next(self) -> Token:
        tok = self.peek()
        if tok.kind != "EOF":
            self.i += 1
        return tok

    def kind_ahead(self, ahead: int) -> str:
        """The kind of a later token, without raising for a lexical error there."""
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)].kind

    def at(self, *kinds: str) -> bool:
        return self.peek().kind in kinds

    def prev(self) -> Token:
        return self.tokens[self.i - 1]

    # -- errors ---------------------------------------------------------------------------------
    def fail(self, message: str, tok: Token | None = None, *, name: bool = False) -> JqlSyntaxError:
        """An error at ``tok`` (default: the next token).

        With ``name=True`` (a name or value was expected there) a keyword or
        reserved word found instead gets the "put it in quotes" message.
        """
        tok = tok or self.peek()
        if tok.kind == "RESERVED" or (name and tok.kind in _KEYWORD_KINDS and tok.text.isalpha()):
            return JqlSyntaxError(
                f"'{tok.text}' at position {tok.pos} is a reserved word: put it in quotes"
                f" (\"{tok.text}\") to use it as a name or value", tok.pos)
        return JqlSyntaxError(f"{message}, found {_shown(tok)} at position {tok.pos}", tok.pos)

    def enter(self, tok: Token) -> None:
        """One level deeper at ``tok`` (a '(' or NOT); pair with ``self.depth -= 1``."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise JqlSyntaxError(
                f"the query is too deeply nested at position {tok.pos}: more than {MAX_DEPTH} levels of"
                " parentheses, NOT or lists; simplify it", tok.pos)

    # -- query ----------------------------------------------------------------------------------
    def query(self) -> Query:
        where: Clause | None = None
        if not self.at("EOF", "ORDER"):
            where = self.or_clause()
        order_by: tuple[SortField, ...] = ()
        if self.at("ORDER"):
            order_by = self.order_by()
        tok = self.peek()
        if tok.kind != "EOF":
            if tok.kind == ")":
                raise JqlSyntaxError(f"unmatched ')' at position {tok.pos}: remove it or add a '(' before",
                                     tok.pos)
            if tok.kind in _PREDICATE_KINDS and tok.text.isalpha():
                raise self._misplaced_predicate(tok)
            expected = "expected AND, OR, ORDER BY or the end of the query" if order_by == () \
                else "expected ',' and another sort field, or the end of the query"
            raise self.fail(expected, tok)
        return Query(where, order_by, pos=0)

    def _misplaced_predicate(self, tok: Token) -> JqlSyntaxError:
        kw = tok.kind
        after = "CHANGED" if kw in ("FROM", "TO") else "WAS, WAS NOT, WAS IN, WAS NOT IN or CHANGED"
        return JqlSyntaxError(
            f"the {kw} predicate at position {tok.pos} can only follow {after};"
            f" to use '{tok.text}' as a value put it in quotes", tok.pos)

    def or_clause(self) -> Clause:
        first = self.peek()
        parts = [self.and_clause()]
        while self.at("OR"):
            op = self.next()
            self.expect_clause(op)
            parts.append(self.and_clause())
        return parts[0] if len(parts) == 1 else Or(_flatten(Or, parts), pos=first.pos)

    def and_clause(self) -> Clause:
        first = self.peek()
        parts = [self.not_clause()]
        while self.at("AND"):
            op = self.next()
            self.expect_clause(op)
            parts.append(self.not_clause())
        return parts[0] if len(parts) == 1 else And(_flatten(And, parts), pos=first.pos)

    def expect_clause(self, after: Token) -> None:
        """Fail early, with a clear message, if no clause can start after ``after`` (AND, OR, NOT)."""
        if self.at("ORDER") and self.kind_ahead(1) != "BY":
            raise self.fail("", name=True)  # 'order' used as a field name
        if self.at("EOF", "ORDER", ")", "OR", "AND"):
            raise self.fail(f"expected a clause after '{after.text}' at position {after.pos}")

    def not_clause(self) -> Clause:
        tok = self.peek()
        if tok.kind in ("NOT", "BANG"):
            self.next()
            self.expect_clause(tok)
            self.enter(tok)
            negated = self.not_clause()
            self.depth -= 1
            return Not(negated, pos=tok.pos)
        if tok.kind == "(":
            self.next()
            if self.at(")", "EOF"):
                raise self.fail(f"expected a clause inside the parentheses opened at position {tok.pos}")
            self.enter(tok)
            inner = self.or_clause()
            self.depth -= 1
            if not self.at(")"):
                if self.at("EOF"):
                    end = self.peek().pos
                    raise JqlSyntaxError(
                        f"missing ')' at position {end} (the end of the query) to close the '(' at position"
                        f" {tok.pos}", end)
                raise self.fail(f"expected AND, OR or ')' to close the '(' at position {tok.pos}")
            self.next()
            return inner
        return self.terminal()

    # -- terminal clause ------------------------------------------------------------------------
    def terminal(self) -> Terminal:
        fld = self.field("a field name (or NOT, or '(')")
        op_tok = self.peek()
        kind = op_tok.kind
        operand: Operand | None
        if kind == "OP":
            self.next()
            op = op_tok.text
            if op in ("<", ">", "<=", ">="):
                if self.at("EMPTY"):
                    empty = self.peek()
                    raise JqlSyntaxError(
                        f"'{op}' cannot compare with EMPTY (at position {empty.pos}):"
                        f" use IS EMPTY or IS NOT EMPTY", empty.pos)
                operand = self.value_or_function(op_tok, allow_empty=False)
            else:
                operand = self.value_or_function(op_tok, allow_empty=True)
            return self._finish(fld, op, operand, op_tok)
        if kind == "IN":
            self.next()
            return self._finish(fld, "IN", self.list_or_function(op_tok), op_tok)
        if kind == "NOT":
            self.next()
            if not self.at("IN"):
                raise self.fail(f"expected IN after 'NOT' at position {op_tok.pos} (NOT IN)")
            self.next()
            return self._finish(fld, "NOT IN", self.list_or_function(op_tok, "NOT IN"), op_tok)
        if kind == "IS":
            self.next()
            op = "IS"
            if self.at("NOT"):
                self.next()
                op = "IS NOT"
            if not self.at("EMPTY"):
                raise self.fail(f"expected EMPTY (or NULL) after '{op}' at position {op_tok.pos};"
                                f" IS only tests for emptiness, use '=' to compare with a value")
            return self._finish(fld, op, Empty(pos=self.next().pos), op_tok)
        if kind == "WAS":
            self.next()
            negated = False
            if self.at("NOT"):
                self.next()
                negated = True
            if self.at("IN"):
                self.next()
                op = "WAS NOT IN" if negated else "WAS IN"
                operand = self.list_or_function(op_tok, op)
            else:
                op = "WAS NOT" if negated else "WAS"
                operand = self.value_or_function(op_tok, allow_empty=True, op=op)
            return self._finish(fld, op, operand, op_tok, self.predicates(WAS_PREDICATES, op))
        if kind == "CHANGED":
            self.next()
            return self._finish(fld, "CHANGED", None, op_tok, self.predicates(CHANGED_PREDICATES, "CHANGED"))
        if kind == "BANG":
            raise JqlSyntaxError(
                f"expected an operator after the field at position {fld.pos}, found '!' at position"
                f" {op_tok.pos}: write != or !~ without a space, or NOT before the field", op_tok.pos)
        if kind == "[" and fld.cf_id is None and not fld.properties and self.prev().kind == "NUMBER":
            raise JqlSyntaxError(
                f"a numeric field name cannot be followed by '[' (position {op_tok.pos}):"
                f" put the field name in quotes", op_tok.pos)
        raise self.fail(f"expected an operator ({_OPERATOR_HELP}) after the field at position {fld.pos}")

    def _finish(self, fld: Field, op: str, operand: Operand | None, op_tok: Token,
                predicates: tuple[HistoryPredicate, ...] = ()) -> Terminal:
        term = Terminal(fld, op, operand, predicates, pos=fld.pos)
        tok = self.peek()
        if op == "CHANGED" and not predicates and tok.kind in ("STRING", "QSTRING", "NUMBER", "EMPTY", "("):
            raise JqlSyntaxError(
                f"CHANGED at position {op_tok.pos} takes no value of its own: write"
                f" CHANGED FROM x, CHANGED TO y, CHANGED AFTER date ... (found {_shown(tok)} at position"
                f" {tok.pos})", tok.pos)
        if tok.kind in _PREDICATE_KINDS and tok.text.isalpha():
            if op in ("WAS", "WAS NOT", "WAS IN", "WAS NOT IN") and tok.kind in ("FROM", "TO"):
                raise JqlSyntaxError(
                    f"the {tok.kind} predicate at position {tok.pos} can only follow CHANGED, not {op}",
                    tok.pos)
            if op not in ("WAS", "WAS NOT", "WAS IN", "WAS NOT IN", "CHANGED"):
                raise JqlSyntaxError(
                    f"the {tok.kind} predicate at position {tok.pos} can only follow WAS, WAS NOT, WAS IN,"
                    f" WAS NOT IN or CHANGED, not '{op}'; to use '{tok.text}' as a value put it in quotes",
                    tok.pos)
        return term

    def predicates(self, allowed: tuple[str, ...], op: str) -> tuple[HistoryPredicate, ...]:
        preds = []
        while self.peek().kind in allowed:
            kw = self.next()
            if self.at("EOF"):
                raise self.fail(f"expected a value after {kw.kind} at position {kw.pos}", name=True)
            preds.append(HistoryPredicate(kw.kind, self.operand(kw), pos=kw.pos))
        return tuple(preds)

    # -- fields ---------------------------------------------------------------------------------
    def field(self, what: str) -> Field:
        tok = self.peek()
        if tok.kind == "NUMBER":
            self.next()
            return Field(tok.value, pos=tok.pos)
        if tok.kind == "CF":
            self.next()
            if not self.at("["):
                raise self.fail(f"expected '[' after 'cf' at position {tok.pos} (cf[12345]); to use"
                                f" 'cf' as a field name put it in quotes")
            self.next()
            num = self.peek()
            if num.kind != "NUMBER" or num.value.startswith("-"):
                raise self.fail(f"expected a positive custom field id after 'cf[' at position {tok.pos}")
            cf_id = int(num.value)
            if not 0 < cf_id <= INT64_MAX:
                raise JqlSyntaxError(f"'{num.text}' at position {num.pos} is not a valid custom field id:"
                                     f" it must be a positive number", num.pos)
            self.next()
            if not self.at("]"):
                raise self.fail(f"expected ']' to close 'cf[' at position {tok.pos}")
            self.next()
            name = f"cf[{cf_id}]"
            quoted = False
        elif tok.is_string:
            self.next()
            if not tok.value.strip():
                raise JqlSyntaxError(f"the field name at position {tok.pos} is blank", tok.pos)
            name = tok.value
            quoted = tok.kind == "QSTRING"
        else:
            raise self.fail(f"expected {what}", name=True)
        props = []
        while self.at("["):
            lb = self.next()
            key = self.peek()
            if not (key.is_string or key.kind == "NUMBER"):
                raise self.fail(f"expected a property key after '[' at position {lb.pos}", name=True)
            self.next()
            if not self.at("]"):
                raise self.fail(f"expected ']' to close the '[' at position {lb.pos}")
            self.next()
            path = []
            while self.peek().is_string or self.at("NUMBER"):
                seg = self.next()
                if len(seg.value) < 2 or not seg.value.startswith("."):
                    raise JqlSyntaxError(
                        f"a property path must be '.' followed by a name, found '{seg.text}' at position"
                        f" {seg.pos}", seg.pos)
                path.append(seg.value)
            props.append(FieldProperty(key.value, "".join(path)[1:], pos=lb.pos))
        return Field(name, cf_id if tok.kind == "CF" else None, tuple(props), quoted, pos=tok.pos)

    # -- operands -------------------------------------------------------------------------------
    def value(self, tok: Token) -> Value:
        if tok.kind == "NUMBER":
            n = int(tok.value)
            if not INT64_MIN <= n <= INT64_MAX:
                raise JqlSyntaxError(
                    f"'{tok.text}' at position {tok.pos} is not a valid number (it does not fit in 64"
                    f" bits): put it in quotes to use it as text", tok.pos)
            return Value(tok.value, number=True, pos=tok.pos)
        return Value(tok.value, quoted=tok.kind == "QSTRING", pos=tok.pos)

    def value_or_function(self, op_tok: Token, *, allow_empty: bool, op: str | None = None) -> Operand:
        tok = self.peek()
        op = op or op_tok.text
        if tok.kind == "EMPTY" and allow_empty:
            self.next()
            return Empty(pos=tok.pos)
        if tok.kind in ("NUMBER", "STRING", "QSTRING"):
            self.next()
            if self.at("("):
                return self.function(tok)
            return self.value(tok)
        if tok.kind == "(":
            raise JqlSyntaxError(
                f"'{op}' at position {op_tok.pos} takes a single value, not a list at position {tok.pos}:"
                f" use IN (...) for a list", tok.pos)
        empty = ", EMPTY" if allow_empty else ""
        raise self.fail(f"expected a value{empty} or a function after '{op}' at position {op_tok.pos}",
                        name=True)

    def list_or_function(self, op_tok: Token, op: str = "IN") -> Operand:
        tok = self.peek()
        if tok.kind == "(":
            return self.list_value()
        if tok.kind in ("NUMBER", "STRING", "QSTRING"):
            self.next()
            if self.at("("):
                return self.function(tok)
            raise JqlSyntaxError(
                f"'{op}' at position {op_tok.pos} needs a list in parentheses, e.g. {op} ({tok.text}),"
                f" or a function, found {_shown(tok)} at position {tok.pos}", tok.pos)
        raise self.fail(f"expected a list in parentheses or a function after '{op}' at position {op_tok.pos}",
                        name=True)

    def operand(self, after: Token) -> Operand:
        tok = self.peek()
        if tok.kind == "EMPTY":
            self.next()
            return Empty(pos=tok.pos)
        if tok.kind == "(":
            return self.list_value()
        if tok.kind in ("NUMBER", "STRING", "QSTRING"):
            self.next()
            if self.at("("):
                return self.function(tok)
            return self.value(tok)
        raise self.fail(f"expected a value, EMPTY, a list or a function after {_shown(after)}"
                        f" at position {after.pos}", name=True)

    def list_value(self) -> ListValue:
        lp = self.next()
        self.enter(lp)
        if self.at(")"):
            rp = self.peek()
            raise JqlSyntaxError(f"empty list: put at least one value before the ')' at position {rp.pos}",
                                 rp.pos)
        items = [self.operand(lp)]
        while self.at(","):
            comma = self.next()
            if self.at(")"):
                raise self.fail(f"expected a value after ',' at position {comma.pos}", name=True)
            items.append(self.operand(comma))
        if not self.at(")"):
            if self.at("EOF"):
                end = self.peek().pos
                raise JqlSyntaxError(f"missing ')' at position {end} (the end of the query) to close the list"
                                     f" opened at position {lp.pos}", end)
            raise self.fail(f"expected ',' or ')' in the list opened at position {lp.pos}")
        self.next()
        self.depth -= 1
        return ListValue(tuple(items), pos=lp.pos)

    def function(self, name: Token) -> FunctionCall:
        lp = self.next()  # "("
        if not name.value.strip():
            raise JqlSyntaxError(f"the function name at position {name.pos} is blank", name.pos)
        args: list[Value] = []
        if not self.at(")"):
            while True:
                tok = self.peek()
                if tok.kind not in ("NUMBER", "STRING", "QSTRING"):
                    raise self.fail(f"expected a function argument (a string or number) in the call"
                                    f" opened at position {lp.pos}", name=True)
                self.next()
                if self.at("("):
                    raise JqlSyntaxError(
                        f"function arguments cannot be function calls ('(' at position {self.peek().pos});"
                        f" only strings and numbers are allowed", self.peek().pos)
                args.append(Value(tok.value, number=tok.kind == "NUMBER", quoted=tok.kind == "QSTRING",
                                  pos=tok.pos))
                if self.at(","):
                    self.next()
                    continue
                if self.at(")"):
                    break
                if self.at("EOF"):
                    end = self.peek().pos
                    raise JqlSyntaxError(f"missing ')' at position {end} (the end of the query) to close the"
                                         f" call to '{name.value}' at position {name.pos}", end)
                raise self.fail(f"expected ',' or ')' in the call opened at position {lp.pos}")
        self.next()
        return FunctionCall(name.value, tuple(args), quoted=name.kind == "QSTRING", pos=name.pos)

    # -- ORDER BY -------------------------------------------------------------------------------
    def order_by(self) -> tuple[SortField, ...]:
        order = self.next()
        if self.kind_ahead(0) in ("OP", "IN", "IS", "NOT", "WAS", "CHANGED", "["):  # 'order' as a field name
            raise self.fail("", order, name=True)
        if not self.at("BY"):
            raise self.fail(f"expected BY after 'ORDER' at position {order.pos}")
        by = self.next()
        sorts = [self.sort_field(by)]
        while self.at(","):
            comma = self.next()
            sorts.append(self.sort_field(comma))
        return tuple(sorts)

    def sort_field(self, after: Token) -> SortField:
        fld = self.field(f"a field name to sort by after {_shown(after)} at position {after.pos}")
        direction = None
        if self.at("ASC", "DESC"):
            direction = self.next().kind
        return SortField(fld, direction, pos=fld.pos)


def _flatten(kind: type, parts: list[Clause]) -> tuple[Clause, ...]:
    out: list[Clause] = []
    for part in parts:
        if isinstance(part, kind):
            out.extend(part.clauses)  # type: ignore[attr-defined]
        else:
            out.append(part)
    return tuple(out)


def parse(text: str) -> Query:
    """Parse a JQL query; raise :class:`JqlSyntaxError` (an ``InputError``) if it is not valid."""
    return _Parser(text).query()
