"""Textual input validators that call the rules in :mod:`tickets.rules`.

"One rule, one place": every validator here wraps a ``check_*`` function of
:mod:`tickets.rules` and adds nothing of its own but the field's label, so
the TUI, the contract-file importer and the store all say the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from textual.validation import ValidationResult, Validator

from tickets import rules
from tickets.model import ClauseType


class RuleValidator(Validator):
    """Valid when ``check(value)`` returns ``None``; otherwise its message, prefixed by ``label``."""

    def __init__(self, label: str, check: Callable[[str], str | None]) -> None:
        super().__init__(failure_description=None)
        self.label = label
        self.check = check

    def validate(self, value: str) -> ValidationResult:
        message = self.check(value)
        if message is None:
            return self.success()
        # "time zone unknown time zone 'york'", "name duplicate name ...": no label twice
        if not self.label or self.label.casefold() in message.split(":")[0].casefold():
            return self.failure(message, value)
        return self.failure(f"{self.label} {message}", value)


def contract_name(label: str = "name") -> RuleValidator:
    return RuleValidator(label, rules.check_contract_name)


def clause_name(others: Callable[[], Iterable[str]], label: str = "name") -> RuleValidator:
    """Required, at most 200 characters, unique (case-insensitively) among ``others()``."""

    def check(value: str) -> str | None:
        return rules.check_clause_name(value) or rules.check_unique_name(value, others())

    return RuleValidator(label, check)


def date(label: str) -> RuleValidator:
    return RuleValidator(label, rules.check_date)


def end_date(start_text: Callable[[], str], label: str = "end") -> RuleValidator:
    """A date, and on or after the start date (when that one is a date)."""

    def check(value: str) -> str | None:
        problem = rules.check_date(value)
        if problem is not None:
            return problem
        start = start_text()
        if rules.check_date(start) is not None:
            return None  # the start field shows its own problem
        return rules.check_date_order(rules.parse_date(start), rules.parse_date(value))

    return RuleValidator(label, check)


def time_zone(label: str = "time zone") -> RuleValidator:
    return RuleValidator(label, rules.check_time_zone)


def limit(clause_type: Callable[[], ClauseType], label: str = "limit") -> RuleValidator:
    return RuleValidator(label, lambda value: rules.check_limit(clause_type(), value))


def target(label: str = "target") -> RuleValidator:
    return RuleValidator(label, rules.check_target)


def amend_value(clause_type: Callable[[], ClauseType], label: str = "value") -> RuleValidator:
    return RuleValidator(label, lambda value: rules.check_amend_value(clause_type(), value))


def sla_names(label: str = "SLA") -> RuleValidator:
    """Extra SLA names typed as text (comma-separated): each non-blank, none twice; may be empty."""

    def check(value: str) -> str | None:
        return rules.check_sla(value) if value.strip() else None

    return RuleValidator(label, check)


def first_problem(validators: Iterable[Validator], value: Any) -> str | None:
    """The first failure message of ``validators`` for ``value`` (``None`` when all pass)."""
    for validator in validators:
        result = validator.validate(value)
        if not result.is_valid:
            return "; ".join(result.failure_descriptions) or "is not valid"
    return None
