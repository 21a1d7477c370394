"""cache.membership: clause memberships, incremental updates, the Jira fallback, and `jql match/verify`."""

from __future__ import annotations

import datetime as dt

import pytest

import jql_fixture as fx
from cache import membership
from cache.db import close_database, open_database
from cache.models import Clause, ClauseEval, ClauseMatch, Contract, Issue, IssueLabel
from tui.cli import main


@pytest.fixture
def db(db_url):
    """The hand-built cache in a fresh database on each backend; the path/URL."""
    open_database(db_url)
    fx.build()
    yield db_url
    close_database()


def _contract(name: str, *jqls: str) -> tuple[int, list[int]]:
    now = dt.datetime(2023, 1, 1)
    c = Contract.create(name=name, name_key=name.casefold(), start=dt.date(2023, 1, 1), end=dt.date(2023, 12, 31),
                        time_zone="UTC", period_type="monthly", created_at=now, updated_at=now)
    ids = [Clause.create(contract=c.id, position=i, name=f"c{i}", type="issue_count", jql=q).id
           for i, q in enumerate(jqls)]
    return c.id, ids


def matches(clause_id: int) -> set[int]:
    return {r[0] for r in ClauseMatch.select(ClauseMatch.issue).where(ClauseMatch.clause == clause_id).tuples()}


class FakeClient:
    """Records /jql/match calls; answers with a fixed set of matching ids (or errors)."""

    def __init__(self, matching: set[int], errors: list[str] | None = None) -> None:
        self.matching, self.errors, self.calls = matching, errors or [], []

    def jql_match(self, issue_ids, jqls):
        self.calls.append((list(issue_ids), list(jqls)))
        return {"matches": [{"matchedIssues": [i for i in issue_ids if i in self.matching], "errors": self.errors}
                            for _ in jqls]}


def test_ensure_contract_modes(db) -> None:
    cid, (local, remote, bad, bad_date) = _contract(
        "Acme", "project = ABC AND labels = a", "summary ~ printer", "project = ", 'created > "2023-02-30"')
    evals = membership.ensure_contract(cid)
    assert {k: v.mode for k, v in evals.items()} == {local: "local", remote: "pending", bad: "invalid",
                                                       bad_date: "invalid"}
    assert matches(local) == {1001, 1002}
    assert matches(remote) == set()
    assert "~" in evals[remote].error and evals[remote].evaluated_at is None
    assert membership.clause_state(local) == (True, None, None)
    valid, error, by = membership.clause_state(remote)
    assert not valid and "needs Jira" in error and "~" in error and by is None
    valid, error, _ = membership.clause_state(bad)
    assert not valid and "position" in error
    assert membership.clause_state(bad_date)[0] is False
    assert Clause.get_by_id(bad).jql == "project = "  # the clause stays saved


def test_pending_clause_is_evaluated_by_jira_when_a_client_is_given(db) -> None:
    cid, (remote,) = _contract("Acme", "summary ~ printer")
    membership.ensure_contract(cid)
    client = FakeClient({1003, 1005})
    with_client = membership.ensure_contract(cid, client=client)
    assert with_client[remote].mode == "jira" and with_client[remote].evaluated_at is not None
    assert matches(remote) == {1003, 1005}
    assert sorted(client.calls[0][0]) == sorted(fx.ALL) and client.calls[0][1] == ["summary ~ printer"]
    valid, error, by = membership.clause_state(remote)
    assert valid and error is None and by.startswith("jira at ") and by.endswith("Z")
    membership.ensure_contract(cid, client=client)  # up to date: Jira is not asked again
    assert len(client.calls) == 1


def test_jira_rejecting_the_query_makes_it_invalid(db) -> None:
    cid, (remote,) = _contract("Acme", "summary ~ printer")
    ev = membership.ensure_contract(cid, client=FakeClient(set(), ["Field 'summary' does not exist"]))[remote]
    assert ev.mode == "invalid" and "does not exist" in ev.error
    assert membership.clause_state(remote)[0] is False


