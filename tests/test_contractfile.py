"""The contract file (interfaces.md "Contract file"): all-or-nothing import, every problem with its path."""

from __future__ import annotations

import copy
import datetime as dt
import json
import pathlib
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickets import rules
from tickets.contractfile import (
    ContractFileError,
    FileProblem,
    contract_from_dict,
    contract_to_dict,
    dump_contract_file,
    load_contract_file,
    parse_contract_file,
)
from tickets.errors import InputError
from tickets.model import Amend, AmendKind, Clause, ClauseType, Contract, PeriodType, Portal

ROOT = pathlib.Path(__file__).resolve().parents[1]
SPEC = ROOT.parent / "shared" / "spec" / "interfaces.md"
EXAMPLE = ROOT / "examples" / "contracts.json"


def _spec_example() -> str:
    text = SPEC.read_text(encoding="utf-8")
    section = text.split("## Contract file", 1)[1]
    return section.split("```json\n", 1)[1].split("```", 1)[0]


SPEC_EXAMPLE = json.loads(_spec_example())


def _problems(data: Any) -> dict[str, str]:
    """Parse ``data`` (dict or text); it must be rejected; {path: message}."""
    text = data if isinstance(data, str) else json.dumps(data)
    with pytest.raises(ContractFileError) as info:
        parse_contract_file(text)
    return {p.path: p.message for p in info.value.problems}


def _base() -> dict[str, Any]:
    return copy.deepcopy(SPEC_EXAMPLE)


# --- the spec example ------------------------------------------------------------------


