"""The sync against the simulated Jira site over real HTTP, into real SQLite files.

The comparison helpers (:func:`expected_from_site`, :func:`actual_from_cache`,
:func:`assert_cache_matches`) are imported by the other sync test files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import threading

import pytest

from cache.config import SyncScope
from cache.db import close_database, open_database
from conftest import PG_SKIP_REASON, PG_URL
from cache.fakejira import FIELD_HOURS, FIELD_TIER, FIELD_TTR, FakeJira, generate_site, site_to_dict
from cache.jira import JiraClient
from cache.models import (
    Issue,
    IssueComponent,
    IssueFieldValue,
    IssueLabel,
    IssueOrganization,
    Meta,
    Organization,
    OrganizationUser,
    Priority,
    ServiceDesk,
    ServiceDeskOrganization,
    SlaCycle,
    SyncLog,
    SyncState,
    Worklog,
)
from cache.sync import (
    SyncLock,
    jql_time_literal,
    last_successful_sync,
    ms_to_utc,
    parse_jira_time,
    run_sync,
)
from tickets.errors import InputError, RunError


SLA_CUSTOM = "com.atlassian.servicedesk:sd-sla-field"
ORG_FIELD = "customfield_10002"
RT_FIELD = "customfield_10010"
NOW = "2026-06-01T09:00:00+00:00"


# --------------------------------------------------------------------------
# Comparison helpers
# --------------------------------------------------------------------------


def _utc(ms):
    return None if ms is None else ms_to_utc(ms)


def expected_from_site(site, project_ids=None) -> dict:
    """What the cache must hold: issues (of the service-desk projects), worklogs, SLA cycles."""
    data = site_to_dict(site)
    if project_ids is None:
        project_ids = {sd["projectId"] for sd in data["serviceDesks"]}
    projects = {p["id"]: p for p in data["projects"]}
    comps = {c["id"] for p in data["projects"] for c in p["components"]}
    cats = {c["id"]: c["key"] for c in data["statusCategories"]}
    status_cat = {s["id"]: cats[s["categoryId"]] for s in data["statuses"]}
    orgs = {o["id"] for o in data["organizations"]}
    rts = {r["id"]: r["name"] for r in data["requestTypes"]}
    issues, slas = {}, {}
    for i in data["issues"]:
        if i["projectId"] not in project_ids:
            continue
        custom = i.get("custom") or {}
        rt = custom.get(RT_FIELD)
        issues[i["id"]] = {
            "key": i["key"], "project_id": str(i["projectId"]), "project_key": projects[i["projectId"]]["key"],
            "issuetype_id": str(i["issueTypeId"]), "status_id": str(i["statusId"]),
            "status_category_key": status_cat[i["statusId"]], "priority_id": str(i["priorityId"]),
            "resolution_id": None if i["resolutionId"] is None else str(i["resolutionId"]),
            "resolution_date": _utc(i["resolutionDate"]), "created": _utc(i["created"]),
            "updated": _utc(i["updated"]), "summary": i["summary"], "assignee_id": i["assignee"],
            "reporter_id": i["reporter"], "creator_id": i["creator"],
            "labels": sorted(set(i["labels"])), "components": sorted(str(c) for c in i["componentIds"] if c in comps),
            "organizations": sorted(str(o) for o in (custom.get(ORG_FIELD) or []) if o in orgs),
            "request_type": rts.get(int(rt)) if rt is not None else None,
            "tier": None if custom.get(FIELD_TIER) is None else str(custom[FIELD_TIER]),
            "hours": None if custom.get(FIELD_HOURS) is None else float(custom[FIELD_HOURS]),
        }
        cycles = []
        for fid, value in (i.get("sla") or {}).items():
            if value is None:
                continue
            for c in value.get("completedCycles") or []:
                cycles.append((fid, "completed", _utc(c["start"]), _utc(c["stop"]), _utc(c["start"] + c["goal"]),
                               bool(c["breached"]), False, c["goal"]))
            c = value.get("ongoingCycle")
            if c:
                cycles.append((fid, "ongoing", _utc(c["start"]), None, _utc(c["start"] + c["goal"]),
                               bool(c["breached"]), bool(c.get("paused")), c["goal"]))
        slas[i["id"]] = sorted(cycles, key=repr)
    worklogs = {w["id"]: (w["issueId"], w["author"], _utc(w["started"]), w["timeSpentSeconds"], _utc(w["updated"]))
                for w in data["worklogs"] if w["issueId"] in issues}
    return {"issues": issues, "worklogs": worklogs, "slas": slas}


def actual_from_cache() -> dict:
    issues = {}
    labels, comps, orgs, tiers, hours = {}, {}, {}, {}, {}
    for r in IssueLabel.select():
        labels.setdefault(r.issue_id, []).append(r.label)
    for r in IssueComponent.select():
        comps.setdefault(r.issue_id, []).append(r.component_id)
    for r in IssueOrganization.select():
        orgs.setdefault(r.issue_id, []).append(r.organization_id)
    for r in IssueFieldValue.select().where(IssueFieldValue.field_id.in_([FIELD_TIER, FIELD_HOURS])):
        if r.field_id == FIELD_TIER:
            tiers[r.issue_id] = r.option_id
        else:
            hours[r.issue_id] = float(r.number)
    for i in Issue.select():
        issues[i.id] = {
            "key": i.key, "project_id": i.project_id, "project_key": i.project_key,
            "issuetype_id": i.issuetype_id, "status_id": i.status_id, "status_category_key": i.status_category_key,
            "priority_id": i.priority_id, "resolution_id": i.resolution_id, "resolution_date": i.resolution_date,
            "created": i.created, "updated": i.updated, "summary": i.summary, "assignee_id": i.assignee_id,
            "reporter_id": i.reporter_id, "creator_id": i.creator_id, "labels": sorted(labels.get(i.id, [])),
            "components": sorted(comps.get(i.id, [])), "organizations": sorted(orgs.get(i.id, [])),
            "request_type": i.request_type, "tier": tiers.get(i.id), "hours": hours.get(i.id),
        }
    slas = {i: [] for i in issues}
    for c in SlaCycle.select():
        slas.setdefault(c.issue_id, []).append((c.field_id, c.kind, c.start, c.stop, c.breach_time, c.breached,
                                                c.paused, c.goal_millis))
    slas = {k: sorted(v, key=repr) for k, v in slas.items()}
    worklogs = {w.id: (w.issue_id, w.author_id, w.started, w.time_spent_seconds, w.updated)
                for w in Worklog.select()}
    return {"issues": issues, "worklogs": worklogs, "slas": slas}


def diff(expected: dict, actual: dict, limit: int = 8) -> list[str]:
    out = []
    for part in ("issues", "worklogs", "slas"):
        e, a = expected[part], actual[part]
        for k in sorted(set(e) | set(a)):
            if e.get(k) != a.get(k):
                if isinstance(e.get(k), dict) and isinstance(a.get(k), dict):
                    fields = {f: (e[k][f], a[k].get(f)) for f in e[k] if e[k][f] != a[k].get(f)}
                    out.append(f"{part}[{k}] differs: {fields}")
                else:
                    out.append(f"{part}[{k}]: site={e.get(k)!r} cache={a.get(k)!r}")
                if len(out) >= limit:
                    return out
    return out


def assert_cache_matches(site, project_ids=None) -> dict:
    expected = expected_from_site(site, project_ids)
    problems = diff(expected, actual_from_cache())
    assert not problems, "cache differs from the site:\n" + "\n".join(problems)
    return expected


# --------------------------------------------------------------------------
# Random mutations
# --------------------------------------------------------------------------


def mutate(site, rng: random.Random, n: int = 20) -> list[str]:
    """Random changes through the site's hooks; returns what was done."""
    done = []
    with site.lock:
        desk_projects = [sd.projectId for sd in site.service_desks]
        other = [p.id for p in site.projects if p.id not in desk_projects]
        sla_fields = [f.id for f in site.sla_fields()]
        for _ in range(n):
            issues = sorted(site.issues)
            op = rng.choice(["create", "update", "update", "move", "move_out", "delete", "add_wl", "add_wl",
                             "update_wl", "delete_wl", "sla", "many_wl"])
            iid = rng.choice(issues)
            if op == "create":
                new = site.create_issue(rng.choice(desk_projects), summary=f"new {rng.random():.6f}",
                                        labels=rng.sample(["vip", "x", "billing"], rng.randint(0, 2)),
                                        **{ORG_FIELD: [rng.randint(1, 12)], FIELD_TIER: 10100 + rng.randint(0, 2)})
                for _ in range(rng.randint(0, 3)):
                    site.add_worklog(new.id, seconds=rng.randint(60, 7200))
                done.append(f"create {new.key}")
            elif op == "update":
                site.update_issue(iid, summary=f"changed {rng.random():.6f}",
                                  status=rng.choice(site.statuses).id,
                                  priority=rng.choice(site.priorities).id,
                                  labels=rng.sample(["vip", "onsite", "zz"], rng.randint(0, 3)),
                                  **{FIELD_HOURS: round(rng.uniform(0, 40), 2)})
                done.append(f"update {iid}")
            elif op == "move":
                site.move_issue(iid, rng.choice(desk_projects))
                done.append(f"move {iid}")
            elif op == "move_out" and other:
                site.move_issue(iid, rng.choice(other + desk_projects))
                done.append(f"move(out?) {iid}")
            elif op == "delete":
                site.delete_issue(iid)
                done.append(f"delete {iid}")
            elif op == "add_wl":
                site.add_worklog(iid, seconds=rng.randint(60, 7200), author=rng.choice(list(site.users)))
                done.append(f"add worklog {iid}")
            elif op == "many_wl":
                for _ in range(rng.randint(18, 26)):
                    site.add_worklog(iid, seconds=rng.randint(60, 3600))
                done.append(f"many worklogs {iid}")
            elif op in ("update_wl", "delete_wl") and site.worklogs:
                wid = rng.choice(sorted(site.worklogs))
                if op == "update_wl":
                    site.update_worklog(wid, seconds=rng.randint(60, 9000))
                else:
                    site.delete_worklog(wid)
                done.append(f"{op} {wid}")
            elif op == "sla" and sla_fields:
                fid = rng.choice(sla_fields)
                value = rng.choice([None, {"completedCycles": [{"start": site.now - 7_200_000, "goal": 3_600_000,
                                                                "elapsed": 5_000_000, "breached": True,
                                                                "stop": site.now - 100_000}],
                                           "ongoingCycle": None},
                                    {"completedCycles": [], "ongoingCycle": {
                                        "start": site.now - 1_000_000, "goal": 3_600_000, "elapsed": 1_000_000,
                                        "breached": False, "paused": True}}])
                site.set_sla(iid, fid, value)
                done.append(f"sla {iid} {fid}")
    return done


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture
def site():
    return generate_site(300, seed=11, now=NOW)


