"""The simulated Jira site's in-memory dataset, its clock and its mutation hooks.

Everything is plain data: small ``__slots__`` dataclasses and dicts, ids as
ints, every instant as epoch milliseconds (UTC).  JSON payloads are rendered
lazily at request time by :mod:`cache.fakejira.render`, so a site of 200,000
issues stays cheap to build.  The file format (``dump_site`` / ``load_site``)
is documented in ``docs/fake-jira.md``.

Thread safety: every read of mutable state by the server and every mutation
hook holds ``site.lock`` (an ``RLock``).
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

FORMAT = "ticketbook-fakejira/1"
MINUTE_MS = 60_000


def now_ms() -> int:
    return int(time.time() * 1000)


def to_ms(value: Any) -> int:
    """Epoch millis from an int/float (millis), an aware datetime or an ISO string."""
    if isinstance(value, bool):
        raise TypeError("not a timestamp")
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return int(value.timestamp() * 1000)
    raise TypeError(f"not a timestamp: {value!r}")


# --------------------------------------------------------------------- entities


@dataclass(slots=True)
class User:
    accountId: str
    displayName: str
    emailAddress: str
    accountType: str = "atlassian"  # agents; JSM customers are "customer"
    timeZone: str = "Europe/Istanbul"
    active: bool = True


@dataclass(slots=True)
class StatusCategory:
    id: int
    key: str  # undefined / new / indeterminate / done
    name: str
    colorName: str


@dataclass(slots=True)
class Status:
    id: int
    name: str
    categoryId: int
    description: str = ""


@dataclass(slots=True)
class Priority:
    id: int
    name: str
    statusColor: str = "#999999"
    isDefault: bool = False
    description: str = ""


@dataclass(slots=True)
class IssueType:
    id: int
    name: str
    subtask: bool = False
    hierarchyLevel: int = 0
    description: str = ""


@dataclass(slots=True)
class Resolution:
    id: int
    name: str
    description: str = ""
    isDefault: bool = False


@dataclass(slots=True)
class Component:
    id: int
    name: str


@dataclass(slots=True)
class Project:
    id: int
    key: str
    name: str
    projectTypeKey: str = "service_desk"
    leadAccountId: str | None = None
    components: list[Component] = field(default_factory=list)


@dataclass(slots=True)
class ServiceDesk:
    id: int
    projectId: int


@dataclass(slots=True)
class Organization:
    id: int
    name: str
    created: int
    users: list[str] = field(default_factory=list)  # accountIds
    serviceDeskIds: list[int] = field(default_factory=list)


@dataclass(slots=True)
class RequestType:
    id: int
    name: str
    serviceDeskId: int
    issueTypeId: int
    description: str = ""


@dataclass(slots=True)
class SlaCycle:
    """One SLA cycle; ``stop is None`` for the ongoing one.  Durations in ms."""

    start: int
    goal: int
    elapsed: int
    breached: bool
    stop: int | None = None
    paused: bool = False
    withinCalendarHours: bool = True


@dataclass(slots=True)
class SlaValue:
    completed: list[SlaCycle] = field(default_factory=list)
    ongoing: SlaCycle | None = None


@dataclass(slots=True)
class Issue:
    id: int
    key: str
    projectId: int
    issueTypeId: int
    statusId: int
    priorityId: int
    created: int
    updated: int
    summary: str = ""
    resolutionId: int | None = None
    resolutionDate: int | None = None
    labels: list[str] = field(default_factory=list)
    componentIds: list[int] = field(default_factory=list)
    assignee: str | None = None
    reporter: str | None = None
    creator: str | None = None
    # custom field id -> raw value (org ids, request type id, option id, number, ...)
    custom: dict[str, Any] = field(default_factory=dict)
    # SLA field id -> SlaValue | None (does not apply). None = derived from the issue's state.
    sla: dict[str, SlaValue | None] | None = None
    worklogIds: list[int] = field(default_factory=list)
    oldKeys: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Worklog:
    id: int
    issueId: int
    author: str
    started: int
    timeSpentSeconds: int
    created: int
    updated: int
    comment: str = ""


@dataclass(slots=True)
class Field:
    """A /rest/api/3/field entry; ``schema`` is Jira's JsonTypeBean dict."""

    id: str
    name: str
    custom: bool
    schema: dict[str, Any] | None = None
    navigable: bool = True
    searchable: bool = True
    orderable: bool = True
    clauseNames: list[str] = field(default_factory=list)
    options: list[dict[str, Any]] = field(default_factory=list)  # select fields: [{id, value}]