def test_spec_example_parses_to_model_units() -> None:
    [c] = parse_contract_file(_spec_example())
    assert c.name == "Acme Corp - Monthly Support 2025"
    assert (c.start, c.end) == (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert c.time_zone == "Europe/Istanbul"
    assert c.period_type is PeriodType.MONTHLY_CALENDAR
    assert (c.carry_over, c.borrowing) == (False, False)
    high, hours, alltickets, sla = c.clauses
    assert high == Clause("High priority tickets", ClauseType.ISSUE_COUNT, "project = ABC AND priority >= High", limit=3)
    assert hours.limit == 50 * 3600
    assert hours.amends == (Amend(dt.date(2025, 3, 1), AmendKind.LIMIT, 10 * 3600, "Extra hours bought for the March launch"),)
    assert alltickets.limit is None and alltickets.limited is False
    assert sla.sla == ("Time to resolution",) and sla.target == Decimal("99.5")
    assert c.portal == Portal(True, ("ABC",), ("5b10ac8d82e05b22cc7d4ef5",), ("Acme",))


def test_spec_example_round_trips_unchanged() -> None:
    contracts = parse_contract_file(_spec_example())
    out = dump_contract_file(contracts)
    assert json.loads(out) == SPEC_EXAMPLE  # canonical form writes exactly the example's fields
    assert parse_contract_file(out) == contracts
    assert dump_contract_file(parse_contract_file(out)) == out


def test_example_file_is_canonical_and_covers_everything() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    contracts = load_contract_file(EXAMPLE)
    assert dump_contract_file(contracts) == text  # byte for byte
    assert {c.period_type for c in contracts} == set(PeriodType)
    clauses = [cl for c in contracts for cl in c.clauses]
    assert {cl.type for cl in clauses} == set(ClauseType)
    assert any(cl.limit is None and cl.type.has_quota for cl in clauses)  # unlimited
    amends = [a for cl in clauses for a in cl.amends]
    assert {a.kind for a in amends} == set(AmendKind)
    assert any(a.value < 0 for a in amends)
    assert any(c.portal.help_center for c in contracts)
    assert any(c.carry_over and c.borrowing for c in contracts)


def test_hours_keep_exact_decimals() -> None:
    data = _base()
    data["contracts"][0]["clauses"][1]["limit"] = 12.35
    [c] = parse_contract_file(json.dumps(data))
    assert c.clauses[1].limit == 44460  # 12.35 h exactly, no float error
    out = dump_contract_file([c])
    assert '"limit": 12.35,' in out


def test_defaults() -> None:
    text = json.dumps({"contracts": [{"name": "A", "start": "2025-01-01", "end": "2025-01-01",
                                      "time_zone": "UTC", "period_type": "fixed"}]})
    [c] = parse_contract_file(text)
    assert c == Contract("A", dt.date(2025, 1, 1), dt.date(2025, 1, 1), "UTC", PeriodType.FIXED)
    sla = {"name": "S", "type": "sla_success_rate", "sla": ["Time to resolution"]}
    [c] = parse_contract_file(text.replace('"fixed"', '"fixed", "clauses": [' + json.dumps(sla) + "]"))
    assert c.clauses[0].target == Decimal(100) and c.clauses[0].jql == ""


def test_contract_notes_round_trip_byte_for_byte() -> None:
    data = _base()
    notes = "Renewal due in Q4.\n  Ask Ayşe about \"extra\" hours \u2013 see MAIL-12\t"
    data["contracts"][0]["notes"] = notes
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    [c] = parse_contract_file(text)
    assert c.notes == notes  # kept as given: not trimmed
    out = dump_contract_file([c])
    assert out == text  # canonical: notes last, after portal
    assert json.loads(out)["contracts"][0]["notes"] == notes
    assert dump_contract_file(parse_contract_file(out)) == out
    data["contracts"][0]["notes"] = "x" * 10_000  # the maximum is allowed
    [c] = parse_contract_file(json.dumps(data))
    assert len(c.notes) == 10_000


def test_empty_contract_notes_are_not_written() -> None:
    [c] = parse_contract_file(_spec_example())
    assert c.notes == ""
    assert '"notes": ""' not in dump_contract_file([c]).split('"clauses"')[0]
    assert "notes" not in contract_to_dict(c)
    data = _base()
    data["contracts"][0]["notes"] = ""
    [c2] = parse_contract_file(json.dumps(data))
    assert c2 == c and "notes" not in json.loads(dump_contract_file([c2]))["contracts"][0]


def test_contract_notes_in_toml(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[[contracts]]\nname = "A"\nstart = 2025-01-01\nend = 2025-12-31\ntime_zone = "UTC"\n'
                    'period_type = "fixed"\nnotes = """two\nlines"""\n', encoding="utf-8")
    [c] = load_contract_file(path)
    assert c.notes == "two\nlines"


def test_contract_name_is_trimmed() -> None:
    data = _base()
    data["contracts"][0]["name"] = "  Acme  "
    [c] = parse_contract_file(json.dumps(data))
    assert c.name == "Acme"


# --- every mistake of the issue: its path, and nothing returned -----------------------------


def _mutate(path: str, value: Any) -> dict[str, Any]:
    """Set a dotted path like ``contracts[0].clauses[1].limit``; ``...`` deletes it."""
    data = _base()
    node: Any = data
    parts = path.replace("]", "").replace("[", ".").split(".")
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last: Any = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return data


C0 = "contracts[0]"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (f"{C0}.end", "2024-12-31", "must be on or after the start date 2025-01-01"),
        (f"{C0}.time_zone", "Mars/Base", "unknown time zone 'Mars/Base'"),
        (f"{C0}.period_type", "weekly", "unknown period type 'weekly'"),
        (f"{C0}.clauses[0].limit", -1, "must be >= 0"),
        (f"{C0}.clauses[1].limit", -0.5, "must be >= 0"),
        (f"{C0}.clauses[3].target", 0, "must be greater than 0"),
        (f"{C0}.clauses[3].target", 101, "must be at most 100"),
        (f"{C0}.clauses[3].target", 99.555, "must have at most 2 decimals"),
        (f"{C0}.clauses[0].limit", 2.5, "must be a whole number"),
        (f"{C0}.clauses[1].limit", 12.345, "must have at most 2 decimals"),
        (f"{C0}.clauses[1].amends[0].value", 1.005, "must have at most 2 decimals"),
        (f"{C0}.clauses[1].amends[0].value", 0, "must not be 0"),
        (f"{C0}.clauses[1].amends[0].kind", "bonus", "unknown amend kind 'bonus'"),
        (f"{C0}.clauses[1].amends[0].date", "2025-02-30", "'2025-02-30' is not a valid date"),
        (f"{C0}.start", "01/01/2025", "must be a date YYYY-MM-DD"),
        (f"{C0}.clauses[2].type", "hours", "unknown clause type 'hours'"),
        (f"{C0}.clauses[3].sla", [], "must name at least one SLA"),
        (f"{C0}.name", "  ", "is required"),
        (f"{C0}.name", "x" * 201, "must be at most 200 characters"),
        (f"{C0}.portal.portal_projects", ["A B"], "'A B' is not a valid project key"),
        (f"{C0}.notes", "x" * 10_001, "must be at most 10,000 characters"),
        (f"{C0}.notes", 7, "must be a string"),
        (f"{C0}.notes", None, "must be a string"),
        # wrong JSON types
        (f"{C0}.clauses[0].limit", "3", "must be a number"),
        (f"{C0}.clauses[0].limit", True, "must be a number"),
        (f"{C0}.clauses[3].target", "99.5", "must be a number"),
        (f"{C0}.name", 42, "must be a string"),
        (f"{C0}.clauses[0].jql", 7, "must be a string"),
        (f"{C0}.clauses", {"name": "x"}, "must be a list"),
        (f"{C0}.clauses[3].sla", "Time to resolution", "must be a list"),
        (f"{C0}.portal.users", {"id": "u"}, "must be a list"),
        (f"{C0}.portal.organizations[0]", 5, "must be a string"),
        (f"{C0}.carry_over", "false", "must be true or false"),
        (f"{C0}.portal", [], "must be an object"),
        (f"{C0}.start", 20250101, "must be a date string YYYY-MM-DD"),
        # missing required fields
        (f"{C0}.name", ..., "is required"),
        (f"{C0}.start", ..., "is required"),
        (f"{C0}.end", ..., "is required"),
        (f"{C0}.time_zone", ..., "is required"),
        (f"{C0}.period_type", ..., "is required"),
        (f"{C0}.clauses[0].name", ..., "is required"),
        (f"{C0}.clauses[0].type", ..., "is required"),
        (f"{C0}.clauses[0].limit", ..., 'is required (or "unlimited": true)'),
        (f"{C0}.clauses[3].sla", ..., "is required for sla_success_rate clauses"),
        (f"{C0}.clauses[1].amends[0].date", ..., "is required"),
        (f"{C0}.clauses[1].amends[0].kind", ..., "is required"),
        (f"{C0}.clauses[1].amends[0].value", ..., "is required"),
    ],
)
def test_each_mistake_names_its_path(path: str, value: Any, message: str) -> None:
    problems = _problems(_mutate(path, value))
    assert path in problems, problems
    assert problems[path].startswith(message), problems[path]
    assert len(problems) == 1, problems


