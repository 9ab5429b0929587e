"""One table per rule of the engine: eligibility, deviations, reviews, documents and proposals."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from policy.config import parse_policy
from policy.engine import AccountProfile, FlagCode, assess, route_for
from policy.facts import PriorPlan
from tests.policy.helpers import AS_OF, clean_facts, default_document, example_policy, terms


@pytest.fixture
def b2b():
    return example_policy("b2b")


@pytest.fixture
def consumer():
    return example_policy("consumer")


@pytest.fixture
def irs():
    return example_policy("irs-installment-agreement")


def codes(result, severity: str | None = None) -> set[str]:
    return {flag.code for flag in result.flags if severity is None or flag.severity == severity}


@pytest.mark.parametrize("status", ["bankruptcy", "legal_hold", "deceased", "closed"])
def test_referred_status_ineligible_routes_legal(b2b, status: str) -> None:
    result = assess(b2b, clean_facts("3000.00"), terms("3000.00"), as_of=AS_OF, open_plan_count=0, account=AccountProfile(status=status))

    assert not result.eligible
    assert codes(result, "blocker") == {FlagCode.ACCOUNT_STATUS_REFERRED}
    assert result.route == ["legal_compliance"]
    flag = result.blocking_flags[0]
    assert flag.actual == status
    assert flag.blocking


@pytest.mark.parametrize(
    "profile, code",
    [
        (AccountProfile(segment="consumer"), FlagCode.SEGMENT_NOT_ALLOWED),
        (AccountProfile(currency="EUR"), FlagCode.CURRENCY_NOT_POLICY),
    ],
)
def test_segment_and_currency_blockers(b2b, profile: AccountProfile, code: str) -> None:
    result = assess(b2b, clean_facts("3000.00"), terms("3000.00"), as_of=AS_OF, open_plan_count=0, account=profile)

    assert codes(result, "blocker") == {code}
    assert result.route == []


@pytest.mark.parametrize(
    "ended_days_ago, eligible",
    [(100, False), (729, False), (731, True)],
)
def test_prior_default_lookback(b2b, ended_days_ago: int, eligible: bool) -> None:
    plan = PriorPlan("defaulted", AS_OF - timedelta(days=ended_days_ago + 200), AS_OF - timedelta(days=ended_days_ago))
    result = assess(b2b, clean_facts("3000.00"), terms("3000.00"), as_of=AS_OF, open_plan_count=0, account=AccountProfile(prior_plans=(plan,)))

    assert result.eligible is eligible
    assert (FlagCode.PRIOR_DEFAULT_IN_LOOKBACK in codes(result)) is not eligible


def test_prior_default_lowers_grade(irs) -> None:
    plan = PriorPlan("defaulted", AS_OF - timedelta(days=400), AS_OF - timedelta(days=200))
    clean = assess(irs, clean_facts("3000.00"), terms("3000.00"), as_of=AS_OF, open_plan_count=0)
    defaulted = assess(irs, clean_facts("3000.00"), terms("3000.00"), as_of=AS_OF, open_plan_count=0, account=AccountProfile(prior_plans=(plan,)))

    assert clean.risk_grade == "A"
    assert defaulted.risk_grade == "B"
    factor = next(f for f in defaulted.risk_factors if f.name == "prior_plan_defaults")
    assert (factor.value, factor.contribution) == ("1", 1)
    assert defaulted.route == ["financial_analysis", "guaranteed"]


@pytest.mark.parametrize(
    "change, code, limit, value",
    [
        ({"count": 30}, FlagCode.INSTALLMENTS_ABOVE_MAX, "24 months", "30 months"),
        ({"days": 60}, FlagCode.FIRST_DUE_BEYOND_WINDOW, "45 days", "60 days"),
        ({"frequency": "weekly", "count": 20}, FlagCode.FREQUENCY_NOT_ALLOWED, "monthly, biweekly", "weekly"),
        ({"apr": "5"}, FlagCode.INTEREST_NOT_ALLOWED, "0", "5"),
        ({"count": 24, "balance": "1000.00"}, FlagCode.INSTALLMENT_BELOW_MIN, "50.00", "41.67"),
    ],
)
def test_deviation_table(b2b, change: dict, code: str, limit: str, value: str) -> None:
    balance = change.pop("balance", "3000.00")
    result = assess(b2b, clean_facts(balance), terms(balance, **change), as_of=AS_OF, open_plan_count=0)

    assert result.eligible
    assert codes(result, "deviation") == {code}
    flag = next(flag for flag in result.flags if flag.code == code)
    assert (flag.limit, flag.actual) == (limit, value)
    assert not flag.blocking


def test_down_payment_minimum(consumer) -> None:
    facts = clean_facts("20000.00", typical="5000.00")
    profile = AccountProfile(segment="consumer", currency="TWD")
    result = assess(consumer, facts, terms("20000.00", 6, down="500", days=14), as_of=AS_OF, open_plan_count=0, account=profile)

    flag = next(flag for flag in result.flags if flag.code == FlagCode.DOWN_PAYMENT_BELOW_MIN)
    assert (flag.limit, flag.actual) == ("1000.00", "500.00")
    assert result.counter_proposal is not None
    assert result.counter_proposal.down_payment == Decimal("1000.00")


def test_apr_above_cap_blocks_in_consumer(consumer) -> None:
    profile = AccountProfile(segment="consumer", currency="TWD")
    result = assess(consumer, clean_facts("20000.00", typical="5000.00"), terms("20000.00", 6, down="1000", days=14, apr="15"), as_of=AS_OF, open_plan_count=0, account=profile)

    assert not result.eligible
    assert codes(result, "blocker") == {FlagCode.APR_ABOVE_CAP}


def test_apr_inside_cap_amortizes(consumer) -> None:
    profile = AccountProfile(segment="consumer", currency="TWD")
    result = assess(consumer, clean_facts("20000.00", typical="5000.00"), terms("20000.00", 6, down="1000", days=14, apr="10"), as_of=AS_OF, open_plan_count=0, account=profile)

    assert result.eligible
    assert codes(result, "deviation") == set()
    assert result.totals is not None
    assert result.totals.interest > 0
    assert result.schedule[-1].balance_after == 0
    assert result.totals.principal == Decimal("19000")


def test_hardship_reviews_extends_and_documents(consumer) -> None:
    profile = AccountProfile(segment="consumer", currency="TWD")
    facts = clean_facts("30000.00", typical="5000.00")
    base = assess(consumer, facts, terms("30000.00", 30, down="1500", days=14), as_of=AS_OF, open_plan_count=0, account=profile)
    hardship = assess(consumer, facts, terms("30000.00", 30, down="1500", days=14), as_of=AS_OF, open_plan_count=0, account=profile, reason="hardship")

    assert FlagCode.INSTALLMENTS_ABOVE_MAX in codes(base, "deviation")
    assert codes(hardship, "deviation") == set()
    assert hardship.route[-1] == "compliance"
    assert FlagCode.HARDSHIP_REVIEW in codes(hardship, "info")
    assert [document.code for document in hardship.required_documents] == ["hardship_evidence"]
    assert hardship.required_documents[0].rule == "documents[0] (hardship_evidence)"


@pytest.mark.parametrize(
    "balance, count, route, documents",
    [
        ("10000.00", 36, ["guaranteed"], []),
        ("10000.01", 36, ["streamlined"], []),
        ("10000.01", 12, ["streamlined"], []),
        ("9000.00", 37, ["streamlined"], []),
        ("50000.00", 72, ["streamlined"], []),
        ("50000.01", 72, ["financial_analysis", "non_streamlined"], ["collection_information_statement"]),
        ("30000.00", 73, ["financial_analysis", "non_streamlined"], ["collection_information_statement"]),
        ("50000.01", 73, ["financial_analysis", "non_streamlined"], ["collection_information_statement"]),
    ],
)
def test_irs_tracks(irs, balance: str, count: int, route: list[str], documents: list[str]) -> None:
    result = assess(irs, clean_facts(balance, typical="20000.00"), terms(balance, count), as_of=AS_OF, open_plan_count=0)

    assert result.eligible
    assert result.route == route
    assert [document.code for document in result.required_documents] == documents


def test_detailed_assessment_for_weak_grade(b2b) -> None:
    facts = clean_facts("3000.00", disputed_open="1500.00")
    result = assess(b2b, facts, terms("4500.00"), as_of=AS_OF, open_plan_count=0)

    assert result.route[0] == "credit_analyst"
    flag = next(flag for flag in result.flags if flag.code == FlagCode.DETAILED_ASSESSMENT_REQUIRED)
    assert flag.severity == "info"
    assert "disputed share" in flag.actual


@pytest.mark.parametrize(
    "balance, count, grade, deviations, route",
    [
        ("5000.00", 6, "A", False, ["collections_manager"]),
        ("5000.00", 6, "A", True, ["revenue_operations_lead"]),
        ("5000.00", 6, "E", False, ["finance_controller"]),
        ("5000.00", 13, "A", False, ["revenue_operations_lead"]),
        ("120000.00", 6, "E", False, ["revenue_operations_lead", "legal_compliance"]),
    ],
)
def test_routing_table(b2b, balance: str, count: int, grade: str, deviations: bool, route: list[str]) -> None:
    assert route_for(b2b, terms(balance, count), risk_grade=grade, has_deviations=deviations) == route


def test_counter_proposal_is_inside_policy(b2b) -> None:
    result = assess(b2b, clean_facts("12000.00"), terms("12000.00", 30, days=60), as_of=AS_OF, open_plan_count=0)

    counter = result.counter_proposal
    assert counter is not None
    assert counter.installment_count == 24
    assert counter.first_due_date == AS_OF + timedelta(days=45)
    follow_up = assess(b2b, clean_facts("12000.00"), counter, as_of=AS_OF, open_plan_count=0)
    assert codes(follow_up, "deviation") == set()


def test_no_counter_proposal_without_deviation(b2b) -> None:
    result = assess(b2b, clean_facts("3000.00"), terms("3000.00"), as_of=AS_OF, open_plan_count=0)

    assert result.counter_proposal is None


def test_alternatives_inside_policy_and_distinct(b2b) -> None:
    result = assess(b2b, clean_facts("6000.00"), terms("6000.00", 12), as_of=AS_OF, open_plan_count=0)

    assert 1 <= len(result.alternatives) <= 3
    structures = {alternative.terms for alternative in result.alternatives}
    assert len(structures) == len(result.alternatives)
    assert terms("6000.00", 12) not in structures
    for alternative in result.alternatives:
        check = assess(b2b, clean_facts("6000.00"), alternative.terms, as_of=AS_OF, open_plan_count=0)
        assert codes(check, "deviation") == set()
        assert alternative.totals.principal + alternative.totals.down_payment == Decimal("6000.00")
        assert alternative.periodic_amount > 0


def test_setup_fee_on_first_payment() -> None:
    document = default_document()
    document["terms"]["setup_fee"] = "35.00"
    policy = parse_policy(document)

    result = assess(policy, clean_facts("3000.00"), terms("3000.00", 6, down="300.00"), as_of=AS_OF, open_plan_count=0)

    assert result.schedule[0].fee == Decimal("35.00")
    assert result.schedule[0].amount == Decimal("335.00")
    assert result.totals is not None
    assert result.totals.fees == Decimal("35.00")
    assert result.totals.total == Decimal("3035.00")


def test_flag_keeps_blocking_field(b2b) -> None:
    result = assess(b2b, clean_facts("50.00"), terms("50.00", 1), as_of=AS_OF, open_plan_count=0)

    record = result.flags[0].to_dict()
    assert record["severity"] == "blocker"
    assert record["blocking"] is True
    assert record["value"] == record["actual"] == "50.00"


def test_same_input_same_answer_with_account(consumer) -> None:
    profile = AccountProfile(segment="consumer", currency="TWD", prior_plans=(PriorPlan("completed", AS_OF - timedelta(days=500), AS_OF - timedelta(days=300)),))
    facts = clean_facts("20000.00", typical="5000.00")
    first = assess(consumer, facts, terms("20000.00", 9, down="1000", days=14, apr="6"), as_of=AS_OF, open_plan_count=0, account=profile)
    second = assess(consumer, replace(facts), terms("20000.00", 9, down="1000", days=14, apr="6"), as_of=AS_OF, open_plan_count=0, account=profile)

    assert first == second


def test_unschedulable_terms_block(b2b) -> None:
    result = assess(b2b, clean_facts("100.00"), terms("100.00", 24, down="99.90"), as_of=AS_OF, open_plan_count=0)

    assert not result.eligible
    flag = next(flag for flag in result.flags if flag.code == FlagCode.SCHEDULE_NOT_POSSIBLE)
    assert flag.actual == "0.10 in 24 monthly installments"
    assert result.schedule == []


def test_irs_statement_listed_once_with_both_reasons(irs) -> None:
    result = assess(irs, clean_facts("60000.00", typical="20000.00"), terms("60000.00", 84), as_of=AS_OF, open_plan_count=0)

    assert [document.code for document in result.required_documents] == ["collection_information_statement"]
    reason = result.required_documents[0].reason
    assert "balance 60000.00 is above 50000.00" in reason
    assert "plan of 84 months is longer than 72" in reason


# The longest grade A plan is 24 months: 52 biweekly or 104 weekly installments,
# fewer when an installment would fall below the minimum amount.
@pytest.mark.parametrize("frequency, count, longest", [("biweekly", 120, 52), ("weekly", 200, 104)])
def test_counter_proposal_keeps_allowed_frequency(consumer, frequency: str, count: int, longest: int) -> None:
    profile = AccountProfile(segment="consumer", currency="TWD")
    facts = clean_facts("30000.00", typical="5000.00")
    result = assess(consumer, facts, terms("30000.00", count, down="1500", days=14, frequency=frequency), as_of=AS_OF, open_plan_count=0, account=profile)

    assert FlagCode.INSTALLMENTS_ABOVE_MAX in codes(result, "deviation")
    assert result.counter_proposal is not None
    assert result.counter_proposal.frequency == frequency
    assert result.counter_proposal.installment_count <= longest


def test_hardship_counter_proposal_waives_interest(consumer) -> None:
    profile = AccountProfile(segment="consumer", currency="TWD")
    facts = clean_facts("30000.00", typical="5000.00")
    requested = terms("30000.00", 30, down="1500", days=14, apr="10")

    result = assess(consumer, facts, requested, as_of=AS_OF, open_plan_count=0, account=profile, reason="hardship")

    assert result.counter_proposal is not None
    assert result.counter_proposal.apr == 0
