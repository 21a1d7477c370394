"""cache.jqlsql: JQL compiled to SQL over a hand-built cache (tests/jql_fixture.py, expected sets by hand)."""

from __future__ import annotations

import datetime as dt

import pytest

import jql_fixture as fx
from cache.db import database, open_database
from conftest import BACKENDS, fresh_database
from cache.jqlsql import JqlContext, JqlInvalid, compile_jql
from cache.models import Issue, Meta
from tickets.jql import JqlSyntaxError
from tickets.jql.semantics import NeedsJira

NOW = dt.datetime(2023, 1, 16, 12, 0, tzinfo=dt.timezone.utc)  # 15:00 on the 16th in Istanbul


@pytest.fixture(scope="module", params=BACKENDS)
def cache_db(request, tmp_path_factory):
    """The hand-built cache, once per backend (SQLite file, PostgreSQL database): the opened handle."""
    with fresh_database(request.param, tmp_path_factory.mktemp("jql")) as url:
        db = open_database(url)
        fx.build()
        yield db
        db.close()


@pytest.fixture(autouse=True)
def _bound(cache_db):
    database.initialize(cache_db)  # rebind (other modules may have opened another database)
    yield


def ids(jql: str, now: dt.datetime = NOW, *, correlated: bool = False) -> set[int]:
    ctx = JqlContext.from_db(now=now)
    ctx.correlated = correlated
    expr = compile_jql(jql, ctx)
    query = Issue.select(Issue.id).where(expr)
    return {r[0] for r in query.tuples()}


def needs_jira(jql: str) -> str:
    with pytest.raises(NeedsJira) as info:
        ids(jql)
    return info.value.reason


# ------------------------------------------------------------------------------ §3 rows

