"""The Jira -> cache sync (jira-sync.md).  Knows nothing of Textual.

Entry point::

    run_sync(db, client, *, full=False, progress=None, cancel=None, now=None, scope=None) -> SyncResult

Steps, each restartable:

1. **Lock** (one sync per database): a lease in the ``meta`` row
   ``sync_lock`` claimed with a compare-and-set ``UPDATE ... WHERE value =
   <what was read>`` (works the same on SQLite and PostgreSQL, across
   processes), refreshed by a heartbeat thread every 15 s.  A lease is stale
   when its heartbeat is older than 90 s or its holder's pid is gone on this
   host (a SIGKILLed sync is taken over at once).  A second sync fails at once
   with ``RunError("another sync is running (started HH:MM by pid N)")``.
2. **Reference data** (fields, priorities in Jira's order, statuses and their
   categories, resolutions, issue types, projects, service desks, JSM
   organizations with users and desk membership) fetched, then replaced in one
   transaction; the Jira user's time zone (``/myself``) goes to ``meta``.
3. **Issues**: ``POST /rest/api/3/search/jql`` with ``(<scope>) AND updated >=
   "<cursor - overlap in the Jira user's zone>" ORDER BY updated ASC, id ASC``,
   an explicit field list, ``nextPageToken`` paging.  Each page is one
   transaction: issues upserted by id (a moved issue keeps its id and gets its
   new key), their labels/components/organizations/custom values/SLA cycles and
   worklogs replaced, and the scope's cursor advanced to the page's last
   ``updated``.  Issues whose embedded ``worklog`` is truncated (total > 20)
   get their worklogs from ``/issue/{id}/worklog`` first.  The page's ids go
   to ``jira_recheck`` in the same transaction: clauses only Jira evaluates
   are re-asked about them at the end of the run (or of the next one, when
   this one fails or is cancelled first).
4. **SLA breach refresh**: issues with an ongoing, unbreached SLA cycle whose
   breach time passed since the last sync are fetched again (a breach does not
   change ``updated``).
5. **Worklog feeds**: ``/worklog/updated`` then ``/worklog/list`` (<= 1000 ids)
   for worklogs of cached issues, ``/worklog/deleted``; each feed's ``since``
   is the ``until`` of its last complete walk.
6. **Deletions**: on ``full`` or when the approximate count of the scope
   differs from the cached count, list the ids in scope (``fields=["id"]``)
   and delete cached issues that are gone (worklogs, SLA rows cascade).

``full`` re-reads every issue of the scope (ignoring the cursor) and always
reconciles deletions.  Cancel (a ``threading.Event``) is honoured between
requests and during retry waits; what was committed stays, the log says
``cancelled``.  Every run writes a :class:`cache.models.SyncLog` row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import hashlib
import json
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import peewee as pw

from cache import dialect
from cache.config import SyncScope
from cache.jira import Cancelled, JiraClient, JiraError
from cache.models import (
    Clause,
    ClauseEval,
    Contract,
    Issue,
    IssueComponent,
    IssueFieldValue,
    IssueLabel,
    IssueOrganization,
    IssueType,
    JiraField,
    JiraRecheck,
    Meta,
    Organization,
    OrganizationUser,
    Priority,
    Project,
    Resolution,
    ServiceDesk,
    ServiceDeskOrganization,
    SlaCycle,
    Status,
    StatusCategory,
    SyncLog,
    SyncState,
    Worklog,
)
from tickets.errors import InputError, RunError, TicketbookError

log = logging.getLogger("ticketbook.sync")

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1)
SLA_CUSTOM = "com.atlassian.servicedesk:sd-sla-field"
ORG_CUSTOM = "com.atlassian.servicedesk:sd-customer-organizations"
REQUEST_TYPE_CUSTOM = "com.atlassian.servicedesk:vp-origin"
SYSTEM_FIELDS = [
    "summary", "issuetype", "project", "status", "priority", "resolution", "resolutiondate",
    "created", "updated", "duedate", "labels", "components", "assignee", "reporter", "creator",
    "parent", "worklog",
]
DEFAULT_OVERLAP = dt.timedelta(minutes=5)
LOCK_KEY = "sync_lock"
ZONE_KEY = "jira_time_zone"
BATCH = 200


@dataclasses.dataclass(frozen=True)
class SyncProgress:
    stage: str  # reference | issues | sla | worklogs | deletions | done
    done: int
    total_estimate: int | None
    message: str


@dataclasses.dataclass
class SyncResult:
    status: str  # ok | cancelled
    started: dt.datetime
    finished: dt.datetime | None = None
    full: bool = False
    issues_upserted: int = 0
    issues_deleted: int = 0
    worklogs_upserted: int = 0
    worklogs_deleted: int = 0
    reconciled: bool = False
    log_id: int | None = None
    error: str | None = None


# --------------------------------------------------------------------------
# Time helpers (the cache stores naive UTC)
# --------------------------------------------------------------------------


def ms_to_utc(ms: int | float) -> dt.datetime:
    return EPOCH + dt.timedelta(milliseconds=int(ms))


def utc_to_ms(value: dt.datetime) -> int:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    delta = value - EPOCH
    return delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000


def parse_jira_time(value: Any) -> dt.datetime | None:
    """A Jira timestamp (``2025-06-10T11:00:00.000+0300``, ISO, epoch ms or DateDTO) as naive UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        if isinstance(value.get("epochMillis"), (int, float)):
            return ms_to_utc(value["epochMillis"])
        value = value.get("iso8601") or value.get("jira")
        if value is None:
            return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ms_to_utc(value)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit() and "T" in text:
        text = text[:-2] + ":" + text[-2:]
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise JiraError(f"Jira sent an unreadable timestamp {str(value)[:40]!r}") from None
    if parsed.tzinfo is None:
        return parsed
    return parsed.astimezone(UTC).replace(tzinfo=None)