def test_jira_match_is_batched(db, monkeypatch) -> None:
    monkeypatch.setattr(membership, "JIRA_BATCH", 3)
    client = FakeClient({1001, 1008})
    assert membership.jira_match(client, "x = y", fx.ALL) == {1001, 1008}
    assert [len(ids) for ids, _ in client.calls] == [3, 3, 2]


def test_edit_re_evaluates_only_that_clause(db) -> None:
    cid, (a, b) = _contract("Acme", "labels = a", "component = fred")
    first = membership.ensure_contract(cid)
    Clause.update(jql="labels = b").where(Clause.id == a).execute()
    assert membership.clause_state(a) == (False, "not evaluated yet", None)  # stale until re-evaluated
    again = membership.ensure_contract(cid)
    assert matches(a) == {1001, 1004} and matches(b) == {1001, 1004}
    assert again[a].jql == "labels = b"
    assert again[b].evaluated_at == first[b].evaluated_at  # untouched


def test_after_sync_updates_only_the_changed_issues(db) -> None:
    cid, (lab, prio) = _contract("Acme", "labels = b", "priority >= High")
    membership.ensure_contract(cid)
    assert matches(lab) == {1001, 1004} and matches(prio) == {1001, 1002, 1007}
    # the "sync" changes two issues, but only reports 1005 as changed
    IssueLabel.create(issue=1005, label="b")
    Issue.update(priority_id="1").where(Issue.id == 1005).execute()  # Highest
    IssueLabel.create(issue=1006, label="b")  # changed, but not reported
    IssueLabel.delete().where((IssueLabel.issue == 1004) & (IssueLabel.label == "b")).execute()  # not reported
    membership.after_sync([1005], [])
    assert matches(lab) == {1001, 1004, 1005}  # 1005 joined; 1004 and 1006 untouched (not reported)
    assert matches(prio) == {1001, 1002, 1005, 1007}
    membership.after_sync([1004, 1006], [])
    assert matches(lab) == {1001, 1005, 1006}


def test_after_sync_new_and_deleted_issues(db) -> None:
    cid, (all_abc,) = _contract("Acme", "project = ABC")
    membership.ensure_contract(cid)
    Issue.insert(id=1009, key="ABC-9", project_id="10000", project_key="ABC", created=dt.datetime(2023, 1, 3),
                 updated=dt.datetime(2023, 1, 3), synced_at=dt.datetime(2023, 1, 3)).execute()
    Issue.delete().where(Issue.id == 1002).execute()
    membership.after_sync([1009], [1002])
    assert matches(all_abc) == {1001, 1003, 1008, 1009}


def test_after_sync_asks_jira_for_jira_clauses_on_the_changed_ids_only(db) -> None:
    cid, (remote, local) = _contract("Acme", "summary ~ printer", "labels = a")
    membership.ensure_contract(cid, client=FakeClient({1001}))
    client = FakeClient({1001, 1002})
    membership.after_sync([1002, 1003], [], client=client)
    assert client.calls == [([1002, 1003], ["summary ~ printer"])]
    assert matches(remote) == {1001, 1002}
    assert matches(local) == {1001, 1002, 1005}


def test_time_dependent_clause_is_re_evaluated(db) -> None:
    cid, (rel, fixed) = _contract("Acme", 'created >= "-3d"', "project = ZED")
    membership.ensure_contract(cid, today=dt.date(2023, 1, 16))  # now = noon Istanbul = 09:00Z
    assert matches(rel) == {1001, 1002, 1003, 1006}  # created >= 2023-01-13 09:00Z
    evals = membership.ensure_contract(cid, today=dt.date(2023, 1, 13))
    assert matches(rel) == {1001, 1002, 1003, 1005, 1006}  # created >= 2023-01-10 09:00Z
    assert evals[fixed].mode == "local" and matches(fixed) == {1006, 1007}


