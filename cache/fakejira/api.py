"""The endpoints of the simulated Jira: pure functions of (site, request) -> (status, payload).

Paging rules are documented in docs/fake-jira.md; the shapes follow Atlassian's
OpenAPI documents (checked by tests/test_fakejira_schema.py).
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlencode

from cache.fakejira import render
from cache.fakejira.jql import JqlError, parse, sort_key_fn
from cache.fakejira.model import MINUTE_MS, Field, Issue, Site

SEARCH_MAX_WITH_FIELDS = 100
SEARCH_MAX_IDS_ONLY = 5000
SEARCH_DEFAULT = 50
FEED_PAGE = 1000
WORKLOG_LIST_MAX = 1000
ISSUE_WORKLOG_MAX = 5000

GONE = ("The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
        "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
BAD_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."
NO_ISSUE = "Issue does not exist or you do not have permission to see it."


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, errors: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or {}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    base: str  # the server's base URL

    def q(self, name: str, default: str | None = None) -> str | None:
        vals = self.query.get(name)
        return vals[-1] if vals else default

    def qint(self, name: str, default: int) -> int:
        v = self.q(name)
        if v is None or v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise ApiError(400, f"The '{name}' parameter must be an integer.") from None


def _body_obj(req: Request, allowed: set[str]) -> dict:
    body = req.body if req.body is not None else {}
    if not isinstance(body, dict) or set(body) - allowed:
        raise ApiError(400, BAD_PAYLOAD)
    return body


# ----------------------------------------------------------------------- paging helpers


def page_bean(req: Request, items: list, render_one: Callable[[Any], dict], *, default_max: int = 50,
              cap: int = 100) -> dict:
    start = max(0, req.qint("startAt", 0))
    mx = req.qint("maxResults", default_max)
    mx = max(1, min(mx, cap))
    chunk = items[start:start + mx]
    is_last = start + mx >= len(items)
    other = {k: v for k, v in req.query.items() if k not in ("startAt", "maxResults")}
    selfq = urlencode([*[(k, x) for k, vs in other.items() for x in vs], ("startAt", start), ("maxResults", mx)])
    out = {"self": f"{req.base}{req.path}?{selfq}", "maxResults": mx, "startAt": start, "total": len(items),
           "isLast": is_last, "values": [render_one(x) for x in chunk]}
    if not is_last:
        nq = urlencode([*[(k, x) for k, vs in other.items() for x in vs], ("startAt", start + mx),
                        ("maxResults", mx)])
        out["nextPage"] = f"{req.base}{req.path}?{nq}"
    return out


def paged_dto(req: Request, items: list, render_one: Callable[[Any], dict], *, default_limit: int = 50,
              cap: int = 100) -> dict:
    start = max(0, req.qint("start", 0))
    limit = max(1, min(req.qint("limit", default_limit), cap))
    chunk = items[start:start + limit]
    is_last = start + limit >= len(items)
    links = {"self": f"{req.base}{req.path}", "base": f"{req.base}/rest/servicedeskapi", "context": ""}
    if not is_last:
        links["next"] = f"{req.base}{req.path}?start={start + limit}&limit={limit}"
    if start > 0:
        links["prev"] = f"{req.base}{req.path}?start={max(0, start - limit)}&limit={limit}"
    return {"_expands": [], "size": len(chunk), "start": start, "limit": limit, "isLastPage": is_last,
            "_links": links, "values": [render_one(x) for x in chunk]}


# ------------------------------------------------------------------------ reference data


def myself(site: Site, req: Request) -> dict:
    return render.myself(site)


def server_info(site: Site, req: Request) -> dict:
    return render.server_info(site)


def fields(site: Site, req: Request) -> list:
    return [render.field_details(site, f) for f in site.fields]


def statuses(site: Site, req: Request) -> list:
    return [render.status(site, s) for s in site.statuses]


def status_categories(site: Site, req: Request) -> list:
    return [render.status_category(site, c) for c in site.status_categories]


def issue_types(site: Site, req: Request) -> list:
    return [render.issue_type(site, t) for t in site.issue_types]


def _id_filter(req: Request) -> set[str] | None:
    ids = [x for v in req.query.get("id", []) for x in v.split(",") if x]
    return set(ids) or None


def priority_search(site: Site, req: Request) -> dict:
    items = list(site.priorities)  # Jira's order
    ids = _id_filter(req)
    if ids:
        items = [p for p in items if str(p.id) in ids]
    name = (req.q("priorityName") or "").lower()
    if name:
        items = [p for p in items if name in p.name.lower()]
    if (req.q("onlyDefault") or "").lower() == "true":
        items = [p for p in items if p.isDefault]
    return page_bean(req, items, lambda p: render.priority(site, p))


def priorities(site: Site, req: Request) -> list:
    """The deprecated ``GET /rest/api/3/priority``: every priority, in Jira's order."""
    return [render.priority(site, p) for p in site.priorities]