def _parse_date(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def jql_time_literal(instant_utc: dt.datetime, zone_name: str | None) -> str:
    """``"yyyy-MM-dd HH:mm"`` in the Jira user's zone, floored, never later than ``instant_utc``.

    JQL reads date literals in the user's zone.  Around a DST fall-back the
    same wall time means two instants; step back until both are <= the target.
    """
    target = instant_utc.replace(tzinfo=UTC) if instant_utc.tzinfo is None else instant_utc.astimezone(UTC)
    try:
        zone = ZoneInfo(zone_name) if zone_name else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None:  # unknown zone: any offset is possible, widen by the largest one
        zone = ZoneInfo("UTC")
        target -= dt.timedelta(hours=14)
    local = target.astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
    for _ in range(4):
        readings = [local.replace(tzinfo=zone, fold=f).astimezone(UTC) for f in (0, 1)]
        if max(readings) <= target:
            break
        local -= dt.timedelta(hours=1)
    return local.strftime("%Y-%m-%d %H:%M")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


# --------------------------------------------------------------------------
# Parsing issues into rows
# --------------------------------------------------------------------------


@dataclasses.dataclass
class FieldInfo:
    id: str
    name: str
    custom: bool
    schema_type: str | None
    schema_items: str | None
    schema_custom: str | None


def _id_of(value: Any, key: str = "id") -> str | None:
    if isinstance(value, dict) and value.get(key) is not None:
        return str(value[key])
    return None


def _text_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    if isinstance(value, dict):
        for k in ("value", "name", "accountId", "displayName", "key", "id"):
            if value.get(k) is not None and not isinstance(value[k], (dict, list)):
                return str(value[k])
        if isinstance(value.get("requestType"), dict):
            return _text_of(value["requestType"])
        return json.dumps(value, sort_keys=True)[:2000]
    return json.dumps(value, sort_keys=True)[:2000]


def _field_value_rows(issue_id: int, info: FieldInfo, value: Any) -> list[dict]:
    if value is None or value == [] or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    kind = info.schema_items if isinstance(value, list) else info.schema_type
    rows = []
    for item in items:
        if item is None:
            continue
        row = {"issue": issue_id, "field_id": info.id, "text": None, "option_id": None, "number": None,
               "datetime": None}
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            row["number"] = decimal.Decimal(str(item))
            row["text"] = str(item)
        elif kind in ("datetime", "date") and isinstance(item, str):
            row["text"] = item
            try:
                row["datetime"] = (dt.datetime.combine(dt.date.fromisoformat(item), dt.time())
                                   if kind == "date" else parse_jira_time(item))
            except (ValueError, JiraError):
                pass
        elif isinstance(item, dict):
            if info.schema_custom == REQUEST_TYPE_CUSTOM and isinstance(item.get("requestType"), dict):
                row["text"] = _text_of(item["requestType"].get("name"))
                row["option_id"] = _id_of(item["requestType"])
            else:
                row["text"] = _text_of(item)
                row["option_id"] = _id_of(item) if ("value" in item or info.schema_custom == ORG_CUSTOM) else None
            child = item.get("child")
            if isinstance(child, dict):
                rows.append(dict(row))
                row = {**row, "text": _text_of(child), "option_id": _id_of(child)}
        else:
            row["text"] = _text_of(item)
        if row["text"] is not None and len(row["text"]) > 10_000:
            row["text"] = row["text"][:10_000]
        rows.append(row)
    return rows


def _sla_rows(issue_id: int, info: FieldInfo, value: Any) -> list[dict]:
    if not isinstance(value, dict):
        return []  # null: the SLA does not apply
    name = value.get("name") or info.name
    rows = []

    def cycle(c: dict, kind: str) -> dict:
        goal = c.get("goalDuration")
        return {"issue": issue_id, "field_id": info.id, "sla_name": str(name)[:255], "kind": kind,
                "start": parse_jira_time(c.get("startTime")),
                "stop": parse_jira_time(c.get("stopTime")) if kind == "completed" else None,
                "breach_time": parse_jira_time(c.get("breachTime")),
                "breached": bool(c.get("breached")), "paused": bool(c.get("paused")) if kind == "ongoing" else False,
                "goal_millis": goal.get("millis") if isinstance(goal, dict) else None}

    for c in value.get("completedCycles") or []:
        if isinstance(c, dict):
            rows.append(cycle(c, "completed"))
    if isinstance(value.get("ongoingCycle"), dict):
        rows.append(cycle(value["ongoingCycle"], "ongoing"))
    return rows


def _worklog_row(w: dict, issue_id: int | None = None) -> dict:
    author = w.get("author") if isinstance(w.get("author"), dict) else {}
    return {
        "id": int(w["id"]),
        "issue": int(issue_id if issue_id is not None else w["issueId"]),
        "author_id": author.get("accountId"),
        "started": parse_jira_time(w.get("started")),
        "time_spent_seconds": int(w.get("timeSpentSeconds") or 0),
        "updated": parse_jira_time(w.get("updated")) or parse_jira_time(w.get("created")),
    }


@dataclasses.dataclass
class ParsedIssue:
    row: dict
    labels: list[dict]
    components: list[dict]
    organizations: list[dict]
    values: list[dict]
    slas: list[dict]
    worklogs: list[dict] | None  # None: fetch separately (embedded list truncated)
    worklog_total: int


def parse_issue(bean: dict, fields: dict[str, FieldInfo], synced_at: dt.datetime) -> ParsedIssue:
    try:
        issue_id = int(bean["id"])
        f = bean.get("fields") or {}
        project = f.get("project") or {}
        status = f.get("status") or {}
        created = parse_jira_time(f.get("created"))
        updated = parse_jira_time(f.get("updated")) or created
    except (KeyError, TypeError, ValueError):
        raise JiraError("Jira sent an issue without id/fields") from None
    if created is None or updated is None:
        raise JiraError(f"Jira sent issue {bean.get('key')} without created/updated")
    request_type = None
    labels, components, orgs, values, slas = [], [], [], [], []
    for fid, value in f.items():
        info = fields.get(fid)
        if info is None or not info.custom:
            continue
        if info.schema_custom == SLA_CUSTOM:
            slas.extend(_sla_rows(issue_id, info, value))
            continue
        if info.schema_custom == ORG_CUSTOM and isinstance(value, list):
            seen = set()
            for o in value:
                oid = _id_of(o)
                if oid and oid not in seen:
                    seen.add(oid)
                    orgs.append({"issue": issue_id, "organization_id": oid, "name": str(o.get("name") or "")[:255]})
        if info.schema_custom == REQUEST_TYPE_CUSTOM and isinstance(value, dict):
            rt = value.get("requestType")
            if isinstance(rt, dict) and rt.get("name"):
                request_type = str(rt["name"])[:255]
        values.extend(_field_value_rows(issue_id, info, value))
    for label in dict.fromkeys(f.get("labels") or []):
        labels.append({"issue": issue_id, "label": str(label)[:255]})
    seen_c = set()
    for c in f.get("components") or []:
        cid = _id_of(c)
        if cid and cid not in seen_c:
            seen_c.add(cid)
            components.append({"issue": issue_id, "component_id": cid, "name": str(c.get("name") or "")[:255]})
    wl = f.get("worklog") if isinstance(f.get("worklog"), dict) else {}
    embedded = [w for w in wl.get("worklogs") or [] if isinstance(w, dict)]
    total = wl.get("total") if isinstance(wl.get("total"), int) else len(embedded)
    worklogs = [_worklog_row(w, issue_id) for w in embedded] if total <= len(embedded) else None
    parent = f.get("parent")
    raw = {k: v for k, v in f.items() if k != "worklog"}
    row = {
        "id": issue_id,
        "key": str(bean.get("key") or issue_id),
        "project_id": str(project.get("id") or ""),
        "project_key": str(project.get("key") or str(bean.get("key", "")).rpartition("-")[0]),
        "issuetype_id": _id_of(f.get("issuetype")),
        "issuetype_name": (f.get("issuetype") or {}).get("name"),
        "status_id": _id_of(status),
        "status_name": status.get("name"),
        "status_category_key": (status.get("statusCategory") or {}).get("key"),
        "priority_id": _id_of(f.get("priority")),
        "priority_name": (f.get("priority") or {}).get("name"),
        "resolution_id": _id_of(f.get("resolution")),
        "resolution_name": (f.get("resolution") or {}).get("name"),
        "resolution_date": parse_jira_time(f.get("resolutiondate")),
        "created": created,
        "updated": updated,
        "due": _parse_date(f.get("duedate")),
        "summary": str(f.get("summary") or ""),
        "assignee_id": _id_of(f.get("assignee"), "accountId"),
        "reporter_id": _id_of(f.get("reporter"), "accountId"),
        "creator_id": _id_of(f.get("creator"), "accountId"),
        "parent_id": int(parent["id"]) if isinstance(parent, dict) and str(parent.get("id", "")).isdigit() else None,
        "request_type": request_type,
        "worklog_total": total,
        "raw_fields": raw,
        "synced_at": synced_at,
    }
    return ParsedIssue(row, labels, components, orgs, values, slas, worklogs, total)


# --------------------------------------------------------------------------
# The lock
# --------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


class SyncLock:
    """A lease in ``meta[sync_lock]``: compare-and-set claim, heartbeat, stale takeover."""

    def __init__(self, db: pw.Database, *, stale_after: float = 90.0, heartbeat_every: float = 15.0,
                 clock: Callable[[], dt.datetime] = _utcnow) -> None:
        self.db = db
        self.stale_after = stale_after
        self.heartbeat_every = heartbeat_every
        self.clock = clock
        self.token = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._value: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()
        self.lost = False
        self.took_over: dict | None = None

    def _encode(self, started: str) -> str:
        return json.dumps({"token": self.token, "pid": self.pid, "host": self.host, "started": started,
                           "heartbeat": self.clock().astimezone(UTC).isoformat()}, sort_keys=True)

    def _is_stale(self, info: dict) -> bool:
        try:
            beat = dt.datetime.fromisoformat(info["heartbeat"])
        except (KeyError, TypeError, ValueError):
            return True
        if (self.clock() - beat).total_seconds() > self.stale_after:
            return True
        if info.get("host") == self.host and isinstance(info.get("pid"), int) and not _pid_alive(info["pid"]):
            return True
        return False

    @staticmethod
    def describe_holder(info: dict) -> str:
        try:
            started = dt.datetime.fromisoformat(info["started"]).astimezone().strftime("%H:%M")
        except (KeyError, TypeError, ValueError):
            started = "?"
        where = "" if info.get("host") == socket.gethostname() else f" on {info.get('host')}"
        return f"another sync is running (started {started} by pid {info.get('pid')}{where}); try again when it ends"

    def acquire(self) -> None:
        Meta.insert(key=LOCK_KEY, value="").on_conflict_ignore().execute()
        current = Meta.get(Meta.key == LOCK_KEY).value or ""
        info: dict = {}
        if current:
            try:
                info = json.loads(current)
            except ValueError:
                info = {}
            if info and not self._is_stale(info):
                raise RunError(self.describe_holder(info))
        new = self._encode(self.clock().astimezone(UTC).isoformat())
        claimed = Meta.update(value=new).where((Meta.key == LOCK_KEY) & (Meta.value == current)).execute()
        if claimed != 1:
            row = Meta.get_or_none(Meta.key == LOCK_KEY)
            try:
                other = json.loads(row.value) if row and row.value else {}
            except ValueError:
                other = {}
            raise RunError(self.describe_holder(other) if other else "another sync is starting; try again")
        self._value = new
        self.took_over = info or None
        self._thread = threading.Thread(target=self._beat, name="sync-lock-heartbeat", daemon=True)
        self._thread.start()

    def _refresh(self) -> None:
        with self._mutex:
            if self._value is None:
                return
            started = json.loads(self._value)["started"]
            new = self._encode(started)
            n = Meta.update(value=new).where((Meta.key == LOCK_KEY) & (Meta.value == self._value)).execute()
            if n == 1:
                self._value = new
            else:
                self.lost = True

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.heartbeat_every):
                try:
                    self._refresh()
                except Exception as exc:  # keep beating; a locked database is transient
                    log.warning("sync lock heartbeat failed: %s", exc)
        finally:
            try:
                self.db.close()  # this thread's connection
            except Exception:
                pass

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._mutex:
            if self._value is not None:
                try:
                    Meta.update(value="").where((Meta.key == LOCK_KEY) & (Meta.value == self._value)).execute()
                finally:
                    self._value = None


