"""Peewee models: the Jira cache and the tool's own data, in one database.

Conventions
-----------
* Every model binds to :data:`cache.db.database` (a ``DatabaseProxy``), so one
  handle, opened from a URL, serves SQLite and PostgreSQL alike.
* Timestamps are stored as **naive UTC** ``DateTimeField`` values.  Period
  boundaries are converted to naive UTC before they meet SQL.
* Jira rows are keyed by Jira's immutable ids (issue keys change on a move).
* Multi-valued issue fields (labels, components, organizations, custom field
  values) live in child tables so JQL compiles to SQL joins/EXISTS.
* ``raw_fields`` keeps the JSON of every field the sync fetched, for JQL
  clauses naming fields that have no column.
* Contracts, clauses, amends and portal entries are the tool's own data: the
  sync never touches them and "wipe the cache" leaves them alone
  (:data:`CACHE_MODELS` vs :data:`OWN_MODELS`).

Schema changes go through :mod:`cache.migrations` (never "delete your
database"): change a model here AND append a migration step there.
"""

from __future__ import annotations

import json
from typing import Any

import peewee as pw

from cache.db import database


class JSONField(pw.TextField):
    """JSON stored as text (portable across SQLite and PostgreSQL)."""

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    def python_value(self, value: str | None) -> Any:
        if value is None:
            return None
        return json.loads(value)


class BaseModel(pw.Model):
    class Meta:
        database = database
        legacy_table_names = False


# --------------------------------------------------------------------------
# Bookkeeping
# --------------------------------------------------------------------------


class Meta(BaseModel):
    """Key/value facts about this database (schema_version, jira_time_zone...)."""

    key = pw.CharField(primary_key=True, max_length=100)
    value = pw.TextField()


# --------------------------------------------------------------------------
# Jira reference data
# --------------------------------------------------------------------------


class JiraField(BaseModel):
    """``GET /rest/api/3/field``: system and custom fields."""

    id = pw.CharField(primary_key=True, max_length=100)  # "summary", "customfield_10010"
    name = pw.CharField(max_length=255, index=True)
    custom = pw.BooleanField(default=False)
    schema_type = pw.CharField(max_length=100, null=True)  # "array", "option", "sd-servicelevelagreement"...
    schema_items = pw.CharField(max_length=100, null=True)
    schema_custom = pw.CharField(max_length=255, null=True)  # "com.atlassian.servicedesk:sd-sla-field"
    custom_id = pw.BigIntegerField(null=True)  # N of cf[N]
    clause_names = JSONField(default=list)  # JQL names Jira accepts for it


class Priority(BaseModel):
    """Priorities in Jira's order: ``position`` 0 is the highest."""

    id = pw.CharField(primary_key=True, max_length=50)
    name = pw.CharField(max_length=255)
    position = pw.IntegerField()


class StatusCategory(BaseModel):
    id = pw.IntegerField(primary_key=True)
    key = pw.CharField(max_length=50)  # "new", "indeterminate", "done"
    name = pw.CharField(max_length=255)


class Status(BaseModel):
    id = pw.CharField(primary_key=True, max_length=50)
    name = pw.CharField(max_length=255)
    category_key = pw.CharField(max_length=50, null=True)


class Resolution(BaseModel):
    id = pw.CharField(primary_key=True, max_length=50)
    name = pw.CharField(max_length=255)


class IssueType(BaseModel):
    id = pw.CharField(primary_key=True, max_length=50)
    name = pw.CharField(max_length=255)
    subtask = pw.BooleanField(default=False)


class Project(BaseModel):
    id = pw.CharField(primary_key=True, max_length=50)
    key = pw.CharField(max_length=100, index=True)
    name = pw.CharField(max_length=255)


class ServiceDesk(BaseModel):
    id = pw.CharField(primary_key=True, max_length=50)
    project_id = pw.CharField(max_length=50, index=True)
    project_key = pw.CharField(max_length=100)
    project_name = pw.CharField(max_length=255)


class Organization(BaseModel):
    """A JSM organization."""

    id = pw.CharField(primary_key=True, max_length=50)
    name = pw.CharField(max_length=255, index=True)


