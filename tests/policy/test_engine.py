from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources

import pytest
import yaml

from policy.config import PolicyError, parse_policy
from policy.engine import FlagCode, Terms, assess, grade_risk, route_for, validate_terms
from policy.facts import InvoiceRecord, compute_facts
from policy.lifecycle import InvalidTransition, Status, check_transition

AS_OF = date(2013, 6, 14)


def default_document() -> dict:
    return yaml.safe_load(resources.files("policy").joinpath("default_policy.yaml").read_text())


@pytest.fixture
def policy():
    return parse_policy(default_document())


def invoice(number: int, issued: date, amount: str, settled: date | None, disputed: bool = False) -> InvoiceRecord:
    return InvoiceRecord(f"INV{number:04d}", issued, issued + timedelta(days=30), Decimal(amount), disputed, settled)


def facts_with(open_amounts: list[tuple[str, bool]], late_days: list[int]):
    history = [
        invoice(n, AS_OF - timedelta(days=300 - 10 * n), "50.00", AS_OF - timedelta(days=270 - 10 * n) + timedelta(days=late))
        for n, late in enumerate(late_days)
    ]
    open_items = [invoice(100 + n, AS_OF - timedelta(days=40), amount, None, disputed) for n, (amount, disputed) in enumerate(open_amounts)]
    return compute_facts("ACCT-1", history + open_items, AS_OF)


def terms(balance: str, count: int = 3, down: str = "0.00", first_due_days: int = 30) -> Terms:
    return Terms(Decimal(balance), Decimal(down), count, AS_OF + timedelta(days=first_due_days))


def test_facts_open_balance_and_aging() -> None:
    facts = facts_with([("200.00", False), ("50.25", True)], [0, 0, 5, 12])

    assert facts.open_balance == Decimal("250.25")
    assert facts.past_due_balance == Decimal("250.25")
    assert facts.disputed_open_balance == Decimal("50.25")
    assert facts.aging["1-30"] == Decimal("250.25")
    assert facts.on_time_share == Decimal("0.5000")
    assert facts.average_days_late == Decimal("4.3")
    assert facts.max_days_late == 12
    assert facts.oldest_open_days_past_due == 10


def test_facts_ignore_later_history() -> None:
    later = invoice(1, AS_OF + timedelta(days=1), "999.00", None)
    facts = compute_facts("ACCT-1", [later], AS_OF)

    assert facts.invoice_count == 0
    assert facts.open_balance == Decimal("0.00")


def test_eligible_small_plan_routes_first_tier(policy) -> None:
    facts = facts_with([("400.00", False)], [0, 0, 0, 0])
    result = assess(policy, facts, terms("400.00"), as_of=AS_OF, open_plan_count=0)

    assert result.eligible
    assert result.route == ["collections_manager"]
    assert result.risk_grade == "A"
    assert result.policy_version == "b2b-2026.2"
    assert sum(p.amount for p in result.schedule) == Decimal("400.00")


@pytest.mark.parametrize(
    "balance, count, expected",
    [
        ("5000.00", 6, ["collections_manager"]),
        ("5000.01", 6, ["finance_controller"]),
        ("400.00", 7, ["finance_controller"]),
        ("400.00", 13, ["revenue_operations_lead"]),
        ("50000.01", 3, ["revenue_operations_lead"]),
        ("100000.01", 3, ["revenue_operations_lead", "legal_compliance"]),
        ("400.00", 30, ["revenue_operations_lead"]),
    ],
)
def test_route_by_balance_and_installments(policy, balance: str, count: int, expected: list[str]) -> None:
    assert route_for(policy, terms(balance, count)) == expected


