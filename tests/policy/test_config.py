"""The policy file: example policies, problem reports and the IRS figures."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources

import pytest

from policy.config import PolicyError, parse_policy
from tests.policy.helpers import EXAMPLES, default_document, example_document, example_policy


def test_b2b_example_is_packaged_default() -> None:
    packaged = resources.files("policy").joinpath("default_policy.yaml").read_text()

    assert (EXAMPLES / "b2b.yaml").read_text() == packaged


@pytest.mark.parametrize("name", ["b2b", "consumer", "irs-installment-agreement"])
def test_example_policies_parse(name: str) -> None:
    policy = example_policy(name)

    assert policy.version
    assert policy.tier_names()


def test_irs_published_thresholds() -> None:
    policy = example_policy("irs-installment-agreement")
    tiers = {tier.name: tier for tier in policy.tiers}

    assert tiers["guaranteed"].max_balance == Decimal("10000.00")
    assert tiers["guaranteed"].max_installments == 36
    assert tiers["streamlined"].max_balance == Decimal("50000.00")
    assert tiers["streamlined"].max_installments == 72
    assert policy.detailed_assessment is not None
    assert policy.detailed_assessment.balance_above == Decimal("50000.00")
    assert [(rule.code, rule.balance_above) for rule in policy.documents] == [("collection_information_statement", Decimal("50000.00"))]
    assert "433-A" in policy.documents[0].label
    assert "433-F" in policy.documents[0].label
    assert policy.terms.min_installment_amount == Decimal("25.00")
    assert policy.sources


def test_consumer_policy_caps_interest_and_reviews_hardship() -> None:
    policy = example_policy("consumer")

    assert policy.terms.interest.mode == "amortized"
    assert policy.terms.interest.above_cap == "blocker"
    assert policy.hardship.review_tier == "compliance"
    assert policy.eligibility.segments == ["consumer"]


def problems_of(document: dict) -> dict[str, tuple[str, str]]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(document)
    return {problem.path: (problem.value, problem.message) for problem in caught.value.problems}


def test_every_field_problem_reported() -> None:
    document = default_document()
    document["eligibility"]["min_balance"] = "-5"
    document["schedule"]["frequencies"] = ["daily"]
    document["currency"] = "usd"

    problems = problems_of(document)

    assert set(problems) == {"eligibility.min_balance", "schedule.frequencies[0]", "currency"}
    assert problems["eligibility.min_balance"][0] == "'-5'"
    assert "greater than or equal to 0" in problems["eligibility.min_balance"][1]
    assert "'monthly'" in problems["schedule.frequencies[0]"][1]


def test_unknown_tier_names_reported() -> None:
    document = default_document()
    document["escalation"]["deviation_tier"] = "nobody"
    document["hardship"] = {"review_tier": "ghost"}

    problems = problems_of(document)

    assert problems["escalation.deviation_tier"][0] == "'nobody'"
    assert "collections_manager" in problems["escalation.deviation_tier"][1]
    assert problems["hardship.review_tier"][0] == "'ghost'"


def test_overlapping_tier_bands_reported() -> None:
    document = default_document()
    document["tiers"][1]["max_balance"] = "5000.00"
    document["tiers"][1]["max_installments"] = 6

    problems = problems_of(document)

    assert "same band" in problems["tiers"][1]
    assert problems["tiers"][0] == "[collections_manager, finance_controller, revenue_operations_lead]"


def test_decreasing_tier_band_reported() -> None:
    document = default_document()
    document["tiers"][1]["max_balance"] = "10.00"

    problems = problems_of(document)

    assert "finance_controller" in problems["tiers"][1]


def test_grade_limits_must_not_grow_for_worse_grades() -> None:
    document = default_document()
    document["terms"]["max_installments_by_grade"] = {"A": 12, "B": 18}

    problems = problems_of(document)

    assert "grade B allows 18" in problems["terms.max_installments_by_grade"][1]


def test_unset_referrals_use_legal_tier() -> None:
    document = example_document("irs-installment-agreement")
    del document["eligibility"]["referred_statuses"]

    policy = parse_policy(document)

    assert policy.referred_statuses == dict.fromkeys(["bankruptcy", "legal_hold", "deceased", "closed"], "insolvency_unit")


def test_old_policy_files_still_load() -> None:
    document = default_document()
    for section in ("terms", "escalation", "detailed_assessment", "documents", "description"):
        del document[section]
    del document["eligibility"]["referred_statuses"]
    document["legal_review"]["tier"].update({"max_balance": "250000.00", "max_installments": 24})

    policy = parse_policy(document)

    assert policy.max_installments_for("E") == 24
    assert policy.detailed_assessment is None
