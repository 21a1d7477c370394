"""Compile a parsed JQL query to ONE peewee expression over :class:`cache.models.Issue`.

    ctx = JqlContext.from_db(today=None)            # zone, now, account id from meta
    expr = compile_query(parse(text), ctx)          # NeedsJira / JqlInvalid
    Issue.select(Issue.id).where(expr)

Rules (jql.md §3; docs/jql.md lists them with what goes to Jira):

* ``NOT`` is pushed to the leaves first (:func:`tickets.jql.semantics.push_not`),
  so ``!=`` / ``NOT IN`` / negated comparisons never return empty fields.
* Scalar columns: ``f != v`` is ``f IS NOT NULL AND f NOT IN (ids)``.
  Multi-valued fields (labels, components, organizations, custom fields in
  ``issue_field_value``) use correlated ``EXISTS`` subqueries: ``=``/``IN`` is
  ``EXISTS(child with v)``, ``!=``/``NOT IN`` is ``EXISTS(child) AND NOT
  EXISTS(child with v)``.
* Constants are resolved to ids in Python against the cached reference
  tables (case-insensitive names, numeric ids; project key before name
  before id), so SQL compares indexed ids with bound parameters.  A name the
  cache does not know (except labels, which are free-form) makes the query
  "needs Jira": Jira decides whether it is valid.
* ``priority`` comparisons use :attr:`Priority.position` (Jira's order).
* Date literals are read in the Jira user's zone and compared as naive-UTC
  instants; an unquoted number is epoch milliseconds; ``due`` is a date.

Every value reaches SQL as a parameter; nothing is concatenated.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import peewee as pw

from cache.models import (
    Issue,
    IssueComponent,
    IssueFieldValue,
    IssueLabel,
    IssueOrganization,
    IssueType,
    JiraField,
    Meta,
    Organization,
    OrganizationUser,
    Priority,
    Project,
    Resolution,
    Status,
    StatusCategory,
)
from tickets.errors import InputError
from tickets.jql import parse
from tickets.jql.ast import (
    COMPARISON_OPERATORS, HISTORY_OPERATORS, And, Clause, Empty, FunctionCall, ListValue, Not, Or, Query,
    Terminal, Value,
)
from tickets.jql.semantics import (
    DATETIME_FIELDS, BadDate, NeedsJira, date_function, epoch_ms, function_kind, local_date, parse_date_literal,
    push_not, system_field, zone_of,
)

ZONE_KEY = "jira_time_zone"  # written by cache/sync.py (ZONE_KEY there)
ACCOUNT_KEY = "jira_account_id"  # the Jira user's accountId (for currentUser()); see docs/jql.md
WEEK_START_KEY = "jira_week_start"  # optional: 0 Monday .. 6 Sunday (default 6)

ORG_CUSTOM = "com.atlassian.servicedesk:sd-customer-organizations"
REQUEST_TYPE_CUSTOM = "com.atlassian.servicedesk:vp-origin"

TRUE = pw.SQL("1 = 1")
FALSE = pw.SQL("1 = 0")
_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9:_\-]{10,128}$")


class JqlInvalid(InputError):
    """The query is one Jira would reject (a bad date, a bad increment...): exit 2."""


def _fold(text: str) -> str:
    return text.casefold()


def _meta(key: str) -> str | None:
    row = Meta.get_or_none(Meta.key == key)
    return row.value if row and row.value else None


@dataclass
class JqlContext:
    """What a compilation depends on besides the query: zone, now, the user's account id.

    Reference data is read from the database lazily, once per context (a
    context is cheap; make a new one after a sync changes reference tables).
    """

    zone_name: str | None = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    account_id: str | None = None
    week_start: int = 6
    time_dependent: bool = False  # set when a compiled query used now-relative values
    correlated: bool = False  # EXISTS subqueries (for a few ids) instead of IN (SELECT ...) (whole cache)

    @classmethod
    def from_db(cls, *, today: dt.date | None = None, now: dt.datetime | None = None) -> JqlContext:
        """Zone / account id / week start from ``meta``; ``now`` from ``today`` (see :func:`now_for`)."""
        zone_name = _meta(ZONE_KEY)
        try:
            zone_of(zone_name)
        except ValueError:
            zone_name = None  # an unknown zone name in meta: fall back to UTC rather than fail every query
        week = _meta(WEEK_START_KEY)
        return cls(zone_name=zone_name, now=now or now_for(today, zone_name), account_id=_meta(ACCOUNT_KEY),
                   week_start=int(week) if week and week.isdigit() and int(week) < 7 else 6)

    @cached_property
    def zone(self) -> dt.tzinfo:
        return zone_of(self.zone_name)

    # -- reference data (lazy) ---------------------------------------------------------------
    @cached_property
    def projects(self) -> list[tuple[str, str, str]]:
        return [(p.id, p.key, p.name) for p in Project.select(Project.id, Project.key, Project.name)]

    @cached_property
    def priorities(self) -> list[tuple[str, str, int]]:
        return [(p.id, p.name, p.position) for p in Priority.select(Priority.id, Priority.name, Priority.position)]

    @cached_property
    def statuses(self) -> list[tuple[str, str]]:
        return [(s.id, s.name) for s in Status.select(Status.id, Status.name)]

    @cached_property
    def categories(self) -> list[tuple[int, str, str]]:
        return [(c.id, c.key, c.name) for c in StatusCategory.select()]

    @cached_property
    def resolutions(self) -> list[tuple[str, str]]:
        return [(r.id, r.name) for r in Resolution.select(Resolution.id, Resolution.name)]

    @cached_property
    def issue_types(self) -> list[tuple[str, str, bool]]:
        return [(t.id, t.name, bool(t.subtask)) for t in IssueType.select()]

    @cached_property
    def organizations(self) -> list[tuple[str, str]]:
        """The Organization table, or (not synced yet) the organizations seen on issues."""
        rows = {(o.id, o.name) for o in Organization.select(Organization.id, Organization.name)}
        if not rows:
            rows = {(o.organization_id, o.name) for o in
                    IssueOrganization.select(IssueOrganization.organization_id, IssueOrganization.name).distinct()}
        return sorted(rows)

    @cached_property
    def components(self) -> list[tuple[str, str]]:
        return [(c.component_id, c.name) for c in
                IssueComponent.select(IssueComponent.component_id, IssueComponent.name).distinct()]

    @cached_property
    def fields(self) -> list[JiraField]:
        return list(JiraField.select())

    def distinct_labels(self) -> list[str]:
        return [r.label for r in IssueLabel.select(IssueLabel.label).distinct()]

    def distinct_texts(self, field_id: str) -> list[tuple[str | None, str | None]]:
        q = (IssueFieldValue.select(IssueFieldValue.option_id, IssueFieldValue.text)
             .where(IssueFieldValue.field_id == field_id).distinct())
        return [(r.option_id, r.text) for r in q]

    def request_types(self) -> list[str]:
        return [r.request_type for r in Issue.select(Issue.request_type).where(Issue.request_type.is_null(False))
                .distinct()]

    @cached_property
    def known_accounts(self) -> set[str]:
        known: set[str] = set()
        for col in (Issue.assignee_id, Issue.reporter_id, Issue.creator_id):
            known |= {r[0] for r in Issue.select(col).where(col.is_null(False)).distinct().tuples()}
        known |= {r[0] for r in OrganizationUser.select(OrganizationUser.account_id).distinct().tuples()}
        if self.account_id:
            known.add(self.account_id)
        return known


def now_for(today: dt.date | None, zone_name: str | None) -> dt.datetime:
    """The instant relative dates are computed from.

    No ``today`` (or today's date in the Jira zone): the real current time.
    Another ``today`` (``--as-of``): noon of that day in the Jira user's zone,
    so ``startOfDay()`` / ``-1d`` land on that day deterministically.
    """
    real = dt.datetime.now(dt.timezone.utc)
    if today is None:
        return real
    zone = zone_of(zone_name) if zone_name else dt.timezone.utc
    if real.astimezone(zone).date() == today:
        return real
    return dt.datetime.combine(today, dt.time(12, 0)).replace(tzinfo=zone).astimezone(dt.timezone.utc)


# ------------------------------------------------------------------------------------ field specs


@dataclass
class Spec:
    """How one field compiles.

    ``column``: the value column (on Issue for scalars, on ``child`` for
    multi-valued fields).  ``resolve(item)`` turns one operand item (Value or
    FunctionCall) into the set of column values it stands for.  ``ordered``
    compiles ``<``/``>``/``<=``/``>=`` (None: needs Jira).
    """

    name: str
    column: Any
    resolve: Callable[[Any], set] | None
    child: Any = None
    child_filter: Any = None
    ordered: Callable[[str, Any], Any] | None = None
    empty_values: Callable[[Any], bool] = lambda item: False  # e.g. resolution = Unresolved
    equality: bool = True  # = / IN supported locally (False for date-times: unverified)


def _exists(spec: Spec, cond: Any = None, negate: bool = False, *, correlated: bool = False) -> Any:
    """The issue has a child row (satisfying ``cond``); ``negate``: it has none.

    Uncorrelated ``id [NOT] IN (SELECT issue_id ...)`` by default: SQLite
    builds the set once, 3-6x faster over the whole cache.  ``correlated``
    (``[NOT] EXISTS (... WHERE issue_id = issue.id)``) is faster when the
    outer query is restricted to a few ids (a sync page).  ``issue_id`` is
    NOT NULL, so ``NOT IN`` is exact.
    """
    where = []
    if spec.child_filter is not None:
        where.append(spec.child_filter)
    if cond is not None:
        where.append(cond)
    if not correlated:
        sub = spec.child.select(spec.child.issue)
        sub = sub.where(*where) if where else sub
        return Issue.id.not_in(sub) if negate else Issue.id.in_(sub)
    sub = spec.child.select(pw.SQL("1")).where(spec.child.issue == Issue.id, *where)
    return ~pw.fn.EXISTS(sub) if negate else pw.fn.EXISTS(sub)


GROUP_SIZE = 32  # terms per flat AND / OR group (see _group)


def _group(parts: Iterable[Any], glue: str, empty: Any) -> Any:
    """``(p1 <glue> p2 <glue> ...)`` as ONE flat, parenthesised SQL group.

    Not ``reduce(a & b)``: that nests a parenthesised binary expression per
    term, and a long ``OR`` / ``AND`` chain (~90 terms) then overflows
    SQLite's parser stack ("parser stack overflow"; thousands of terms:
    Python's recursion limit while peewee renders it).  SQLite also parses
    ``a OR b OR c ...`` into a binary tree one level deeper per term (its
    limit: 1000), so more than :data:`GROUP_SIZE` terms become a balanced
    tree of flat groups: the nesting grows with log(terms), not terms.
    """
    items = list(parts)
    if not items:
        return empty
    while len(items) > GROUP_SIZE:
        items = [pw.NodeList(items[i:i + GROUP_SIZE], glue=glue, parens=True) if len(items) - i > 1 else items[i]
                 for i in range(0, len(items), GROUP_SIZE)]
    if len(items) == 1:
        return items[0]
    return pw.NodeList(items, glue=glue, parens=True)


def _and(parts: Iterable[Any]) -> Any:
    return _group(parts, " AND ", TRUE)


def _or(parts: Iterable[Any]) -> Any:
    return _group(parts, " OR ", FALSE)


def _item_text(item: Any, field_name: str) -> str:
    if isinstance(item, FunctionCall):
        raise NeedsJira(f"function {item.name}() on {field_name}")
    return item.text


class Compiler:
    def __init__(self, ctx: JqlContext) -> None:
        self.ctx = ctx

    # -- tree -----------------------------------------------------------------------------------
    def query(self, query: Query) -> Any:
        if query.where is None:
            return TRUE  # an empty query (or ORDER BY alone) matches everything; ORDER BY is ignored
        return self.clause(push_not(query.where))

    def clause(self, c: Clause) -> Any:
        if isinstance(c, And):
            return _and(self.clause(x) for x in c.clauses)
        if isinstance(c, Or):
            return _or(self.clause(x) for x in c.clauses)
        if isinstance(c, Not):
            raise NeedsJira("NOT ... CHANGED (change history)")
        return self.terminal(c)

    # -- leaves ---------------------------------------------------------------------------------
    def terminal(self, t: Terminal) -> Any:
        fname = t.field.name
        if t.field.properties:
            raise NeedsJira(f"entity property {fname}[...]")
        if t.op in HISTORY_OPERATORS:
            raise NeedsJira(f"{t.op} on {fname} (change history)")
        if t.op in ("~", "!~"):
            raise NeedsJira(f"text search {t.op} on {fname}")
        spec = self.spec(t)
        op, operand = t.op, t.operand
        if op in COMPARISON_OPERATORS:
            if spec.ordered is None:
                raise NeedsJira(f"{op} on {fname}")
            if not isinstance(operand, (Value, FunctionCall)):
                raise NeedsJira(f"{op} with a list on {fname}")
            return spec.ordered(op, operand)
        if op in ("IS", "IS NOT"):
            return self.empty_test(spec, op == "IS")
        if not spec.equality:
            raise NeedsJira(f"{op} on the date-time field {fname} (exact-instant semantics are unverified)")
        if op in ("=", "!="):
            if isinstance(operand, Empty):
                return self.empty_test(spec, op == "=")
            items = [operand]
        else:
            if isinstance(operand, FunctionCall):
                items = [operand]
            elif isinstance(operand, ListValue):
                items = list(_flatten(operand))
            else:
                items = [operand]
        positive = op in ("=", "IN")
        with_empty = any(isinstance(i, Empty) or spec.empty_values(i) for i in items)
        values: set = set()
        for i in items:
            if isinstance(i, Empty) or spec.empty_values(i):
                continue
            values |= spec.resolve(i)
        if positive:
            parts = []
            if values:
                parts.append(self.match_any(spec, values))
            if with_empty:
                parts.append(self.empty_test(spec, True))
            return _or(parts) if parts else FALSE
        # != / NOT IN: has a value, and none of the values
        has = self.empty_test(spec, False)
        if not values:
            return has
        if spec.child is None:
            return has & spec.column.not_in(sorted(values, key=str))
        return has & _exists(spec, spec.column.in_(sorted(values, key=str)), negate=True,
                             correlated=self.ctx.correlated)

    def match_any(self, spec: Spec, values: set) -> Any:
        vals = sorted(values, key=str)
        if spec.child is None:
            return spec.column.in_(vals)
        return _exists(spec, spec.column.in_(vals), correlated=self.ctx.correlated)

    def empty_test(self, spec: Spec, empty: bool) -> Any:
        if spec.child is None:
            return spec.column.is_null(empty)
        return _exists(spec, negate=empty, correlated=self.ctx.correlated)

    # -- field resolution -------------------------------------------------------------------------
    def spec(self, t: Terminal) -> Spec:
        f = t.field
        name = f.name
        if f.cf_id is None:
            sysname = system_field(name)
            if sysname is not None:
                return self.system_spec(sysname, name)
        return self.custom_spec(f)

    def system_spec(self, s: str, shown: str) -> Spec:
        ctx = self.ctx
        if s == "project":
            return Spec(shown, Issue.project_id, self.resolve_project)
        if s == "key":
            def resolve_key(item: Any) -> set:
                if isinstance(item, FunctionCall):
                    raise NeedsJira(f"function {item.name}() on {shown}")
                if item.number:
                    return set(r[0] for r in Issue.select(Issue.key).where(Issue.id == int(item.text)).tuples())
                return {item.text.upper()}
            return Spec(shown, Issue.key, resolve_key)
        if s == "id":
            def resolve_id(item: Any) -> set:
                text = _item_text(item, shown)
                if not text.lstrip("-").isdigit():
                    raise NeedsJira(f"non-numeric id {text!r}")
                return {int(text)}

            def ordered_id(op: str, item: Any) -> Any:
                (v,) = resolve_id(item)
                return _compare(Issue.id, op, v)
            return Spec(shown, Issue.id, resolve_id, ordered=ordered_id)
        if s == "issuetype":
            return Spec(shown, Issue.issuetype_id, self.resolve_issuetype)
        if s == "status":
            return Spec(shown, Issue.status_id, self.named("status", shown, lambda: ctx.statuses))
        if s == "statusCategory":
            return Spec(shown, Issue.status_category_key, self.resolve_category)
        if s == "priority":
            resolve = self.named("priority", shown, lambda: [(i, n) for i, n, _ in ctx.priorities])
            return Spec(shown, Issue.priority_id, resolve, ordered=self.ordered_priority(resolve))
        if s == "resolution":
            return Spec(shown, Issue.resolution_id, self.named("resolution", shown, lambda: ctx.resolutions),
                        empty_values=lambda i: isinstance(i, Value) and not i.number
                        and _fold(i.text) == "unresolved")
        if s in DATETIME_FIELDS:
            col = {"created": Issue.created, "updated": Issue.updated, "resolved": Issue.resolution_date}[s]
            return Spec(shown, col, None, ordered=lambda op, item: _compare(col, op, self.instant(item, shown)),
                        equality=False)
        if s == "due":
            def resolve_due(item: Any) -> set:
                if isinstance(item, Value) and not item.number:
                    try:
                        return {dt.date.fromisoformat(item.text.strip().replace("/", "-"))}
                    except ValueError:
                        pass
                raise NeedsJira(f"= on due with {_shown_item(item)} (only plain dates are compared locally)")
            return Spec(shown, Issue.due, resolve_due,
                        ordered=lambda op, item: self.date_compare(Issue.due, op, item, shown, date_only=True))
        if s == "summary":
            raise NeedsJira(f"{shown} (text field: Jira's text search)")
        if s == "labels":
            def resolve_label(item: Any) -> set:
                text = _item_text(item, shown)
                return {lab for lab in ctx.distinct_labels() if _fold(lab) == _fold(text)}
            return Spec(shown, IssueLabel.label, resolve_label, child=IssueLabel)
        if s == "component":
            return Spec(shown, IssueComponent.component_id,
                        self.named("component", shown, lambda: ctx.components), child=IssueComponent)
        if s == "organizations":
            return Spec(shown, IssueOrganization.organization_id,
                        self.named("organization", shown, lambda: ctx.organizations), child=IssueOrganization)
        if s in ("assignee", "reporter", "creator"):
            col = {"assignee": Issue.assignee_id, "reporter": Issue.reporter_id, "creator": Issue.creator_id}[s]
            return Spec(shown, col, self.resolve_user(shown))
        if s == "parent":
            def resolve_parent(item: Any) -> set:
                text = _item_text(item, shown)
                if item.number or text.isdigit():
                    return {int(text)}
                row = Issue.get_or_none(Issue.key == text.upper())
                if row is None:
                    raise NeedsJira(f"parent {text!r} is not in the cache")
                return {row.id}
            return Spec(shown, Issue.parent_id, resolve_parent)
        if s == "requestType":
            def resolve_rt(item: Any) -> set:
                text = _item_text(item, shown)
                found = {rt for rt in ctx.request_types() if _fold(rt) == _fold(text)}
                if not found:
                    raise NeedsJira(f"request type {text!r} is not in the cache")
                return found
            return Spec(shown, Issue.request_type, resolve_rt)
        raise NeedsJira(f"field {shown}")  # pragma: no cover - SYSTEM_FIELDS and this switch agree

    def custom_spec(self, f: Any) -> Spec:
        fields = self.ctx.fields
        if f.cf_id is not None:
            found = [jf for jf in fields if jf.custom_id == f.cf_id]
            shown = f"cf[{f.cf_id}]"
        else:
            key = _fold(" ".join(f.name.split()))
            found = [jf for jf in fields if _fold(jf.name) == key
                     or any(_fold(str(n)) == key for n in (jf.clause_names or []))]
            shown = f.name
        if not found:
            raise NeedsJira(f"unknown field {shown!r} (not in the cached field list)")
        if len({jf.id for jf in found}) > 1:
            raise NeedsJira(f"ambiguous field {shown!r} ({', '.join(sorted(jf.id for jf in found))})")
        jf = found[0]
        if not jf.custom:
            raise NeedsJira(f"field {shown!r} has no local column")
        st, items, custom = jf.schema_type or "", jf.schema_items or "", jf.schema_custom or ""
        if custom == ORG_CUSTOM:
            return self.system_spec("organizations", shown)
        if custom == REQUEST_TYPE_CUSTOM:
            return self.system_spec("requestType", shown)
        child_filter = IssueFieldValue.field_id == jf.id
        if st == "number":
            def resolve_number(item: Any) -> set:
                return {_number(_item_text(item, shown), shown)}
            return Spec(shown, IssueFieldValue.number, resolve_number, child=IssueFieldValue,
                        child_filter=child_filter,
                        ordered=lambda op, item: _exists(
                            Spec(shown, None, None, child=IssueFieldValue, child_filter=child_filter),
                            _compare(IssueFieldValue.number, op, _number(_item_text(item, shown), shown)),
                            correlated=self.ctx.correlated))
        if st in ("date", "datetime"):
            sub = Spec(shown, None, None, child=IssueFieldValue, child_filter=child_filter)
            date_only = st == "date"

            def ordered_date(op: str, item: Any) -> Any:
                if date_only:  # stored as the naive midnight of the date (no zone)
                    cond = self.date_compare(IssueFieldValue.datetime, op, item, shown, date_only=True,
                                             as_datetime=True)
                else:
                    cond = _compare(IssueFieldValue.datetime, op, self.instant(item, shown))
                return _exists(sub, cond, correlated=self.ctx.correlated)
            return Spec(shown, IssueFieldValue.datetime, None, child=IssueFieldValue, child_filter=child_filter,
                        ordered=ordered_date, equality=False)
        if st == "option" or (st == "array" and items == "option") or custom.endswith(":labels"):
            by_id = st == "option" or items == "option"

            def resolve_option(item: Any) -> set:
                text = _item_text(item, shown)
                rows = self.ctx.distinct_texts(jf.id)
                got = {t for oid, t in rows if t is not None and _fold(t) == _fold(text)}
                if not got and by_id and text.isdigit():
                    got = {t for oid, t in rows if oid == text and t is not None}
                if not got and by_id:
                    raise NeedsJira(f"option {text!r} of {shown} is not in the cache")
                return got
            return Spec(shown, IssueFieldValue.text, resolve_option, child=IssueFieldValue, child_filter=child_filter)
        raise NeedsJira(f"custom field {shown!r} of type {custom or st or 'unknown'}")

    # -- value resolution -----------------------------------------------------------------------
    def resolve_project(self, item: Any) -> set:
        if isinstance(item, FunctionCall):
            raise NeedsJira(f"function {item.name}() on project")
        text = item.text
        projects = self.ctx.projects
        if not item.number:
            by_key = {pid for pid, key, _ in projects if _fold(key) == _fold(text)}
            if by_key:
                return by_key
            by_name = {pid for pid, _, name in projects if _fold(name) == _fold(text)}
            if by_name:
                return by_name
        by_id = {pid for pid, _, _ in projects if pid == text}
        if by_id:
            return by_id
        raise NeedsJira(f"project {text!r} is not in the cache")

    def named(self, what: str, shown: str, rows: Callable[[], list]) -> Callable[[Any], set]:
        """Resolve a name (case-insensitive) or a numeric id against ``rows()`` of (id, name)."""
        def resolve(item: Any) -> set:
            if isinstance(item, FunctionCall):
                raise NeedsJira(f"function {item.name}() on {shown}")
            text = item.text
            table = rows()
            if not item.number:
                got = {str(i) for i, n in table if _fold(n) == _fold(text)}
                if got:
                    return got
            got = {str(i) for i, _ in table if str(i) == text}
            if got:
                return got
            raise NeedsJira(f"{what} {text!r} is not in the cache")
        return resolve

    def resolve_issuetype(self, item: Any) -> set:
        types = self.ctx.issue_types
        if isinstance(item, FunctionCall):
            kind = _fold(item.name)
            if kind == "standardissuetypes" and not item.args:
                return {i for i, _, sub in types if not sub}
            if kind == "subtaskissuetypes" and not item.args:
                return {i for i, _, sub in types if sub}
            raise NeedsJira(f"function {item.name}() on issuetype")
        return self.named("issue type", "issuetype", lambda: [(i, n) for i, n, _ in types])(item)

    def resolve_category(self, item: Any) -> set:
        text = _item_text(item, "statusCategory")
        got = {key for cid, key, name in self.ctx.categories
               if _fold(key) == _fold(text) or _fold(name) == _fold(text) or str(cid) == text}
        if not got:
            raise NeedsJira(f"status category {text!r} is not in the cache")
        return got

    def resolve_user(self, shown: str) -> Callable[[Any], set]:
        def resolve(item: Any) -> set:
            if isinstance(item, FunctionCall):
                if function_kind(item.name) == "user" and not item.args:
                    if not self.ctx.account_id:
                        raise NeedsJira("currentUser() (the Jira account id is not cached yet)")
                    return {self.ctx.account_id}
                raise NeedsJira(f"function {item.name}() on {shown}")
            text = item.text
            if text in self.ctx.known_accounts or (_ACCOUNT_RE.match(text) and ":" in text):
                return {text}
            raise NeedsJira(f"{shown} {text!r} is not a cached account id (Jira resolves names and emails)")
        return resolve

    def ordered_priority(self, resolve: Callable[[Any], set]) -> Callable[[str, Any], Any]:
        def ordered(op: str, item: Any) -> Any:
            ids = resolve(item)
            positions = {p for i, _, p in self.ctx.priorities if i in ids}
            if len(positions) != 1:
                raise NeedsJira(f"priority {_shown_item(item)} has no single position in Jira's order")
            (pos,) = positions
            # position 0 is the highest: "> High" means a smaller position
            test = {">": lambda p: p < pos, ">=": lambda p: p <= pos,
                    "<": lambda p: p > pos, "<=": lambda p: p >= pos}[op]
            chosen = sorted(i for i, _, p in self.ctx.priorities if test(p))
            return Issue.priority_id.in_(chosen) if chosen else FALSE
        return ordered

    # -- dates ------------------------------------------------------------------------------------
    def instant(self, item: Any, shown: str) -> dt.datetime:
        """A date operand -> naive UTC instant."""
        ctx = self.ctx
        try:
            if isinstance(item, FunctionCall):
                if function_kind(item.name) != "date":
                    raise NeedsJira(f"function {item.name}() on {shown}")
                ctx.time_dependent = True
                return date_function(item.name, tuple(a.text for a in item.args), ctx.now, ctx.zone,
                                     week_start=ctx.week_start)
            if item.number:
                return epoch_ms(int(item.text))
            value = parse_date_literal(item.text, ctx.zone, ctx.now)
            if not _looks_absolute(item.text):
                ctx.time_dependent = True
            return value
        except BadDate as exc:
            raise JqlInvalid(f"{shown}: {exc}") from None
        except OverflowError:
            raise JqlInvalid(f"{shown}: date {_shown_item(item)} is out of range") from None

    def date_compare(self, column: Any, op: str, item: Any, shown: str, *, date_only: bool,
                     as_datetime: bool = False) -> Any:
        """A date-only column (``due``) against an instant: the date's midnight in the zone vs the instant."""
        if isinstance(item, Value) and not item.number:
            try:
                parse_date_literal(item.text, self.ctx.zone, self.ctx.now, date_only=date_only)
            except BadDate as exc:
                raise JqlInvalid(f"{shown}: {exc}") from None
        instant = self.instant(item, shown)
        day, at_midnight = local_date(instant, self.ctx.zone)
        # midnight(d) > t  <=> d > day ; midnight(d) >= t <=> d >= day (t at midnight) else d > day
        # midnight(d) < t  <=> d < day (t at midnight) else d <= day ; midnight(d) <= t <=> d <= day
        if op == ">=" and not at_midnight:
            op = ">"
        elif op == "<" and not at_midnight:
            op = "<="
        bound: Any = dt.datetime.combine(day, dt.time()) if as_datetime else day
        return _compare(column, op, bound)


def _compare(column: Any, op: str, value: Any) -> Any:
    return {"<": column < value, ">": column > value, "<=": column <= value, ">=": column >= value,
            "=": column == value}[op]


def _number(text: str, shown: str) -> Any:
    from decimal import Decimal, InvalidOperation
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise JqlInvalid(f"{shown}: {text!r} is not a number") from None


def _looks_absolute(text: str) -> bool:
    return bool(re.match(r"^\s*\d{4}[/-]", text))


def _shown_item(item: Any) -> str:
    if isinstance(item, FunctionCall):
        return f"{item.name}()"
    if isinstance(item, Value):
        return item.text if item.number else repr(item.text)
    return "EMPTY"


def _flatten(lv: ListValue) -> Iterable[Any]:
    for item in lv.items:
        if isinstance(item, ListValue):
            yield from _flatten(item)
        else:
            yield item


# ------------------------------------------------------------------------------------ public API


def compile_query(query: Query, ctx: JqlContext) -> Any:
    """The WHERE expression over Issue for ``query`` (ORDER BY ignored).

    Raises :class:`NeedsJira` (with the construct in ``reason``) or
    :class:`JqlInvalid` (also for a query too deeply nested to compile).
    After the call ``ctx.time_dependent`` tells whether the result depends on
    ``ctx.now``.
    """
    try:
        return Compiler(ctx).query(query)
    except RecursionError:
        raise JqlInvalid(TOO_COMPLEX) from None


TOO_COMPLEX = "the query is too large or too deeply nested to evaluate from the cache; simplify it"
#: SQLite's messages for a statement it refuses to build (not a database failure).
_SQLITE_LIMITS = ("parser stack overflow", "expression tree is too large", "too many sql variables",
                  "too many terms in compound select", "string or blob too big", "too many columns",
                  "pattern too complex", "at most 64 tables in a join", "too many arguments on function")


def too_complex(exc: BaseException) -> str | None:
    """Why ``exc`` means "the SQL of this one query is too large" (None: a real database failure).

    SQLite: the limit messages above; PostgreSQL: SQLSTATE class 54
    (program limit exceeded, e.g. "stack depth limit exceeded"); Python:
    ``RecursionError`` while peewee renders the statement.
    """
    if isinstance(exc, RecursionError):
        return TOO_COMPLEX
    orig = getattr(exc, "orig", None)  # peewee keeps the driver's exception there
    if not isinstance(orig, BaseException):
        orig = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else (exc.__cause__ or exc)
    code = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    text = (str(orig).strip() or type(orig).__name__).splitlines()[0]
    if (code and str(code).startswith("54")) or any(m in text.lower() for m in _SQLITE_LIMITS):
        return f"{TOO_COMPLEX} (database: {text})"
    return None


def run_guarded(run: Callable[[], Any]) -> str | None:
    """Run the statements of ONE compiled query (``run()``) in a savepoint.

    Returns None, or (the savepoint rolled back) why the database refused
    them as too complex (:func:`too_complex`), so the caller marks that one
    clause invalid instead of failing a whole sync or report.  Any other
    error propagates.  PostgreSQL: the savepoint keeps the caller's
    transaction usable after the failed statement.
    """
    from cache.db import database

    try:
        with database.atomic():
            run()
    except RecursionError:
        return TOO_COMPLEX
    except Exception as exc:  # noqa: BLE001 - only the "too complex" ones are swallowed
        reason = too_complex(exc)
        if reason is None:
            raise
        return reason
    return None


def compile_jql(text: str, ctx: JqlContext) -> Any:
    """Parse and compile; also raises :class:`tickets.jql.JqlSyntaxError`."""
    return compile_query(parse(text), ctx)


def select_ids(expr: Any) -> pw.SelectQuery:
    return Issue.select(Issue.id).where(expr)