@pytest.fixture
def fake(site):
    with FakeJira(site) as fj:
        yield fj


@pytest.fixture
def db(db_url):
    """A fresh database on each backend (SQLite file, PostgreSQL database), opened."""
    database = open_database(db_url)
    yield database
    close_database()


def client_for(fj, **kw) -> JiraClient:
    kw.setdefault("sleep", lambda s: None)
    return JiraClient(fj.url, fj.email, fj.token, **kw)


# --------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------


def test_first_sync_then_mutation_rounds_converge_exactly(site, fake, db) -> None:
    rng = random.Random(5)
    with client_for(fake) as client:
        result = run_sync(db, client)
        assert result.status == "ok"
        expected = assert_cache_matches(site)
        assert len(expected["issues"]) > 100 and len(expected["worklogs"]) > 200
        assert any(len(v) > 0 for v in expected["slas"].values())
        # issues with more than 20 worklogs exist and are complete
        assert Issue.select().where(Issue.worklog_total > 20).count() >= 1
        for round_no in range(8):
            done = mutate(site, rng, n=30)
            site.advance(rng.choice([5, 61, 300, 3600]))
            result = run_sync(db, client, full=(round_no == 3))
            assert result.status == "ok", done
            assert_cache_matches(site)
        # something was actually deleted and moved along the way
        assert SyncLog.select().where(SyncLog.issues_deleted > 0).count() >= 1
        big = [i for i, v in site.issues.items() if len(v.worklogIds) > 20 and i in expected["issues"]]
        assert big