def resolution_search(site: Site, req: Request) -> dict:
    items = list(site.resolutions)
    ids = _id_filter(req)
    if ids:
        items = [r for r in items if str(r.id) in ids]
    if (req.q("onlyDefault") or "").lower() == "true":
        items = [r for r in items if r.isDefault]
    return page_bean(req, items, lambda r: render.resolution(site, r))


def project_search(site: Site, req: Request) -> dict:
    items = list(site.projects)
    keys = {k.upper() for v in req.query.get("keys", []) for k in v.split(",") if k}
    if keys:
        items = [p for p in items if p.key in keys]
    ids = _id_filter(req)
    if ids:
        items = [p for p in items if str(p.id) in ids]
    query = (req.q("query") or "").lower()
    if query:
        items = [p for p in items if query in p.key.lower() or query in p.name.lower()]
    type_key = req.q("typeKey")
    if type_key:
        items = [p for p in items if p.projectTypeKey in type_key.split(",")]
    order = req.q("orderBy", "key") or "key"
    desc = order.startswith("-")
    attr = order.lstrip("+-")
    if attr not in ("key", "name", "id", "category", "issueCount", "lastIssueUpdatedTime", "owner", "archivedDate",
                    "deletedDate"):
        raise ApiError(400, f"Invalid orderBy value: {order}")
    if attr in ("key", "name", "id"):
        items.sort(key=lambda p: getattr(p, attr), reverse=desc)
    return page_bean(req, items, lambda p: render.project(site, p))


# ------------------------------------------------------------------------------ search




def _matches(site: Site, jql_text: str | None, reconcile: list[int] | None = None
             ) -> tuple[list[tuple], list[int], dict[int, Issue]]:
    """(sort keys, issue ids, view) of the issues matching ``jql_text`` in search order."""
    query = parse(site, jql_text)
    if query.predicate is None:
        raise ApiError(400, UNBOUNDED)
    lagging = site.search_lag_seconds > 0
    view = site.search_view()
    if reconcile:
        view = dict(view)
        for rid in reconcile:
            if rid in site.issues:
                view[rid] = site.issues[rid]
            else:
                view.pop(rid, None)
    hidden = site.restricted_project_ids
    cache = site._search_cache
    ckey = (query.text, site.version, frozenset(hidden))
    if not lagging and not reconcile and cache is not None and cache[0] == ckey:
        return cache[1], cache[2], view
    keyf = sort_key_fn(site, query.order)
    pred = query.predicate
    rows = sorted((keyf(i), i.id) for i in view.values() if i.projectId not in hidden and pred(i))
    keys = [k for k, _ in rows]
    ids = [i for _, i in rows]
    if not lagging and not reconcile:
        site._search_cache = (ckey, keys, ids)
    return keys, ids, view


