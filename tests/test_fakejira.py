"""The simulated Jira site: paging rules, auth, JQL, mutations, lag, faults and its CLI."""

from __future__ import annotations

import datetime as dt
import json
import time

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import pytest

from cache.fakejira import (
    FIELD_TTR,
    FakeJira,
    Faults,
    generate_site,
    load_site,
    site_from_dict,
    site_to_dict,
)
from cache.fakejira.jql import JqlError, parse
from tui.cli import main

NOW = "2026-06-01T09:00:00+00:00"
NOW_MS = int(dt.datetime.fromisoformat(NOW).timestamp() * 1000)
SEARCH = "/rest/api/3/search/jql"


@pytest.fixture()
def fj():
    site = generate_site(300, seed=5, now=NOW)
    with FakeJira(site) as server:
        yield server


@pytest.fixture()
def client(fj):
    with httpx.Client(base_url=fj.url, auth=fj.auth, timeout=10) as c:
        yield c


def _all_pages(client, body: dict) -> list[list[dict]]:
    pages, token = [], None
    for _ in range(1000):
        resp = client.post(SEARCH, json={**body, **({"nextPageToken": token} if token else {})})
        assert resp.status_code == 200, resp.text
        data = resp.json()
        assert "total" not in data and "startAt" not in data
        pages.append(data["issues"])
        token = data.get("nextPageToken")
        if data["isLast"]:
            assert token is None
            return pages
        assert token
    raise AssertionError("paging never ended")


# ------------------------------------------------------------------------------ generator


def test_generator_is_deterministic_and_realistic() -> None:
    a = site_to_dict(generate_site(250, seed=9, now=NOW))
    b = site_to_dict(generate_site(250, seed=9, now=NOW))
    c = site_to_dict(generate_site(250, seed=10, now=NOW))
    assert a == b and a != c
    site = generate_site(2000, seed=9, now=NOW)
    assert len(site.service_desks) >= 3 and len(site.projects) >= 3
    assert {c.key for c in site.status_categories} >= {"new", "indeterminate", "done"}
    assert [p.name for p in site.priorities][:3] == ["Highest", "Critical", "High"]
    assert any(i.oldKeys for i in site.issues.values())  # moved issues
    counts = [len(i.worklogIds) for i in site.issues.values()]
    assert min(counts) == 0 and max(counts) > 20 and max(counts) <= 60
    assert min(i.created for i in site.issues.values()) < NOW_MS - 2.5 * 365 * 86_400_000
    assert all(i.created <= i.updated <= NOW_MS for i in site.issues.values())
    assert len(site.sla_fields()) >= 2 and any(i.labels for i in site.issues.values())


def test_dump_and_load_round_trip(tmp_path) -> None:
    from cache.fakejira import dump_site

    site = generate_site(120, seed=2, now=NOW)
    site.delete_worklog(next(iter(site.worklogs)))
    path = tmp_path / "site.json"
    dump_site(site, str(path))
    again = load_site(str(path))
    assert site_to_dict(again) == site_to_dict(site)
    assert again.now == NOW_MS
    assert site_to_dict(site_from_dict(json.loads(path.read_text()))) == site_to_dict(site)


# ------------------------------------------------------------------------------- paging


def test_token_paging_covers_every_issue_once_with_the_caps(fj, client) -> None:
    body = {"jql": "project in (SUP, HD, OPS, DEV) ORDER BY updated ASC, id ASC",
            "fields": ["summary", "updated"], "maxResults": 1000}
    pages = _all_pages(client, body)
    assert max(len(p) for p in pages) == 100  # capped with fields
    ids = [i["id"] for p in pages for i in p]
    assert len(ids) == len(set(ids)) == len(fj.site.issues)
    ups = [(fj.site.issues[int(i)].updated, int(i)) for i in ids]
    assert ups == sorted(ups)
    only_ids = _all_pages(client, {**body, "fields": ["id"], "maxResults": 100_000})
    assert len(only_ids) == 1 and len(only_ids[0]) == 300
    assert set(only_ids[0][0]) == {"id"}
    count = client.post("/rest/api/3/search/approximate-count", json={"jql": body["jql"]}).json()
    assert count == {"count": 300}


