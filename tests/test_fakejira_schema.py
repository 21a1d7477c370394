"""Every kind of response of the simulated Jira validates against Atlassian's OpenAPI schemas.

Responses are fetched over real HTTP and validated with openapi-schema-validator's
OAS 3.0 read validator ($ref's resolved inside the documents by `referencing`).
Formats: the OAS 3.0 checker's formats (int32, int64, uuid, ...) are checked except
`date-time`, because Jira's own timestamps (`2025-06-10T08:00:00.000+0300`) are
not RFC 3339 and the real API would fail that check too.
"""

from __future__ import annotations

import json
import pathlib

import httpx
import pytest
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from cache.fakejira import (
    FIELD_ORGANIZATIONS,
    FIELD_REQUEST_TYPE,
    FIELD_TTFR,
    FIELD_TTR,
    FakeJira,
    generate_site,
)

SPEC_DIR = pathlib.Path(__file__).resolve().parents[2] / "shared" / "jira-openapi"
PLATFORM = "urn:jira-platform"
JSM = "urn:jira-service-management"


@pytest.fixture(scope="module")
def registry() -> Registry:
    plat = json.loads((SPEC_DIR / "jira-platform.swagger-v3.v3.json").read_text(encoding="utf-8"))
    jsm = json.loads((SPEC_DIR / "jira-service-management.swagger.v3.json").read_text(encoding="utf-8"))
    return Registry().with_resources([
        (PLATFORM, Resource.from_contents(plat, default_specification=DRAFT4)),
        (JSM, Resource.from_contents(jsm, default_specification=DRAFT4)),
    ])


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checkers = {k: v for k, v in oas30_format_checker.checkers.items() if k != "date-time"}
    return checker


class Check:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.checker = _format_checker()
        self.seen: set[str] = set()

    def __call__(self, instance, schema: str, *, doc: str = PLATFORM, array: bool = False) -> None:
        ref = {"$ref": f"{doc}#/components/schemas/{schema}"}
        s = {"type": "array", "items": ref} if array else ref
        validator = OAS30ReadValidator(s, registry=self.registry, format_checker=self.checker)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        assert not errors, f"{schema}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message[:300]}" for e in errors[:5])
        self.seen.add(schema)


@pytest.fixture(scope="module")
def check(registry) -> Check:
    return Check(registry)


@pytest.fixture(scope="module")
def fj():
    site = generate_site(400, seed=11, now="2026-06-01T09:00:00+00:00")
    with FakeJira(site) as server:
        yield server


@pytest.fixture(scope="module")
def client(fj):
    with httpx.Client(base_url=fj.url, auth=fj.auth, timeout=10) as c:
        yield c


def _ok(resp: httpx.Response):
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()


def test_checker_rejects_a_wrong_shape(check) -> None:
    with pytest.raises(AssertionError):
        check({"issues": [], "total": 3}, "SearchAndReconcileResults")
    with pytest.raises(AssertionError):
        check({"id": "1", "name": "x", "ongoingCycle": {"breached": "yes"}}, "SlaInformationDTO", doc=JSM)


def test_reference_data(client, check) -> None:
    check(_ok(client.get("/rest/api/3/myself")), "User")
    check(_ok(client.get("/rest/api/3/serverInfo")), "ServerInformation")
    check(_ok(client.get("/rest/api/3/field")), "FieldDetails", array=True)
    check(_ok(client.get("/rest/api/3/status")), "StatusDetails", array=True)
    check(_ok(client.get("/rest/api/3/statuscategory")), "StatusCategory", array=True)
    check(_ok(client.get("/rest/api/3/issuetype")), "IssueTypeDetails", array=True)
    check(_ok(client.get("/rest/api/3/priority/search", params={"maxResults": 3})), "PageBeanPriority")
    check(_ok(client.get("/rest/api/3/priority/search")), "PageBeanPriority")
    check(_ok(client.get("/rest/api/3/priority")), "Priority", array=True)
    check(_ok(client.get("/rest/api/3/project/search", params={"maxResults": 2})), "PageBeanProject")
    check(_ok(client.get("/rest/api/3/resolution/search")), "PageBeanResolutionJsonBean")


def _check_issue_fields(check, issue: dict) -> None:
    f = issue["fields"]
    check(issue, "IssueBean")
    check(f["status"], "StatusDetails")
    check(f["priority"], "Priority")
    check(f["issuetype"], "IssueTypeDetails")
    check(f["project"], "ProjectDetails")
    if f["resolution"] is not None:
        check(f["resolution"], "Resolution")
    for who in ("assignee", "reporter", "creator"):
        if f[who] is not None:
            check(f[who], "UserDetails")
    check(f["components"], "ProjectComponent", array=True)
    check(f["worklog"], "PageOfWorklogs")
    for sla in (FIELD_TTFR, FIELD_TTR):
        if f[sla] is not None:
            check(f[sla], "SlaInformationDTO", doc=JSM)
    if f.get(FIELD_ORGANIZATIONS):
        check(f[FIELD_ORGANIZATIONS], "OrganizationDTO", doc=JSM, array=True)
    if f.get(FIELD_REQUEST_TYPE):
        check(f[FIELD_REQUEST_TYPE]["requestType"], "RequestTypeDTO", doc=JSM)
        check(f[FIELD_REQUEST_TYPE]["currentStatus"], "CustomerRequestStatusDTO", doc=JSM)


