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
    assert policy.detailed_assessment.installments_above == 72
    assert [(rule.code, rule.balance_above, rule.installments_above) for rule in policy.documents] == [
        ("collection_information_statement", Decimal("50000.00"), None),
        ("collection_information_statement", None, 72),
    ]
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

    assert "the same band as tiers[0] (collections_manager)" in problems["tiers[1] (finance_controller)"][1]
    assert problems["tiers[1] (finance_controller)"][0] == "max_balance 5000.00, max_installments 6"


def test_decreasing_tier_band_reported() -> None:
    document = default_document()
    document["tiers"][1]["max_balance"] = "4000.00"
    document["tiers"][2]["max_installments"] = 10

    problems = problems_of(document)

    balance = problems["tiers[1] (finance_controller).max_balance"]
    assert balance[0] == "4000.00"
    assert "4000.00 < 5000.00 of tiers[0] (collections_manager).max_balance" in balance[1]
    installments = problems["tiers[2] (revenue_operations_lead).max_installments"]
    assert installments[0] == "10"
    assert "10 < 12 of tiers[1] (finance_controller).max_installments" in installments[1]


def test_tier_order_reported_with_type_errors() -> None:
    document = default_document()
    document["tiers"][1]["max_balance"] = "4000.00"
    document["terms"]["grace_days"] = "soon"

    problems = problems_of(document)

    assert "terms.grace_days" in problems
    assert "tiers[1] (finance_controller).max_balance" in problems


def test_duplicate_tier_name_reported_once() -> None:
    document = default_document()
    document["tiers"][2]["name"] = "finance_controller"

    problems = problems_of(document)

    assert problems["tiers[2] (finance_controller).name"][0] == "'finance_controller'"
    assert "already used by tiers[1]" in problems["tiers[2] (finance_controller).name"][1]


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


@pytest.mark.parametrize("country", ["XX", "ZZ", "", "1"])
def test_unsupported_holiday_country_rejected(country: str) -> None:
    document = default_document()
    document["schedule"]["business_day_country"] = country

    problems = problems_of(document)

    assert set(problems) == {"schedule.business_day_country"}
    assert repr(country) in problems["schedule.business_day_country"][1]
    assert "list_supported_countries" in problems["schedule.business_day_country"][1]


def test_lower_case_holiday_country_normalised() -> None:
    document = default_document()
    document["schedule"]["business_day_country"] = "de"

    assert parse_policy(document).schedule.business_day_country == "DE"


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("eligibility", "max_disputed_share", 0.1),
        ("eligibility", "min_balance", 100.10),
        ("terms", "late_fee", 1e308),
        ("terms", "late_fee", float("nan")),
    ],
)
def test_yaml_float_rejected_for_decimals(section: str, field: str, value: float) -> None:
    document = default_document()
    document[section][field] = value

    problems = problems_of(document)

    assert set(problems) == {f"{section}.{field}"}
    assert 'write it as a quoted decimal string, e.g. "0.10"' in problems[f"{section}.{field}"][1]


@pytest.mark.parametrize("text", ["2.5e1", "Infinity", "NaN", "+25.00", "25.00 ", " 25", "２５.00", "25."])
def test_loose_decimal_text_rejected(text: str) -> None:
    document = default_document()
    document["terms"]["late_fee"] = text

    problems = problems_of(document)

    assert set(problems) == {"terms.late_fee"}
    assert "is not a plain decimal number" in problems["terms.late_fee"][1]


def test_yaml_integer_amount_accepted() -> None:
    document = default_document()
    document["eligibility"]["min_balance"] = 100

    assert parse_policy(document).eligibility.min_balance == Decimal("100")


@pytest.mark.parametrize(
    ("section", "field", "value", "limit"),
    [
        ("terms", "late_fee", "1000000000000.01", "less than or equal to 1000000000000"),
        ("eligibility", "max_disputed_share", "1.01", "less than or equal to 1"),
        ("terms", "down_payment_min_share", "-0.01", "greater than or equal to 0"),
    ],
)
def test_decimal_bounds_reported(section: str, field: str, value: str, limit: str) -> None:
    document = default_document()
    document[section][field] = value

    problems = problems_of(document)

    assert f"{section}.{field}" in problems
    assert limit in problems[f"{section}.{field}"][1]
    assert "Decimal(" not in problems[f"{section}.{field}"][1]


def test_interest_rate_bounds_reported() -> None:
    document = example_document("consumer")
    document["terms"]["interest"]["max_apr"] = "100.5"

    problems = problems_of(document)

    assert "less than or equal to 100" in problems["terms.interest.max_apr"][1]


def test_unknown_tier_reported_with_type_errors() -> None:
    document = default_document()
    document["terms"]["grace_days"] = "soon"
    document["escalation"]["grade_tiers"]["E"] = "cfo"
    document["hardship"] = {"review_tier": "nobody"}

    problems = problems_of(document)

    assert "terms.grace_days" in problems
    assert problems["escalation.grade_tiers.E"][0] == "'cfo'"
    assert "unknown tier" in problems["escalation.grade_tiers.E"][1]
    assert "unknown tier" in problems["hardship.review_tier"][1]


def test_tier_references_skipped_when_tiers_unreadable() -> None:
    document = default_document()
    document["tiers"] = "all of them"
    document["escalation"]["grade_tiers"]["E"] = "cfo"

    problems = problems_of(document)

    assert set(problems) == {"tiers"}


def test_unknown_currency_code_rejected() -> None:
    document = default_document()
    document["currency"] = "XYZ"

    problems = problems_of(document)

    assert set(problems) == {"currency"}
    assert "XYZ is not an ISO 4217 currency code" in problems["currency"][1]


@pytest.mark.parametrize(
    ("currency", "field", "value"),
    [("USD", "late_fee", "25.001"), ("JPY", "setup_fee", "100.5"), ("JPY", "late_fee", "25.50")],
)
def test_amount_finer_than_minor_unit_rejected(currency: str, field: str, value: str) -> None:
    document = default_document()
    document["currency"] = currency
    document["terms"][field] = value

    problems = problems_of(document)

    assert set(problems) == {f"terms.{field}"}
    assert f"more decimal places than {currency} allows" in problems[f"terms.{field}"][1]


def test_trailing_zeros_within_minor_unit_accepted() -> None:
    document = default_document()
    document["terms"]["late_fee"] = "25.000"

    assert parse_policy(document).terms.late_fee == Decimal("25")


def test_section_type_error_hides_class_names() -> None:
    document = default_document()
    document["eligibility"] = "x"

    problems = problems_of(document)

    assert "EligibilityRules" not in problems["eligibility"][1]
    assert "a mapping" in problems["eligibility"][1]


def test_empty_first_due_window_points_at_min() -> None:
    document = default_document()
    document["schedule"]["min_first_due_days"] = 50
    document["schedule"]["max_first_due_days"] = 30

    problems = problems_of(document)

    assert set(problems) == {"schedule.min_first_due_days"}
    assert "above max_first_due_days (30)" in problems["schedule.min_first_due_days"][1]


def test_zero_day_window_with_default_min_rejected() -> None:
    document = default_document()
    document["schedule"].pop("min_first_due_days", None)
    document["schedule"]["max_first_due_days"] = 0

    problems = problems_of(document)

    assert "schedule.min_first_due_days" in problems
