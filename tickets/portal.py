"""Customer-portal panel visibility (domain.md, "Customer portal panel").

Pure rule, no I/O: the cache layer supplies the user's JSM organizations.

A user sees a contract's panel at a location only if all hold:

1. the user is logged in: a non-blank account id (anonymous never sees a panel);
2. the user is listed in ``portal.users`` (account ids, exact match), or belongs
   to an organization listed in ``portal.organizations``; a listed entry
   matches an organization by its id (exact) or its name (trimmed,
   case-insensitive);
3. the panel is enabled for the location: the Help Center needs
   ``portal.help_center``; a project's portal needs that project key in
   ``portal.portal_projects`` (case-insensitive: Jira keys are upper case).

A user the site does not know (no organization, not listed) sees nothing:
that follows from rule 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tickets.model import Portal

__all__ = ["Location", "OrgRef", "location_enabled", "panel_visible", "user_listed"]


@dataclass(frozen=True)
class OrgRef:
    """A JSM organization the user belongs to."""

    id: str
    name: str


@dataclass(frozen=True)
class Location:
    """Where the panel would show: the Help Center, or one project's portal."""

    help_center: bool = False
    portal_key: str | None = None

    def __post_init__(self) -> None:
        if self.help_center == bool(self.portal_key and self.portal_key.strip()):
            raise ValueError("a location is either the Help Center or one portal project key")


def _fold(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def location_enabled(portal: Portal, location: Location) -> bool:
    """Is the panel switched on for ``location``?"""
    if location.help_center:
        return bool(portal.help_center)
    key = _fold(location.portal_key or "")
    return any(_fold(p) == key for p in portal.portal_projects)


def user_listed(portal: Portal, account_id: str | None, organizations: Iterable[OrgRef] = ()) -> bool:
    """Is a logged-in ``account_id`` listed directly or through a listed organization?"""
    if account_id is None or not str(account_id).strip():
        return False
    account = str(account_id).strip()
    if any(str(u).strip() == account for u in portal.users):
        return True
    listed = [str(o).strip() for o in portal.organizations]
    listed_names = {_fold(o) for o in listed}
    listed_ids = set(listed)
    return any(str(org.id) in listed_ids or _fold(org.name) in listed_names for org in organizations)


def panel_visible(portal: Portal, account_id: str | None, organizations: Iterable[OrgRef],
                  location: Location) -> bool:
    """The whole rule: logged in, listed (directly or via an organization), enabled there."""
    return location_enabled(portal, location) and user_listed(portal, account_id, organizations)