def _resolve_fields(site: Site, requested: list[str] | None) -> tuple[list[Field] | None, bool]:
    """(fields to render or None for id-only, whether key was asked)."""
    names: list[str] = []
    for item in requested or []:
        names.extend(x.strip() for x in str(item).split(",") if x.strip())
    if not names:
        names = ["id"]
    by_id = {f.id.lower(): f for f in site.fields}
    by_name = {f.name.lower(): f for f in site.fields}
    chosen: dict[str, Field] = {}
    excluded: set[str] = set()
    want_key = False
    for n in names:
        low = n.lower()
        if low == "*all":
            chosen.update((f.id, f) for f in site.fields)
        elif low == "*navigable":
            chosen.update((f.id, f) for f in site.fields if f.navigable)
        elif low.startswith("-"):
            f = by_id.get(low[1:]) or by_name.get(low[1:])
            if f:
                excluded.add(f.id)
        elif low == "id":
            continue
        elif low == "key":
            want_key = True
        else:
            f = by_id.get(low) or by_name.get(low)
            if f:
                chosen[f.id] = f
    out = [f for fid, f in chosen.items() if fid not in excluded]
    return (out or None), want_key or bool(out)


def _token(jql_text: str, key: tuple) -> str:
    raw = json.dumps({"q": hashlib.sha1(jql_text.encode()).hexdigest()[:16], "k": list(key)},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _untoken(jql_text: str, token: str) -> tuple:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if data["q"] != hashlib.sha1(jql_text.encode()).hexdigest()[:16]:
            raise ValueError
        return tuple(int(x) for x in data["k"])
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "The provided next page token is invalid or expired.") from None


def _search(site: Site, req: Request, jql_text: str, field_names: list[str] | None, max_results: Any,
            token: str | None, expand: str, reconcile: list[int] | None) -> dict:
    flds, want_key = _resolve_fields(site, field_names)
    cap = SEARCH_MAX_WITH_FIELDS if flds else SEARCH_MAX_IDS_ONLY
    try:
        mx = SEARCH_DEFAULT if max_results is None else int(max_results)
    except (TypeError, ValueError):
        raise ApiError(400, BAD_PAYLOAD) from None
    mx = max(1, min(mx, cap))
    keys, ids, view = _matches(site, jql_text, reconcile)
    start = bisect.bisect_right(keys, _untoken(jql_text, token)) if token else 0
    page = ids[start:start + mx]
    is_last = start + mx >= len(ids)
    out: dict[str, Any] = {"issues": [render.issue_bean(site, view[i], flds, with_key=want_key) for i in page]}
    if not is_last and page:
        out["nextPageToken"] = _token(jql_text, keys[start + len(page) - 1])
    out["isLast"] = is_last or not page
    exp = {e.strip() for e in (expand or "").split(",")}
    if "names" in exp and flds:
        out["names"] = {f.id: f.name for f in flds}
    if "schema" in exp and flds:
        out["schema"] = {f.id: dict(f.schema) for f in flds if f.schema}
    return out


def search_jql_post(site: Site, req: Request) -> dict:
    body = _body_obj(req, {"jql", "fields", "maxResults", "nextPageToken", "expand", "properties",
                           "fieldsByKeys", "reconcileIssues", "failFast"})
    fields_ = body.get("fields")
    if fields_ is not None and not (isinstance(fields_, list) and all(isinstance(x, str) for x in fields_)):
        raise ApiError(400, BAD_PAYLOAD)
    expand = body.get("expand") or ""
    if not isinstance(expand, str):
        raise ApiError(400, BAD_PAYLOAD)
    reconcile = body.get("reconcileIssues") or []
    if not isinstance(reconcile, list) or not all(isinstance(x, int) for x in reconcile):
        raise ApiError(400, BAD_PAYLOAD)
    return _search(site, req, body.get("jql") or "", fields_, body.get("maxResults"),
                   body.get("nextPageToken"), expand, reconcile)


def search_jql_get(site: Site, req: Request) -> dict:
    reconcile = [int(x) for v in req.query.get("reconcileIssues", []) for x in v.split(",") if x.isdigit()]
    return _search(site, req, req.q("jql") or "", req.query.get("fields"), req.q("maxResults"),
                   req.q("nextPageToken"), ",".join(req.query.get("expand", [])), reconcile)


def approximate_count(site: Site, req: Request) -> dict:
    body = _body_obj(req, {"jql"})
    _, ids, _ = _matches(site, body.get("jql") or "")
    return {"count": len(ids)}