def test_reference_data_and_time_zone(site, fake, db) -> None:
    with client_for(fake) as client:
        run_sync(db, client)
    assert [p.name for p in Priority.select().order_by(Priority.position)] == [p.name for p in site.priorities]
    assert Meta.get(Meta.key == "jira_time_zone").value == site.myself.timeZone
    assert ServiceDesk.select().count() == len(site.service_desks)
    assert Organization.select().count() == len(site.organizations)
    assert OrganizationUser.select().count() == sum(len(o.users) for o in site.organizations)
    assert ServiceDeskOrganization.select().count() == sum(len(o.serviceDeskIds) for o in site.organizations)
    # re-running replaces, never duplicates
    with client_for(fake) as client:
        run_sync(db, client)
    assert OrganizationUser.select().count() == sum(len(o.users) for o in site.organizations)
    assert last_successful_sync() is not None
    assert last_successful_sync().tzinfo is not None


def test_moved_issue_keeps_id_gets_new_key_and_leaving_scope_deletes(site, fake, db) -> None:
    with client_for(fake) as client:
        run_sync(db, client)
        sup = next(i for i in site.issues.values() if i.key.startswith("SUP-") and i.worklogIds)
        site.advance(120)
        site.move_issue(sup.id, "HD")
        run_sync(db, client)
        row = Issue.get_by_id(sup.id)
        assert row.key == sup.key and row.key.startswith("HD-") and row.project_key == "HD"
        assert Issue.select().where(Issue.key == sup.oldKeys[0]).count() == 0
        # moved out of the synced scope (DEV has no service desk): reconciled away with its worklogs
        site.advance(120)
        site.move_issue(sup.id, "DEV")
        result = run_sync(db, client)
        assert result.reconciled and result.issues_deleted == 1
        assert Issue.get_or_none(Issue.id == sup.id) is None
        assert Worklog.select().where(Worklog.issue == sup.id).count() == 0
        assert_cache_matches(site)