def test_amend_on_sla_clause() -> None:
    data = _base()
    data["contracts"][0]["clauses"][3]["amends"] = [{"date": "2025-03-01", "kind": "consumption", "value": 1}]
    assert _problems(data) == {f"{C0}.clauses[3].amends": "amends are not allowed on SLA success rate clauses"}


def test_limit_amend_on_unlimited_clause() -> None:
    data = _base()
    data["contracts"][0]["clauses"][2]["amends"] = [
        {"date": "2025-03-01", "kind": "consumption", "value": 1},  # fine
        {"date": "2025-03-01", "kind": "limit", "value": 1},
    ]
    assert _problems(data) == {f"{C0}.clauses[2].amends[1].kind": "limit amends are not allowed on unlimited clauses"}


def test_fields_of_the_other_clause_type() -> None:
    data = _base()
    data["contracts"][0]["clauses"][0]["target"] = 90
    data["contracts"][0]["clauses"][3]["limit"] = 5
    data["contracts"][0]["clauses"][2]["limit"] = 5  # and "unlimited": true
    assert _problems(data) == {
        f"{C0}.clauses[0].target": "target is only allowed on sla_success_rate clauses",
        f"{C0}.clauses[3].limit": "limit is not allowed on SLA success rate clauses",
        f"{C0}.clauses[2].limit": 'must not be given with "unlimited": true',
    }