CASES = [
    # != and empties
    ("component != fred", {1002, 1005}),  # 1004 has fred; issues without components never match
    ("component = fred", {1001, 1004}),
    ("reporter != rep-0000000001", set()),
    ("assignee != " + fx.ACC1, set()),  # nobody else has an assignee; empties are not returned
    ('resolution != "Won\'t Fix"', {1002}),  # unresolved issues excluded
    ("priority != High", {1002, 1004, 1005, 1006, 1008}),  # 1003 (no priority) excluded
    ("component NOT IN (fred, joe)", {1002}),
    # NOT pushed down (De Morgan)
    ("NOT priority > High", {1001, 1004, 1005, 1006, 1007, 1008}),  # 1003 (no priority) left out
    ("NOT component = fred", {1002, 1005}),
    ("NOT (labels = a AND priority = High)", {1002, 1004, 1005, 1006, 1008}),
    ("NOT NOT labels = b", {1001, 1004}),
    ("NOT (labels = b OR organizations IS NOT EMPTY)", {1002, 1005}),  # has labels, none b, and no org
    # empty tests
    ("priority IN (EMPTY, Highest)", {1002, 1003}),
    ("priority = EMPTY", {1003}),
    ("priority IS EMPTY", {1003}),
    ("priority = NULL", {1003}),
    ("priority != EMPTY", fx.ALL - {1003}),
    ("labels IS EMPTY", {1003, 1006, 1007, 1008}),
    ("labels IS NOT EMPTY", {1001, 1002, 1004, 1005}),
    ("organizations IS NOT EMPTY", {1001, 1003}),
    ("labels IN (EMPTY, b)", {1001, 1003, 1004, 1006, 1007, 1008}),
    ("component NOT IN (EMPTY, fred)", {1002, 1005}),
    ("due IS EMPTY", fx.ALL - {1001, 1007}),
    ("resolved IS NOT EMPTY", {1002, 1004}),
    # multi-valued fields
    ("labels = a AND labels = b", {1001}),
    ("labels = a", {1001, 1002, 1005}),  # label case-insensitive (1005 has "A")
    ("labels in (b)", {1001, 1004}),
    ("labels not in (a) or labels is EMPTY", {1004, 1003, 1006, 1007, 1008}),
    ("labels = nosuchlabel", set()),
    ("component in (fred) and component in (bob)", {1004}),
    ("component = 501", {1002, 1004}),  # by id
    ("organizations = acme", {1001}),
    ("organizations = 2", {1003}),
    ("organizations != Acme", {1003}),
    # project: key, then name, then id
    ("project = ABC", {1001, 1002, 1003, 1008}),  # key wins over XYZ's name "ABC"
    ("project = abc", {1001, 1002, 1003, 1008}),
    ("project = Alpha", {1001, 1002, 1003, 1008}),
    ('project = "Zed Project"', {1006, 1007}),
    ("project = 10001", {1004, 1005}),
    ('project = "10002"', {1006, 1007}),
    ("project in (XYZ, ZED)", {1004, 1005, 1006, 1007}),
    ("project != ABC", {1004, 1005, 1006, 1007}),
    # name-or-id constants
    ("status = open", {1001, 1006, 1007, 1008}),
    ('status = "waiting for SUPPORT"', {1005}),
    ("status = 10", {1002, 1004}),
    ("status not in (Open, Done)", {1003, 1005}),
    ("issuetype = Task", fx.ALL - {1008}),
    ("type = 101", {1008}),
    ("issuetype in subTaskIssueTypes()", {1008}),
    ("issuetype in standardIssueTypes()", fx.ALL - {1008}),
    ("statusCategory = Done", {1002, 1004}),
    ('statusCategory = "in progress"', {1003, 1005}),
    ("statusCategory = indeterminate", {1003, 1005}),
    ("statusCategory = 2", {1001, 1006, 1007, 1008}),
    ("statusCategory not in (Done)", {1001, 1003, 1005, 1006, 1007, 1008}),
    # ordered priority: Jira's order, not the alphabet
    ("priority >= High", {1001, 1002, 1007}),
    ("priority > High", {1002}),
    ("priority < Medium", {1004, 1006}),
    ("priority <= medium", {1004, 1005, 1006, 1008}),
    ("priority > Highest", set()),
    # resolution
    ("resolution = Unresolved", {1001, 1003, 1005, 1006, 1007, 1008}),
    ("resolution is EMPTY", {1001, 1003, 1005, 1006, 1007, 1008}),
    ("resolution != Unresolved", {1002, 1004}),
    ("resolution in (Fixed, Unresolved)", {1001, 1002, 1003, 1005, 1006, 1007, 1008}),
    ('resolution not in (fixed, "won\'t fix")', set()),
    # dates: user zone, minute precision, epoch millis
    ('created >= "2023-01-15"', {1001, 1003, 1006}),  # 1001 is 01:30 on the 15th in Istanbul; 1002 is 23:59 on the 14th
    ('created < "2023/01/15"', {1002, 1004, 1005, 1007, 1008}),
    ('created > "2023-01-15 01:30"', {1003, 1006}),
    ('created >= "2023-01-15 01:30"', {1001, 1003, 1006}),
    ('created >= "2023-01-10" AND created < "2023-01-13"', {1004, 1005}),
    ("updated > 1000", fx.ALL - {1006}),
    ("created < 1673740800000", {1001, 1002, 1004, 1005, 1007, 1008}),  # 2023-01-15T00:00Z
    ('resolved >= "2023-01-20"', {1002, 1004}),
    ("NOT created >= 2023-01-15", {1002, 1004, 1005, 1007, 1008}),
    # due is a date
    ('due = "2023/01/20"', {1001}),
    ('due < "2023-03-01"', {1001}),
    ('due <= "2023-03-01"', {1001, 1007}),
    ('due > "2023-01-20"', {1007}),
    ("due != 2023-01-20", {1007}),
    # relative dates, fixed now = 2023-01-16 12:00Z
    ('created >= "-2d"', {1001, 1002, 1003, 1006}),  # >= 2023-01-14 12:00Z
    ("created >= -26h", {1003, 1006}),
    ("created >= startOfDay()", {1003, 1006}),  # 2023-01-16 00:00 Istanbul = 2023-01-15 21:00Z
    ('created >= startOfDay("-1d") AND created < startOfDay()', {1001}),
    ("created < startOfMonth()", set()),
    ("created > endOfMonth()", {1006}),
    ("created <= now()", fx.ALL - {1006}),
    ("created >= startOfWeek()", {1001, 1003, 1006}),  # Sunday 2023-01-15 local = 2023-01-14 21:00Z
    # keys, ids, parent, users
    ("key = abc-1", {1001}),
    ("issuekey in (ABC-1, XYZ-2)", {1001, 1005}),
    ("key != ABC-1", fx.ALL - {1001}),
    ("issue = 1004", {1004}),
    ("id > 1006", {1007, 1008}),
    ("id in (1001, 1003)", {1001, 1003}),
    ("parent = ABC-1", {1008}),
    ("parent = 1001", {1008}),
    ("assignee = " + fx.ACC1, {1007}),
    ("assignee is EMPTY", fx.ALL - {1007}),
    # custom fields: by name, by cf[N], select and number
    ("Tier = gold", {1001, 1004}),
    ("cf[10100] = Gold", {1001, 1004}),
    ("tier = 9002", {1002}),  # option id
    ("Tier != Gold", {1002}),  # issues without a tier are not returned
    ("Tier is EMPTY", {1003, 1005, 1006, 1007, 1008}),
    ('"Hours Budget" > 7', {1001, 1004}),
    ('NOT "hours budget" > 7', {1002}),
    ("cf[10101] = 5", {1002}),
    ("cf[10101] in (5, 20)", {1002, 1004}),
    ('"Go Live" >= "2023-01-20"', {1001}),
    ('"Go Live" < "2023-01-20"', set()),
    # combinations, empty query, ORDER BY ignored
    ("project = ABC AND priority >= High AND labels = a", {1001, 1002}),
    ("(project = ZED OR component = joe) AND statusCategory != Done", {1005, 1006, 1007}),
    ("", fx.ALL),
    ("ORDER BY created DESC", fx.ALL),
    ("project = ZED ORDER BY priority", {1006, 1007}),
]