def lock_holder(db: pw.Database | None = None) -> dict | None:
    """The current lock holder's info (pid, host, started, heartbeat), or None."""
    row = Meta.get_or_none(Meta.key == LOCK_KEY)
    if row is None or not row.value:
        return None
    try:
        return json.loads(row.value)
    except ValueError:
        return None


# --------------------------------------------------------------------------
# Helpers for readers
# --------------------------------------------------------------------------


def last_successful_sync(db: pw.Database | None = None) -> dt.datetime | None:
    """Finish time (aware UTC) of the last sync that ended ``ok``; None if never."""
    row = (SyncLog.select(SyncLog.finished).where((SyncLog.status == "ok") & SyncLog.finished.is_null(False))
           .order_by(SyncLog.finished.desc()).first())
    if row is None or row.finished is None:
        return None
    finished = row.finished
    if isinstance(finished, str):
        finished = dt.datetime.fromisoformat(finished)
    return finished.replace(tzinfo=UTC)


def jira_time_zone(db: pw.Database | None = None) -> str | None:
    row = Meta.get_or_none(Meta.key == ZONE_KEY)
    return row.value if row else None


# --------------------------------------------------------------------------
# The sync
# --------------------------------------------------------------------------


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _set_meta(key: str, value: str) -> None:
    Meta.insert(key=key, value=value).on_conflict(conflict_target=[Meta.key],
                                                  update={Meta.value: value}).execute()