def jql_match(site: Site, req: Request) -> dict:
    body = _body_obj(req, {"jqls", "issueIds"})
    jqls, issue_ids = body.get("jqls"), body.get("issueIds")
    if not isinstance(jqls, list) or not isinstance(issue_ids, list) or \
            not all(isinstance(x, int) for x in issue_ids) or not all(isinstance(x, str) for x in jqls):
        raise ApiError(400, BAD_PAYLOAD)
    matches = []
    for text in jqls:
        try:
            query = parse(site, text)
        except JqlError as exc:
            matches.append({"matchedIssues": [], "errors": [str(exc)]})
            continue
        pred = query.predicate or (lambda i: True)
        got = [iid for iid in dict.fromkeys(issue_ids) if iid in site.issues and pred(site.issues[iid])]
        matches.append({"matchedIssues": got, "errors": []})
    return {"matches": matches}


def get_issue(site: Site, req: Request, id_or_key: str) -> dict:
    """``GET /rest/api/3/issue/{idOrKey}``: the live issue (no lag); ``fields`` default ``*all``."""
    issue = site.issue(id_or_key)
    if issue is None or issue.projectId in site.restricted_project_ids:
        raise ApiError(404, NO_ISSUE)
    flds, _ = _resolve_fields(site, req.query.get("fields") or ["*all"])
    return render.issue_bean(site, issue, flds or [], with_key=True)


# ---------------------------------------------------------------------------- worklogs


def issue_worklogs(site: Site, req: Request, id_or_key: str) -> dict:
    issue = site.issue(id_or_key)
    if issue is None or issue.projectId in site.restricted_project_ids:
        raise ApiError(404, NO_ISSUE)
    wls = [site.worklogs[w] for w in issue.worklogIds if w in site.worklogs]
    after, before = req.q("startedAfter"), req.q("startedBefore")
    if after:
        wls = [w for w in wls if w.started >= int(after)]
    if before:
        wls = [w for w in wls if w.started < int(before)]
    start = max(0, req.qint("startAt", 0))
    mx = max(1, min(req.qint("maxResults", ISSUE_WORKLOG_MAX), ISSUE_WORKLOG_MAX))
    return {"startAt": start, "maxResults": mx, "total": len(wls),
            "worklogs": [render.worklog(site, w) for w in wls[start:start + mx]]}


def _feed(site: Site, req: Request, rows: list[tuple[int, int]], path: str) -> dict:
    since = req.qint("since", 0)
    horizon = site.now - MINUTE_MS  # the minute before "now" is never returned
    lo = bisect.bisect_left(rows, (since, -1))
    hi = bisect.bisect_right(rows, (horizon, float("inf")))
    chunk = rows[lo:min(hi, lo + FEED_PAGE)] if hi > lo else []
    last = lo + FEED_PAGE >= hi
    until = chunk[-1][0] if chunk else since
    out = {"values": [{"worklogId": wid, "updatedTime": t, "properties": []} for t, wid in chunk],
           "since": since, "until": until, "self": f"{req.base}{path}?since={since}", "lastPage": last}
    if not last:
        out["nextPage"] = f"{req.base}{path}?since={until}"
    return out


def worklog_updated(site: Site, req: Request) -> dict:
    return _feed(site, req, site.updated_feed(), "/rest/api/3/worklog/updated")


def worklog_deleted(site: Site, req: Request) -> dict:
    rows = sorted((at, wid) for wid, at in site.deleted_worklogs)
    return _feed(site, req, rows, "/rest/api/3/worklog/deleted")


def worklog_list(site: Site, req: Request) -> list:
    body = _body_obj(req, {"ids"})
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in ids):
        raise ApiError(400, BAD_PAYLOAD)
    if len(ids) > WORKLOG_LIST_MAX:
        raise ApiError(400, f"The number of worklog IDs must not exceed {WORKLOG_LIST_MAX}.")
    hidden = site.restricted_project_ids
    out = []
    for wid in sorted(set(ids)):
        w = site.worklogs.get(wid)
        if w is not None and site.issues[w.issueId].projectId not in hidden:
            out.append(render.worklog(site, w))
    return out