def test_worklog_only_changes_via_feeds(site, fake, db) -> None:
    """A worklog change that does not touch the issue's ``updated`` comes through the feeds."""
    with client_for(fake) as client:
        run_sync(db, client)
        issue = next(i for i in site.issues.values() if i.key.startswith("SUP-") and len(i.worklogIds) >= 2)
        with site.lock:
            before = issue.updated
            wl = site.update_worklog(issue.worklogIds[0], seconds=4242)
            site.delete_worklog(issue.worklogIds[1])
            issue.updated = before  # pretend Jira did not bump the issue
            site._touch()
        site.advance(61)  # the feeds hide the last minute
        run_sync(db, client)
        assert Worklog.get_by_id(wl.id).time_spent_seconds == 4242
        assert_cache_matches(site)


def test_scope_from_config_projects_and_start_date(site, fake, db) -> None:
    start = dt.date(2025, 6, 1)
    with client_for(fake) as client:
        run_sync(db, client, scope=SyncScope(projects=("hd",), start_date=start))
    hd = next(p.id for p in site.projects if p.key == "HD")
    expected = {i.id for i in site.issues.values() if i.projectId == hd
                and ms_to_utc(i.created) >= dt.datetime(2025, 5, 31, 21, 0)}  # 00:00 Istanbul
    assert expected and {i.id for i in Issue.select()} == expected
    with client_for(fake) as client, pytest.raises(InputError, match="NOPE"):
        run_sync(db, client, scope=SyncScope(projects=("NOPE",)))
    assert SyncLog.select().order_by(SyncLog.id.desc()).first().status == "failed"


def test_eventual_consistency_is_covered_by_the_overlap(site, fake, db) -> None:
    with client_for(fake) as client:
        run_sync(db, client)
        site.search_lag_seconds = 90
        site.advance(600)
        mutate(site, random.Random(9), n=10)
        run_sync(db, client)  # search still shows the old state of what changed
        site.advance(120)  # the lag has passed; still inside the 5-minute overlap
        run_sync(db, client)
        assert_cache_matches(site)


def test_sla_breach_without_update_is_refreshed(site, fake, db) -> None:
    """An ongoing SLA cycle breaching does not change ``updated``; the sync re-reads such issues."""
    old = next(i.id for i in site.issues.values() if i.key.startswith("SUP-"))
    for n in range(30):
        site.create_issue("SUP", summary=f"fresh {n}")
    site.advance(900)
    site.update_issue(old, summary="moves the cursor past the fresh issues' overlap")
    with client_for(fake) as client:
        run_sync(db, client)
        assert_cache_matches(site)
        before = expected_from_site(site)
        site.advance(3 * 86400)
        after = expected_from_site(site)
        flipped = [i for i in after["slas"] if after["slas"][i] != before["slas"].get(i)
                   and after["issues"][i]["updated"] == before["issues"][i]["updated"]]
        assert flipped  # the test means something
        run_sync(db, client)
        assert_cache_matches(site)