def test_ensure_all_and_cascades(db) -> None:
    c1, (a,) = _contract("One", "labels = a")
    c2, (b,) = _contract("Two", "labels = b")
    membership.ensure_all()
    assert matches(a) == {1001, 1002, 1005} and matches(b) == {1001, 1004}
    Contract.delete().where(Contract.id == c1).execute()
    assert ClauseEval.select().where(ClauseEval.clause == a).count() == 0
    assert ClauseMatch.select().where(ClauseMatch.clause == a).count() == 0


def test_count_matches_and_match_keys(db) -> None:
    assert membership.count_matches("labels = a") == 3
    assert "needs Jira" in membership.count_matches("status WAS Open")
    assert "invalid JQL" in membership.count_matches("status = ")
    assert membership.match_keys("project in (ABC, XYZ) AND priority IS NOT EMPTY") == [
        "ABC-1", "ABC-2", "ABC-4", "XYZ-1", "XYZ-2"]


# ------------------------------------------------------------------------------ CLI


def test_cli_jql_match(db, capsys) -> None:
    assert main(["--db", str(db), "jql", "match", "labels = b"]) == 0
    assert capsys.readouterr().out.splitlines() == ["ABC-1", "XYZ-1"]
    assert main(["--db", str(db), "jql", "match", "summary ~ x"]) == 1
    err = capsys.readouterr().err
    assert "needs Jira" in err and "~" in err
    assert main(["--db", str(db), "jql", "match", "labels = "]) == 2
    assert "^" in capsys.readouterr().err


def test_cli_jql_verify_needs_jira_config(db, capsys) -> None:
    assert main(["--db", str(db), "jql", "verify"]) == 2
    assert "not configured" in capsys.readouterr().err


# ------------------------------------------------------------------------------ simulated Jira


def test_fallback_and_verify_against_the_simulated_jira(db_url, capsys, monkeypatch) -> None:
    from cache.fakejira import FakeJira, generate_site
    from cache.jira import JiraClient
    from cache.sync import run_sync

    now = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.timezone.utc)
    site = generate_site(60, seed=3, now=now.isoformat())
    path = db_url
    database = open_database(path)
    try:
        with FakeJira(site) as fj, JiraClient(fj.url, fj.email, fj.token, sleep=lambda s: None) as client:
            run_sync(database, client, now=now)
            issues = list(Issue.select().order_by(Issue.created))
            assert len(issues) > 20
            target = issues[len(issues) // 2]
            ms = int(target.created.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)
            pkey = issues[0].project_key
            cutoff = issues[len(issues) // 3].created.strftime("%Y-%m-%d %H:%M")
            cid, (exact, local, bad) = _contract(
                "Sim", f"created = {ms}", f'project = {pkey} AND created >= "{cutoff}"', "summary ~ printer")
            evals = membership.ensure_contract(cid, client=client)
            assert evals[exact].mode == "jira" and matches(exact) == {target.id}
            assert evals[local].mode == "local" and matches(local)
            assert evals[bad].mode == "invalid" and evals[bad].error  # the simulated site rejects ~
            assert membership.verify(client) == []  # the local compiler agrees with the site
            # a local evaluation that is wrong shows up as differences
            victim = next(iter(matches(local)))
            Issue.update(project_key="ZZZ", project_id="-1").where(Issue.id == victim).execute()
            diffs = membership.verify(client, contract_id=cid)
            assert [(d[2], d[3], d[4]) for d in diffs] == [(Issue.get_by_id(victim).key, False, True)]
            monkeypatch.setenv("TICKETBOOK_JIRA_URL", fj.url)
            monkeypatch.setenv("TICKETBOOK_JIRA_EMAIL", fj.email)
            monkeypatch.setenv("TICKETBOOK_JIRA_TOKEN", fj.token)
            code = main(["--db", str(path), "jql", "verify", "Sim"])
            out = capsys.readouterr().out
            assert code == 1 and Issue.get_by_id(victim).key in out and "local: no" in out and "jira: yes" in out
    finally:
        close_database()