def _set_state(scope: str, **values: Any) -> None:
    row = {"scope": scope, **values}
    SyncState.insert(**row).on_conflict(
        conflict_target=[SyncState.scope],
        update={getattr(SyncState, k): v for k, v in values.items()},
    ).execute()


_ISSUE_COLUMNS = [f for f in Issue._meta.sorted_fields if f.name != "id"]
_WORKLOG_COLUMNS = [f for f in Worklog._meta.sorted_fields if f.name != "id"]


class _Run:
    def __init__(self, db: pw.Database, client: JiraClient, *, full: bool, progress, cancel: threading.Event,
                 clock: Callable[[], dt.datetime], scope: SyncScope | None, overlap: dt.timedelta,
                 result: SyncResult) -> None:
        self.db = db
        self.client = client
        self.full = full
        self.progress_cb = progress
        self.cancel = cancel
        self.clock = clock
        self.scope_cfg = scope or SyncScope()
        self.overlap = overlap
        self.result = result
        self.fields: dict[str, FieldInfo] = {}
        self.zone: str | None = None
        self.server_now: dt.datetime = clock().astimezone(UTC).replace(tzinfo=None)
        self.scope_jql = ""
        self.state_key = ""
        self.lock: SyncLock | None = None
        self.changed_ids: set[int] = set()
        self.deleted_ids: set[int] = set()

    # -- plumbing ---------------------------------------------------------
    def transaction(self, body: Callable[[], Any]) -> Any:
        """``body()`` in one write transaction, retried as a whole on a transient failure.

        :func:`cache.dialect.write_transaction` (``BEGIN IMMEDIATE`` on SQLite) and
        :func:`cache.dialect.retrying` (a PostgreSQL deadlock with a concurrent
        contract save or report, SQLite still busy after the timeout): the
        body only writes what it was handed, so running it again is safe.
        """
        def once() -> Any:
            with dialect.write_transaction(self.db):
                # PostgreSQL: first of all, no clause may be deleted (a contract saved) until this
                # commits, locked in id order as a save locks its clauses: the page's membership
                # rows and facts never deadlock with a save (SQLite: the write lock already does).
                list(dialect.lock_referenced(Clause.select(Clause.id).order_by(Clause.id)).tuples())
                return body()

        return dialect.retrying(once, what="the sync", db=self.db)

    def update_memberships(self, changed: list[int], deleted: list[int], *, local: bool) -> bool:
        """Keep clause memberships (derived data) in step; on any failure drop them for re-evaluation.

        Runs in a savepoint of the caller's transaction: a failure there never
        loses synced data, it only makes every clause re-evaluate on next use.
        True when the memberships were brought up to date.
        """
        try:
            from cache import membership
        except ImportError:  # pragma: no cover - membership not installed
            return False
        try:
            if local:  # inside the page transaction, as a savepoint
                with self.db.atomic():
                    membership.after_sync(changed, deleted, client=None, local=True)
            else:  # talks to Jira: no transaction held open around the requests
                membership.after_sync(changed, deleted, client=self.client, local=False)
        except Cancelled:
            raise
        except Exception as exc:
            if local and dialect.is_transient(exc):
                # a deadlock or lock timeout inside the page transaction: retry the whole page
                # (the caller's dialect.retrying) rather than drop every membership
                raise
            log.warning("clause memberships could not be updated (%s); they will be re-evaluated", exc)
            with self.db.atomic():
                ClauseEval.delete().execute()
            return False
        return True

    def check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()
        if self.lock is not None and self.lock.lost:
            raise RunError("the sync lock was taken over by another process (this sync stalled too long); "
                           "stopping")

    def progress(self, stage: str, done: int, total: int | None, message: str) -> None:
        if self.progress_cb is not None:
            try:
                self.progress_cb(SyncProgress(stage, done, total, message))
            except Exception:  # a broken progress display must not break the sync
                log.exception("progress callback failed")

    def now_naive(self) -> dt.datetime:
        return self.clock().astimezone(UTC).replace(tzinfo=None)

    # -- steps ------------------------------------------------------------
    def run(self) -> None:
        me = self.client.myself()  # first contact: wrong URL / credentials fail here, before any output
        self.progress("reference", 0, None, "reading Jira reference data")
        self.zone = me.get("timeZone") if isinstance(me.get("timeZone"), str) else None
        try:
            info = self.client.server_info()
            self.server_now = parse_jira_time(info.get("serverTime")) or self.now_naive()
        except JiraError:
            self.server_now = self.now_naive()
        # The worklog feeds start from this run's beginning when they have never completed, and
        # that start is remembered now, so a first sync interrupted in the issue pass loses nothing.
        initial = str(utc_to_ms(self.server_now - self.overlap))
        for key in ("worklogs:updated", "worklogs:deleted"):
            SyncState.insert(scope=key, cursor=initial).on_conflict_ignore().execute()
        self.check()
        self.sync_reference()
        self.check()
        self.build_scope()
        self.sync_issues()
        self.check()
        self.refresh_sla_breaches()
        self.check()
        self.sync_worklog_feeds()
        self.check()
        self.reconcile()
        self.check()
        self.recheck_jira_clauses()
        self.evaluate_pending_clauses()
        if self.full:
            self.verify_facts()
        self.progress("done", 1, 1, "sync finished")

    def recheck_jira_clauses(self) -> None:
        """Clauses only Jira can evaluate: ask ``/jql/match`` about the issues stored since they last were.

        The ids come from ``jira_recheck``, filled by each page's transaction
        (:meth:`store_page`): this run's pages and whatever an earlier run
        that failed or was cancelled after storing them left behind (its
        cursor moved on, so no incremental sync would fetch them again).
        They are unmarked only once the re-match succeeded.
        """
        try:
            from cache import membership
        except ImportError:  # pragma: no cover
            return
        ids = membership.jira_recheck_ids()
        if not ids and not self.deleted_ids:
            return
        if self.update_memberships(ids, sorted(self.deleted_ids), local=False) and ids:
            self.transaction(lambda: membership.clear_jira_recheck(ids))

    def evaluate_pending_clauses(self) -> None:
        """Clauses never evaluated, edited, waiting for Jira, or time-dependent: evaluate them now.

        Jira is asked if needed; a Jira-evaluated clause whose JQL moves with
        the clock (``created >= -1d AND ...``) is asked again on every sync.
        A contract imported or edited since the last sync may hold clauses only
        Jira can evaluate; the sync is where the tool talks to Jira, so it
        settles them here.  Failures leave them pending; synced data is kept.
        """
        try:
            from cache import membership
        except ImportError:  # pragma: no cover
            return
        self.progress("clauses", 0, 1, "evaluating clause JQL")
        try:
            membership.ensure_all(client=self.client)
        except Cancelled:
            raise
        except (RunError, InputError) as exc:
            log.warning("some clauses could not be evaluated by Jira (%s); they stay pending", exc)

    def sync_reference(self) -> None:
        c = self.client
        fields = c.fields()
        priorities = c.priorities()
        categories = c.status_categories()
        statuses = c.statuses()
        resolutions = c.resolutions()
        issue_types = c.issue_types()
        self.check()
        projects = c.projects()
        def optional(call, *args):  # JSM data the account may not see: go on without it
            try:
                return call(*args)
            except JiraError as exc:
                if exc.status not in (403, 404):
                    raise
                log.warning("skipping Service Management data: %s", exc)
                return []

        desks = optional(c.service_desks)  # 404: not a Service Management site
        orgs = optional(c.organizations)
        self.check()
        org_users: dict[str, list[dict]] = {}
        for o in orgs:
            self.check()
            org_users[str(o["id"])] = optional(c.organization_users, o["id"])
        desk_orgs: dict[str, list[dict]] = {}
        for d in desks:
            self.check()
            desk_orgs[str(d["id"])] = optional(c.service_desk_organizations, d["id"])
        self.progress("reference", 1, 1, "storing reference data")

        field_rows = []
        for f in {str(f["id"]): f for f in fields}.values():
            schema = f.get("schema") or {}
            field_rows.append({
                "id": str(f["id"]), "name": str(f.get("name") or f["id"])[:255], "custom": bool(f.get("custom")),
                "schema_type": schema.get("type"), "schema_items": schema.get("items"),
                "schema_custom": schema.get("custom"),
                "custom_id": schema.get("customId") if isinstance(schema.get("customId"), int) else None,
                "clause_names": list(f.get("clauseNames") or []),
            })
        prio_rows = list({str(p["id"]): {"id": str(p["id"]), "name": p.get("name") or "", "position": i}
                          for i, p in reversed(list(enumerate(priorities)))}.values())  # first position wins
        cat_rows = {int(x["id"]): {"id": int(x["id"]), "key": x.get("key") or "", "name": x.get("name") or ""}
                    for x in categories}
        status_rows = {str(s["id"]): {"id": str(s["id"]), "name": s.get("name") or "",
                                      "category_key": (s.get("statusCategory") or {}).get("key")} for s in statuses}
        res_rows = {str(r["id"]): {"id": str(r["id"]), "name": r.get("name") or ""} for r in resolutions}
        type_rows = {str(t["id"]): {"id": str(t["id"]), "name": t.get("name") or "", "subtask": bool(t.get("subtask"))}
                     for t in issue_types}
        proj_rows = {str(p["id"]): {"id": str(p["id"]), "key": p.get("key") or "", "name": p.get("name") or ""}
                     for p in projects}
        desk_rows = {str(d["id"]): {"id": str(d["id"]), "project_id": str(d.get("projectId") or ""),
                                    "project_key": d.get("projectKey") or "", "project_name": d.get("projectName") or ""}
                     for d in desks}
        org_rows = {str(o["id"]): {"id": str(o["id"]), "name": o.get("name") or ""} for o in orgs}
        org_user_rows = []
        for oid, users in org_users.items():
            seen = set()
            for u in users:
                acc = u.get("accountId")
                if acc and acc not in seen:
                    seen.add(acc)
                    org_user_rows.append({"organization": oid, "account_id": acc, "display_name": u.get("displayName")})
        desk_org_rows = []
        for did, dorgs in desk_orgs.items():
            for oid in dict.fromkeys(str(o["id"]) for o in dorgs):
                if oid in org_rows:
                    desk_org_rows.append({"service_desk": did, "organization": oid})
        def write_reference() -> None:
            for model in (ServiceDeskOrganization, OrganizationUser, Organization, ServiceDesk, Project, IssueType,
                          Resolution, Status, StatusCategory, Priority, JiraField):
                model.delete().execute()
            for model, rows in ((JiraField, field_rows), (Priority, prio_rows), (StatusCategory, list(cat_rows.values())),
                                (Status, list(status_rows.values())), (Resolution, list(res_rows.values())),
                                (IssueType, list(type_rows.values())), (Project, list(proj_rows.values())),
                                (ServiceDesk, list(desk_rows.values())), (Organization, list(org_rows.values())),
                                (OrganizationUser, org_user_rows), (ServiceDeskOrganization, desk_org_rows)):
                for batch in _chunks(rows, BATCH):
                    model.insert_many(batch).execute()
            if self.zone:
                _set_meta(ZONE_KEY, self.zone)
            _set_meta("jira_url", self.client.url)

        self.transaction(write_reference)
        self.fields = {r["id"]: FieldInfo(r["id"], r["name"], r["custom"], r["schema_type"], r["schema_items"],
                                          r["schema_custom"]) for r in field_rows}
        self.projects = proj_rows
        self.desks = desk_rows

    def build_scope(self) -> None:
        cfg = self.scope_cfg
        if cfg.projects:
            by_key = {p["key"].upper(): p["id"] for p in self.projects.values()}
            unknown = [k for k in cfg.projects if k.upper() not in by_key]
            if unknown:
                raise InputError(f"sync projects: {', '.join(unknown)} not found on {self.client.url} "
                                 f"(projects there: {', '.join(sorted(by_key)) or 'none'})")
            ids = sorted({int(by_key[k.upper()]) for k in cfg.projects})
        else:
            ids = sorted({int(d["project_id"]) for d in self.desks.values() if d["project_id"].isdigit()})
            if not ids:
                raise InputError(f"{self.client.url} has no service desks: set the projects to sync "
                                 "(TICKETBOOK_SYNC_PROJECTS or [sync] projects in the config file)")
        start = cfg.start_date
        if start is None:
            earliest = Contract.select(pw.fn.MIN(Contract.start)).scalar()
            if earliest:
                if isinstance(earliest, str):
                    earliest = dt.date.fromisoformat(earliest[:10])
                # read in the Jira user's zone, while a contract's first day starts at midnight in
                # its own: zones differ by up to 26 hours (UTC+14 against UTC-12), so two days back
                start = earliest - dt.timedelta(days=2)
        jql = f"project in ({', '.join(str(i) for i in ids)})"
        if start is not None:
            jql += f' AND created >= "{start.isoformat()}"'
        self.scope_jql = jql
        self.state_key = "issues:" + hashlib.sha256(jql.encode()).hexdigest()[:16]

    def search_fields(self) -> list[str]:
        custom = sorted(fid for fid, info in self.fields.items() if info.custom)
        return SYSTEM_FIELDS + custom

    def store_page(self, beans: list[dict], *, cursor_scope: str | None) -> int:
        """Parse, fetch truncated worklogs, then one transaction for the page.  Returns issues stored."""
        synced_at = self.now_naive()
        by_id: dict[int, ParsedIssue] = {}
        for b in beans:  # a page may repeat an issue (updated while paging): keep the last copy
            p = parse_issue(b, self.fields, synced_at)
            by_id.pop(p.row["id"], None)
            by_id[p.row["id"]] = p
        parsed = list(by_id.values())
        for p in parsed:
            if p.worklogs is None:
                self.check()
                p.worklogs = [_worklog_row(w, p.row["id"]) for w in self.client.issue_worklogs(p.row["id"])]
        if not parsed:
            return 0
        ids = [p.row["id"] for p in parsed]
        wl_rows = {r["id"]: r for p in parsed for r in (p.worklogs or [])}
        from cache import membership

        def write_page() -> None:  # the page is one transaction: a report never reads half of it
            for batch in _chunks([p.row for p in parsed], 100):
                Issue.insert_many(batch).on_conflict(conflict_target=[Issue.id], preserve=_ISSUE_COLUMNS).execute()
            for model in (IssueLabel, IssueComponent, IssueOrganization, IssueFieldValue, SlaCycle, Worklog):
                for chunk in _chunks(ids, 500):
                    model.delete().where(model.issue.in_(chunk)).execute()
            for model, attr in ((IssueLabel, "labels"), (IssueComponent, "components"),
                                (IssueOrganization, "organizations"), (IssueFieldValue, "values"),
                                (SlaCycle, "slas")):
                rows = [r for p in parsed for r in getattr(p, attr)]
                for batch in _chunks(rows, BATCH):
                    model.insert_many(batch).execute()
            for batch in _chunks(list(wl_rows.values()), BATCH):
                Worklog.insert_many(batch).on_conflict(conflict_target=[Worklog.id],
                                                       preserve=_WORKLOG_COLUMNS).execute()
            self.update_memberships(ids, [], local=True)
            # Jira-evaluated clauses are re-asked about these ids at the end of the run; marked in
            # this transaction (not only in memory), so a run dying before that loses nothing.
            membership.mark_jira_recheck(ids)
            if cursor_scope is not None:
                last = max(p.row["updated"] for p in parsed)
                _set_state(cursor_scope, cursor=last.isoformat())

        self.transaction(write_page)
        self.changed_ids.update(ids)
        self.result.issues_upserted += len(parsed)
        self.result.worklogs_upserted += len(wl_rows)
        return len(parsed)

    def sync_issues(self) -> None:
        state = SyncState.get_or_none(SyncState.scope == self.state_key)
        cursor = None
        if state is not None and state.cursor and not self.full:
            cursor = dt.datetime.fromisoformat(state.cursor)
        jql = f"({self.scope_jql})"
        if cursor is not None:
            jql += f' AND updated >= "{jql_time_literal(cursor - self.overlap, self.zone)}"'
        jql += " ORDER BY updated ASC, id ASC"
        try:
            estimate = self.client.approximate_count(jql.split(" ORDER BY")[0])
        except JiraError:
            estimate = None
        self.progress("issues", 0, estimate, "fetching issues")
        done = 0
        for beans in self.client.search_pages(jql, self.search_fields()):
            self.check()
            done += self.store_page(beans, cursor_scope=self.state_key)
            self.progress("issues", done, estimate, f"{done} issues")
            self.check()
        _set_state(self.state_key, last_success=self.now_naive(), last_error=None)

    def refresh_sla_breaches(self) -> None:
        key = "sla-breach-refresh"
        state = SyncState.get_or_none(SyncState.scope == key)
        now = self.server_now
        if state is not None and state.cursor:
            since = dt.datetime.fromisoformat(state.cursor) - self.overlap
            ids = [r.issue_id for r in SlaCycle.select(SlaCycle.issue).distinct().where(
                (SlaCycle.kind == "ongoing") & (SlaCycle.breached == False)  # noqa: E712
                & (SlaCycle.breach_time > since) & (SlaCycle.breach_time <= now))]
            done = 0
            for chunk in _chunks(sorted(ids), 100):
                self.check()
                jql = f"({self.scope_jql}) AND id in ({', '.join(str(i) for i in chunk)}) ORDER BY id ASC"
                for beans in self.client.search_pages(jql, self.search_fields()):
                    done += self.store_page(beans, cursor_scope=None)
                self.progress("sla", done, len(ids), f"{done} issues with SLA breaches re-read")
        _set_state(key, cursor=now.isoformat(), last_success=self.now_naive())

    def verify_facts(self) -> None:
        """After a full sync: prove the facts clause memberships carry (cache.membership.check_consistency).

        They should never drift; if they did (a bug, a hand-edited database) they are
        recomputed for every matched issue and the sync says so in the log.
        """
        from cache import membership
        from cache.models import ClauseMatch

        problems = membership.check_consistency(limit=5)
        if problems:
            log.warning("clause membership facts had drifted (%s); recomputing them", "; ".join(problems))
            ids = [i for (i,) in ClauseMatch.select(ClauseMatch.issue).distinct().tuples()]
            self.transaction(lambda: membership.refresh_facts(ids))

    @staticmethod
    def _worklog_issue_ids(worklog_ids: list[int]) -> set[int]:
        """Issues the cached worklogs ``worklog_ids`` belong to."""
        out: set[int] = set()
        for chunk in _chunks(sorted(worklog_ids), 500):
            out |= {int(i) for (i,) in Worklog.select(Worklog.issue).where(Worklog.id.in_(chunk)).tuples()}
        return out

    @staticmethod
    def refresh_facts(issue_ids: set[int]) -> None:
        """Worklogs of ``issue_ids`` changed: refresh the seconds their clause memberships carry.

        In the caller's transaction; a failure fails the step (rolled back, cursor
        not advanced), so the derived seconds never drift from the worklogs.
        """
        if issue_ids:
            from cache import membership

            membership.refresh_facts(issue_ids)

    def _cached_issue_ids(self) -> set[int]:
        return {i for (i,) in Issue.select(Issue.id).tuples()}

    def sync_worklog_feeds(self) -> None:
        initial = utc_to_ms(self.server_now - self.overlap)
        cached = self._cached_issue_ids()
        # Updated worklogs.
        key = "worklogs:updated"
        state = SyncState.get_or_none(SyncState.scope == key)
        since = int(state.cursor) if state is not None and state.cursor else initial
        until = since
        changed: set[int] = set()
        self.progress("worklogs", 0, None, "reading changed worklogs")
        for page in self.client.changed_worklogs("updated", since):
            values = page.get("values") or []
            changed.update(int(v["worklogId"]) for v in values if "worklogId" in v)
            if values and isinstance(page.get("until"), int):
                until = max(until, page["until"])
            self.check()
        by_wid: dict[int, dict] = {}
        ids = sorted(changed)
        for chunk in _chunks(ids, 1000):
            self.check()
            for w in self.client.worklog_list(chunk):
                try:
                    if int(w.get("issueId")) in cached:
                        row = _worklog_row(w)
                        by_wid[row["id"]] = row
                except (TypeError, ValueError, KeyError):
                    continue
            self.progress("worklogs", len(by_wid), len(ids), f"{len(by_wid)} changed worklogs")
        rows = list(by_wid.values())

        def write_changed() -> None:
            touched = {int(r["issue"]) for r in rows} | self._worklog_issue_ids(list(by_wid))
            for batch in _chunks(rows, BATCH):
                Worklog.insert_many(batch).on_conflict(conflict_target=[Worklog.id],
                                                       preserve=_WORKLOG_COLUMNS).execute()
            self.refresh_facts(touched)
            _set_state(key, cursor=str(until), last_success=self.now_naive(), last_error=None)

        self.transaction(write_changed)
        self.result.worklogs_upserted += len(rows)
        # Deleted worklogs.
        key = "worklogs:deleted"
        state = SyncState.get_or_none(SyncState.scope == key)
        since = int(state.cursor) if state is not None and state.cursor else initial
        until = since
        gone: set[int] = set()
        for page in self.client.changed_worklogs("deleted", since):
            values = page.get("values") or []
            gone.update(int(v["worklogId"]) for v in values if "worklogId" in v)
            if values and isinstance(page.get("until"), int):
                until = max(until, page["until"])
            self.check()
        deleted_key = key

        def write_deleted() -> int:
            deleted = 0
            touched = self._worklog_issue_ids(sorted(gone))
            for chunk in _chunks(sorted(gone), 500):
                deleted += Worklog.delete().where(Worklog.id.in_(chunk)).execute()
            self.refresh_facts(touched)
            _set_state(deleted_key, cursor=str(until), last_success=self.now_naive(), last_error=None)
            return deleted

        self.result.worklogs_deleted += self.transaction(write_deleted)

    def reconcile(self) -> None:
        cached = Issue.select().count()
        try:
            count = self.client.approximate_count(self.scope_jql)
        except JiraError:
            count = None
        if not self.full and count is not None and count == cached:
            return
        self.progress("deletions", 0, count, "listing the issues in scope to find deleted ones")
        in_scope: set[int] = set()
        for beans in self.client.search_pages(f"({self.scope_jql}) ORDER BY id ASC", ["id"], max_results=5000):
            in_scope.update(int(b["id"]) for b in beans)
            self.progress("deletions", len(in_scope), count, f"{len(in_scope)} issue ids listed")
            self.check()
        gone = sorted(self._cached_issue_ids() - in_scope)
        if not in_scope and gone and count != 0:
            # Jira lists no issue but counts some, or could not count them: a permission or index
            # glitch is likelier than every issue deleted; only a count of 0 confirms the wipe.
            counted = "could not count them" if count is None else f"counts {count}"
            log.warning("the scope listed no issue while Jira %s; deletions skipped", counted)
            return
        deleted = 0
        for chunk in _chunks(gone, 500):
            self.check()

            def write_deletions(chunk: list[int] = chunk) -> int:
                for model in (IssueLabel, IssueComponent, IssueOrganization, IssueFieldValue, SlaCycle, Worklog,
                              JiraRecheck):
                    model.delete().where(model.issue.in_(chunk)).execute()
                n = Issue.delete().where(Issue.id.in_(chunk)).execute()
                self.update_memberships([], chunk, local=True)
                return n

            deleted += self.transaction(write_deletions)
            self.deleted_ids.update(chunk)
        self.result.issues_deleted += deleted
        self.result.reconciled = True


