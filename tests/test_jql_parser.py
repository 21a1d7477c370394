"""JQL lexer/parser/printer (tickets.jql) against jql.md §2, and `ticketbook jql check`."""

from __future__ import annotations

import dataclasses
import pathlib
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickets.errors import InputError
from tickets.jql import (
    And, Empty, Field, FieldProperty, FunctionCall, HistoryPredicate, JqlSyntaxError, ListValue, Not, Or,
    Query, SortField, Terminal, Value, format_error, normalise, parse,
)
from tickets.jql.ast import CHANGED_PREDICATES, WAS_PREDICATES
from tickets.jql.lexer import KEYWORDS, RESERVED_WORDS
from tui.cli import main

CASES_FILE = pathlib.Path(__file__).parent / "jql_cases" / "syntax.txt"
_MARK = re.compile(r"«(SP|TAB|NL|CR|U\+[0-9A-F]{4,6})»")
_MARKS = {"SP": " ", "TAB": "\t", "NL": "\n", "CR": "\r"}


def _unmark(s: str) -> str:
    return _MARK.sub(lambda m: _MARKS.get(m[1]) or chr(int(m[1][2:], 16)), s)


def _load_cases() -> tuple[list, list]:
    valid, invalid, rule = [], [], "?"
    for lineno, line in enumerate(CASES_FILE.read_text(encoding="utf-8").splitlines(), 1):
        if line.startswith("## "):
            rule = line[3:].split(" (")[0]
        elif line.startswith("ok "):
            query, sep, expected = line[3:].partition(" ==>")
            assert sep, f"line {lineno}: missing ==>"
            valid.append(pytest.param(_unmark(query.strip()), _unmark(expected.strip()),
                                      id=f"{lineno}:{rule}"))
        elif line.startswith("err "):
            query, sep, rest = line[4:].partition(" @@ ")
            assert sep, f"line {lineno}: missing @@"
            pos, _, fragment = rest.partition(" ")
            invalid.append(pytest.param(_unmark(query.strip()), int(pos), fragment.strip(),
                                        id=f"{lineno}:{rule}"))
        else:
            assert not line.strip() or line.startswith("#"), f"line {lineno}: unknown line {line!r}"
    return valid, invalid


VALID, INVALID = _load_cases()


def test_case_table_is_large_and_covers_every_rule() -> None:
    assert len(VALID) + len(INVALID) >= 300
    rules = {p.id.split(":", 1)[1] for p in VALID + INVALID}
    for rule in ("precedence", "synonyms", "operators = and !=", "operators ~ and !~", "operators < > <= >=",
                 "operators IN and NOT IN", "operators IS and IS NOT", "operator CHANGED",
                 "history predicates AFTER BEFORE ON DURING BY FROM TO", "lists", "functions",
                 "quoted strings and escapes", "unquoted strings", "custom fields cf[N]",
                 "entity properties and dev-status fields", "ORDER BY", "reserved characters",
                 "reserved words", "empty query and ORDER BY alone", "unicode", "whitespace"):
        assert any(r.startswith(rule) for r in rules), rule


@pytest.mark.parametrize(("query", "expected"), VALID)
def test_valid(query: str, expected: str) -> None:
    tree = parse(query)
    assert normalise(tree) == expected
    again = parse(expected)
    assert again == tree  # round trip, modulo positions
    assert normalise(again) == expected  # idempotent


@pytest.mark.parametrize(("query", "position", "fragment"), INVALID)
def test_invalid(query: str, position: int, fragment: str) -> None:
    with pytest.raises(JqlSyntaxError) as info:
        parse(query)
    err = info.value
    assert fragment in err.message
    assert err.position == position, err.message
    assert f"position {position}" in err.message  # the one-line CLI form names the position too
    assert isinstance(err, InputError) and err.exit_code == 2
    assert str(err) == err.message


# -- AST facts -----------------------------------------------------------------------------------

def test_ast_shape_of_a_full_query() -> None:
    q = parse('project = "ABC" and not (status was in (Open, 5) by currentUser() or votes >= -5) '
              "order by cf[10010] desc, key")
    assert q == Query(
        And((Terminal(Field("project"), "=", Value("ABC")),
             Not(Or((Terminal(Field("status"), "WAS IN", ListValue((Value("Open"), Value("5", number=True))),
                              (HistoryPredicate("BY", FunctionCall("currentUser")),)),
                     Terminal(Field("votes"), ">=", Value("-5", number=True))))))),
        (SortField(Field("cf[10010]", cf_id=10010), "DESC"), SortField(Field("key"))))


