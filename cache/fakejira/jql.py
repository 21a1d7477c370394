"""The small JQL evaluator of the simulated Jira (self-contained on purpose).

Supported (what the sync sends; anything else is a :class:`JqlError`, which
the server answers with 400 and Jira's ``errorMessages`` body):

- ``project = A`` / ``!=`` / ``in (A, B)`` / ``not in (...)`` (key, id or name);
- ``updated`` / ``created`` with ``= != > >= < <=`` against a date literal
  ``"yyyy-MM-dd HH:mm"``, ``"yyyy/MM/dd HH:mm"``, ``"yyyy-MM-dd"`` (read in the
  myself user's time zone, like Jira), a number (epoch millis) or a relative
  offset ``"-5m"``, ``-2h``, ``-1d``, ``-1w`` (from the site's now);
- ``id`` with ``= != in (...) not in (...) > >= < <=``;
- ``key`` / ``issuekey`` / ``issue`` with ``= != in (...) not in (...)`` (an
  old key of a moved issue still matches, as in Jira);
- ``AND``, ``OR``, ``NOT``, parentheses;
- ``ORDER BY`` ``updated``, ``created``, ``key``, ``id``, ``priority``, each
  ``ASC``/``DESC`` (default ``ASC``).  Results always end with ``id`` as a
  tie-breaker.  Without ``ORDER BY`` the order is ``created DESC, id DESC``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Callable
from zoneinfo import ZoneInfo

from cache.fakejira.model import Issue, Site


class JqlError(ValueError):
    """A query Jira would reject; ``str(exc)`` is Jira's error message."""


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
    | (?P<op>!=|>=|<=|=|>|<|~|!~)
    | (?P<punct>[(),])
    | (?P<word>[^\s"'(),=!<>~]+)
    )""", re.X)

DATE_FIELDS = {"updated", "created", "updateddate", "createddate"}
ORDER_FIELDS = {"updated", "created", "key", "issuekey", "id", "priority", "updateddate", "createddate"}


@dataclass(frozen=True)
class Tok:
    kind: str  # str / op / punct / word
    text: str
    quoted: bool = False


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise JqlError(f"Error in the JQL Query: The character '{text[pos:].strip()[:1]}' is a reserved "
                           f"JQL character. You must enclose it in a string or use the escape '\\u0027' instead. "
                           f"(line 1, character {pos + 1})")
        pos = m.end()
        if m.group("str") is not None:
            raw = m.group("str")[1:-1]
            out.append(Tok("str", re.sub(r"\\(.)", r"\1", raw), True))
        elif m.group("op") is not None:
            out.append(Tok("op", m.group("op")))
        elif m.group("punct") is not None:
            out.append(Tok("punct", m.group("punct")))
        elif m.group("word") is not None:
            out.append(Tok("word", m.group("word")))
    return out


@dataclass
class Query:
    predicate: Callable[[Issue], bool] | None  # None: no restriction (unbounded)
    order: list[tuple[str, bool]]  # (field, descending)
    text: str


class _Parser:
    def __init__(self, site: Site, text: str) -> None:
        self.site = site
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.tz = ZoneInfo(site.myself.timeZone)

    def peek(self, offset: int = 0) -> Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def is_word(self, word: str, offset: int = 0) -> bool:
        t = self.peek(offset)
        return t is not None and t.kind == "word" and t.text.lower() == word

    def take(self) -> Tok:
        t = self.peek()
        if t is None:
            raise JqlError("Error in the JQL Query: Expecting either a value, list or function but got "
                           "the end of the query.")
        self.i += 1
        return t

    def error_at(self, tok: Tok | None, expecting: str) -> JqlError:
        got = "the end of the query" if tok is None else f"'{tok.text}'"
        return JqlError(f"Error in the JQL Query: Expecting {expecting} but got {got}.")

    # query := [or_expr] [ORDER BY sort (, sort)*]
    def parse(self) -> Query:
        pred = None
        if self.peek() is not None and not (self.is_word("order") and self.is_word("by", 1)):
            pred = self.or_expr()
        order: list[tuple[str, bool]] = []
        if self.is_word("order"):
            self.take()
            if not self.is_word("by"):
                raise self.error_at(self.peek(), "'by'")
            self.take()
            while True:
                t = self.take()
                name = t.text.lower()
                if name not in ORDER_FIELDS:
                    raise JqlError(f"Field '{t.text}' does not exist or you do not have permission to view it.")
                desc = False
                if self.is_word("asc") or self.is_word("desc"):
                    desc = self.take().text.lower() == "desc"
                order.append(({"issuekey": "key", "updateddate": "updated", "createddate": "created"}
                              .get(name, name), desc))
                t = self.peek()
                if t is not None and t.kind == "punct" and t.text == ",":
                    self.take()
                    continue
                break
        if self.peek() is not None:
            raise self.error_at(self.peek(), "either 'OR' or 'AND'" if pred else "a field name")
        return Query(pred, order, self.text)

    def or_expr(self) -> Callable[[Issue], bool]:
        parts = [self.and_expr()]
        while self.is_word("or") or (self.peek() and self.peek().text == "||"):
            self.take()
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda i: any(p(i) for p in parts)

    def and_expr(self) -> Callable[[Issue], bool]:
        parts = [self.not_expr()]
        while self.is_word("and") or (self.peek() and self.peek().text == "&&"):
            self.take()
            parts.append(self.not_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda i: all(p(i) for p in parts)

    def not_expr(self) -> Callable[[Issue], bool]:
        t = self.peek()
        if self.is_word("not") or (t is not None and t.kind == "op" and t.text == "!"):
            self.take()
            inner = self.not_expr()
            return lambda i: not inner(i)
        if t is not None and t.kind == "punct" and t.text == "(":
            self.take()
            inner = self.or_expr()
            t = self.peek()
            if t is None or t.text != ")":
                raise self.error_at(t, "')'")
            self.take()
            return inner
        return self.clause()

    def values(self) -> list[Tok]:
        t = self.peek()
        if t is None or t.kind != "punct" or t.text != "(":
            raise self.error_at(t, "'('")
        self.take()
        vals = []
        while True:
            v = self.take()
            if v.kind not in ("word", "str"):
                raise self.error_at(v, "a value")
            vals.append(v)
            t = self.take()
            if t.text == ")":
                return vals
            if t.text != ",":
                raise self.error_at(t, "',' or ')'")

    def clause(self) -> Callable[[Issue], bool]:
        ft = self.take()
        if ft.kind not in ("word", "str"):
            raise self.error_at(ft, "a field name")
        name = ft.text.lower()
        known = {"project", "id", "key", "issuekey", "issue"} | DATE_FIELDS
        if name not in known:
            raise JqlError(f"Field '{ft.text}' does not exist or you do not have permission to view it.")
        # operator
        if self.is_word("in"):
            self.take()
            op = "in"
        elif self.is_word("not") and self.is_word("in", 1):
            self.take(), self.take()
            op = "not in"
        else:
            t = self.take()
            if t.kind != "op" or t.text in ("~", "!~"):
                raise self.error_at(t, "operator")
            op = t.text
        if op in ("in", "not in"):
            vals = self.values()
        else:
            v = self.take()
            if v.kind not in ("word", "str"):
                raise self.error_at(v, "either a value, list or function")
            vals = [v]

        if name == "project":
            if op not in ("=", "!=", "in", "not in"):
                raise JqlError(f"The operator '{op}' is not supported by the 'project' field.")
            ids = set()
            for v in vals:
                p = self.site.project(v.text)
                if p is None:
                    raise JqlError(f"The value '{v.text}' does not exist for the field 'project'.")
                ids.add(p.id)
            neg = op in ("!=", "not in")
            return lambda i: (i.projectId in ids) != neg
        if name == "id":
            nums = []
            for v in vals:
                if not v.text.isdigit():
                    raise JqlError(f"The value '{v.text}' is not valid for the field 'id'.")
                nums.append(int(v.text))
            return _compare(lambda i: i.id, op, nums, "id")
        if name in ("key", "issuekey", "issue"):
            if op not in ("=", "!=", "in", "not in"):
                nums = [self._key_to_id(v.text) for v in vals]
                return _compare(lambda i: i.id, op, nums, "key")
            keys = {v.text.upper() for v in vals}
            for v in vals:
                if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*-\d+|\d+", v.text):
                    raise JqlError(f"The issue key '{v.text}' for field '{ft.text}' is invalid.")
            neg = op in ("!=", "not in")
            return lambda i: (i.key in keys or str(i.id) in keys or any(k in keys for k in i.oldKeys)) != neg
        # dates
        moments = [self._moment(v, ft.text) for v in vals]
        attr = "updated" if name.startswith("updated") else "created"
        if op in ("=", "!=", "in", "not in"):
            # equality against a minute literal matches that minute
            spans = [(m, m + (60_000 if prec else 1)) for m, prec in moments]
            neg = op in ("!=", "not in")
            return lambda i: any(a <= getattr(i, attr) < b for a, b in spans) != neg
        m = moments[0][0]
        return _compare(lambda i: getattr(i, attr), op, [m], attr)

    def _key_to_id(self, key: str) -> int:
        issue = self.site.issue(key)
        if issue is None:
            raise JqlError(f"An issue with key '{key}' does not exist for field 'key'.")
        return issue.id

    def _moment(self, tok: Tok, field_name: str) -> tuple[int, bool]:
        """(epoch ms, is-a-minute-or-day literal)."""
        text = tok.text.strip()
        if re.fullmatch(r"-?\d{9,}", text):
            return int(text), False
        m = re.fullmatch(r"([-+]?)(\d+)([mhdw])", text.replace(" ", ""))
        if m:
            unit = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}[m.group(3)]
            sign = -1 if m.group(1) == "-" else 1
            return self.site.now + sign * int(m.group(2)) * unit, False
        for fmt in ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d"):
            try:
                local = dt.datetime.strptime(text, fmt)
            except ValueError:
                continue
            return int(local.replace(tzinfo=self.tz).timestamp() * 1000), True
        raise JqlError(f"Date value '{tok.text}' for field '{field_name}' is invalid. Valid formats include: "
                       f"'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
                       f"format e.g. '-5d', '4w 2d'.")


def _compare(get: Callable[[Issue], int], op: str, values: list[int], what: str) -> Callable[[Issue], bool]:
    v = values[0]
    if op == "=":
        return lambda i: get(i) == v
    if op == "!=":
        return lambda i: get(i) != v
    if op == "in":
        s = set(values)
        return lambda i: get(i) in s
    if op == "not in":
        s = set(values)
        return lambda i: get(i) not in s
    if op == ">=":
        return lambda i: get(i) >= v
    if op == ">":
        return lambda i: get(i) > v
    if op == "<=":
        return lambda i: get(i) <= v
    if op == "<":
        return lambda i: get(i) < v
    raise JqlError(f"The operator '{op}' is not supported by the '{what}' field.")


def parse(site: Site, text: str | None) -> Query:
    """Parse ``text`` against ``site`` (project names, time zone, now)."""
    return _Parser(site, text or "").parse()


def sort_key_fn(site: Site, order: list[tuple[str, bool]]) -> Callable[[Issue], tuple]:
    """An all-int sort key for ``order`` (+ id), so tokens can carry it (keyset paging)."""
    if not order:
        order = [("created", True)]
    if not any(f == "id" for f, _ in order):
        order = [*order, ("id", order[-1][1] if order[-1][0] in ("created", "id") else False)]
    prank = {p.id: n for n, p in enumerate(site.priorities)}
    krank = {k: n for n, k in enumerate(sorted(p.key for p in site.projects))}
    getters: list[Callable[[Issue], Any]] = []
    for fld, desc in order:
        sgn = -1 if desc else 1
        if fld == "key":
            getters.append(lambda i, s=sgn: (s * krank.get(i.key.rpartition("-")[0], -1),
                                            s * int(i.key.rpartition("-")[2])))
        elif fld == "priority":  # ASC = most urgent first, as Jira's order
            getters.append(lambda i, s=sgn: (s * prank.get(i.priorityId, 999),))
        else:
            getters.append(lambda i, a=fld, s=sgn: (s * getattr(i, a),))
    return lambda i: tuple(x for g in getters for x in g(i))