def test_unlimited_flag() -> None:
    data = _base()
    data["contracts"][0]["clauses"][2]["unlimited"] = "yes"
    data["contracts"][0]["clauses"][2]["amends"] = [{"date": "2025-03-01", "kind": "limit", "value": 1}]
    # one problem: no follow-up "limit is required" or "limit amend on unlimited" guesses
    assert _problems(data) == {f"{C0}.clauses[2].unlimited": "must be true or false, not a string"}
    data = _base()
    data["contracts"][0]["clauses"][2]["unlimited"] = False
    assert _problems(data) == {f"{C0}.clauses[2].limit": 'is required when "unlimited" is false'}
    data["contracts"][0]["clauses"][2]["limit"] = 7
    [c] = parse_contract_file(json.dumps(data))
    assert c.clauses[2].limit == 7
    assert '"unlimited"' not in dump_contract_file([c]).split('"All tickets"')[1].split("}")[0]


def test_duplicate_names_case_insensitive() -> None:
    data = _base()
    second = copy.deepcopy(data["contracts"][0])
    second["name"] = "ACME CORP - monthly support 2025"
    data["contracts"].append(second)
    data["contracts"][0]["clauses"][2]["name"] = "service HOURS"
    problems = _problems(data)
    assert set(problems) == {"contracts[1].name", f"{C0}.clauses[2].name"}
    assert all("duplicate" in m for m in problems.values())


def test_unknown_and_repeated_fields() -> None:
    data = _base()
    data["contracts"][0]["clauses"][0]["limt"] = 3
    data["contracts"][0]["colour"] = "red"
    data["extra"] = 1
    problems = _problems(data)
    assert problems[f"{C0}.clauses[0].limt"] == "unknown field (did you mean 'limit'?)"
    assert problems[f"{C0}.colour"].startswith("unknown field")
    assert problems["extra"].startswith("unknown field")
    text = json.dumps(_base()).replace('"limit": 3', '"limit": 3, "limit": 4')
    assert _problems(text) == {f"{C0}.clauses[0].limit": "is given more than once"}


def test_several_mistakes_are_all_reported() -> None:
    data = _base()
    c = data["contracts"][0]
    c["end"] = "2024-01-01"
    c["time_zone"] = "Mars/Base"
    c["clauses"][0]["limit"] = -1
    c["clauses"][1]["amends"][0]["value"] = "10"
    c["clauses"][3]["target"] = 0
    data["contracts"].append({"name": "Other", "start": "2025-01-01"})
    problems = _problems(data)
    assert set(problems) == {
        f"{C0}.end",
        f"{C0}.time_zone",
        f"{C0}.clauses[0].limit",
        f"{C0}.clauses[1].amends[0].value",
        f"{C0}.clauses[3].target",
        "contracts[1].end",
        "contracts[1].time_zone",
        "contracts[1].period_type",
    }
    with pytest.raises(ContractFileError) as info:
        parse_contract_file(json.dumps(data))
    err = info.value
    assert isinstance(err, InputError) and err.exit_code == 2
    assert str(err) == f"{err.problems[0]} (and 7 more)"
    assert str(err.problems[0]) == "contracts[0].end: must be on or after the start date 2025-01-01"
    assert len(err.lines()) == 8