def test_positions_are_kept_on_every_node() -> None:
    text = 'a = 1 AND NOT b in (x, f("y")) ORDER BY c'
    q = parse(text)
    first, neg = q.where.clauses
    assert (q.where.pos, first.pos, first.field.pos, first.operand.pos) == (0, 0, 0, 4)
    assert neg.pos == text.index("NOT")
    inner = neg.clause
    assert inner.field.pos == text.index("b in")
    lst = inner.operand
    assert lst.pos == text.index("(x")
    assert lst.items[0].pos == text.index("x,")
    fn = lst.items[1]
    assert (fn.pos, fn.args[0].pos) == (text.index("f("), text.index('"y"'))
    assert q.order_by[0].pos == text.index("c", text.index("BY"))


def test_numbers_and_strings_are_told_apart() -> None:
    def operand(text: str):
        return parse(text).where.operand

    assert operand("a = 5") == Value("5", number=True)
    assert operand('a = "5"') == Value("5", number=False)
    assert operand("a = \\u0035") == Value("5", number=False)  # an escape makes it a string
    assert operand("a = -4w") == Value("-4w")
    assert operand("a = 3.14").number is False
    assert operand('a = "x"').quoted is True and operand("a = x").quoted is False
    assert operand('a = "x"') == operand("a = x")  # quoting is presentation only


def test_terminal_details() -> None:
    t = parse("status changed from a to b").where
    assert (t.op, t.operand) == ("CHANGED", None)
    assert [p.name for p in t.predicates] == ["FROM", "TO"]
    assert parse("a is null").where.operand == Empty()
    f = parse('issue.property[foo].bar.baz = 1').where.field
    assert f == Field("issue.property", properties=(FieldProperty("foo", "bar.baz"),))
    assert parse('"Epic Link" = x').where.field.quoted
    assert parse("cf[10010] = x").where.field.cf_id == 10010
    assert parse('"cf[10010]" = x').where.field.cf_id is None
    assert parse("").where is None and parse("").order_by == ()
    assert parse("order by a").where is None


def test_precedence_shapes() -> None:
    a, b, c = (Terminal(Field(n), "=", Value("1", number=True)) for n in "abc")
    assert parse("a = 1 or b = 2 and c = 3".replace("2", "1").replace("3", "1")).where == Or((a, And((b, c))))
    assert parse("not a = 1 and b = 1").where == And((Not(a), b))
    assert parse("!(a = 1 | b = 1) & c = 1").where == And((Not(Or((a, b))), c))
    assert parse("a = 1 and (b = 1 and c = 1)").where == And((a, b, c))


def test_reserved_word_lists() -> None:
    assert "all" in RESERVED_WORDS  # the server reserves it (jql.md §2.3)
    assert not set(KEYWORDS) & RESERVED_WORDS
    for word in ("select", "abort", "with", "isnull", "between"):
        with pytest.raises(JqlSyntaxError, match="reserved word"):
            parse(f"a = {word}")
        assert normalise(parse(f'a = "{word}"')) == f'a = "{word}"'


# -- errors and the caret display ------------------------------------------------------------------

def test_format_error_single_line() -> None:
    text = "status = open and"
    with pytest.raises(JqlSyntaxError) as info:
        parse(text)
    assert format_error(text, info.value) == "status = open and\n" + " " * 17 + "^"


def test_format_error_multi_line_and_tabs() -> None:
    text = "a = 1\nand\tb ="
    with pytest.raises(JqlSyntaxError) as info:
        parse(text)
    assert info.value.position == len(text)
    assert format_error(text, info.value) == "line 2: and\tb =\n" + " " * 11 + "\t   ^"


def test_format_error_wide_characters() -> None:
    text = "日本 = *"
    with pytest.raises(JqlSyntaxError) as info:
        parse(text)
    assert format_error(text, info.value).splitlines()[1] == " " * 7 + "^"


def test_messages_stay_on_one_line() -> None:
    with pytest.raises(JqlSyntaxError) as info:
        parse('a = b "x\ny"')
    assert "\n" not in info.value.message and info.value.position == 6


def test_error_is_leftmost() -> None:
    with pytest.raises(JqlSyntaxError) as info:
        parse('a = = b and c = "unterminated')
    assert info.value.position == 4


# -- round trip over generated trees ---------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
_name = _text.filter(lambda s: s.strip() != "")
_ident = st.one_of(_name, st.sampled_from(["status", "and", "ORDER", "cf", "-5", "12", "a.b", "x y", "é"]))
_number = st.integers(-(2**63), 2**63 - 1).map(str)
_value = st.one_of(st.builds(Value, st.one_of(_text, _ident)),
                   st.builds(lambda n: Value(n, number=True), _number))