def test_cancel_between_pages_keeps_committed_pages_and_resumes(site, fake, db) -> None:
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p)
        if p.stage == "issues" and p.done >= 100:
            cancel.set()

    with client_for(fake) as client:
        result = run_sync(db, client, progress=progress, cancel=cancel)
        assert result.status == "cancelled"
        assert SyncLog.get_by_id(result.log_id).status == "cancelled"
        assert 100 <= Issue.select().count() < len(expected_from_site(site)["issues"])
        assert any(p.total_estimate for p in seen if p.stage == "issues")
        state = SyncState.select().where(SyncState.scope.startswith("issues:")).get()
        assert state.cursor  # advanced with the committed pages
    with client_for(fake) as client:
        assert run_sync(db, client).status == "ok"
    assert_cache_matches(site)


class _FailOnSecondSearchPage(JiraClient):
    def __init__(self, *a, fake=None, **kw):
        super().__init__(*a, **kw)
        self.fake, self.searches = fake, 0

    def request(self, method, path, **kw):
        if path == "/rest/api/3/search/jql":
            self.searches += 1
            if self.searches == 2:
                self.fake.faults.push("500")
        return super().request(method, path, **kw)


def test_failure_mid_sync_logs_and_resumes(site, fake, db) -> None:
    with _FailOnSecondSearchPage(fake.url, fake.email, fake.token, max_retries=0, fake=fake) as client:
        with pytest.raises(RunError, match="HTTP 500"):
            run_sync(db, client)
    assert Issue.select().count() == 100  # the first page committed
    log = SyncLog.select().order_by(SyncLog.id.desc()).first()
    assert log.status == "failed" and "500" in log.error and log.issues_upserted == 100
    assert Meta.get(Meta.key == "sync_lock").value == ""  # released
    with client_for(fake) as client:
        run_sync(db, client)
    assert_cache_matches(site)


def test_lock_refuses_second_sync_and_takes_over_stale_ones(site, fake, db) -> None:
    holder = SyncLock(db)
    holder.acquire()
    try:
        with client_for(fake) as client, pytest.raises(RunError) as err:
            run_sync(db, client)
        assert f"by pid {os.getpid()}" in str(err.value) and "another sync is running" in str(err.value)
        assert fake.requests == []  # failed fast, before talking to Jira
    finally:
        holder.release()
    # a lease whose holder died on this host is taken over at once
    dead = {"token": "x", "pid": 2 ** 22 + 12345, "host": holder.host, "started": "2026-01-01T00:00:00+00:00",
            "heartbeat": dt.datetime.now(dt.timezone.utc).isoformat()}
    Meta.update(value=json.dumps(dead)).where(Meta.key == "sync_lock").execute()
    SyncLog.create(started=dt.datetime(2026, 1, 1), status="running")
    with client_for(fake) as client:
        assert run_sync(db, client).status == "ok"
    assert SyncLog.select().where(SyncLog.status == "running").count() == 0
    assert SyncLog.select().where(SyncLog.error.contains("interrupted")).count() == 1
    # a lease from another host is stale only when its heartbeat is old
    other = dict(dead, host="elsewhere", pid=1, heartbeat=dt.datetime.now(dt.timezone.utc).isoformat())
    Meta.update(value=json.dumps(other)).where(Meta.key == "sync_lock").execute()
    with client_for(fake) as client, pytest.raises(RunError, match="on elsewhere"):
        run_sync(db, client)
    old = dict(other, heartbeat=(dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)).isoformat())
    Meta.update(value=json.dumps(old)).where(Meta.key == "sync_lock").execute()
    with client_for(fake) as client:
        assert run_sync(db, client).status == "ok"


def test_lock_heartbeat_refreshes_and_detects_theft(db) -> None:
    lock = SyncLock(db, heartbeat_every=0.05)
    lock.acquire()
    first = Meta.get(Meta.key == "sync_lock").value
    deadline = dt.datetime.now() + dt.timedelta(seconds=5)
    while Meta.get(Meta.key == "sync_lock").value == first and dt.datetime.now() < deadline:
        threading.Event().wait(0.05)
    assert Meta.get(Meta.key == "sync_lock").value != first
    Meta.update(value=json.dumps({"token": "thief"})).where(Meta.key == "sync_lock").execute()
    deadline = dt.datetime.now() + dt.timedelta(seconds=5)
    while not lock.lost and dt.datetime.now() < deadline:
        threading.Event().wait(0.05)
    assert lock.lost
    lock.release()
    assert json.loads(Meta.get(Meta.key == "sync_lock").value)["token"] == "thief"  # not ours to clear