def test_ids_only_cap_is_5000() -> None:
    site = generate_site(5050, seed=3, now=NOW)
    with FakeJira(site) as server, httpx.Client(base_url=server.url, auth=server.auth) as c:
        page = c.post(SEARCH, json={"jql": "project in (SUP, HD, OPS, DEV)", "fields": ["id"],
                                    "maxResults": 9999}).json()
        assert len(page["issues"]) == 5000 and not page["isLast"]
        rest = c.post(SEARCH, json={"jql": "project in (SUP, HD, OPS, DEV)", "fields": ["id"],
                                    "maxResults": 9999, "nextPageToken": page["nextPageToken"]}).json()
        assert len(rest["issues"]) == 50 and rest["isLast"]


def test_token_paging_is_stable_under_concurrent_mutation(fj, client) -> None:
    body = {"jql": "project in (SUP, HD, OPS, DEV) ORDER BY updated ASC", "fields": ["updated"], "maxResults": 40}
    first = client.post(SEARCH, json=body).json()
    seen = [i["id"] for i in first["issues"]]
    fj.site.advance(5)
    touched = [iid for iid in list(fj.site.issues)[200:205]]
    for iid in touched:
        fj.site.update_issue(iid, summary="changed")  # moves to the end of the order
    new = fj.site.create_issue("SUP", summary="brand new")
    token = first["nextPageToken"]
    while token:
        data = client.post(SEARCH, json={**body, "nextPageToken": token}).json()
        seen += [i["id"] for i in data["issues"]]
        token = data.get("nextPageToken")
    untouched = set(map(str, fj.site.issues)) - {str(t) for t in touched}
    assert all(seen.count(i) == 1 for i in untouched)
    assert str(new.id) in seen and all(str(t) in seen for t in touched)


def test_fields_are_returned_only_as_requested(client) -> None:
    one = client.post(SEARCH, json={"jql": "project = SUP", "fields": ["summary", "-summary", "status"],
                                    "maxResults": 1}).json()["issues"][0]
    assert set(one["fields"]) == {"status"} and one["key"].startswith("SUP-")
    nav = client.post(SEARCH, json={"jql": "project = SUP", "fields": ["*navigable"], "maxResults": 1}).json()
    assert "worklog" not in nav["issues"][0]["fields"] and "summary" in nav["issues"][0]["fields"]
    every = client.post(SEARCH, json={"jql": "project = SUP", "fields": ["*all"], "maxResults": 1}).json()
    assert {"worklog", FIELD_TTR, "summary"} <= set(every["issues"][0]["fields"])
    default = client.post(SEARCH, json={"jql": "project = SUP", "maxResults": 1}).json()
    assert set(default["issues"][0]) == {"id"}
    ts = every["issues"][0]["fields"]["created"]
    assert dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%f%z").utcoffset() == dt.timedelta(hours=3)
    via_get = client.get(SEARCH, params={"jql": "project = SUP", "fields": "summary,status",
                                         "maxResults": 2}).json()
    assert len(via_get["issues"]) == 2 and set(via_get["issues"][0]["fields"]) == {"summary", "status"}


def test_embedded_worklogs_are_capped_at_20_with_the_true_total(fj, client) -> None:
    many = next(i for i in fj.site.issues.values() if len(i.worklogIds) > 20)
    data = client.post(SEARCH, json={"jql": f"key = {many.key}", "fields": ["worklog"]}).json()
    wl = data["issues"][0]["fields"]["worklog"]
    assert wl["total"] == len(many.worklogIds) > 20 and len(wl["worklogs"]) == 20
    seen, start = [], 0
    while True:
        page = client.get(f"/rest/api/3/issue/{many.id}/worklog", params={"startAt": start, "maxResults": 7}).json()
        assert page["total"] == len(many.worklogIds)
        seen += [w["id"] for w in page["worklogs"]]
        start += 7
        if start >= page["total"]:
            break
    assert seen == [str(w) for w in many.worklogIds]