def test_one_bad_contract_rejects_the_whole_file() -> None:
    data = _base()
    good = copy.deepcopy(data["contracts"][0])
    good["name"] = "Good"
    data["contracts"].insert(0, good)
    data["contracts"][1]["clauses"][0]["limit"] = -1
    assert list(_problems(data)) == ["contracts[1].clauses[0].limit"]


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        ('{"contracts": [}', "", "invalid JSON at line 1, column 16"),
        ('{\n  "contracts": [\n    1,\n  ]\n}', "", "invalid JSON at line 4, column 3"),
        ("[]", "", 'the file must be an object with a "contracts" list'),
        ("{}", "contracts", "is required"),
        ('{"contracts": {}}', "contracts", "must be a list"),
        ('{"contracts": [3]}', "contracts[0]", "must be an object"),
        ('{"contracts": [], "x": NaN}', "x", "unknown field"),
    ],
)
def test_file_level_problems(text: str, path: str, message: str) -> None:
    problems = _problems(text)
    assert path in problems and problems[path].startswith(message), problems


def test_nan_is_not_a_number() -> None:
    text = json.dumps(_base()).replace('"limit": 3', '"limit": NaN')
    assert _problems(text) == {f"{C0}.clauses[0].limit": "must be a finite number"}


def test_load_file(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ContractFileError) as info:
        load_contract_file(missing)
    assert str(info.value).startswith(f"cannot read {missing}")
    bom = tmp_path / "bom.json"
    bom.write_text("\ufeff" + _spec_example(), encoding="utf-8")
    assert len(load_contract_file(bom)) == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"contracts": [\n  {"name": "x",}\n]}', encoding="utf-8")
    with pytest.raises(ContractFileError) as info:
        load_contract_file(bad)
    assert "line 2, column" in str(info.value)


def test_toml(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        """
[[contracts]]
name = "Acme"
start = 2025-01-01
end = "2025-12-31"
time_zone = "UTC"
period_type = "annual_calendar"

[[contracts.clauses]]
name = "Hours"
type = "service_hours"
limit = 12.35

[[contracts.clauses.amends]]
date = 2025-02-01
kind = "consumption"
value = -0.5
""",
        encoding="utf-8",
    )
    [c] = load_contract_file(path)
    assert c.start == dt.date(2025, 1, 1) and c.clauses[0].limit == 44460
    assert c.clauses[0].amends[0].value == -1800
    path.write_text('[[contracts]]\nname = "A"\nstart = 2025-01-01T10:00:00\n', encoding="utf-8")
    with pytest.raises(ContractFileError) as info:
        load_contract_file(path)
    problems = {p.path: p.message for p in info.value.problems}
    assert problems["contracts[0].start"] == "must be a date YYYY-MM-DD, not a date and time"


def test_file_problem_text() -> None:
    assert str(FileProblem("contracts[0].clauses[1].limit", "must be >= 0")) == "contracts[0].clauses[1].limit: must be >= 0"
    assert str(FileProblem("", "invalid JSON at line 1, column 2: x")) == "invalid JSON at line 1, column 2: x"


def test_contract_from_dict_default_path() -> None:
    contract, problems = contract_from_dict({"name": "A"})
    assert contract is None
    assert {p.path for p in problems} == {"contracts[0].start", "contracts[0].end", "contracts[0].time_zone",
                                          "contracts[0].period_type"}
    contract, problems = contract_from_dict(SPEC_EXAMPLE["contracts"][0], path="x")
    assert problems == [] and contract is not None and contract_to_dict(contract)["name"] == contract.name


