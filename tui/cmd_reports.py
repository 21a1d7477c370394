"""`ticketbook` sub-commands: placeholder, filled in by its owner."""

from __future__ import annotations


def register(sub, common) -> None:
    """Add this module's sub-commands to `sub` (argparse sub-parsers); `common` is the parent parser with the global options."""