class OrganizationUser(BaseModel):
    organization = pw.ForeignKeyField(Organization, on_delete="CASCADE", backref="users")
    account_id = pw.CharField(max_length=128, index=True)
    display_name = pw.CharField(max_length=255, null=True)

    class Meta:
        indexes = ((("organization", "account_id"), True),)


class ServiceDeskOrganization(BaseModel):
    service_desk = pw.ForeignKeyField(ServiceDesk, on_delete="CASCADE", backref="organizations")
    organization = pw.ForeignKeyField(Organization, on_delete="CASCADE", backref="service_desks")

    class Meta:
        indexes = ((("service_desk", "organization"), True),)


# --------------------------------------------------------------------------
# Issues, worklogs, SLA cycles
# --------------------------------------------------------------------------


class Issue(BaseModel):
    id = pw.BigIntegerField(primary_key=True)  # Jira's immutable issue id
    key = pw.CharField(max_length=100, index=True)
    project_id = pw.CharField(max_length=50, index=True)
    project_key = pw.CharField(max_length=100)
    issuetype_id = pw.CharField(max_length=50, null=True)
    issuetype_name = pw.CharField(max_length=255, null=True)
    status_id = pw.CharField(max_length=50, null=True)
    status_name = pw.CharField(max_length=255, null=True)
    status_category_key = pw.CharField(max_length=50, null=True)
    priority_id = pw.CharField(max_length=50, null=True)
    priority_name = pw.CharField(max_length=255, null=True)
    resolution_id = pw.CharField(max_length=50, null=True)
    resolution_name = pw.CharField(max_length=255, null=True)
    resolution_date = pw.DateTimeField(null=True)
    created = pw.DateTimeField(index=True)
    updated = pw.DateTimeField(index=True)
    due = pw.DateField(null=True)
    summary = pw.TextField(default="")
    assignee_id = pw.CharField(max_length=128, null=True)
    reporter_id = pw.CharField(max_length=128, null=True)
    creator_id = pw.CharField(max_length=128, null=True)
    parent_id = pw.BigIntegerField(null=True)
    request_type = pw.CharField(max_length=255, null=True)
    worklog_total = pw.IntegerField(default=0)  # Jira's count, to know when the 20-entry cap bit
    raw_fields = JSONField(default=dict)
    synced_at = pw.DateTimeField()


class IssueLabel(BaseModel):
    issue = pw.ForeignKeyField(Issue, on_delete="CASCADE", backref="label_rows")
    label = pw.CharField(max_length=255, index=True)

    class Meta:
        indexes = ((("issue", "label"), True),)


class IssueComponent(BaseModel):
    issue = pw.ForeignKeyField(Issue, on_delete="CASCADE", backref="component_rows")
    component_id = pw.CharField(max_length=50)
    name = pw.CharField(max_length=255, index=True)

    class Meta:
        indexes = ((("issue", "component_id"), True),)


class IssueOrganization(BaseModel):
    issue = pw.ForeignKeyField(Issue, on_delete="CASCADE", backref="organization_rows")
    organization_id = pw.CharField(max_length=50, index=True)
    name = pw.CharField(max_length=255)

    class Meta:
        indexes = ((("issue", "organization_id"), True),)


class IssueFieldValue(BaseModel):
    """One value of one custom field on one issue (several for multi-valued fields).

    ``text`` holds the display value (option value, user account id, string);
    ``number`` / ``datetime`` hold typed values when the field has that type.
    """

    issue = pw.ForeignKeyField(Issue, on_delete="CASCADE", backref="field_values")
    field_id = pw.CharField(max_length=100)
    text = pw.TextField(null=True)
    option_id = pw.CharField(max_length=50, null=True)
    number = pw.DecimalField(max_digits=30, decimal_places=10, null=True, auto_round=False)
    datetime = pw.DateTimeField(null=True)

    class Meta:
        indexes = ((("field_id", "text"), False), (("issue", "field_id"), False))


class Worklog(BaseModel):
    id = pw.BigIntegerField(primary_key=True)
    # v4: indexed by (issue, time_spent_seconds) below (covering an issue's SUM) instead of (issue)
    issue = pw.ForeignKeyField(Issue, on_delete="CASCADE", backref="worklogs", index=False)
    author_id = pw.CharField(max_length=128, null=True)
    started = pw.DateTimeField()
    time_spent_seconds = pw.BigIntegerField()
    updated = pw.DateTimeField()

    class Meta:
        indexes = ((("issue", "time_spent_seconds"), False),)