def test_worklog_feeds_page_by_1000_since_inclusive_last_minute_hidden() -> None:
    site = generate_site(700, seed=5, now=NOW)
    with FakeJira(site) as server, httpx.Client(base_url=server.url, auth=server.auth) as client:
        _check_feeds(site, client)


def _check_feeds(site, client) -> None:
    rows = site.updated_feed()
    assert len(rows) > 1000
    got, since, pages = {}, 0, 0
    while True:
        page = client.get("/rest/api/3/worklog/updated", params={"since": since}).json()
        pages += 1
        assert len(page["values"]) <= 1000
        for v in page["values"]:
            got[v["worklogId"]] = v["updatedTime"]
        if page["lastPage"]:
            break
        assert len(page["values"]) == 1000
        assert page["nextPage"].endswith(f"since={page['until']}")
        since = int(page["nextPage"].rpartition("=")[2])
    visible = {w.id for w in site.worklogs.values() if w.updated <= site.now - 60_000}
    assert pages >= 2 and set(got) == visible
    t, wid = rows[500]
    inclusive = client.get("/rest/api/3/worklog/updated", params={"since": t}).json()
    assert inclusive["values"][0] == {"worklogId": wid, "updatedTime": t, "properties": []}
    # a change less than a minute old is not returned, one a minute old is
    issue = next(iter(site.issues.values()))
    wl = site.add_worklog(issue.id, seconds=600)
    feed = lambda: {v["worklogId"] for v in client.get(  # noqa: E731
        "/rest/api/3/worklog/updated", params={"since": NOW_MS - 1000}).json()["values"]}
    assert wl.id not in feed()
    site.advance(59)
    assert wl.id not in feed()
    site.advance(1)
    assert wl.id in feed()
    site.delete_worklog(wl.id)
    deleted = lambda: [v["worklogId"] for v in client.get(  # noqa: E731
        "/rest/api/3/worklog/deleted", params={"since": NOW_MS}).json()["values"]]
    assert wl.id not in deleted()
    site.advance(61)
    assert wl.id in deleted()
    listed = client.post("/rest/api/3/worklog/list", json={"ids": [wl.id, *list(site.worklogs)[:3]]}).json()
    assert [int(w["id"]) for w in listed] == sorted(list(site.worklogs)[:3])
    assert client.post("/rest/api/3/worklog/list", json={"ids": list(range(1001))}).status_code == 400


# --------------------------------------------------------------------------- auth / errors


def test_auth_and_removed_search(fj) -> None:
    assert httpx.get(fj.url + "/rest/api/3/myself").status_code == 401
    bad = httpx.get(fj.url + "/rest/api/3/myself", auth=(fj.email, "wrong"))
    assert bad.status_code == 401 and bad.json()["errorMessages"] and bad.json()["errors"] == {}
    with httpx.Client(base_url=fj.url, auth=fj.auth) as c:
        for resp in (c.get("/rest/api/3/search", params={"jql": "project = SUP"}),
                     c.post("/rest/api/3/search", json={"jql": "project = SUP"}),
                     c.post("/rest/api/2/search", json={"jql": "project = SUP"})):
            assert resp.status_code == 410 and "search/jql" in resp.json()["errorMessages"][0]
        assert c.get("/rest/api/3/issue/NOPE-9/worklog").status_code == 404
        assert c.get("/rest/api/3/no/such/thing").status_code == 404
        assert c.post(SEARCH, json={"jql": "", "fields": ["id"]}).status_code == 400  # unbounded
        assert c.post(SEARCH, json={"jql": "project = SUP", "startAt": 50}).status_code == 400
        bad_jql = c.post(SEARCH, json={"jql": "summary ~ printer"})
        assert bad_jql.status_code == 400 and "summary" in bad_jql.json()["errorMessages"][0]
        assert c.post(SEARCH, json={"jql": "project = SUP", "nextPageToken": "garbage"}).status_code == 400
        fj.site.restricted_project_ids.add(fj.site.project("OPS").id)
        assert c.get("/rest/servicedeskapi/servicedesk/3/organization").status_code == 403


