"""A simulated Jira Cloud site (platform + Service Management REST APIs) for tests,
benchmarks and the demo.  See docs/fake-jira.md.

    from cache.fakejira import FakeJira, generate_site
    site = generate_site(300, seed=1, now="2026-06-01T09:00:00+00:00")
    with FakeJira(site) as fj:
        ...  # fj.url, fj.auth, fj.faults; site.update_issue(...), site.advance(90)
"""

from __future__ import annotations

from cache.fakejira.churn import Churn
from cache.fakejira.faults import KINDS as FAULT_KINDS
from cache.fakejira.faults import Fault, Faults
from cache.fakejira.generate import (
    FIELD_HOURS,
    FIELD_ORGANIZATIONS,
    FIELD_REQUEST_TYPE,
    FIELD_TIER,
    FIELD_TTCLOSE,
    FIELD_TTFR,
    FIELD_TTR,
    generate_site,
)
from cache.fakejira.jql import JqlError
from cache.fakejira.model import (
    Issue,
    Site,
    SlaCycle,
    SlaValue,
    Worklog,
    dump_site,
    load_site,
    site_from_dict,
    site_to_dict,
)
from cache.fakejira.server import DEMO_EMAIL, DEMO_TOKEN, FakeJira

__all__ = [
    "Churn", "DEMO_EMAIL", "DEMO_TOKEN", "FAULT_KINDS", "FIELD_HOURS", "FIELD_ORGANIZATIONS", "FIELD_REQUEST_TYPE",
    "FIELD_TIER", "FIELD_TTCLOSE", "FIELD_TTFR", "FIELD_TTR", "FakeJira", "Fault", "Faults", "Issue",
    "JqlError", "Site", "SlaCycle", "SlaValue", "Worklog", "dump_site", "generate_site", "load_site",
    "site_from_dict", "site_to_dict",
]