class SlaCycle(BaseModel):
    """One cycle of one JSM SLA on one issue.

    An SLA field that is ``null`` on an issue (the SLA does not apply) has no
    rows.  ``kind`` is ``completed`` or ``ongoing``.
    """

    issue = pw.ForeignKeyField(Issue, on_delete="CASCADE", backref="sla_cycles")
    field_id = pw.CharField(max_length=100)
    sla_name = pw.CharField(max_length=255, index=True)
    kind = pw.CharField(max_length=20)
    start = pw.DateTimeField(null=True)
    stop = pw.DateTimeField(null=True)
    breach_time = pw.DateTimeField(null=True)
    breached = pw.BooleanField(default=False)
    paused = pw.BooleanField(default=False)
    goal_millis = pw.BigIntegerField(null=True)

    class Meta:
        # v4: breached included, so "has a breached cycle of these SLAs" reads the index only
        indexes = ((("issue", "sla_name", "breached"), False),)


# --------------------------------------------------------------------------
# Sync bookkeeping
# --------------------------------------------------------------------------


class SyncState(BaseModel):
    """Per scope: where the incremental sync stands."""

    scope = pw.CharField(primary_key=True, max_length=255)  # "issues", "worklogs", ...
    cursor = pw.TextField(null=True)  # issues: last committed `updated` (ISO UTC); worklogs: ms
    last_success = pw.DateTimeField(null=True)
    last_error = pw.TextField(null=True)


class SyncLog(BaseModel):
    """One row per sync run."""

    started = pw.DateTimeField(index=True)
    finished = pw.DateTimeField(null=True)
    status = pw.CharField(max_length=20, default="running")  # running|ok|failed|cancelled
    full = pw.BooleanField(default=False)
    issues_upserted = pw.IntegerField(default=0)
    issues_deleted = pw.IntegerField(default=0)
    worklogs_upserted = pw.IntegerField(default=0)
    worklogs_deleted = pw.IntegerField(default=0)
    error = pw.TextField(null=True)


# --------------------------------------------------------------------------
# The tool's own data
# --------------------------------------------------------------------------


class Contract(BaseModel):
    name = pw.CharField(max_length=200)
    name_key = pw.CharField(max_length=200, unique=True)  # casefolded name: uniqueness is case-insensitive
    start = pw.DateField()
    end = pw.DateField()
    time_zone = pw.CharField(max_length=64)
    period_type = pw.CharField(max_length=32)
    carry_over = pw.BooleanField(default=False)
    borrowing = pw.BooleanField(default=False)
    help_center = pw.BooleanField(default=False)
    revision = pw.IntegerField(default=1)  # optimistic locking: bumped on every save
    created_at = pw.DateTimeField()
    updated_at = pw.DateTimeField()
    # v2: free-text notes for the editor.  The SQL DEFAULT lets the migration
    # add the column in place (no table rebuild) on SQLite and PostgreSQL.
    notes = pw.TextField(default="", constraints=[pw.SQL("DEFAULT ''")])


class Clause(BaseModel):
    contract = pw.ForeignKeyField(Contract, on_delete="CASCADE", backref="clauses")
    position = pw.IntegerField()
    name = pw.CharField(max_length=200)
    type = pw.CharField(max_length=32)
    jql = pw.TextField(default="")
    limit_units = pw.BigIntegerField(null=True)  # issues, or seconds; NULL = unlimited / SLA
    sla = JSONField(default=list)
    target = pw.CharField(max_length=20, null=True)  # Decimal as text, exact

    class Meta:
        indexes = ((("contract", "position"), True),)  # v2: unique (was plain in v1)


class Amend(BaseModel):
    clause = pw.ForeignKeyField(Clause, on_delete="CASCADE", backref="amends")
    position = pw.IntegerField()
    date = pw.DateField()
    kind = pw.CharField(max_length=20)
    value_units = pw.BigIntegerField()
    notes = pw.TextField(default="")

    class Meta:
        indexes = ((("clause", "position"), True),)  # v2


class PortalEntry(BaseModel):
    """Customer-portal settings: kind is ``project``, ``user`` or ``organization``."""

    contract = pw.ForeignKeyField(Contract, on_delete="CASCADE", backref="portal_entries")
    kind = pw.CharField(max_length=20)
    value = pw.CharField(max_length=255)
    position = pw.IntegerField(default=0)

    class Meta:
        indexes = ((("contract", "kind", "value"), True),)


