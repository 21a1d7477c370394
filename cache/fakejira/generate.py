"""A seeded generator of a realistic Jira Service Management site.

``generate_site(n_issues, seed=..., now=...)`` is deterministic for a given
``(n_issues, seed, now)``.  Per-issue work is kept light (a few random draws and
small objects; SLA values are derived lazily at request time), so 200,000
issues take seconds.
"""

from __future__ import annotations

import random
from typing import Any

from cache.fakejira.model import (
    ORG_CUSTOM,
    REQUEST_TYPE_CUSTOM,
    SLA_CUSTOM,
    Component,
    Field,
    Issue,
    IssueType,
    Organization,
    Priority,
    Project,
    RequestType,
    Resolution,
    ServiceDesk,
    Site,
    Status,
    StatusCategory,
    User,
    Worklog,
    now_ms,
    to_ms,
)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

# Well-known custom field ids of generated sites (documented in docs/fake-jira.md).
FIELD_ORGANIZATIONS = "customfield_10002"
FIELD_REQUEST_TYPE = "customfield_10010"
FIELD_TTFR = "customfield_10020"  # Time to first response
FIELD_TTR = "customfield_10021"  # Time to resolution
FIELD_TTCLOSE = "customfield_10022"  # Time to close after resolution
FIELD_TIER = "customfield_10030"  # select: Support tier
FIELD_HOURS = "customfield_10031"  # number: Estimated hours

FIRST = ["Ayşe", "Mehmet", "Elif", "Can", "Zeynep", "Burak", "Selin", "Emre", "Deniz", "Ece", "Kerem", "Aylin",
         "John", "Maria", "Sven", "Akira", "Priya", "Lucas", "Chloé", "Omar", "Nina", "Tom", "Sara", "Ivan"]
LAST = ["Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Öztürk", "Smith", "García", "Berg", "Tanaka", "Patel",
        "Silva", "Martin", "Haddad", "Novak", "Brown", "Rossi", "Petrov"]
ORGS = ["Acme Logistics", "Bosphorus Bank", "Cappadocia Air", "Delta Retail", "Ege Energy", "Fjord Shipping",
        "Galata Telecom", "Helios Health", "Istanbul Textiles", "Jade Insurance", "Kestrel Media",
        "Lumen Software", "Marmara Foods", "Nordic Pharma"]
SUMMARIES = ["Cannot log in to {x}", "{x} is slow since this morning", "Request new {x} account",
             "Error 500 on {x}", "Please reset password for {x}", "Data export from {x} fails",
             "Upgrade {x} to the latest version", "Add user to {x}", "Invoice question about {x}",
             "{x} integration stopped syncing", "Certificate for {x} expires soon", "Backup of {x} failed",
             "Question about {x} licence", "Configure SSO for {x}", "{x} report shows wrong totals"]
THINGS = ["VPN", "ERP", "the portal", "CRM", "email", "the billing API", "the warehouse app", "Jira",
          "SAP", "the mobile app", "the data warehouse", "printers", "Wi-Fi", "the HR system"]
LABELS = ["vip", "billing", "onsite", "remote", "escalated", "hardware", "software", "network", "security",
          "training", "follow-up", "P1-review"]


