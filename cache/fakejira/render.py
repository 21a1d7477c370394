"""Render the dataset as Jira Cloud REST payloads (shapes per Atlassian's OpenAPI documents).

Timestamps are rendered like Jira Cloud does, in the myself user's time zone:
``2025-06-10T11:00:00.000+0300``.  All functions expect ``site.lock`` held.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from typing import Any
from zoneinfo import ZoneInfo

from cache.fakejira.model import (
    ORG_CUSTOM,
    REQUEST_TYPE_CUSTOM,
    SLA_CUSTOM,
    Field,
    Issue,
    Site,
    SlaCycle,
    SlaValue,
    User,
    Worklog,
)

EMBEDDED_WORKLOG_CAP = 20
HOUR_MS = 3_600_000


@functools.lru_cache(maxsize=32)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _parts(ms: int, tz: str) -> tuple[dt.datetime, str]:
    d = dt.datetime.fromtimestamp(ms // 1000, zone(tz))
    off = int(d.utcoffset().total_seconds()) // 60
    sign = "-" if off < 0 else "+"
    off = abs(off)
    return d, f"{sign}{off // 60:02d}{off % 60:02d}"


def jira_time(ms: int | None, tz: str) -> str | None:
    """``2025-06-10T11:00:00.000+0300``: Jira's REST timestamp format."""
    if ms is None:
        return None
    d, off = _parts(ms, tz)
    return (f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
            f".{ms % 1000:03d}{off}")


def date_dto(ms: int, tz: str) -> dict:
    d, off = _parts(ms, tz)
    base = f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:{d.second:02d}"
    hour12 = d.hour % 12 or 12
    friendly = f"{d.day:02d}/{_MONTHS[d.month - 1]}/{d.year % 100:02d} {hour12}:{d.minute:02d} " \
               f"{'AM' if d.hour < 12 else 'PM'}"
    return {"iso8601": f"{base}{off}", "jira": f"{base}.{ms % 1000:03d}{off}", "friendly": friendly,
            "epochMillis": ms}


def friendly_duration(ms: int) -> str:
    sign = "-" if ms < 0 else ""
    minutes = abs(ms) // 60_000
    h, m = divmod(minutes, 60)
    if h and m:
        return f"{sign}{h}h {m}m"
    if h:
        return f"{sign}{h}h"
    return f"{sign}{m}m"


def duration_dto(ms: int) -> dict:
    return {"millis": ms, "friendly": friendly_duration(ms)}


# ----------------------------------------------------------------------- reference data


def avatar_urls(base: str, kind: str, ident: Any) -> dict:
    return {size: f"{base}/secure/{kind}avatar?size={name}&avatarId={ident}"
            for size, name in (("16x16", "xsmall"), ("24x24", "small"), ("32x32", "medium"), ("48x48", "large"))}


def user_details(site: Site, account_id: str | None) -> dict | None:
    if account_id is None:
        return None
    u = site.users.get(account_id) or User(account_id, account_id, "")
    return {"self": f"{site.base_url}/rest/api/3/user?accountId={u.accountId}", "accountId": u.accountId,
            "emailAddress": u.emailAddress, "avatarUrls": avatar_urls(site.base_url, "user", 10122),
            "displayName": u.displayName, "active": u.active, "timeZone": u.timeZone,
            "accountType": u.accountType}


def myself(site: Site) -> dict:
    u = site.myself
    return {"self": f"{site.base_url}/rest/api/3/user?accountId={u.accountId}", "accountId": u.accountId,
            "accountType": u.accountType, "emailAddress": u.emailAddress,
            "avatarUrls": avatar_urls(site.base_url, "user", 10122), "displayName": u.displayName,
            "active": u.active, "timeZone": u.timeZone, "locale": "en_US",
            "groups": {"size": 2, "items": []}, "applicationRoles": {"size": 1, "items": []},
            "expand": "groups,applicationRoles"}


def server_info(site: Site) -> dict:
    return {"baseUrl": site.base_url, "displayUrl": site.base_url,
            "displayUrlServicedeskHelpCenter": site.base_url, "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud", "buildNumber": 100289,
            "buildDate": "2026-04-20T00:00:00.000+0000", "serverTime": jira_time(site.now, site.render_zone),
            "scmInfo": "5177f96791252404c766ca1ff3f185116ee1a1a1", "serverTitle": site.title}


def status_category(site: Site, c) -> dict:
    return {"self": f"{site.base_url}/rest/api/3/statuscategory/{c.id}", "id": c.id, "key": c.key,
            "colorName": c.colorName, "name": c.name}