def test_jql_time_literal_uses_the_users_zone_and_never_overshoots() -> None:
    instant = dt.datetime(2026, 6, 1, 9, 7, 30)
    assert jql_time_literal(instant, "Europe/Istanbul") == "2026-06-01 12:07"
    assert jql_time_literal(instant, "UTC") == "2026-06-01 09:07"
    assert jql_time_literal(instant, "America/Los_Angeles") == "2026-06-01 02:07"
    # DST fall-back in New York: 01:30 happens twice; the literal must not mean the later one
    second = dt.datetime(2025, 11, 2, 6, 30)  # 01:30 EST (the second 01:30)
    text = jql_time_literal(second, "America/New_York")
    from zoneinfo import ZoneInfo

    local = dt.datetime.strptime(text, "%Y-%m-%d %H:%M")
    for fold in (0, 1):
        reading = local.replace(tzinfo=ZoneInfo("America/New_York"), fold=fold).astimezone(dt.timezone.utc)
        assert reading.replace(tzinfo=None) <= second
    # unknown zone: widened to cover any offset
    assert jql_time_literal(instant, "Mars/Olympus") <= "2026-05-31 19:07"


def test_parse_jira_time_forms() -> None:
    want = dt.datetime(2025, 6, 10, 8, 0, 0, 123000)
    assert parse_jira_time("2025-06-10T11:00:00.123+0300") == want
    assert parse_jira_time("2025-06-10T08:00:00.123Z") == want
    assert parse_jira_time({"epochMillis": 1749542400123, "iso8601": "x"}) == want
    assert parse_jira_time(None) is None


def test_incremental_cursor_in_a_zone_west_of_utc(db_url) -> None:
    """A literal formatted in UTC would be read hours later in Los Angeles and miss these updates."""
    site = generate_site(40, seed=2, now=NOW, time_zone="America/Los_Angeles")
    database = open_database(db_url)
    try:
        with FakeJira(site) as fj, client_for(fj) as client:
            run_sync(database, client)
            for rnd in range(2):
                site.advance(600)
                mutate(site, random.Random(rnd), n=8)
                run_sync(database, client)
                assert_cache_matches(site)
    finally:
        close_database()


def test_clause_memberships_follow_the_sync(site, fake, db) -> None:
    from cache import membership
    from cache.models import ClauseEval, ClauseMatch
    from cache.store import import_contracts
    from tickets.contractfile import parse_contract_file

    text = json.dumps({"contracts": [{
        "name": "Acme", "start": "2023-01-01", "end": "2027-12-31", "time_zone": "Europe/Istanbul",
        "period_type": "monthly_calendar",
        "clauses": [{"name": "High", "type": "issue_count", "jql": "project = SUP AND priority >= High",
                     "limit": 3},
                    {"name": "VIP", "type": "issue_count", "jql": "labels = vip", "unlimited": True}]}]})
    import_contracts(parse_contract_file(text, fmt="json"))
    today = dt.date(2026, 6, 1)
    with client_for(fake) as client:
        run_sync(db, client)
        membership.ensure_all(today=today)
        rng = random.Random(77)
        for _ in range(2):
            mutate(site, rng, n=25)
            site.advance(120)
            run_sync(db, client, full=True)
    synced = set(ClauseMatch.select(ClauseMatch.clause, ClauseMatch.issue).tuples())
    ClauseMatch.delete().execute()
    ClauseEval.delete().execute()
    membership.ensure_all(today=today)
    fresh = set(ClauseMatch.select(ClauseMatch.clause, ClauseMatch.issue).tuples())
    assert fresh and synced == fresh


class _RepeatingClient(JiraClient):
    """Jira may repeat an issue across or within pages when it changes while paging."""

    def search_pages(self, jql, fields, **kw):
        for page in super().search_pages(jql, fields, **kw):
            yield page + page[:2] if page and fields != ["id"] else page


def test_repeated_issues_in_a_page_are_stored_once(site, fake, db) -> None:
    with _RepeatingClient(fake.url, fake.email, fake.token, sleep=lambda s: None) as client:
        run_sync(db, client)
        mutate(site, random.Random(4), n=10)
        site.advance(120)
        run_sync(db, client)
    assert_cache_matches(site)