SLA_CUSTOM = "com.atlassian.servicedesk:sd-sla-field"
ORG_CUSTOM = "com.atlassian.servicedesk:sd-customer-organizations"
REQUEST_TYPE_CUSTOM = "com.atlassian.servicedesk:vp-origin"


# --------------------------------------------------------------------- the site


class Site:
    """A whole Jira Cloud site in memory.  See docs/fake-jira.md."""

    def __init__(self, *, base_url: str = "https://fake.atlassian.net", myself: User,
                 now: int | None = None, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.base_url = base_url.rstrip("/")  # replaced by the server's URL while serving
        self.title = "Fake Jira"
        self.seed = seed
        self.myself = myself
        self.users: dict[str, User] = {myself.accountId: myself}
        self.status_categories: list[StatusCategory] = []
        self.statuses: list[Status] = []
        self.priorities: list[Priority] = []  # Jira's order: most to least urgent
        self.issue_types: list[IssueType] = []
        self.resolutions: list[Resolution] = []
        self.projects: list[Project] = []
        self.service_desks: list[ServiceDesk] = []
        self.organizations: list[Organization] = []
        self.request_types: list[RequestType] = []
        self.fields: list[Field] = []
        self.issues: dict[int, Issue] = {}
        self.worklogs: dict[int, Worklog] = {}
        self.deleted_worklogs: list[tuple[int, int]] = []  # (worklogId, deletedAt ms), in time order
        self._key_index: dict[str, int] = {}
        self._frozen_now = now
        self.version = 0  # bumped by every mutation (search cache key)
        self.search_lag_seconds = 0.0  # search sees issues as they were this long ago
        self.restricted_project_ids: set[int] = set()
        # zone of rendered timestamps; None = the myself user's zone (what Jira Cloud does)
        self.render_time_zone: str | None = None  # projects the myself user may not browse
        self._search_cache: tuple | None = None
        self._history: dict[int, list[tuple[int, Issue | None]]] = {}  # id -> [(at, state before)]
        self._next_issue_id = 10000
        self._next_worklog_id = 10000
        self._project_counters: dict[int, int] = {}
        self._feed_cache: tuple[int, list[tuple[int, int]]] | None = None

    @property
    def render_zone(self) -> str:
        return self.render_time_zone or self.myself.timeZone

    # -- clock ----------------------------------------------------------------
    @property
    def now(self) -> int:
        """Site time in epoch ms: frozen if set, else the wall clock."""
        return self._frozen_now if self._frozen_now is not None else now_ms()

    @now.setter
    def now(self, value: Any) -> None:
        self._frozen_now = None if value is None else to_ms(value)

    def advance(self, seconds: float) -> int:
        """Move a frozen clock forward (freezing the wall clock first if needed)."""
        with self.lock:
            self._frozen_now = self.now + int(seconds * 1000)
            return self._frozen_now

    @property
    def frozen(self) -> bool:
        return self._frozen_now is not None

    # -- lookups --------------------------------------------------------------
    def reindex(self) -> None:
        with self.lock:
            self._key_index = {}
            for issue in self.issues.values():
                for k in issue.oldKeys:
                    self._key_index[k] = issue.id
            for issue in self.issues.values():
                self._key_index[issue.key] = issue.id
            self._project_counters = {}
            for issue in self.issues.values():
                for k in [issue.key, *issue.oldKeys]:
                    pkey, _, num = k.rpartition("-")
                    proj = self.project_by_key(pkey)
                    if proj is not None and num.isdigit():
                        self._project_counters[proj.id] = max(self._project_counters.get(proj.id, 0), int(num))
            self._next_issue_id = max([self._next_issue_id - 1, *self.issues]) + 1
            self._next_worklog_id = max([self._next_worklog_id - 1, *self.worklogs,
                                         *(w for w, _ in self.deleted_worklogs)]) + 1
            self._touch()

    def _touch(self) -> None:
        self.version += 1
        self._feed_cache = None

    def issue(self, id_or_key: int | str) -> Issue | None:
        with self.lock:
            if isinstance(id_or_key, int) or str(id_or_key).isdigit():
                return self.issues.get(int(id_or_key))
            iid = self._key_index.get(str(id_or_key).upper())
            return self.issues.get(iid) if iid is not None else None

    def _need_issue(self, id_or_key: int | str) -> Issue:
        issue = self.issue(id_or_key)
        if issue is None:
            raise KeyError(f"no issue {id_or_key!r}")
        return issue

    def project_by_key(self, key: str) -> Project | None:
        key = key.upper()
        return next((p for p in self.projects if p.key == key), None)

    def project(self, ref: int | str) -> Project | None:
        for p in self.projects:
            if str(p.id) == str(ref) or p.key == str(ref).upper() or p.name.lower() == str(ref).lower():
                return p
        return None

    def _lookup(self, items: Iterable[Any], ref: Any, what: str) -> int:
        for item in items:
            if str(item.id) == str(ref) or item.name.lower() == str(ref).lower():
                return item.id
        raise KeyError(f"no {what} {ref!r}")

    def field_by_id(self, fid: str) -> Field | None:
        return next((f for f in self.fields if f.id == fid), None)

    def sla_fields(self) -> list[Field]:
        return [f for f in self.fields if f.schema and f.schema.get("custom") == SLA_CUSTOM]

    def statuses_by_id(self) -> dict[int, Status]:
        return {s.id: s for s in self.statuses}

    def status_category_of(self, status_id: int) -> StatusCategory:
        st = next(s for s in self.statuses if s.id == status_id)
        return next(c for c in self.status_categories if c.id == st.categoryId)

    # -- history (for search lag) ----------------------------------------------
    def _remember(self, issue_id: int, before: Issue | None) -> None:
        if self.search_lag_seconds > 0:
            self._history.setdefault(issue_id, []).append((self.now, before))

    def search_view(self) -> dict[int, Issue]:
        """The issues as search sees them: ``search_lag_seconds`` behind the writes."""
        with self.lock:
            if self.search_lag_seconds <= 0 or not self._history:
                self._history.clear()
                return self.issues
            cutoff = self.now - int(self.search_lag_seconds * 1000)
            view = dict(self.issues)
            for iid, entries in list(self._history.items()):
                recent = [(at, before) for at, before in entries if at > cutoff]
                if not recent:
                    del self._history[iid]
                    continue
                self._history[iid] = recent
                before = recent[0][1]  # state before the first write still hidden
                if before is None:
                    view.pop(iid, None)
                else:
                    view[iid] = before
            return view

    # -- mutations ------------------------------------------------------------
    def _resolve_fields(self, changes: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "status":
                out["statusId"] = self._lookup(self.statuses, value, "status")
            elif name == "priority":
                out["priorityId"] = self._lookup(self.priorities, value, "priority")
            elif name in ("issuetype", "issueType"):
                out["issueTypeId"] = self._lookup(self.issue_types, value, "issue type")
            elif name == "resolution":
                out["resolutionId"] = None if value is None else self._lookup(self.resolutions, value, "resolution")
            elif name in ("resolutiondate", "resolutionDate"):
                out["resolutionDate"] = None if value is None else to_ms(value)
            elif name == "components":
                proj_components = [c for p in self.projects for c in p.components]
                out["componentIds"] = [self._lookup(proj_components, c, "component") for c in value]
            elif name in ("created",):
                out["created"] = to_ms(value)
            elif name in ("summary", "labels", "assignee", "reporter", "creator"):
                out[name] = list(value) if name == "labels" else value
            elif name.startswith("customfield_"):
                out.setdefault("custom", {})[name] = value
            else:
                raise KeyError(f"unsupported field {name!r}")
        return out

    def create_issue(self, project: int | str, *, summary: str = "New request", issuetype: Any = None,
                     status: Any = None, priority: Any = None, **fields: Any) -> Issue:
        """Create an issue in ``project`` (key, id or name); created = updated = now."""
        with self.lock:
            proj = self.project(project)
            if proj is None:
                raise KeyError(f"no project {project!r}")
            now = self.now
            iid = self._next_issue_id
            self._next_issue_id += 1
            num = self._project_counters.get(proj.id, 0) + 1
            self._project_counters[proj.id] = num
            default_prio = next((p.id for p in self.priorities if p.isDefault), self.priorities[0].id)
            issue = Issue(id=iid, key=f"{proj.key}-{num}", projectId=proj.id,
                          issueTypeId=self.issue_types[0].id, statusId=self.statuses[0].id,
                          priorityId=default_prio, created=now, updated=now, summary=summary,
                          reporter=self.myself.accountId, creator=self.myself.accountId)
            extra = {k: v for k, v in (("issuetype", issuetype), ("status", status), ("priority", priority))
                     if v is not None}
            for attr, value in self._resolve_fields({**extra, **fields}).items():
                if attr == "custom":
                    issue.custom.update(value)
                else:
                    setattr(issue, attr, value)
            self.issues[iid] = issue
            self._key_index[issue.key] = iid
            self._remember(iid, None)
            self._touch()
            return issue

    def update_issue(self, id_or_key: int | str, **fields: Any) -> Issue:
        """Change fields (names or ids for status/priority/...); bumps ``updated`` to now."""
        with self.lock:
            issue = self._need_issue(id_or_key)
            changes = self._resolve_fields(fields)
            self._remember(issue.id, copy.deepcopy(issue))
            for attr, value in changes.items():
                if attr == "custom":
                    issue.custom.update(value)
                else:
                    setattr(issue, attr, value)
            issue.updated = max(self.now, issue.updated)
            self._touch()
            return issue

    def move_issue(self, id_or_key: int | str, project: int | str) -> Issue:
        """Move to another project: new key, same id, bumps ``updated``; the old key still resolves."""
        with self.lock:
            issue = self._need_issue(id_or_key)
            proj = self.project(project)
            if proj is None:
                raise KeyError(f"no project {project!r}")
            if proj.id == issue.projectId:
                return issue
            self._remember(issue.id, copy.deepcopy(issue))
            num = self._project_counters.get(proj.id, 0) + 1
            self._project_counters[proj.id] = num
            issue.oldKeys.append(issue.key)
            issue.key = f"{proj.key}-{num}"
            issue.projectId = proj.id
            issue.componentIds = []
            self._key_index[issue.key] = issue.id
            issue.updated = max(self.now, issue.updated)
            self._touch()
            return issue

    def delete_issue(self, id_or_key: int | str) -> None:
        """Delete an issue; its worklogs go to the deleted-worklog feed."""
        with self.lock:
            issue = self._need_issue(id_or_key)
            self._remember(issue.id, copy.deepcopy(issue))
            now = self.now
            for wid in issue.worklogIds:
                self.worklogs.pop(wid, None)
                self.deleted_worklogs.append((wid, now))
            del self.issues[issue.id]
            for k in [issue.key, *issue.oldKeys]:
                if self._key_index.get(k) == issue.id:
                    del self._key_index[k]
            self._touch()

    def add_worklog(self, id_or_key: int | str, *, seconds: int, author: str | None = None,
                    started: Any = None, comment: str = "") -> Worklog:
        with self.lock:
            issue = self._need_issue(id_or_key)
            self._remember(issue.id, copy.deepcopy(issue))
            now = self.now
            wid = self._next_worklog_id
            self._next_worklog_id += 1
            wl = Worklog(id=wid, issueId=issue.id, author=author or self.myself.accountId,
                         started=now - seconds * 1000 if started is None else to_ms(started),
                         timeSpentSeconds=int(seconds), created=now, updated=now, comment=comment)
            self.worklogs[wid] = wl
            issue.worklogIds.append(wid)
            issue.updated = max(now, issue.updated)
            self._touch()
            return wl

    def update_worklog(self, worklog_id: int, *, seconds: int | None = None, started: Any = None,
                       comment: str | None = None, author: str | None = None) -> Worklog:
        with self.lock:
            wl = self.worklogs[int(worklog_id)]
            issue = self.issues[wl.issueId]
            self._remember(issue.id, copy.deepcopy(issue))
            if seconds is not None:
                wl.timeSpentSeconds = int(seconds)
            if started is not None:
                wl.started = to_ms(started)
            if comment is not None:
                wl.comment = comment
            if author is not None:
                wl.author = author
            wl.updated = max(self.now, wl.updated)
            issue.updated = max(self.now, issue.updated)
            self._touch()
            return wl

    def delete_worklog(self, worklog_id: int) -> None:
        with self.lock:
            wl = self.worklogs.pop(int(worklog_id))
            issue = self.issues[wl.issueId]
            self._remember(issue.id, copy.deepcopy(issue))
            issue.worklogIds.remove(wl.id)
            self.deleted_worklogs.append((wl.id, self.now))
            issue.updated = max(self.now, issue.updated)
            self._touch()

    def set_sla(self, id_or_key: int | str, field_id_or_name: str, value: SlaValue | dict | None,
                *, bump: bool = True) -> Issue:
        """Set one SLA field's value (``None`` = does not apply).  ``value`` may be a
        :class:`SlaValue` or the file format's dict (docs/fake-jira.md)."""
        with self.lock:
            issue = self._need_issue(id_or_key)
            fld = next((f for f in self.sla_fields() if field_id_or_name in (f.id, f.name)), None)
            if fld is None:
                raise KeyError(f"no SLA field {field_id_or_name!r}")
            self._remember(issue.id, copy.deepcopy(issue))
            if issue.sla is None:
                from cache.fakejira.render import derived_sla

                issue.sla = {f.id: derived_sla(self, issue, f) for f in self.sla_fields()}
            issue.sla[fld.id] = sla_from_dict(value) if isinstance(value, dict) else value
            if bump:
                issue.updated = max(self.now, issue.updated)
            self._touch()
            return issue

    # -- worklog feeds --------------------------------------------------------
    def updated_feed(self) -> list[tuple[int, int]]:
        """(updated ms, worklog id) for every worklog, oldest first (cached per version)."""
        with self.lock:
            if self._feed_cache is None or self._feed_cache[0] != self.version:
                feed = sorted((w.updated, w.id) for w in self.worklogs.values())
                self._feed_cache = (self.version, feed)
            return self._feed_cache[1]


# --------------------------------------------------------------------- file format


def sla_to_dict(value: SlaValue | None) -> dict | None:
    if value is None:
        return None

    def cyc(c: SlaCycle) -> dict:
        d = {"start": c.start, "goal": c.goal, "elapsed": c.elapsed, "breached": c.breached}
        if c.stop is not None:
            d["stop"] = c.stop
        else:
            d["paused"] = c.paused
            d["withinCalendarHours"] = c.withinCalendarHours
        return d

    return {"completedCycles": [cyc(c) for c in value.completed],
            "ongoingCycle": cyc(value.ongoing) if value.ongoing else None}


def sla_from_dict(d: dict | None) -> SlaValue | None:
    if d is None:
        return None

    def cyc(c: dict, ongoing: bool) -> SlaCycle:
        return SlaCycle(start=to_ms(c["start"]), goal=int(c["goal"]), elapsed=int(c["elapsed"]),
                        breached=bool(c["breached"]), stop=None if ongoing else to_ms(c["stop"]),
                        paused=bool(c.get("paused", False)),
                        withinCalendarHours=bool(c.get("withinCalendarHours", True)))

    return SlaValue(completed=[cyc(c, False) for c in d.get("completedCycles") or []],
                    ongoing=cyc(d["ongoingCycle"], True) if d.get("ongoingCycle") else None)


def _plain(obj: Any) -> Any:
    if hasattr(obj, "__slots__") and hasattr(obj, "__dataclass_fields__"):
        return {k: _plain(getattr(obj, k)) for k in obj.__dataclass_fields__}
    if isinstance(obj, list):
        return [_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def site_to_dict(site: Site) -> dict:
    """The whole site as the documented JSON data format (SLAs materialised)."""
    from cache.fakejira.render import derived_sla

    with site.lock:
        sla_fields = site.sla_fields()
        issues = []
        for issue in sorted(site.issues.values(), key=lambda i: i.id):
            d = _plain(issue)
            d.pop("worklogIds")
            d["sla"] = {f.id: sla_to_dict(issue.sla[f.id] if issue.sla is not None and f.id in issue.sla
                                          else derived_sla(site, issue, f)) for f in sla_fields}
            issues.append(d)
        return {
            "format": FORMAT,
            "site": {"baseUrl": site.base_url, "title": site.title, "seed": site.seed,
                     "now": site._frozen_now, "renderTimeZone": site.render_time_zone},
            "myself": site.myself.accountId,
            "users": [_plain(u) for u in site.users.values()],
            "statusCategories": _plain(site.status_categories),
            "statuses": _plain(site.statuses),
            "priorities": _plain(site.priorities),
            "issueTypes": _plain(site.issue_types),
            "resolutions": _plain(site.resolutions),
            "projects": _plain(site.projects),
            "serviceDesks": _plain(site.service_desks),
            "organizations": _plain(site.organizations),
            "requestTypes": _plain(site.request_types),
            "fields": _plain(site.fields),
            "issues": issues,
            "worklogs": [_plain(w) for w in sorted(site.worklogs.values(), key=lambda w: w.id)],
            "deletedWorklogs": [{"worklogId": w, "deletedAt": at} for w, at in site.deleted_worklogs],
        }


def site_from_dict(data: dict) -> Site:
    """Build a site from the JSON data format; raises ValueError/KeyError/TypeError on bad data."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"expected \"format\": \"{FORMAT}\" at the top level")
    users = {u["accountId"]: User(**u) for u in data["users"]}
    me = users[data["myself"]]
    meta = data.get("site") or {}
    site = Site(base_url=meta.get("baseUrl", "https://fake.atlassian.net"), myself=me,
                now=meta.get("now"), seed=int(meta.get("seed", 0)))
    site.title = meta.get("title", site.title)
    site.render_time_zone = meta.get("renderTimeZone")
    site.users = users
    site.status_categories = [StatusCategory(**x) for x in data["statusCategories"]]
    site.statuses = [Status(**x) for x in data["statuses"]]
    site.priorities = [Priority(**x) for x in data["priorities"]]
    site.issue_types = [IssueType(**x) for x in data["issueTypes"]]
    site.resolutions = [Resolution(**x) for x in data["resolutions"]]
    site.projects = [Project(**{**x, "components": [Component(**c) for c in x.get("components", [])]})
                     for x in data["projects"]]
    site.service_desks = [ServiceDesk(**x) for x in data.get("serviceDesks", [])]
    site.organizations = [Organization(**x) for x in data.get("organizations", [])]
    site.request_types = [RequestType(**x) for x in data.get("requestTypes", [])]
    site.fields = [Field(**x) for x in data["fields"]]
    for x in data.get("issues", []):
        x = dict(x)
        x.pop("worklogIds", None)
        sla = x.pop("sla", None)
        issue = Issue(**x)
        if sla is not None:
            issue.sla = {fid: sla_from_dict(v) for fid, v in sla.items()}
        site.issues[issue.id] = issue
    for x in data.get("worklogs", []):
        wl = Worklog(**x)
        if wl.issueId not in site.issues:
            raise ValueError(f"worklog {wl.id} belongs to unknown issue {wl.issueId}")
        site.worklogs[wl.id] = wl
        site.issues[wl.issueId].worklogIds.append(wl.id)
    for issue in site.issues.values():
        issue.worklogIds.sort()
    site.deleted_worklogs = sorted((int(d["worklogId"]), int(d["deletedAt"]))
                                   for d in data.get("deletedWorklogs", []))
    site.deleted_worklogs.sort(key=lambda t: (t[1], t[0]))
    _check_references(site)
    for name, lst in (("statuses", site.statuses), ("priorities", site.priorities),
                      ("issueTypes", site.issue_types), ("projects", site.projects)):
        if not lst:
            raise ValueError(f"{name} must not be empty")
    site.reindex()
    return site


def _check_references(site: Site) -> None:
    refs = {"projectId": {p.id for p in site.projects}, "statusId": {x.id for x in site.statuses},
            "priorityId": {x.id for x in site.priorities}, "issueTypeId": {x.id for x in site.issue_types}}
    resolutions = {x.id for x in site.resolutions}
    categories = {c.id for c in site.status_categories}
    for st in site.statuses:
        if st.categoryId not in categories:
            raise ValueError(f"status {st.id} has unknown categoryId {st.categoryId}")
    for sd in site.service_desks:
        if sd.projectId not in refs["projectId"]:
            raise ValueError(f"service desk {sd.id} has unknown projectId {sd.projectId}")
    for issue in site.issues.values():
        for attr, known in refs.items():
            if getattr(issue, attr) not in known:
                raise ValueError(f"issue {issue.key} has unknown {attr} {getattr(issue, attr)}")
        if issue.resolutionId is not None and issue.resolutionId not in resolutions:
            raise ValueError(f"issue {issue.key} has unknown resolutionId {issue.resolutionId}")
        if not isinstance(issue.created, int) or not isinstance(issue.updated, int):
            raise ValueError(f"issue {issue.key}: created/updated must be epoch milliseconds")


def dump_site(site: Site, path: str) -> None:
    import json

    with open(path, "w", encoding="utf-8") as fh:
        json.dump(site_to_dict(site), fh, separators=(",", ":"))


def load_site(path: str) -> Site:
    """Load a data file; any problem raises ``tickets.errors.InputError`` (one line)."""
    import json

    from tickets.errors import InputError

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise InputError(f"--data {path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"--data {path}: not valid JSON: {exc}") from None
    try:
        return site_from_dict(data)
    except KeyError as exc:
        raise InputError(f"--data {path}: not a valid fake Jira data file: missing {exc}") from None
    except (ValueError, TypeError, StopIteration) as exc:
        raise InputError(f"--data {path}: not a valid fake Jira data file: {exc}") from None