@pytest.mark.parametrize(
    "open_amounts, open_plans, code",
    [
        ([("99.99", False)], 0, FlagCode.BALANCE_BELOW_MIN),
        ([("400.00", False)], 1, FlagCode.OPEN_PLAN_EXISTS),
        ([("100.00", False), ("100.01", True)], 0, FlagCode.DISPUTED_SHARE_ABOVE_MAX),
    ],
)
def test_ineligible_cases_flag_and_no_route(policy, open_amounts, open_plans: int, code: str) -> None:
    facts = facts_with(open_amounts, [0, 0])
    result = assess(policy, facts, terms(str(facts.open_balance)), as_of=AS_OF, open_plan_count=open_plans)

    assert not result.eligible
    assert result.route == []
    assert [flag.code for flag in result.blocking_flags] == [code]
    flag = result.blocking_flags[0]
    assert flag.limit
    assert flag.actual


def test_disputed_share_at_limit_is_eligible(policy) -> None:
    facts = facts_with([("100.00", False), ("100.00", True)], [0])
    result = assess(policy, facts, terms("200.00"), as_of=AS_OF, open_plan_count=0)

    assert facts.disputed_share == Decimal("0.5000")
    assert result.eligible


def test_deviations_do_not_block(policy) -> None:
    facts = facts_with([("4000.00", False)], [0])
    result = assess(policy, facts, terms("4000.00", count=30, first_due_days=60), as_of=AS_OF, open_plan_count=0)

    assert result.eligible
    codes = {flag.code for flag in result.flags}
    assert codes == {FlagCode.INSTALLMENTS_ABOVE_MAX, FlagCode.FIRST_DUE_BEYOND_WINDOW}


@pytest.mark.parametrize(
    "late_days, grade",
    [
        ([0] * 10, "A"),
        ([0] * 8 + [10, 10], "B"),
        ([0] * 6 + [10] * 4, "C"),
        ([20, 0, 20, 0, 20, 0, 20, 0, 20, 20], "D"),
        ([30] * 10, "E"),
        ([], "C"),
    ],
)
def test_risk_grades(policy, late_days: list[int], grade: str) -> None:
    result_grade, factors = grade_risk(policy, facts_with([("400.00", False)], late_days))

    assert result_grade == grade
    assert factors[-1].name == "grade_basis"


def test_same_input_same_answer(policy) -> None:
    facts = facts_with([("1234.56", False)], [0, 3, 9])
    first = assess(policy, facts, terms("1234.56", 9), as_of=AS_OF, open_plan_count=0)
    second = assess(policy, replace(facts), terms("1234.56", 9), as_of=AS_OF, open_plan_count=0)

    assert first == second


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"down_payment": Decimal("400.00")}, "down_payment"),
        ({"down_payment": Decimal("-1.00")}, "down_payment"),
        ({"installment_count": 0}, "installments"),
        ({"first_due_date": AS_OF}, "first_due_date"),
        ({"first_due_date": AS_OF + timedelta(days=400)}, "first_due_date"),
        ({"installment_count": 49}, "installments"),
        ({"balance": Decimal("0.00")}, "account"),
    ],
)
def test_validate_terms_names_field(policy, changes: dict, field: str) -> None:
    problems = validate_terms(replace(terms("400.00"), **changes), policy=policy, as_of=AS_OF)

    assert [problem.field for problem in problems] == [field]


def test_policy_errors_name_path_and_value() -> None:
    document = default_document()
    document["eligibility"]["min_balance"] = "-5"
    document["tiers"][1]["max_balance"] = "10.00"

    with pytest.raises(PolicyError) as caught:
        parse_policy(document)

    message = str(caught.value)
    assert "eligibility.min_balance" in message
    assert "'-5'" in message
    assert "finance_controller" in message


def test_lifecycle_rejects_unlinked_move() -> None:
    assert check_transition("pending_approval", "approved") is Status.APPROVED
    with pytest.raises(InvalidTransition, match="cannot move to active"):
        check_transition("pending_approval", "active")
    with pytest.raises(InvalidTransition, match="final status"):
        check_transition("rejected", "approved")
