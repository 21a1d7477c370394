"""Errors that carry their exit status (interfaces.md: 1 run time, 2 bad input)."""

from __future__ import annotations


class TicketbookError(Exception):
    """Base of every error shown to a user as one line."""

    exit_code = 1


class InputError(TicketbookError):
    """Bad input or usage: exit status 2."""

    exit_code = 2


class RunError(TicketbookError):
    """Failed at run time (Jira unreachable, database locked too long): exit 1."""

    exit_code = 1