def run_sync(
    db: pw.Database,
    client: JiraClient,
    *,
    full: bool = False,
    progress: Callable[[SyncProgress], None] | None = None,
    cancel: threading.Event | None = None,
    now: Callable[[], dt.datetime] | dt.datetime | None = None,
    scope: SyncScope | None = None,
    overlap: dt.timedelta = DEFAULT_OVERLAP,
    lock_stale_after: float = 90.0,
    heartbeat_every: float = 15.0,
) -> SyncResult:
    """Bring the cache in ``db`` up to date with the site behind ``client``.

    Returns a :class:`SyncResult` (``status`` ``ok`` or ``cancelled``); raises
    :class:`RunError` / :class:`InputError` (after logging the run as
    ``failed``) when the sync cannot finish, including when another sync holds
    the lock.
    """
    if isinstance(now, dt.datetime):
        fixed = now if now.tzinfo else now.replace(tzinfo=UTC)
        clock: Callable[[], dt.datetime] = lambda: fixed  # noqa: E731
    else:
        clock = now or _utcnow
    cancel = cancel or client.cancel or threading.Event()
    client.cancel = cancel

    def naive_now() -> dt.datetime:
        return clock().astimezone(UTC).replace(tzinfo=None)

    # The lease always runs on the real clock (``now`` may be frozen for tests/reports).
    lock = SyncLock(db, stale_after=lock_stale_after, heartbeat_every=heartbeat_every)
    try:
        lock.acquire()
    except pw.OperationalError as exc:
        raise RunError(f"the database is busy ({exc}); try again") from None
    result = SyncResult(status="running", started=naive_now(), full=full)
    try:
        # Runs that died without finishing (we hold the lock: none is running).
        SyncLog.update(status="failed", error="interrupted: the sync ended without finishing",
                       finished=naive_now()).where(SyncLog.status == "running").execute()
        entry = SyncLog.create(started=result.started, status="running", full=full)
        result.log_id = entry.id
        error: TicketbookError | None = None
        try:
            run = _Run(db, client, full=full, progress=progress, cancel=cancel, clock=clock, scope=scope,
                       overlap=overlap, result=result)
            run.lock = lock
            run.run()
            result.status = "ok"
        except Cancelled:
            result.status = "cancelled"
        except TicketbookError as exc:
            result.status, result.error, error = "failed", str(exc), exc
        except pw.OperationalError as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            result.status, result.error = "failed", f"database error: {message}"
            if "locked" in message or "busy" in message:
                error = RunError("the database stayed locked by another program for too long during the sync; "
                                 "try again (what was committed is kept)")
            else:
                error = RunError(f"the database failed during the sync: {message}")
        except BaseException as exc:
            result.status = "failed"
            result.error = f"internal error: {type(exc).__name__}: {exc}"[:500]
            _finish(result, naive_now)
            raise
        if lock.lost and result.status == "ok":
            result.status, result.error = "failed", "the sync lock was taken over by another process"
            error = RunError("the sync lock was taken over by another process (this sync stalled too long)")
        _finish(result, naive_now)
        if error is not None:
            raise error
        return result
    finally:
        try:
            lock.release()
        except Exception:  # the lease expires by itself
            log.exception("releasing the sync lock failed")


def _finish(result: SyncResult, naive_now: Callable[[], dt.datetime]) -> None:
    result.finished = naive_now()
    try:
        SyncLog.update(finished=result.finished, status=result.status, issues_upserted=result.issues_upserted,
                       issues_deleted=result.issues_deleted, worklogs_upserted=result.worklogs_upserted,
                       worklogs_deleted=result.worklogs_deleted,
                       error=(result.error or None)).where(SyncLog.id == result.log_id).execute()
        if result.status == "failed":
            for row in SyncState.select().where(SyncState.scope.startswith("issues:")):
                _set_state(row.scope, last_error=result.error)
    except Exception:  # pragma: no cover - logging must not hide the real error
        log.exception("writing the sync log failed")
