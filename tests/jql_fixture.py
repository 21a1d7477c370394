"""A small hand-built cache for the JQL tests: every expected result is known by reading this file.

Jira user zone: Europe/Istanbul (UTC+3 all year since 2016).

Priorities in Jira's order (position 0 highest): Highest, High, Medium, Low, Lowest
(alphabetical order differs: High, Highest, Low, Lowest, Medium).

Projects: ABC "Alpha" (10000), XYZ "ABC" (10001: its NAME is another project's KEY), ZED "Zed Project" (10002).

| id   | key   | prio    | status      | resolution | created (UTC)      | labels | components | orgs   | Tier   | Hours |
|------|-------|---------|-------------|------------|--------------------|--------|------------|--------|--------|-------|
| 1001 | ABC-1 | High    | Open        | -          | 2023-01-14 22:30   | a, b   | fred       | Acme   | Gold   | 10    |
| 1002 | ABC-2 | Highest | Done        | Fixed      | 2023-01-14 20:59   | a      | bob        | -      | Silver | 5     |
| 1003 | ABC-3 | -       | In Progress | -          | 2023-01-15 22:00   | -      | -          | Globex | -      | -     |
| 1004 | XYZ-1 | Low     | Done        | Won't Fix  | 2023-01-10 08:00   | b      | fred, bob  | -      | Gold   | 20    |
| 1005 | XYZ-2 | Medium  | Waiting     | -          | 2023-01-12 08:00   | A      | joe        | -      | -      | -     |
| 1006 | ZED-1 | Lowest  | Open        | -          | 2023-02-01 08:00   | -      | -          | -      | -      | -     |
| 1007 | ZED-2 | High    | Open        | -          | 2023-01-05 08:00   | -      | -          | -      | -      | -     |
| 1008 | ABC-4 | Medium  | Open        | -          | 2023-01-06 08:00   | -      | -          | -      | -      | -     |

1006 was updated at the epoch itself (1970-01-01 00:00), every other issue in 2023.
Due dates: 1001 2023-01-20, 1007 2023-03-01.  1007 is assigned to ACC1.  1008 is a
sub-task of 1001.  Go Live (date field): 1001 2023-01-20.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cache.models import (
    Issue, IssueComponent, IssueFieldValue, IssueLabel, IssueOrganization, IssueType, JiraField, Meta,
    Organization, Priority, Project, Resolution, Status, StatusCategory,
)

ZONE = "Europe/Istanbul"
ACC1 = "5b10a2844c20165700ede21g"
ALL = {1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008}


def _t(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s)


def build(zone: str | None = ZONE) -> None:
    if zone:
        Meta.insert(key="jira_time_zone", value=zone).on_conflict(  # portable upsert (not INSERT OR REPLACE)
            conflict_target=[Meta.key], update={Meta.value: zone}).execute()
    Project.insert_many([
        {"id": "10000", "key": "ABC", "name": "Alpha"},
        {"id": "10001", "key": "XYZ", "name": "ABC"},
        {"id": "10002", "key": "ZED", "name": "Zed Project"},
    ]).execute()
    Priority.insert_many([
        {"id": "1", "name": "Highest", "position": 0}, {"id": "2", "name": "High", "position": 1},
        {"id": "3", "name": "Medium", "position": 2}, {"id": "4", "name": "Low", "position": 3},
        {"id": "5", "name": "Lowest", "position": 4},
    ]).execute()
    StatusCategory.insert_many([
        {"id": 2, "key": "new", "name": "To Do"}, {"id": 4, "key": "indeterminate", "name": "In Progress"},
        {"id": 3, "key": "done", "name": "Done"},
    ]).execute()
    Status.insert_many([
        {"id": "1", "name": "Open", "category_key": "new"},
        {"id": "3", "name": "In Progress", "category_key": "indeterminate"},
        {"id": "10", "name": "Done", "category_key": "done"},
        {"id": "11", "name": "Waiting for support", "category_key": "indeterminate"},
    ]).execute()
    Resolution.insert_many([{"id": "1", "name": "Fixed"}, {"id": "2", "name": "Won't Fix"}]).execute()
    IssueType.insert_many([
        {"id": "100", "name": "Task", "subtask": False}, {"id": "101", "name": "Sub-task", "subtask": True},
    ]).execute()
    Organization.insert_many([{"id": "1", "name": "Acme"}, {"id": "2", "name": "Globex"}]).execute()
    JiraField.insert_many([
        {"id": "customfield_10100", "name": "Tier", "custom": True, "schema_type": "option",
         "schema_custom": "com.atlassian.jira.plugin.system.customfieldtypes:select", "custom_id": 10100,
         "clause_names": ["cf[10100]", "Tier"]},
        {"id": "customfield_10101", "name": "Hours Budget", "custom": True, "schema_type": "number",
         "custom_id": 10101, "clause_names": ["cf[10101]", "Hours Budget"]},
        {"id": "customfield_10103", "name": "Dup", "custom": True, "schema_type": "number", "custom_id": 10103},
        {"id": "customfield_10104", "name": "Dup", "custom": True, "schema_type": "string", "custom_id": 10104},
        {"id": "customfield_10200", "name": "Go Live", "custom": True, "schema_type": "date", "custom_id": 10200},
        {"id": "summary", "name": "Summary", "custom": False, "schema_type": "string"},
    ]).execute()

    status = {"Open": ("1", "new"), "In Progress": ("3", "indeterminate"), "Done": ("10", "done"),
              "Waiting": ("11", "indeterminate")}
    prio = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5", None: None}
    proj = {"ABC": "10000", "XYZ": "10001", "ZED": "10002"}
    res = {None: None, "Fixed": "1", "Won't Fix": "2"}
    rows = [
        (1001, "ABC-1", "High", "Open", None, "2023-01-14 22:30"),
        (1002, "ABC-2", "Highest", "Done", "Fixed", "2023-01-14 20:59"),
        (1003, "ABC-3", None, "In Progress", None, "2023-01-15 22:00"),
        (1004, "XYZ-1", "Low", "Done", "Won't Fix", "2023-01-10 08:00"),
        (1005, "XYZ-2", "Medium", "Waiting", None, "2023-01-12 08:00"),
        (1006, "ZED-1", "Lowest", "Open", None, "2023-02-01 08:00"),
        (1007, "ZED-2", "High", "Open", None, "2023-01-05 08:00"),
        (1008, "ABC-4", "Medium", "Open", None, "2023-01-06 08:00"),
    ]
    for iid, key, p, st, r, created in rows:
        pkey = key.split("-")[0]
        Issue.insert(
            id=iid, key=key, project_id=proj[pkey], project_key=pkey,
            issuetype_id="101" if iid == 1008 else "100", issuetype_name="Sub-task" if iid == 1008 else "Task",
            status_id=status[st][0], status_name=st, status_category_key=status[st][1],
            priority_id=prio[p], priority_name=p, resolution_id=res[r], resolution_name=r,
            resolution_date=_t("2023-01-20 10:00") if r else None,
            created=_t(created), updated=_t("1970-01-01 00:00") if iid == 1006 else _t("2023-03-01 10:00"),
            due={1001: dt.date(2023, 1, 20), 1007: dt.date(2023, 3, 1)}.get(iid),
            summary=f"issue {key}", assignee_id=ACC1 if iid == 1007 else None, reporter_id="rep-0000000001",
            parent_id=1001 if iid == 1008 else None, synced_at=_t("2023-03-02 00:00"),
        ).execute()
    for iid, labels in {1001: ["a", "b"], 1002: ["a"], 1004: ["b"], 1005: ["A"]}.items():
        IssueLabel.insert_many([{"issue": iid, "label": lab} for lab in labels]).execute()
    comps = {"fred": "500", "bob": "501", "joe": "502"}
    for iid, names in {1001: ["fred"], 1002: ["bob"], 1004: ["fred", "bob"], 1005: ["joe"]}.items():
        IssueComponent.insert_many([{"issue": iid, "component_id": comps[n], "name": n} for n in names]).execute()
    IssueOrganization.insert_many([
        {"issue": 1001, "organization_id": "1", "name": "Acme"},
        {"issue": 1003, "organization_id": "2", "name": "Globex"},
    ]).execute()
    tier = {"Gold": "9001", "Silver": "9002"}
    values = []
    for iid, t in {1001: "Gold", 1002: "Silver", 1004: "Gold"}.items():
        values.append({"issue": iid, "field_id": "customfield_10100", "text": t, "option_id": tier[t]})
    for iid, h in {1001: 10, 1002: 5, 1004: 20}.items():
        values.append({"issue": iid, "field_id": "customfield_10101", "text": str(h), "number": Decimal(h)})
    values.append({"issue": 1001, "field_id": "customfield_10200", "text": "2023-01-20",
                   "datetime": dt.datetime(2023, 1, 20)})
    for v in values:  # one by one: insert_many takes its columns from the first row
        IssueFieldValue.insert(**v).execute()