CACHE_MODELS: tuple[type[BaseModel], ...] = (
    JiraField, Priority, StatusCategory, Status, Resolution, IssueType, Project,
    ServiceDesk, Organization, OrganizationUser, ServiceDeskOrganization,
    Issue, IssueLabel, IssueComponent, IssueOrganization, IssueFieldValue,
    Worklog, SlaCycle, SyncState, SyncLog,
)
OWN_MODELS: tuple[type[BaseModel], ...] = (Contract, Clause, Amend, PortalEntry)
ALL_MODELS: tuple[type[BaseModel], ...] = (Meta,) + CACHE_MODELS + OWN_MODELS


# --------------------------------------------------------------------------
# Derived: clause memberships (cache/membership.py)
# --------------------------------------------------------------------------


class ClauseEval(BaseModel):
    """One row per clause: how its JQL was last evaluated.

    ``mode``: ``local`` (compiled to SQL over the cache), ``jira`` (Jira's
    ``/jql/match`` decided), ``invalid`` (parse error, or Jira rejected it;
    ``error`` says why) or ``pending`` (needs Jira, not evaluated yet;
    ``error`` names the construct).  A clause whose ``jql`` differs from
    this row's is stale and is re-evaluated.
    """

    clause = pw.ForeignKeyField(Clause, primary_key=True, on_delete="CASCADE")
    jql = pw.TextField()
    mode = pw.CharField(max_length=20)
    error = pw.TextField(null=True)
    evaluated_at = pw.DateTimeField(null=True)  # naive UTC


class ClauseMatch(BaseModel):
    """Issue ``issue`` matches clause ``clause``'s JQL (as of its ClauseEval).

    v4: each row also carries the facts measurement needs, so a report reads
    this one narrow table through the ``(clause, created, ...)`` covering
    index and nothing else (:mod:`cache.measure`):

    * ``created``: the issue's ``created``;
    * ``worklog_seconds``: ``SUM(worklog.time_spent_seconds)`` of the issue;
    * ``breached``: the issue fails the clause's SLAs (any cycle of a
      ``clause.sla`` name is breached, completed or ongoing).

    They are computed from the source rows whenever a membership row is
    written (:mod:`cache.membership`) and refreshed by the sync for every
    issue whose fields, SLA cycles or worklogs change
    (:func:`cache.membership.refresh_facts`); ``check_consistency`` proves
    them.  A clause's ``sla`` never changes under its rows: saving a
    contract rewrites its clauses (new ids, memberships re-evaluated).
    """

    clause = pw.ForeignKeyField(Clause, on_delete="CASCADE")
    issue = pw.ForeignKeyField(Issue, on_delete="CASCADE")
    # v4 (added in place by the migration, hence the SQL defaults)
    created = pw.DateTimeField(null=True)
    worklog_seconds = pw.BigIntegerField(default=0, constraints=[pw.SQL("DEFAULT 0")])
    breached = pw.BooleanField(default=False, constraints=[pw.SQL("DEFAULT FALSE")])

    class Meta:
        primary_key = pw.CompositeKey("clause", "issue")
        indexes = ((("clause", "created", "worklog_seconds", "breached"), False),)


class JiraRecheck(BaseModel):
    """v5: issue ``issue`` was stored by a sync and Jira-evaluated clauses must be re-asked about it.

    Written in the same transaction as the sync page that stored the issue;
    deleted only once the end-of-run ``/jql/match`` re-match of every
    ``jira`` clause over these ids succeeded.  A sync that fails or is
    cancelled after its issue pass (the cursor has moved on) leaves them here
    and the next sync, whatever it fetches, re-asks Jira about them first.
    Deleting the issue drops its row.
    """

    issue = pw.ForeignKeyField(Issue, primary_key=True, on_delete="CASCADE")

    class Meta:
        table_name = "jira_recheck"


#: derived from both the cache and the tool's own data; rebuilt on demand.
DERIVED_MODELS: tuple[type[BaseModel], ...] = (ClauseEval, ClauseMatch, JiraRecheck)
ALL_MODELS = ALL_MODELS + DERIVED_MODELS