def status(site: Site, s) -> dict:
    cat = next(c for c in site.status_categories if c.id == s.categoryId)
    return {"self": f"{site.base_url}/rest/api/3/status/{s.id}", "description": s.description,
            "iconUrl": f"{site.base_url}/images/icons/statuses/generic.png", "name": s.name,
            "untranslatedName": s.name, "id": str(s.id), "statusCategory": status_category(site, cat)}


def priority(site: Site, p, *, full: bool = True) -> dict:
    d = {"self": f"{site.base_url}/rest/api/3/priority/{p.id}",
         "iconUrl": f"{site.base_url}/images/icons/priorities/{p.name.lower()}.svg", "name": p.name, "id": str(p.id)}
    if full:
        d.update(statusColor=p.statusColor, description=p.description, isDefault=p.isDefault)
    return d


def issue_type(site: Site, t) -> dict:
    return {"self": f"{site.base_url}/rest/api/3/issuetype/{t.id}", "id": str(t.id), "description": t.description,
            "iconUrl": f"{site.base_url}/rest/api/2/universal_avatar/view/type/issuetype/avatar/{10300 + t.id % 100}",
            "name": t.name, "subtask": t.subtask, "avatarId": 10300 + t.id % 100, "hierarchyLevel": t.hierarchyLevel}


def resolution(site: Site, r, *, page: bool = True) -> dict:
    d = {"self": f"{site.base_url}/rest/api/3/resolution/{r.id}", "id": str(r.id),
         "description": r.description, "name": r.name}
    if page:
        d["default"] = r.isDefault
    return d


def project(site: Site, p, *, details: bool = False) -> dict:
    d = {"self": f"{site.base_url}/rest/api/3/project/{p.id}", "id": str(p.id), "key": p.key, "name": p.name,
         "projectTypeKey": p.projectTypeKey, "simplified": False,
         "avatarUrls": avatar_urls(site.base_url, "project", 10400 + p.id % 100)}
    if not details:
        d.update(expand="description,lead,issueTypes,url,projectKeys,permissions,insight", style="classic",
                 isPrivate=False, properties={})
    return d


def field_details(site: Site, f: Field) -> dict:
    d = {"id": f.id, "key": f.id, "name": f.name, "custom": f.custom, "orderable": f.orderable,
         "navigable": f.navigable, "searchable": f.searchable, "clauseNames": list(f.clauseNames)}
    if f.schema is not None:
        d["schema"] = dict(f.schema)
    return d


def service_desk(site: Site, sd) -> dict:
    p = next(p for p in site.projects if p.id == sd.projectId)
    return {"id": str(sd.id), "projectId": str(p.id), "projectName": p.name, "projectKey": p.key,
            "_links": {"self": f"{site.base_url}/rest/servicedeskapi/servicedesk/{sd.id}"}}


def organization(site: Site, o) -> dict:
    return {"id": str(o.id), "name": o.name, "uuid": f"00000000-0000-4000-8000-{o.id:012d}",
            "created": date_dto(o.created, site.render_zone), "scimManaged": False,
            "_links": {"self": f"{site.base_url}/rest/servicedeskapi/organization/{o.id}"}}


def jsm_user(site: Site, account_id: str) -> dict:
    u = site.users.get(account_id) or User(account_id, account_id, "")
    return {"accountId": u.accountId, "emailAddress": u.emailAddress, "displayName": u.displayName,
            "active": u.active, "timeZone": u.timeZone,
            "_links": {"jiraRest": f"{site.base_url}/rest/api/2/user?accountId={u.accountId}",
                       "avatarUrls": avatar_urls(site.base_url, "user", 10122),
                       "self": f"{site.base_url}/rest/api/2/user?accountId={u.accountId}"}}