def test_priority_and_project_paging(client) -> None:
    first = client.get("/rest/api/3/priority/search", params={"maxResults": 4}).json()
    assert [p["name"] for p in first["values"]] == ["Highest", "Critical", "High", "Medium"]
    assert first["isLast"] is False and "startAt=4" in first["nextPage"]
    rest = client.get("/rest/api/3/priority/search", params={"startAt": 4, "maxResults": 4}).json()
    assert [p["name"] for p in rest["values"]] == ["Low", "Lowest"] and rest["isLast"]
    projects = client.get("/rest/api/3/project/search").json()
    assert [p["key"] for p in projects["values"]] == sorted(p["key"] for p in projects["values"])
    desks = client.get("/rest/servicedeskapi/servicedesk", params={"limit": 2}).json()
    assert desks["size"] == 2 and desks["isLastPage"] is False and "next" in desks["_links"]


# ------------------------------------------------------------------------------------- JQL


def test_jql_date_literals_are_read_in_the_users_time_zone(fj, client) -> None:
    site = fj.site
    site.now = "2026-06-01T09:00:00+00:00"  # 12:00 in Istanbul
    issue = site.create_issue("HD", summary="zone test")
    jql = lambda lit: f'project = HD AND created >= "{lit}"'  # noqa: E731
    ids = lambda q: {i["id"] for i in client.post(SEARCH, json={"jql": q, "fields": ["id"]}).json()["issues"]}  # noqa: E731
    assert str(issue.id) in ids(jql("2026-06-01 12:00"))
    assert str(issue.id) not in ids(jql("2026-06-01 12:01"))
    assert str(issue.id) in ids(f"project = HD AND updated >= {NOW_MS}")
    assert str(issue.id) not in ids(f"project = HD AND updated >= {NOW_MS + 1}")
    assert str(issue.id) in ids('project = HD AND updated >= "-1m"')


def test_jql_evaluator() -> None:
    site = generate_site(50, seed=1, now=NOW)
    some = list(site.issues.values())[:3]
    q = parse(site, f"(id in ({some[0].id}, {some[1].id}) OR key = {some[2].key}) AND NOT project = DEV "
                    "ORDER BY created DESC, key ASC")
    assert q.order == [("created", True), ("key", False)]
    got = {i.id for i in site.issues.values() if q.predicate(i)}
    assert got == {i.id for i in some if i.projectId != site.project("DEV").id}
    for bad in ("status = Open", "project = NOPE", "updated >= \"yesterday\"", "project in (SUP",
                "project = SUP ORDER BY summary", "project SUP"):
        with pytest.raises(JqlError):
            parse(site, bad)


def test_jql_match(fj, client) -> None:
    sup = [i.id for i in fj.site.issues.values() if i.key.startswith("SUP-")][:2]
    hd = [i.id for i in fj.site.issues.values() if i.key.startswith("HD-")][:1]
    data = client.post("/rest/api/3/jql/match", json={"jqls": ["project = SUP", "foo = bar"],
                                                       "issueIds": sup + hd}).json()
    assert data["matches"][0] == {"matchedIssues": sup, "errors": []}
    assert data["matches"][1]["matchedIssues"] == [] and data["matches"][1]["errors"]


# ------------------------------------------------------------------------------- mutations


def test_mutations_are_visible_over_http(fj, client) -> None:
    site = fj.site
    site.advance(10)
    issue = site.create_issue("SUP", summary="Printer on fire", priority="Highest", status="Open",
                              labels=["vip"])
    assert issue.created == issue.updated == site.now
    site.advance(10)
    site.update_issue(issue.key, status="In Progress", priority="High")
    assert issue.updated == site.now
    old_key = issue.key
    site.advance(10)
    site.move_issue(issue.id, "OPS")
    assert issue.key.startswith("OPS-") and issue.updated == site.now
    found = client.post(SEARCH, json={"jql": f"key = {old_key}", "fields": ["status", "priority", "project"]}).json()
    f = found["issues"][0]["fields"]
    assert found["issues"][0]["key"] == issue.key and f["status"]["name"] == "In Progress"
    assert f["priority"]["name"] == "High" and f["project"]["key"] == "OPS"
    wl = site.add_worklog(issue.key, seconds=3600)
    site.advance(5)
    site.update_worklog(wl.id, seconds=7200)
    assert wl.updated == site.now == issue.updated
    page = client.get(f"/rest/api/3/issue/{old_key}/worklog").json()
    assert page["worklogs"][0]["timeSpentSeconds"] == 7200
    site.delete_issue(issue.id)
    assert client.post(SEARCH, json={"jql": f"id = {issue.id}"}).json()["issues"] == []
    assert (wl.id, site.now) in site.deleted_worklogs
    site.set_sla(site.create_issue("HD").id, "Time to first response", None)