def _reference_data(site: Site, rng: random.Random, created_floor: int) -> None:
    site.status_categories = [StatusCategory(1, "undefined", "No Category", "medium-gray"),
                              StatusCategory(2, "new", "To Do", "blue-gray"),
                              StatusCategory(4, "indeterminate", "In Progress", "yellow"),
                              StatusCategory(3, "done", "Done", "green")]
    site.statuses = [Status(1, "Open", 2), Status(10001, "Waiting for support", 2),
                     Status(3, "In Progress", 4), Status(10002, "Waiting for customer", 4),
                     Status(10003, "Escalated", 4), Status(10004, "Pending", 4),
                     Status(5, "Resolved", 3), Status(6, "Closed", 3), Status(10005, "Canceled", 3)]
    # Jira's order (most urgent first); "Critical" is a custom one, so id order != priority order.
    site.priorities = [Priority(1, "Highest", "#d04437", description="This problem will block progress."),
                       Priority(10000, "Critical", "#b71c1c", description="Customer business stopped."),
                       Priority(2, "High", "#f15C75", description="Serious problem that could block progress."),
                       Priority(3, "Medium", "#f79232", isDefault=True, description="Has the potential to affect progress."),
                       Priority(4, "Low", "#707070", description="Minor problem or easily worked around."),
                       Priority(5, "Lowest", "#999999", description="Trivial problem with little or no impact.")]
    site.issue_types = [IssueType(10100, "Service Request", description="Request for help or information."),
                        IssueType(10101, "Incident", description="Something is broken."),
                        IssueType(10102, "Problem", description="Root cause of incidents."),
                        IssueType(10103, "Change", description="A change to IT infrastructure."),
                        IssueType(10104, "Task"),
                        IssueType(10105, "Sub-task", subtask=True, hierarchyLevel=-1)]
    site.resolutions = [Resolution(10000, "Done", "Work has been completed.", True),
                        Resolution(10001, "Won't Do", "This issue won't be actioned."),
                        Resolution(10002, "Duplicate", "The problem is a duplicate of an existing issue."),
                        Resolution(10003, "Cannot Reproduce", "All attempts at reproducing it failed.")]
    site.projects = [
        Project(10000, "SUP", "Customer Support", "service_desk",
                components=[Component(10000, "Portal"), Component(10001, "Billing"), Component(10002, "Accounts")]),
        Project(10001, "HD", "IT Helpdesk", "service_desk",
                components=[Component(10010, "Hardware"), Component(10011, "Network"), Component(10012, "Email")]),
        Project(10002, "OPS", "Managed Operations", "service_desk",
                components=[Component(10020, "Backups"), Component(10021, "Monitoring"),
                            Component(10022, "Databases")]),
        Project(10003, "DEV", "Platform Development", "software",
                components=[Component(10030, "API"), Component(10031, "Frontend")]),
    ]
    site.service_desks = [ServiceDesk(1, 10000), ServiceDesk(2, 10001), ServiceDesk(3, 10002)]
    site.request_types = [RequestType(1, "Get IT help", 1, 10100), RequestType(2, "Report a bug", 1, 10101),
                          RequestType(3, "Billing question", 1, 10100),
                          RequestType(4, "Request new hardware", 2, 10100), RequestType(5, "Report an outage", 2, 10101),
                          RequestType(6, "Request a change", 3, 10103), RequestType(7, "Report an incident", 3, 10101)]
    # agents
    agents = []
    for n in range(8):
        name = f"{FIRST[n]} {LAST[n]}"
        uid = f"5b10a2844c20165700ede{n:03d}"
        email = f"{FIRST[n].lower().replace('ş', 's').replace('ç', 'c').replace('ü', 'u').replace('ö', 'o')}@support.example.com"
        agents.append(User(uid, name, email, "atlassian", site.myself.timeZone))
    for u in agents:
        site.users[u.accountId] = u
    for p, lead in zip(site.projects, agents):
        p.leadAccountId = lead.accountId
    # organizations and their customers
    orgs = []
    for n, oname in enumerate(ORGS[:12]):
        domain = oname.split()[0].lower() + ".example"
        members = []
        for m in range(rng.randint(2, 6)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            uid = f"qm:{n + 1:04d}:{m:04d}"
            site.users[uid] = User(uid, f"{first} {last}", f"user{m}@{domain}", "customer", "Europe/Istanbul")
            members.append(uid)
        desks = sorted(rng.sample([1, 2, 3], rng.randint(1, 3)))
        orgs.append(Organization(n + 1, oname, created_floor - rng.randint(1, 400) * DAY_MS, members, desks))
    site.organizations = orgs
    site.fields = [
        Field("summary", "Summary", False, {"type": "string", "system": "summary"}, clauseNames=["summary"]),
        Field("issuetype", "Issue Type", False, {"type": "issuetype", "system": "issuetype"},
              clauseNames=["issuetype", "type"]),
        Field("project", "Project", False, {"type": "project", "system": "project"}, clauseNames=["project"]),
        Field("status", "Status", False, {"type": "status", "system": "status"}, clauseNames=["status"]),
        Field("priority", "Priority", False, {"type": "priority", "system": "priority"}, clauseNames=["priority"]),
        Field("resolution", "Resolution", False, {"type": "resolution", "system": "resolution"},
              clauseNames=["resolution"]),
        Field("resolutiondate", "Resolved", False, {"type": "datetime", "system": "resolutiondate"},
              clauseNames=["resolutiondate", "resolved"]),
        Field("created", "Created", False, {"type": "datetime", "system": "created"},
              clauseNames=["created", "createdDate"]),
        Field("updated", "Updated", False, {"type": "datetime", "system": "updated"},
              clauseNames=["updated", "updatedDate"]),
        Field("labels", "Labels", False, {"type": "array", "items": "string", "system": "labels"},
              clauseNames=["labels"]),
        Field("components", "Components", False, {"type": "array", "items": "component", "system": "components"},
              clauseNames=["component"]),
        Field("assignee", "Assignee", False, {"type": "user", "system": "assignee"}, clauseNames=["assignee"]),
        Field("reporter", "Reporter", False, {"type": "user", "system": "reporter"}, clauseNames=["reporter"]),
        Field("creator", "Creator", False, {"type": "user", "system": "creator"}, clauseNames=["creator"]),
        Field("parent", "Parent", False, None, clauseNames=["parent"]),
        Field("worklog", "Log Work", False, {"type": "array", "items": "worklog", "system": "worklog"},
              navigable=False, orderable=False, clauseNames=[]),
        Field("timespent", "Time Spent", False, {"type": "number", "system": "timespent"},
              clauseNames=["timespent"]),
        Field(FIELD_ORGANIZATIONS, "Organizations", True,
              {"type": "array", "items": "sd-customerorganization", "custom": ORG_CUSTOM, "customId": 10002},
              clauseNames=["cf[10002]", "Organizations", "Organizations[Organizations]"]),
        Field(FIELD_REQUEST_TYPE, "Request Type", True,
              {"type": "sd-customerrequesttype", "custom": REQUEST_TYPE_CUSTOM, "customId": 10010},
              clauseNames=["cf[10010]", "Customer Request Type", "Request Type"]),
        Field(FIELD_TTFR, "Time to first response", True,
              {"type": "sd-servicelevelagreement", "custom": SLA_CUSTOM, "customId": 10020},
              clauseNames=["cf[10020]", "Time to first response"]),
        Field(FIELD_TTR, "Time to resolution", True,
              {"type": "sd-servicelevelagreement", "custom": SLA_CUSTOM, "customId": 10021},
              clauseNames=["cf[10021]", "Time to resolution"]),
        Field(FIELD_TTCLOSE, "Time to close after resolution", True,
              {"type": "sd-servicelevelagreement", "custom": SLA_CUSTOM, "customId": 10022},
              clauseNames=["cf[10022]", "Time to close after resolution"]),
        Field(FIELD_TIER, "Support tier", True,
              {"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select",
               "customId": 10030}, clauseNames=["cf[10030]", "Support tier", "Support tier[Dropdown]"],
              options=[{"id": 10100, "value": "Gold"}, {"id": 10101, "value": "Silver"},
                       {"id": 10102, "value": "Bronze"}]),
        Field(FIELD_HOURS, "Estimated hours", True,
              {"type": "number", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float",
               "customId": 10031}, clauseNames=["cf[10031]", "Estimated hours", "Estimated hours[Number]"]),
    ]


def generate_site(n_issues: int = 500, *, seed: int = 1, now: Any = None,
                  base_url: str = "https://fake.atlassian.net", time_zone: str = "Europe/Istanbul",
                  email: str = "lead@support.example.com") -> Site:
    """A realistic JSM site with ``n_issues`` issues created over ~3 years before ``now``.

    ``now`` (datetime / ISO string / epoch ms) also freezes the site's clock;
    without it the site follows the wall clock (the CLI's case).
    """
    frozen = now is not None
    t_now = to_ms(now) if frozen else now_ms()
    rng = random.Random(seed)
    me = User("5b10ac8d82e05b22cc7d4ef5", "Support Lead", email, "atlassian", time_zone)
    site = Site(base_url=base_url, myself=me, now=t_now if frozen else None, seed=seed)
    span = 3 * 365 * DAY_MS
    t0 = t_now - span
    _reference_data(site, rng, t0)

    agents = [u.accountId for u in site.users.values() if u.accountType == "atlassian"]
    desk_projects = {sd.projectId: sd.id for sd in site.service_desks}
    orgs_by_desk: dict[int, list[int]] = {}
    for o in site.organizations:
        for d in o.serviceDeskIds:
            orgs_by_desk.setdefault(d, []).append(o.id)
    members = {o.id: o.users for o in site.organizations}
    rts_by_desk: dict[int, list[int]] = {}
    for r in site.request_types:
        rts_by_desk.setdefault(r.serviceDeskId, []).append(r.id)
    proj_ids = [p.id for p in site.projects]
    proj_weights = [40, 30, 20, 10]
    proj_keys = {p.id: p.key for p in site.projects}
    comps = {p.id: [c.id for c in p.components] for p in site.projects}
    prio_ids = [p.id for p in site.priorities]
    prio_weights = [3, 2, 15, 50, 20, 10]
    type_ids = [t.id for t in site.issue_types[:5]]
    type_weights = [45, 30, 8, 7, 10]
    open_statuses = [1, 10001, 3, 10002, 10003, 10004]
    done_statuses = [5, 6, 10005]
    resolution_ids = [r.id for r in site.resolutions]
    tier_opts = [10100, 10101, 10102, None]
    summaries = [s.format(x=x) for s in SUMMARIES for x in THINGS]
    counters = dict.fromkeys(proj_ids, 0)

    # creation instants, ascending: ids grow with creation time like in Jira
    created_all = sorted(t0 + int(rng.random() * (span - HOUR_MS)) for _ in range(n_issues))
    r = rng.random
    choices = rng.choices
    wl_id = 10000
    issues = site.issues
    worklogs = site.worklogs
    moves: list[int] = []
    for n, created in enumerate(created_all):
        iid = 10000 + n
        pid = choices(proj_ids, proj_weights)[0]
        counters[pid] += 1
        age = t_now - created
        # older issues are mostly done
        done = r() < min(0.97, 0.25 + age / (60 * DAY_MS))
        if done:
            resolved = created + int(min(age, rng.expovariate(1 / (4 * DAY_MS))))
            status_id = choices(done_statuses, (60, 35, 5))[0]
            res_id = resolution_ids[0] if r() < 0.85 else rng.choice(resolution_ids)
            updated = min(t_now - 1000, resolved + int(r() * 2 * DAY_MS))
        else:
            resolved = None
            res_id = None
            status_id = rng.choice(open_statuses)
            updated = created + int(r() * age)
        desk = desk_projects.get(pid)
        custom: dict[str, Any] = {}
        reporter = rng.choice(agents)
        if desk is not None:
            org_ids = orgs_by_desk.get(desk) or []
            if org_ids and r() < 0.9:
                org = rng.choice(org_ids)
                custom[FIELD_ORGANIZATIONS] = [org] if r() < 0.95 else sorted({org, rng.choice(org_ids)})
                reporter = rng.choice(members[org])
            custom[FIELD_REQUEST_TYPE] = rng.choice(rts_by_desk[desk])
        tier = rng.choice(tier_opts)
        if tier is not None:
            custom[FIELD_TIER] = tier
        if r() < 0.3:
            custom[FIELD_HOURS] = round(r() * 40, 1)
        labels = rng.sample(LABELS, 1 + (r() < 0.3)) if r() < 0.45 else []
        pc = comps[pid]
        issue = Issue(
            id=iid, key=f"{proj_keys[pid]}-{counters[pid]}", projectId=pid,
            issueTypeId=choices(type_ids, type_weights)[0], statusId=status_id,
            priorityId=choices(prio_ids, prio_weights)[0], created=created, updated=updated,
            summary=summaries[int(r() * len(summaries))], resolutionId=res_id, resolutionDate=resolved,
            labels=labels, componentIds=[rng.choice(pc)] if pc and r() < 0.6 else [],
            assignee=rng.choice(agents) if r() < 0.85 else None, reporter=reporter, creator=reporter,
            custom=custom)
        # worklogs: 0 (half), a few, many, or > 20 (some)
        x = r()
        n_wl = 0 if x < 0.5 else (rng.randint(1, 4) if x < 0.9 else (rng.randint(5, 20) if x < 0.97
                                                                     else rng.randint(21, 60)))
        if n_wl:
            end = updated
            ids = []
            for _ in range(n_wl):
                started = created + int(r() * max(1, end - created))
                secs = int(1 + r() * 16) * 900
                wcreated = min(end, started + secs * 1000 + int(r() * HOUR_MS))
                wupdated = wcreated if r() < 0.9 else min(t_now - 1000, wcreated + int(r() * 30 * DAY_MS))
                worklogs[wl_id] = Worklog(wl_id, iid, rng.choice(agents), started, secs, wcreated, wupdated)
                ids.append(wl_id)
                wl_id += 1
            issue.worklogIds = ids
            if any(worklogs[w].updated > issue.updated for w in ids):
                issue.updated = max(worklogs[w].updated for w in ids)
        issues[iid] = issue
        if r() < 0.02 and n_issues > 10:
            moves.append(iid)
    # a few issues moved between projects: new key (numbered after the rest), same id
    for iid in moves:
        issue = issues[iid]
        dest = rng.choice([p for p in proj_ids if p != issue.projectId])
        counters[dest] += 1
        issue.oldKeys.append(issue.key)
        issue.key = f"{proj_keys[dest]}-{counters[dest]}"
        issue.projectId = dest
        issue.componentIds = []
        if dest not in desk_projects:
            issue.custom.pop(FIELD_ORGANIZATIONS, None)
            issue.custom.pop(FIELD_REQUEST_TYPE, None)
        moved_at = issue.updated + int(r() * max(1, t_now - 1000 - issue.updated))
        issue.updated = min(t_now - 1000, moved_at)
    # a short history of deleted worklogs
    for k in range(min(50, n_issues // 10)):
        site.deleted_worklogs.append((wl_id + k, t_now - (50 - k) * DAY_MS // 7))
    site._next_worklog_id = wl_id + 50
    site.reindex()
    return site