def test_search_pages_with_all_fields_sla_and_worklogs(client, check) -> None:
    body = {"jql": "project in (SUP, HD, OPS, DEV) ORDER BY updated ASC, id ASC", "fields": ["*all"],
            "maxResults": 100, "expand": "names,schema"}
    kinds = set()
    token = None
    while True:
        page = _ok(client.post("/rest/api/3/search/jql", json={**body, **({"nextPageToken": token} if token else {})}))
        check(page, "SearchAndReconcileResults")
        for issue in page["issues"]:
            _check_issue_fields(check, issue)
            for sla in (FIELD_TTFR, FIELD_TTR):
                v = issue["fields"][sla]
                if v is None:
                    kinds.add("null")
                    continue
                if v["completedCycles"]:
                    kinds.add("completed")
                if "ongoingCycle" in v:
                    kinds.add("ongoing")
                if any(c["breached"] for c in v["completedCycles"]) or v.get("ongoingCycle", {}).get("breached"):
                    kinds.add("breached")
            if issue["fields"]["worklog"]["total"] > 20:
                kinds.add("capped worklog")
        token = page.get("nextPageToken")
        if page["isLast"]:
            break
    assert kinds == {"null", "completed", "ongoing", "breached", "capped worklog"}


def test_search_variants(client, check) -> None:
    ids = _ok(client.post("/rest/api/3/search/jql", json={"jql": "project = SUP", "fields": ["id"],
                                                             "maxResults": 5}))
    check(ids, "SearchAndReconcileResults")
    nav = _ok(client.get("/rest/api/3/search/jql", params={"jql": "project = HD", "fields": "*navigable",
                                                            "maxResults": 3}))
    check(nav, "SearchAndReconcileResults")
    check(_ok(client.post("/rest/api/3/search/approximate-count", json={"jql": "project = SUP"})),
          "JQLCountResultsBean")
    match = _ok(client.post("/rest/api/3/jql/match", json={
        "jqls": ["project = SUP", "priority = High", "project = NOPE"], "issueIds": [10000, 10001, 10002]}))
    check(match, "IssueMatches")
    one = _ok(client.get("/rest/api/3/issue/SUP-1"))
    _check_issue_fields(check, one)


def test_worklog_endpoints(client, fj, check) -> None:
    many = next(i for i in fj.site.issues.values() if len(i.worklogIds) > 20)
    page = _ok(client.get(f"/rest/api/3/issue/{many.key}/worklog", params={"maxResults": 10, "startAt": 5}))
    check(page, "PageOfWorklogs")
    upd = _ok(client.get("/rest/api/3/worklog/updated", params={"since": 0}))
    check(upd, "ChangedWorklogs")
    check(_ok(client.get("/rest/api/3/worklog/deleted", params={"since": 0})), "ChangedWorklogs")
    ids = [v["worklogId"] for v in upd["values"][:50]]
    lst = _ok(client.post("/rest/api/3/worklog/list", json={"ids": ids}))
    assert len(lst) == 50
    check(lst, "Worklog", array=True)


def test_service_management(client, check) -> None:
    check(_ok(client.get("/rest/servicedeskapi/servicedesk")), "PagedDTOServiceDeskDTO", doc=JSM)
    orgs = _ok(client.get("/rest/servicedeskapi/organization", params={"limit": 5}))
    check(orgs, "PagedDTOOrganizationDTO", doc=JSM)
    org_id = orgs["values"][0]["id"]
    check(_ok(client.get(f"/rest/servicedeskapi/organization/{org_id}/user")), "PagedDTOUserDTO", doc=JSM)
    check(_ok(client.get("/rest/servicedeskapi/servicedesk/1/organization")), "PagedDTOOrganizationDTO", doc=JSM)


def test_error_bodies(client, fj, check) -> None:
    bad = httpx.get(fj.url + "/rest/api/3/myself", auth=("x", "y"))
    assert bad.status_code == 401
    check(bad.json(), "ErrorCollection")
    jsm401 = httpx.get(fj.url + "/rest/servicedeskapi/servicedesk", auth=("x", "y"))
    assert jsm401.status_code == 401
    check(jsm401.json(), "ErrorResponse", doc=JSM)
    gone = client.post("/rest/api/3/search", json={"jql": "project = SUP"})
    assert gone.status_code == 410
    check(gone.json(), "ErrorCollection")
    jql = client.post("/rest/api/3/search/jql", json={"jql": "projec = SUP"})
    assert jql.status_code == 400
    check(jql.json(), "ErrorCollection")
    missing = client.get("/rest/api/3/issue/NOPE-1/worklog")
    assert missing.status_code == 404
    check(missing.json(), "ErrorCollection")
    org404 = client.get("/rest/servicedeskapi/organization/999/user")
    assert org404.status_code == 404
    check(org404.json(), "ErrorResponse", doc=JSM)
    too_many = client.post("/rest/api/3/worklog/list", json={"ids": list(range(1, 1002))})
    assert too_many.status_code == 400
    check(too_many.json(), "ErrorCollection")


def test_mutated_and_set_sla_payloads_still_validate(client, fj, check) -> None:
    from cache.fakejira import SlaCycle, SlaValue

    site = fj.site
    issue = next(i for i in site.issues.values() if i.key.startswith("SUP-"))
    site.set_sla(issue.id, "Time to resolution", SlaValue(
        completed=[SlaCycle(start=issue.created, stop=issue.created + 3_600_000, goal=7_200_000,
                            elapsed=3_600_000, breached=False)],
        ongoing=SlaCycle(start=issue.created + 7_200_000, goal=7_200_000, elapsed=9_000_000, breached=True,
                         paused=True)))
    site.add_worklog(issue.id, seconds=1800, comment="Called the customer")
    page = _ok(client.post("/rest/api/3/search/jql", json={"jql": f"id = {issue.id}", "fields": ["*all"]}))
    _check_issue_fields(check, page["issues"][0])
    assert page["issues"][0]["fields"][FIELD_TTR]["ongoingCycle"]["remainingTime"]["millis"] == -1_800_000