def test_search_lags_writes_until_the_lag_elapses(fj, client) -> None:
    site = fj.site
    site.search_lag_seconds = 30
    issue = next(i for i in site.issues.values() if i.key.startswith("SUP-"))
    site.update_issue(issue.id, summary="after")
    new = site.create_issue("SUP", summary="fresh")
    q = {"jql": f"id in ({issue.id}, {new.id})", "fields": ["summary"]}
    seen = client.post(SEARCH, json=q).json()["issues"]
    assert seen[0]["fields"]["summary"] != "after" and len(seen) == 1
    fresh = client.post(SEARCH, json={**q, "reconcileIssues": [issue.id, new.id]}).json()["issues"]
    assert sorted(i["fields"]["summary"] for i in fresh) == ["after", "fresh"]
    site.advance(31)
    assert sorted(i["fields"]["summary"] for i in client.post(SEARCH, json=q).json()["issues"]) == ["after", "fresh"]


# ----------------------------------------------------------------------------------- faults


def test_each_fault_kind_over_http(fj) -> None:
    fj.faults.delay = 0.3
    fj.faults.push("429", "500", "503", "slow", "cut", "malformed")
    url = fj.url + "/rest/api/3/myself"
    with httpx.Client(auth=fj.auth, timeout=5) as c:
        r = c.get(url)
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert c.get(url).status_code == 500
        r = c.get(url)
        assert r.status_code == 503 and "Retry-After" in r.headers
        t = time.monotonic()
        assert c.get(url).status_code == 200 and time.monotonic() - t >= 0.3
        with pytest.raises(httpx.TransportError):
            c.get(url)
        r = c.get(url)
        assert r.status_code == 200
        with pytest.raises(ValueError):
            r.json()
        assert c.get(url).json()["accountId"]  # back to normal
    assert [k for k, _ in fj.faults.injected] == ["429", "500", "503", "slow", "cut", "malformed"]


def test_random_faults_are_deterministic_under_a_seed() -> None:
    def run(seed: int) -> list:
        f = Faults(0.5, seed=seed)
        return [getattr(f.next_for("/rest/api/3/myself"), "kind", None) for _ in range(40)]

    assert run(3) == run(3) and run(3) != run(4)
    assert {k for k in run(3) if k} <= {"429", "500", "503", "slow", "cut", "malformed"}
    assert Faults(1.0).next_for("/favicon.ico") is None


# -------------------------------------------------------------------------------------- CLI
# Only this command's module is loaded, so other sub-commands being work in progress
# cannot break these tests; `main` itself (error handling, exit codes) is the real one.

CLI_ONLY_FAKEJIRA = ("import sys, tui.cli as cli; cli.COMMAND_MODULES = ('tui.cmd_fakejira',); "
                     "sys.exit(cli.main(sys.argv[1:]))")


@pytest.fixture(autouse=True)
def _only_fake_jira_command(monkeypatch) -> None:
    import tui.cli

    monkeypatch.setattr(tui.cli, "COMMAND_MODULES", ("tui.cmd_fakejira",))