def test_writer_matches_json_dumps_layout() -> None:
    [c] = parse_contract_file(_spec_example())
    d = contract_to_dict(c)
    d["clauses"][3]["target"] = 99  # no Decimal left: the stdlib must write the same bytes
    c2 = parse_contract_file(json.dumps({"contracts": [d]}))
    assert dump_contract_file(c2) == json.dumps({"contracts": [d]}, indent=2, ensure_ascii=False) + "\n"
    sla = Clause("S", ClauseType.SLA_SUCCESS_RATE, sla=("Time to resolution",), target=Decimal("99.50"))
    c3 = Contract("T", dt.date(2025, 1, 1), dt.date(2025, 1, 1), "UTC", PeriodType.FIXED, clauses=(sla,))
    assert '"target": 99.5\n' in dump_contract_file([c3])  # no trailing zeros
    sla = Clause("S", ClauseType.SLA_SUCCESS_RATE, sla=("Time to resolution",), target=Decimal("1E+2"))
    assert '"target": 100\n' in dump_contract_file([Contract("T", dt.date(2025, 1, 1), dt.date(2025, 1, 1), "UTC",
                                                             PeriodType.FIXED, clauses=(sla,))])
    unicode = Contract("Müşteri – İstanbul", dt.date(2025, 1, 1), dt.date(2025, 1, 1), "Europe/Istanbul", PeriodType.FIXED)
    assert '"Müşteri – İstanbul"' in dump_contract_file([unicode])


# --- property: parse(dump(x)) == x for any valid contract list --------------------------------

_names = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), min_size=1, max_size=30).map(str.strip).filter(bool)
_dates = st.dates(dt.date(2000, 1, 1), dt.date(2040, 12, 31))
_hours_units = st.integers(0, 10**6).map(lambda h: h * 36)  # whole hundredths of an hour
_strs = st.lists(st.text(st.characters(codec="utf-8", categories=("L", "N")), min_size=1, max_size=10), max_size=3)


@st.composite
def _clause(draw: Any, name: str) -> Clause:
    ctype = draw(st.sampled_from(list(ClauseType)))
    jql = draw(st.text(max_size=30))
    if ctype is ClauseType.SLA_SUCCESS_RATE:
        slas = draw(st.lists(_names, min_size=1, max_size=3, unique_by=str.casefold))
        target = Decimal(draw(st.integers(1, 10000))) / 100
        return Clause(name, ctype, jql, sla=tuple(slas), target=target)
    units = _hours_units if ctype is ClauseType.SERVICE_HOURS else st.integers(0, 10**6)
    limit = draw(st.none() | units)
    kinds = [AmendKind.CONSUMPTION] if limit is None else list(AmendKind)
    value = units.filter(bool).flatmap(lambda v: st.sampled_from([v, -v]))
    amends = draw(st.lists(st.builds(Amend, _dates, st.sampled_from(kinds), value, st.text(max_size=20)), max_size=3))
    return Clause(name, ctype, jql, limit=limit, amends=tuple(amends))


@st.composite
def _contract(draw: Any, name: str) -> Contract:
    start = draw(_dates)
    end = start + dt.timedelta(days=draw(st.integers(0, 2000)))
    clause_names = draw(st.lists(_names, max_size=4, unique_by=str.casefold))
    project_keys = st.lists(st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True), max_size=3)
    return Contract(
        name=name,
        start=start,
        end=end,
        time_zone=draw(st.sampled_from(["UTC", "Europe/Istanbul", "America/New_York", "Asia/Kolkata"])),
        period_type=draw(st.sampled_from(list(PeriodType))),
        carry_over=draw(st.booleans()),
        borrowing=draw(st.booleans()),
        clauses=tuple(draw(_clause(n)) for n in clause_names),
        portal=Portal(draw(st.booleans()), tuple(draw(project_keys)), tuple(draw(_strs)), tuple(draw(_strs))),
        notes=draw(st.text(max_size=40)),
    )


_contract_lists = st.lists(_names, max_size=3, unique_by=str.casefold).flatmap(
    lambda names: st.tuples(*[_contract(n) for n in names]).map(list)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_contract_lists)
def test_round_trip_property(contracts: list[Contract]) -> None:
    for c in contracts:
        assert rules.validate_contract(c) == []
    text = dump_contract_file(contracts)
    assert text.endswith("}\n")
    again = parse_contract_file(text)
    assert again == contracts
    assert dump_contract_file(again) == text