@pytest.mark.parametrize("jql, expected", CASES, ids=[c[0] or "<empty>" for c in CASES])
def test_local_evaluation(jql: str, expected: set[int]) -> None:
    assert ids(jql) == expected


@pytest.mark.parametrize("jql, expected", [c for c in CASES if "labels" in c[0] or "component" in c[0]
                                            or "organizations" in c[0] or "Tier" in c[0] or "Hours" in c[0]
                                            or "cf[" in c[0]])
def test_correlated_exists_style_gives_the_same_sets(jql: str, expected: set[int]) -> None:
    assert ids(jql, correlated=True) == expected


def test_zone_changes_date_literals() -> None:
    """The same literal read in UTC: 1001 (22:30Z on the 14th) no longer is on the 15th."""
    assert ids('created >= "2023-01-15"') == {1001, 1003, 1006}
    Meta.update(value="UTC").where(Meta.key == "jira_time_zone").execute()
    try:
        assert ids('created >= "2023-01-15"') == {1003, 1006}
    finally:
        Meta.update(value=fx.ZONE).where(Meta.key == "jira_time_zone").execute()


def test_current_user_needs_the_cached_account_id() -> None:
    assert "currentUser()" in needs_jira("assignee = currentUser()")
    Meta.insert(key="jira_account_id", value=fx.ACC1).execute()
    try:
        assert ids("assignee = currentUser()") == {1007}
        assert ids("assignee in (currentUser(), EMPTY)") == fx.ALL
        assert ids("assignee != currentUser()") == set()
    finally:
        Meta.delete().where(Meta.key == "jira_account_id").execute()


@pytest.mark.parametrize("jql, construct", [
    ("summary ~ foo", "~"),
    ("text ~ foo", "~"),
    ("summary = foo", "summary"),
    ("status WAS Open", "WAS"),
    ("status CHANGED", "CHANGED"),
    ("NOT status CHANGED", "CHANGED"),
    ("assignee in membersOf(admins)", "membersOf()"),
    ("sprint in openSprints()", "sprint"),
    ("fixVersion = 1.0", "fixVersion"),
    ("issue in linkedIssues(ABC-1)", "linkedIssues()"),
    ("created = 2023-01-15", "date-time"),
    ("updated != -1d", "date-time"),
    ('"Nonexistent Field" = 1', "Nonexistent Field"),
    ("Dup = 1", "ambiguous"),
    ("status = Frobnicated", "Frobnicated"),
    ("project = NOPE", "NOPE"),
    ("priority > Urgent", "Urgent"),
    ("status > Open", ">"),
    ('assignee = "someone@example.com"', "someone@example.com"),
    ("issue.property[foo].bar = 1", "property"),
    ("project = ABC AND summary ~ foo", "~"),  # one remote leaf sends the whole query to Jira
    ("key > ABC-1", ">"),
])
def test_needs_jira_names_the_construct(jql: str, construct: str) -> None:
    assert construct in needs_jira(jql)


@pytest.mark.parametrize("jql", ['created > "2023-13-45"', 'created > "yesterday"', "created > startOfMonth(x)",
                                 'due < "2023-01-01 10:00"', '"Hours Budget" > lots'])
def test_invalid_values_are_invalid(jql: str) -> None:
    with pytest.raises(JqlInvalid):
        ids(jql)


def test_syntax_errors_propagate() -> None:
    with pytest.raises(JqlSyntaxError):
        ids("project = ")


def test_values_are_bound_parameters_not_sql_text() -> None:
    """A hostile value reaches SQL as a parameter: it matches nothing and breaks nothing."""
    evil = "x') OR 1=1 --"
    assert ids(f'labels = "{evil}"') == set()
    ctx = JqlContext.from_db(now=NOW)
    sql, params = Issue.select(Issue.id).where(compile_jql('labels in (a, "A")', ctx)).sql()
    assert "'a'" not in sql and "a" in params


def test_compiles_to_one_statement_for_a_large_in_list() -> None:
    keys = ", ".join(f"ABC-{i}" for i in range(1, 400))
    assert ids(f"key in ({keys})") == {1001, 1002, 1003, 1008}