def test_cli_help_and_bad_data_file(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["fake-jira", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--generate" in out and "--data" in out and "--faults" in out
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    assert main(["fake-jira", "--data", str(bad)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "bad.json" in err
    bad.write_text("{not json")
    assert main(["fake-jira", "--data", str(bad)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_cli_dump_then_serve_the_dump(tmp_path, capsys) -> None:
    path = tmp_path / "site.json"
    assert main(["fake-jira", "--generate", "30", "--seed", "4", "--dump", str(path)]) == 0
    assert "30 issues" in capsys.readouterr().out
    assert len(load_site(str(path)).issues) == 30


def test_cli_serves_until_ctrl_c(tmp_path) -> None:
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", CLI_ONLY_FAKEJIRA, "fake-jira", "--generate", "20"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        lines = [proc.stdout.readline() for _ in range(5)]
        url = lines[1].strip().partition("=")[2]
        assert httpx.get(url + "/rest/api/3/serverInfo", auth=("demo@example.com", "demo-token")).status_code == 200
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err


def test_churn_keeps_the_site_consistent(fj, client) -> None:
    from cache.fakejira import Churn

    churn = Churn(fj.site, seed=2)
    kinds = set()
    for _ in range(300):
        fj.site.advance(1)
        kinds.add(churn.step())
    assert {"create", "status", "worklog+", "worklog~", "worklog-"} <= kinds
    pages = _all_pages(client, {"jql": "project in (SUP, HD, OPS, DEV) ORDER BY updated ASC",
                                "fields": ["worklog", "status"], "maxResults": 100})
    issues = [i for p in pages for i in p]
    assert len(issues) == len(fj.site.issues)
    for i in issues:
        assert i["fields"]["worklog"]["total"] == len(fj.site.issues[int(i["id"])].worklogIds)


def test_date_literals_follow_the_zone_including_dst() -> None:
    site = generate_site(5, seed=1, now=NOW, time_zone="America/New_York")
    probe = next(iter(site.issues.values()))
    for literal, utc in (("2026-01-15 09:30", "2026-01-15T14:30:00+00:00"),   # EST, -05:00
                         ("2026-07-15 09:30", "2026-07-15T13:30:00+00:00")):  # EDT, -04:00
        ms = int(dt.datetime.fromisoformat(utc).timestamp() * 1000)
        pred = parse(site, f'updated >= "{literal}"').predicate
        probe.updated = ms
        assert pred(probe)
        probe.updated = ms - 1
        assert not pred(probe)


_ORDERS = ["updated ASC", "updated DESC", "created DESC", "key ASC", "key DESC", "priority ASC, updated DESC",
           "id DESC", ""]


@pytest.fixture(scope="module")
def paging_site():
    return generate_site(400, seed=8, now=NOW)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.sampled_from(_ORDERS), size=st.integers(1, 120), ids_only=st.booleans())
def test_token_paging_property(paging_site, order, size, ids_only) -> None:
    from cache.fakejira import api

    site = paging_site
    jql = "project in (SUP, HD, OPS)" + (f" ORDER BY {order}" if order else "")
    body = {"jql": jql, "maxResults": size, "fields": ["id"] if ids_only else ["summary"]}
    seen, token = [], None
    while True:
        req = api.Request("POST", "/rest/api/3/search/jql", {}, {**body, **({"nextPageToken": token} if token else {})},
                          "http://x")
        page = api.search_jql_post(site, req)
        assert len(page["issues"]) <= min(size, 5000 if ids_only else 100)
        seen += [int(i["id"]) for i in page["issues"]]
        token = page.get("nextPageToken")
        if page["isLast"]:
            break
    expected = {i.id for i in site.issues.values() if site.project("DEV").id != i.projectId}
    assert len(seen) == len(set(seen)) and set(seen) == expected
    key = __import__("cache.fakejira.jql", fromlist=["x"]).sort_key_fn(site, parse(site, jql).order)
    assert [key(site.issues[i]) for i in seen] == sorted(key(site.issues[i]) for i in seen)


def test_render_zone_can_be_utc(fj, client) -> None:
    fj.site.render_time_zone = "UTC"
    issue = client.post(SEARCH, json={"jql": "project = SUP", "fields": ["created"], "maxResults": 1}).json()
    assert issue["issues"][0]["fields"]["created"].endswith("+0000")