# --------------------------------------------------------------------------------- JSM


def service_desks(site: Site, req: Request) -> dict:
    return paged_dto(req, list(site.service_desks), lambda sd: render.service_desk(site, sd))


def organizations(site: Site, req: Request) -> dict:
    orgs = list(site.organizations)
    account = req.q("accountId")
    if account:
        orgs = [o for o in orgs if account in o.users]
    return paged_dto(req, orgs, lambda o: render.organization(site, o))


def organization_users(site: Site, req: Request, org_id: str) -> dict:
    org = next((o for o in site.organizations if str(o.id) == org_id), None)
    if org is None:
        raise ApiError(404, f"Organization with ID '{org_id}' does not exist.")
    return paged_dto(req, list(org.users), lambda u: render.jsm_user(site, u))


def service_desk_organizations(site: Site, req: Request, desk_id: str) -> dict:
    desk = next((d for d in site.service_desks if str(d.id) == desk_id), None)
    if desk is None:
        raise ApiError(404, f"Service Desk with ID '{desk_id}' does not exist.")
    if desk.projectId in site.restricted_project_ids:
        raise ApiError(403, "You do not have permission to view organizations of this service project.")
    orgs = [o for o in site.organizations if desk.id in o.serviceDeskIds]
    account = req.q("accountId")
    if account:
        orgs = [o for o in orgs if account in o.users]
    return paged_dto(req, orgs, lambda o: render.organization(site, o))


def gone(site: Site, req: Request) -> dict:
    raise ApiError(410, GONE)


# ------------------------------------------------------------------------------ routing

ROUTES: list[tuple[str, re.Pattern, Callable]] = [
    (m, re.compile(p + r"/?\Z"), f) for m, p, f in [
        ("GET", r"/rest/api/3/myself", myself),
        ("GET", r"/rest/api/3/serverInfo", server_info),
        ("GET", r"/rest/api/3/field", fields),
        ("GET", r"/rest/api/3/priority/search", priority_search),
        ("GET", r"/rest/api/3/status", statuses),
        ("GET", r"/rest/api/3/statuscategory", status_categories),
        ("GET", r"/rest/api/3/project/search", project_search),
        ("GET", r"/rest/api/3/issuetype", issue_types),
        ("GET", r"/rest/api/3/resolution/search", resolution_search),
        ("GET", r"/rest/api/3/priority", priorities),
        ("GET", r"/rest/api/3/issue/([^/]+)", get_issue),
        ("POST", r"/rest/api/3/search/jql", search_jql_post),
        ("GET", r"/rest/api/3/search/jql", search_jql_get),
        ("POST", r"/rest/api/3/search/approximate-count", approximate_count),
        ("GET", r"/rest/api/[23]/search", gone),
        ("POST", r"/rest/api/[23]/search", gone),
        ("GET", r"/rest/api/3/issue/([^/]+)/worklog", issue_worklogs),
        ("GET", r"/rest/api/3/worklog/updated", worklog_updated),
        ("GET", r"/rest/api/3/worklog/deleted", worklog_deleted),
        ("POST", r"/rest/api/3/worklog/list", worklog_list),
        ("POST", r"/rest/api/3/jql/match", jql_match),
        ("GET", r"/rest/servicedeskapi/servicedesk", service_desks),
        ("GET", r"/rest/servicedeskapi/organization", organizations),
        ("GET", r"/rest/servicedeskapi/organization/(\d+)/user", organization_users),
        ("GET", r"/rest/servicedeskapi/servicedesk/(\d+)/organization", service_desk_organizations),
    ]
]


def route(method: str, path: str) -> tuple[Callable, tuple[str, ...]] | None:
    """The handler and path arguments for a request; raises 405 for a known path with another method."""
    known_path = False
    for m, pattern, func in ROUTES:
        match = pattern.match(path)
        if match:
            if m == method:
                return func, match.groups()
            known_path = True
    if known_path:
        raise ApiError(405, f"HTTP method {method} is not supported by this URL")
    return None
