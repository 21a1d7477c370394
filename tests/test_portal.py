"""Customer-portal panel visibility: the pure rule, then through the cache (real SQLite)."""

from __future__ import annotations

import datetime as dt

import pytest

from tickets.model import Clause, ClauseType, Contract, PeriodType, Portal
from tickets.portal import Location, OrgRef, location_enabled, panel_visible, user_listed

ACME = OrgRef("7", "Acme Logistics")
OTHER = OrgRef("8", "Bosphorus Bank")

PORTAL = Portal(help_center=True, portal_projects=("ABC",), users=("u-direct",),
                organizations=("Acme Logistics",))
HC = Location(help_center=True)
ABC = Location(portal_key="ABC")
XYZ = Location(portal_key="XYZ")


# --- the pure rule -------------------------------------------------------------------


def test_user_listed_directly_sees_panel_everywhere_enabled() -> None:
    assert panel_visible(PORTAL, "u-direct", [], HC)
    assert panel_visible(PORTAL, "u-direct", [], ABC)
    assert panel_visible(PORTAL, "u-direct", [], Location(portal_key="abc"))  # keys case-insensitive


def test_user_through_organization_by_name_or_id() -> None:
    assert panel_visible(PORTAL, "u-org", [OTHER, ACME], HC)
    assert not panel_visible(PORTAL, "u-org", [OTHER], HC)
    by_id = Portal(help_center=True, organizations=("7",))
    assert panel_visible(by_id, "u-org", [ACME], HC)
    assert not panel_visible(by_id, "u-org", [OTHER], HC)
    # names compare trimmed and case-insensitively
    loose = Portal(help_center=True, organizations=("  acme   logistics ",))
    assert panel_visible(loose, "u-org", [ACME], HC)


def test_user_not_listed_sees_nothing() -> None:
    assert not panel_visible(PORTAL, "u-stranger", [], HC)
    assert not panel_visible(PORTAL, "u-stranger", [OTHER], ABC)
    assert not user_listed(PORTAL, "u-direc")  # no prefix matching


@pytest.mark.parametrize("anonymous", [None, "", "   "])
def test_anonymous_never_sees_a_panel(anonymous) -> None:
    everyone = Portal(help_center=True, portal_projects=("ABC",), users=("",), organizations=("Acme Logistics",))
    assert not panel_visible(everyone, anonymous, [ACME], HC)
    assert not panel_visible(everyone, anonymous, [ACME], ABC)


def test_panel_disabled_for_help_center() -> None:
    off = Portal(help_center=False, portal_projects=("ABC",), users=("u-direct",))
    assert not location_enabled(off, HC)
    assert not panel_visible(off, "u-direct", [], HC)
    assert panel_visible(off, "u-direct", [], ABC)


def test_portal_project_not_enabled() -> None:
    assert not location_enabled(PORTAL, XYZ)
    assert not panel_visible(PORTAL, "u-direct", [ACME], XYZ)


def test_location_is_exactly_one_place() -> None:
    with pytest.raises(ValueError):
        Location()
    with pytest.raises(ValueError):
        Location(help_center=True, portal_key="ABC")
    with pytest.raises(ValueError):
        Location(portal_key="  ")


# --- through the cache -----------------------------------------------------------------

AS_OF = dt.date(2025, 3, 10)


def _contract(name: str, portal: Portal) -> Contract:
    return Contract(name=name, start=dt.date(2025, 1, 1), end=dt.date(2025, 12, 31), time_zone="Europe/Istanbul",
                    period_type=PeriodType.MONTHLY_CALENDAR,
                    clauses=(Clause("Tickets", ClauseType.ISSUE_COUNT, "project = ABC", limit=5),),
                    portal=portal)


@pytest.fixture
def db(tmp_path):
    from cache.db import close_database, open_database
    from cache.models import Organization, OrganizationUser, Project
    from cache.store import save_contract

    database = open_database(tmp_path / "portal.db")
    Project.create(id="1", key="ABC", name="ABC project")  # so "project = ABC" evaluates locally
    Organization.create(id="7", name="Acme Logistics")
    Organization.create(id="8", name="Bosphorus Bank")
    OrganizationUser.create(organization="7", account_id="u-org", display_name="Org member")
    OrganizationUser.create(organization="8", account_id="u-other", display_name="Other member")
    save_contract(_contract("Acme support", PORTAL))
    save_contract(_contract("By org id", Portal(help_center=False, portal_projects=("DEF",), organizations=("8",))))
    save_contract(_contract("Hidden", Portal(help_center=False, users=("u-direct", "u-org"))))
    yield database
    close_database()


def _names(panels) -> list[str]:
    return [p["contract"] for p in panels]


def test_cache_panels_direct_org_unknown_anonymous(db) -> None:
    from cache.reports import portal_panels

    assert _names(portal_panels("u-direct", help_center=True, portal_key=None, as_of=AS_OF)) == ["Acme support"]
    assert _names(portal_panels("u-org", help_center=True, portal_key=None, as_of=AS_OF)) == ["Acme support"]
    assert _names(portal_panels("u-org", help_center=False, portal_key="ABC", as_of=AS_OF)) == ["Acme support"]
    assert _names(portal_panels("u-other", help_center=False, portal_key="DEF", as_of=AS_OF)) == ["By org id"]
    assert portal_panels("u-other", help_center=True, portal_key=None, as_of=AS_OF) == []  # disabled there
    assert portal_panels("u-nobody", help_center=True, portal_key=None, as_of=AS_OF) == []
    assert portal_panels("", help_center=True, portal_key=None, as_of=AS_OF) == []
    assert portal_panels("u-direct", help_center=False, portal_key="XYZ", as_of=AS_OF) == []  # not enabled


def test_cache_panel_is_the_current_period_summary(db) -> None:
    from cache.reports import portal_panels

    (panel,) = portal_panels("u-direct", help_center=True, portal_key=None, as_of=AS_OF)
    assert panel["period"] == {"index": 2, "start": "2025-03-01", "end": "2025-03-31", "count": 12}
    (clause,) = panel["clauses"]
    assert clause["name"] == "Tickets" and clause["valid"]
    assert (clause["available"], clause["used"], clause["remaining"]) == (5, 0, 5)
    assert clause["status"] == "success"


def test_cli_panel_formats(db, capsys) -> None:
    import json

    from tui.cli import main

    path = db.database
    assert main(["panel", "--db", path, "--as-of", "2025-03-10", "--user", "u-org", "--portal", "ABC",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["contract"] for p in out["panels"]] == ["Acme support"]
    assert main(["panel", "--db", path, "--as-of", "2025-03-10", "--user", "u-org", "--help-center",
                 "--format", "html"]) == 0
    html_out = capsys.readouterr().out
    assert '<section class="ticketbook-panel">' in html_out and "Acme support" in html_out
    assert main(["panel", "--db", path, "--as-of", "2025-03-10", "--user", "", "--help-center"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "no panels" in captured.err
    with pytest.raises(SystemExit) as exc:  # a location is required: usage error
        main(["panel", "--db", path, "--user", "u-org"])
    assert exc.value.code == 2