_function = st.builds(lambda n, a: FunctionCall(n, tuple(a)), _ident, st.lists(_value, max_size=3))
_scalar = st.one_of(_value, _function, st.just(Empty()))
_operand = st.recursive(_scalar, lambda inner: st.builds(lambda xs: ListValue(tuple(xs)),
                                                         st.lists(inner, min_size=1, max_size=3)), max_leaves=6)
_list = st.builds(lambda xs: ListValue(tuple(xs)), st.lists(_operand, min_size=1, max_size=3))
_prop = st.builds(FieldProperty, _ident, st.one_of(st.just(""), _name))
_field = st.one_of(
    st.builds(lambda n, p: Field(n, properties=tuple(p)), _ident, st.lists(_prop, max_size=2)),
    st.builds(lambda i, p: Field(f"cf[{i}]", cf_id=i, properties=tuple(p)),
              st.integers(1, 2**63 - 1), st.lists(_prop, max_size=1)),
)


def _preds(names):
    return st.lists(st.builds(HistoryPredicate, st.sampled_from(names), _operand), max_size=3).map(tuple)


_single = st.one_of(_value, _function, st.just(Empty()))
_terminal = st.one_of(
    st.builds(Terminal, _field, st.sampled_from(["=", "!=", "~", "!~"]), _single),
    st.builds(Terminal, _field, st.sampled_from(["<", ">", "<=", ">="]), st.one_of(_value, _function)),
    st.builds(Terminal, _field, st.sampled_from(["IN", "NOT IN"]), st.one_of(_list, _function)),
    st.builds(Terminal, _field, st.sampled_from(["IS", "IS NOT"]), st.just(Empty())),
    st.builds(Terminal, _field, st.sampled_from(["WAS", "WAS NOT"]), _single, _preds(WAS_PREDICATES)),
    st.builds(Terminal, _field, st.sampled_from(["WAS IN", "WAS NOT IN"]), st.one_of(_list, _function),
              _preds(WAS_PREDICATES)),
    st.builds(lambda f, p: Terminal(f, "CHANGED", None, p), _field, _preds(CHANGED_PREDICATES)),
)


def _combine(children):
    def flat(kind, parts):
        out = []
        for p in parts:
            out.extend(p.clauses if isinstance(p, kind) else [p])
        return kind(tuple(out))
    return st.one_of(
        children.map(Not),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: flat(And, xs)),
        st.lists(children, min_size=2, max_size=3).map(lambda xs: flat(Or, xs)),
    )


_clause = st.recursive(_terminal, _combine, max_leaves=5)
_sort = st.builds(SortField, _field, st.sampled_from([None, "ASC", "DESC"]))
_query = st.builds(Query, st.one_of(st.none(), _clause), st.lists(_sort, max_size=2).map(tuple))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_query)
def test_generated_trees_round_trip(q: Query) -> None:
    text = normalise(q)
    assert parse(text) == q, text
    assert normalise(parse(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list("ab =!~<>()[],\"'\\|&-0 9.*\tnotaindrsuwcfeph")), max_size=25))
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    """Arbitrary input never crashes: it parses and round-trips, or raises a positioned error."""
    try:
        q = parse(text)
    except JqlSyntaxError as err:
        assert 0 <= err.position <= len(text)
        format_error(text, err)
        return
    assert parse(normalise(q)) == q


def test_positions_ignored_in_equality() -> None:
    a, b = parse("a = 1"), parse("   a   =   1")
    assert a == b and a.where.pos != b.where.pos
    assert dataclasses.replace(a.where.operand, pos=99) == a.where.operand


# -- CLI -------------------------------------------------------------------------------------------

def test_cli_check_prints_canonical_form(capsys) -> None:
    assert main(["jql", "check", 'project = abc && status was not in (open, "In progress") order by key']) == 0
    out, err = capsys.readouterr()
    assert out == 'project = abc AND status WAS NOT IN (open, "In progress") ORDER BY key\n'
    assert err == ""


def test_cli_check_empty_query(capsys) -> None:
    assert main(["jql", "check", ""]) == 0
    assert capsys.readouterr().out == "\n"


def test_cli_check_error_shows_caret(capsys) -> None:
    assert main(["jql", "check", "status = open and order = x"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("ticketbook: jql: 'order' at position 18 is a reserved word")
    assert lines[1:] == ["status = open and order = x", " " * 18 + "^"]


def test_cli_check_reads_stdin(capsys, monkeypatch) -> None:
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("a=1\n"))
    assert main(["jql", "check", "-"]) == 0
    assert capsys.readouterr().out == "a = 1\n"


def test_cli_jql_without_action_is_usage_error(capsys) -> None:
    assert main(["jql"]) == 2
    assert "check" in capsys.readouterr().err