def worklog(site: Site, w: Worklog) -> dict:
    tz = site.render_zone
    author = user_details(site, w.author)
    d = {"self": f"{site.base_url}/rest/api/3/issue/{w.issueId}/worklog/{w.id}", "author": author,
         "updateAuthor": author, "created": jira_time(w.created, tz), "updated": jira_time(w.updated, tz),
         "started": jira_time(w.started, tz), "timeSpent": friendly_duration(w.timeSpentSeconds * 1000),
         "timeSpentSeconds": w.timeSpentSeconds, "id": str(w.id), "issueId": str(w.issueId)}
    if w.comment:
        d["comment"] = {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": w.comment}]}]}
    return d


# ----------------------------------------------------------------------------- SLAs


def derived_sla(site: Site, issue: Issue, fld: Field) -> SlaValue | None:
    """The SLA value of an issue whose SLAs were never set explicitly: a deterministic
    function of (site seed, issue id, field) and the issue's current state."""
    if issue.sla is not None and fld.id in issue.sla:
        return issue.sla[fld.id]
    proj = next((p for p in site.projects if p.id == issue.projectId), None)
    if proj is None or proj.projectTypeKey != "service_desk":
        return None
    rng = random.Random(f"{site.seed}:{issue.id}:{fld.id}")
    if rng.random() < 0.08:
        return None  # the SLA does not apply to this issue
    slas = site.sla_fields()
    first_response = slas and fld.id == slas[0].id
    prio_rank = next((i for i, p in enumerate(site.priorities) if p.id == issue.priorityId), 2)
    goal_h = ([2, 4, 8, 16, 24, 24, 24] if first_response else [8, 16, 24, 48, 72, 72, 72])[min(prio_rank, 6)]
    goal = goal_h * HOUR_MS
    cat = site.status_category_of(issue.statusId).key
    breached_target = rng.random() < 0.18
    value = SlaValue()
    start = issue.created
    if rng.random() < 0.12 and not first_response:  # an earlier cycle (reopened)
        el = int(goal * (rng.uniform(1.05, 1.6) if rng.random() < 0.5 else rng.uniform(0.1, 0.9)))
        value.completed.append(SlaCycle(start=start, goal=goal, elapsed=el, breached=el > goal, stop=start + el))
        start = start + el + rng.randint(1, 48) * HOUR_MS
    done = cat == "done" or (first_response and cat != "new")
    if done:
        el = int(goal * (rng.uniform(1.05, 3.0) if breached_target else rng.uniform(0.05, 0.95)))
        stop = start + el
        if issue.resolutionDate is not None and not first_response:
            stop = max(stop, start + 1)
        value.completed.append(SlaCycle(start=start, goal=goal, elapsed=el, breached=el > goal, stop=stop))
    else:
        el = max(0, min(site.now - start, int(goal * (rng.uniform(1.05, 2.0) if breached_target
                                                      else rng.uniform(0.0, 0.95)))))
        value.ongoing = SlaCycle(start=start, goal=goal, elapsed=el, breached=el > goal,
                                 paused="customer" in site.statuses_by_id()[issue.statusId].name.lower(),
                                 withinCalendarHours=rng.random() < 0.7)
    return value


def sla_information(site: Site, issue: Issue, fld: Field) -> dict | None:
    value = derived_sla(site, issue, fld)
    if value is None:
        return None
    tz = site.render_zone

    def cycle(c: SlaCycle) -> dict:
        d = {"startTime": date_dto(c.start, tz)}
        if c.stop is not None:
            d["stopTime"] = date_dto(c.stop, tz)
        d["breachTime"] = date_dto(c.start + c.goal, tz)
        d["breached"] = c.breached
        if c.stop is None:
            d["paused"] = c.paused
            d["withinCalendarHours"] = c.withinCalendarHours
        d["goalDuration"] = duration_dto(c.goal)
        d["elapsedTime"] = duration_dto(c.elapsed)
        d["remainingTime"] = duration_dto(c.goal - c.elapsed)
        return d

    sla_id = (fld.schema or {}).get("customId", fld.id)
    out = {"id": str(sla_id), "name": fld.name,
           "_links": {"self": f"{site.base_url}/rest/servicedeskapi/request/{issue.id}/sla/{sla_id}"},
           "completedCycles": [cycle(c) for c in value.completed]}
    if value.ongoing is not None:
        out["ongoingCycle"] = cycle(value.ongoing)
    out["slaDisplayFormat"] = "NEW_SLA_FORMAT"
    return out


# ---------------------------------------------------------------------------- issues


def request_type_value(site: Site, issue: Issue, rt_id: Any) -> dict | None:
    rt = next((r for r in site.request_types if str(r.id) == str(rt_id)), None)
    if rt is None:
        return None
    base = site.base_url
    st = site.statuses_by_id()[issue.statusId]
    cat = site.status_category_of(issue.statusId).key
    return {
        "_links": {"jiraRest": f"{base}/rest/api/2/issue/{issue.id}",
                   "web": f"{base}/servicedesk/customer/portal/{rt.serviceDeskId}/{issue.key}",
                   "agent": f"{base}/browse/{issue.key}", "self": f"{base}/rest/servicedeskapi/request/{issue.id}"},
        "requestType": {"_expands": ["field"], "id": str(rt.id),
                        "_links": {"self": f"{base}/rest/servicedeskapi/servicedesk/{rt.serviceDeskId}/requesttype/{rt.id}"},
                        "name": rt.name, "description": rt.description, "helpText": "",
                        "issueTypeId": str(rt.issueTypeId), "serviceDeskId": str(rt.serviceDeskId),
                        "portalId": str(rt.serviceDeskId), "groupIds": ["1"],
                        "icon": {"id": str(10500 + rt.id % 100), "_links": {"iconUrls": {
                            "48x48": f"{base}/rest/api/2/universal_avatar/view/type/SD_REQTYPE/avatar/{10500 + rt.id % 100}?size=large"}}}},
        "currentStatus": {"status": st.name,
                          "statusCategory": {"new": "NEW", "indeterminate": "INDETERMINATE",
                                             "done": "DONE"}.get(cat, "UNDEFINED"),
                          "statusDate": date_dto(issue.updated, site.render_zone)},
    }


def field_value(site: Site, issue: Issue, f: Field) -> Any:
    """The JSON value of field ``f`` on ``issue`` as the search API returns it."""
    tz = site.render_zone
    fid = f.id
    if not f.custom:
        if fid == "summary":
            return issue.summary
        if fid == "issuetype":
            t = next((t for t in site.issue_types if t.id == issue.issueTypeId), None)
            return issue_type(site, t) if t else None
        if fid == "project":
            p = next((p for p in site.projects if p.id == issue.projectId), None)
            return project(site, p, details=True) if p else None
        if fid == "status":
            return status(site, site.statuses_by_id()[issue.statusId])
        if fid == "priority":
            p = next((p for p in site.priorities if p.id == issue.priorityId), None)
            return priority(site, p, full=False) if p else None
        if fid == "resolution":
            r = next((r for r in site.resolutions if r.id == issue.resolutionId), None)
            return resolution(site, r, page=False) if r else None
        if fid == "resolutiondate":
            return jira_time(issue.resolutionDate, tz)
        if fid == "created":
            return jira_time(issue.created, tz)
        if fid == "updated":
            return jira_time(issue.updated, tz)
        if fid == "labels":
            return list(issue.labels)
        if fid == "components":
            comps = {c.id: c for p in site.projects for c in p.components}
            return [{"self": f"{site.base_url}/rest/api/3/component/{cid}", "id": str(cid),
                     "name": comps[cid].name} for cid in issue.componentIds if cid in comps]
        if fid in ("assignee", "reporter", "creator"):
            return user_details(site, getattr(issue, fid))
        if fid == "worklog":
            wls = [site.worklogs[w] for w in issue.worklogIds if w in site.worklogs]
            return {"startAt": 0, "maxResults": EMBEDDED_WORKLOG_CAP, "total": len(wls),
                    "worklogs": [worklog(site, w) for w in wls[:EMBEDDED_WORKLOG_CAP]]}
        if fid == "timespent":
            total = sum(site.worklogs[w].timeSpentSeconds for w in issue.worklogIds if w in site.worklogs)
            return total or None
        if fid == "parent":
            return None
        return None
    custom = (f.schema or {}).get("custom")
    if custom == SLA_CUSTOM:
        return sla_information(site, issue, f)
    raw = issue.custom.get(fid)
    if raw is None:
        return None
    if custom == ORG_CUSTOM:
        orgs = {o.id: o for o in site.organizations}
        return [{"id": str(o), "name": orgs[o].name, "uuid": f"00000000-0000-4000-8000-{o:012d}",
                 "_links": {"self": f"{site.base_url}/rest/servicedeskapi/organization/{o}"}}
                for o in raw if o in orgs]
    if custom == REQUEST_TYPE_CUSTOM:
        return request_type_value(site, issue, raw)
    if (f.schema or {}).get("type") == "option":
        opt = next((o for o in f.options if str(o["id"]) == str(raw)), None)
        if opt is None:
            return None
        return {"self": f"{site.base_url}/rest/api/3/customFieldOption/{opt['id']}", "value": opt["value"],
                "id": str(opt["id"])}
    return raw


def issue_bean(site: Site, issue: Issue, fields: list[Field] | None, *, with_key: bool = True,
               names: bool = False) -> dict:
    """An IssueBean; ``fields=None`` means only id (and key)."""
    if fields is None:
        return {"id": str(issue.id), "key": issue.key} if with_key else {"id": str(issue.id)}
    d = {"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
         "id": str(issue.id), "self": f"{site.base_url}/rest/api/3/issue/{issue.id}", "key": issue.key,
         "fields": {f.id: field_value(site, issue, f) for f in fields}}
    return d