@pytest.mark.postgres
@pytest.mark.skipif(PG_URL is None, reason=PG_SKIP_REASON)
def test_postgresql_sync_converges_and_locks(site, fake, fresh_db_url) -> None:
    database = open_database(fresh_db_url("postgres"))
    try:
        rng = random.Random(12)
        with _RepeatingClient(fake.url, fake.email, fake.token, sleep=lambda s: None) as client:
            run_sync(database, client)
            assert_cache_matches(site)
            for round_no in range(3):
                mutate(site, rng, n=30)
                site.advance(120)
                run_sync(database, client, full=round_no == 1)
                assert_cache_matches(site)
            holder = SyncLock(database)
            holder.acquire()
            errors = []

            def second():
                try:
                    run_sync(database, client_for(fake))
                except RunError as exc:
                    errors.append(str(exc))
                finally:
                    database.close()

            t = threading.Thread(target=second)
            t.start()
            t.join(30)
            holder.release()
            assert errors and "another sync is running" in errors[0]
            assert run_sync(database, client).status == "ok"
    finally:
        close_database()


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2040, 1, 1)),
       st.sampled_from(["Europe/Istanbul", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
                        "Pacific/Chatham", "Europe/London", "America/Sao_Paulo", "UTC"]))
def test_jql_time_literal_property(instant, zone) -> None:
    from zoneinfo import ZoneInfo

    text = jql_time_literal(instant, zone)
    local = dt.datetime.strptime(text, "%Y-%m-%d %H:%M")
    readings = [local.replace(tzinfo=ZoneInfo(zone), fold=f).astimezone(dt.timezone.utc).replace(tzinfo=None)
                for f in (0, 1)]
    assert max(readings) <= instant  # never later: nothing updated at/after the instant is skipped
    assert min(readings) > instant - dt.timedelta(hours=2, minutes=1)  # and not needlessly early


def test_empty_listing_without_a_count_never_wipes_the_cache(site, fake, db, caplog) -> None:
    """Jira lists no issue and the approximate count fails: deletions are skipped, not the whole cache."""
    from cache.fakejira.faults import Faults

    with client_for(fake) as client:
        run_sync(db, client)
    cached = Issue.select().count()
    assert cached > 0
    for issue_id in list(site.issues):
        site.delete_issue(issue_id)
    site.advance(120)
    fake.faults = Faults(1.0, kinds=("500",), paths=("/rest/api/3/search/approximate-count",))
    with caplog.at_level("WARNING"), client_for(fake) as client:
        result = run_sync(db, client, full=True)
    assert result.issues_deleted == 0
    assert Issue.select().count() == cached
    assert any("could not count them" in r.getMessage() for r in caplog.records)
    # once Jira counts 0 the deletions are real
    fake.faults = Faults()
    with client_for(fake) as client:
        result = run_sync(db, client, full=True)
    assert result.issues_deleted == cached
    assert Issue.select().count() == 0


def test_scope_start_covers_a_contract_26_hours_ahead_of_the_jira_user(site, db) -> None:
    """A contract at UTC+14 whose Jira user is at UTC-12: its first minute is two calendar days
    earlier in the user's zone, and the scope (``created >= <day>`` in that zone) still holds it."""
    from cache.store import import_contracts
    from tickets.contractfile import parse_contract_file

    site.myself.timeZone = "Etc/GMT+12"  # UTC-12 (POSIX sign)
    start_instant = dt.datetime(2025, 5, 31, 10, 1, tzinfo=dt.timezone.utc)  # 2025-06-01 00:01 at +14
    before = site.now
    site.now = start_instant
    first = site.create_issue("HD", summary="first minute of the contract")
    site.now = dt.datetime(2025, 5, 30, 11, 0, tzinfo=dt.timezone.utc)  # 2025-05-29 23:00 at -12
    too_early = site.create_issue("HD", summary="two days before, user's time")
    site.now = before
    import_contracts(parse_contract_file(json.dumps({"contracts": [{
        "name": "Kiritimati", "start": "2025-06-01", "end": "2026-05-31", "time_zone": "Pacific/Kiritimati",
        "period_type": "monthly_calendar",
        "clauses": [{"name": "All", "type": "issue_count", "jql": "project = HD", "unlimited": True}]}]}),
        fmt="json"))
    with FakeJira(site) as fj, client_for(fj) as client:
        run_sync(db, client)
    assert Issue.get_or_none(Issue.id == first.id) is not None
    assert Issue.get_or_none(Issue.id == too_early.id) is None  # the scope still has a start
