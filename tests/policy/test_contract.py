"""The evaluate JSON contract: input validation with JSON paths, and the output fields."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

from policy.contract import CaseError, decision_json, evaluate_case, parse_case
from tests.policy.helpers import example_policy

CASE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "cases" / "b2b-request.json").read_text())


@pytest.fixture
def b2b():
    return example_policy("b2b")


def decide(policy, document: dict) -> dict:
    case = parse_case(document, policy)
    return decision_json(policy, case, evaluate_case(policy, case))


def test_output_has_contract_fields(b2b) -> None:
    decision = decide(b2b, CASE)

    for name in ("policy_version", "eligible", "risk_grade", "risk_factors", "flags", "route", "required_documents", "counter_proposal", "schedule", "totals"):
        assert name in decision
    assert set(decision["flags"][0]) >= {"code", "severity", "message", "limit", "value"}
    assert set(decision["schedule"][0]) >= {"number", "due", "amount", "principal", "interest", "fee", "balance_after"}
    assert set(decision["totals"]) == {"down_payment", "principal", "interest", "fees", "total"}
    assert set(decision["required_documents"][0]) >= {"code", "reason"}
    assert set(decision["counter_proposal"]) >= {"down_payment", "installments", "frequency", "first_due", "apr"}
    assert decision["totals"]["total"] == "18450.00"


def test_counter_proposal_is_a_valid_request(b2b) -> None:
    decision = decide(b2b, CASE)
    follow_up = copy.deepcopy(CASE)
    follow_up["request"].update(decision["counter_proposal"])

    second = decide(b2b, follow_up)

    assert [flag["severity"] for flag in second["flags"] if flag["severity"] == "deviation"] == []


def test_invalid_fields_named_by_json_path(b2b) -> None:
    document = copy.deepcopy(CASE)
    document["account"]["balance"] = 18450.0
    document["account"]["invoices"][2]["amount"] = "12.345"
    document["account"]["invoices"][3]["due"] = "2025-13-01"
    document["request"]["frequency"] = "daily"
    del document["as_of"]

    with pytest.raises(CaseError) as caught:
        parse_case(document, b2b)

    assert set(caught.value.problems) == {
        "as_of",
        "account.balance",
        "account.invoices[2].amount",
        "account.invoices[3].due",
        "request.frequency",
    }
    assert "decimal string" in caught.value.problems["account.balance"]


def test_unusable_terms_named_by_json_path(b2b) -> None:
    document = copy.deepcopy(CASE)
    document["request"]["down_payment"] = "20000.00"
    document["request"]["first_due"] = document["as_of"]

    with pytest.raises(CaseError) as caught:
        parse_case(document, b2b)

    assert set(caught.value.problems) == {"request.down_payment", "request.first_due"}


@pytest.mark.parametrize("balance, down", [("18450", "0"), ("18450.0", "0.000"), ("+18450.00", "0.00")])
def test_decimal_formatting_does_not_change_decision(b2b, balance: str, down: str) -> None:
    document = copy.deepcopy(CASE)
    document["account"]["balance"] = balance
    document["request"]["down_payment"] = down

    assert decide(b2b, document) == decide(b2b, CASE)


def test_jpy_case_has_whole_amounts() -> None:
    document = copy.deepcopy(CASE)
    document["account"]["currency"] = "JPY"
    document["account"]["balance"] = "1845000"
    for invoice in document["account"]["invoices"]:
        invoice["amount"] = invoice["amount"].split(".")[0] + "00"
    policy = example_policy("b2b").model_copy(update={"currency": "JPY"})

    decision = decide(policy, document)

    assert all("." not in line["amount"] for line in decision["schedule"])
    assert decision["totals"]["total"] == "1845000"


def test_unknown_currency_code_named(b2b) -> None:
    document = copy.deepcopy(CASE)
    document["account"]["currency"] = "XYZ"

    with pytest.raises(CaseError) as caught:
        parse_case(document, b2b)

    assert "XYZ is not an ISO 4217 currency code" in caught.value.problems["account.currency"]


def test_full_width_digits_rejected(b2b) -> None:
    document = copy.deepcopy(CASE)
    document["account"]["balance"] = "１８４５０.00"

    with pytest.raises(CaseError) as caught:
        parse_case(document, b2b)

    assert "account.balance" in caught.value.problems


@pytest.mark.parametrize("installments", [True, "12", 12.0])
def test_installments_must_be_integer(b2b, installments) -> None:
    document = copy.deepcopy(CASE)
    document["request"]["installments"] = installments

    with pytest.raises(CaseError) as caught:
        parse_case(document, b2b)

    assert set(caught.value.problems) == {"request.installments"}


def test_balance_must_match_open_invoices(b2b) -> None:
    document = copy.deepcopy(CASE)
    document["account"]["balance"] = "18000.00"

    with pytest.raises(CaseError) as caught:
        parse_case(document, b2b)

    assert set(caught.value.problems) == {"account.balance"}
    assert "18000.00 differs from 18450.00" in caught.value.problems["account.balance"]


def test_balance_without_invoices_accepted(b2b) -> None:
    document = copy.deepcopy(CASE)
    document["account"]["invoices"] = []

    assert parse_case(document, b2b).account.balance == Decimal("18450.00")


def test_paid_before_issued_rejected(b2b) -> None:
    document = copy.deepcopy(CASE)
    invoice = next(item for item in document["account"]["invoices"] if item["paid"] is not None)
    index = document["account"]["invoices"].index(invoice)
    invoice["paid"] = "2000-01-01"

    with pytest.raises(CaseError) as caught:
        parse_case(document, b2b)

    assert "paid 2000-01-01 is before issued" in caught.value.problems[f"account.invoices[{index}]"]


@pytest.mark.parametrize(
    ("started", "ended", "path", "message"),
    [
        ("2025-06-01", "2025-01-01", "account.prior_plans[0]", "ended 2025-01-01 is before started 2025-06-01"),
        ("2025-01-01", "2099-01-01", "account.prior_plans[0].ended", "2099-01-01 is after as_of"),
        ("2099-01-01", None, "account.prior_plans[0].started", "2099-01-01 is after as_of"),
    ],
)
def test_prior_plan_dates_checked(b2b, started: str, ended: str | None, path: str, message: str) -> None:
    document = copy.deepcopy(CASE)
    document["account"]["prior_plans"] = [{"status": "completed", "started": started, "ended": ended}]

    with pytest.raises(CaseError) as caught:
        parse_case(document, b2b)

    assert message in caught.value.problems[path]


def test_amounts_written_with_minor_unit(b2b) -> None:
    decision = decide(b2b, CASE)

    assert decision["totals"]["interest"] == "0.00"
    assert decision["totals"]["down_payment"] == "0.00"
    assert decision["schedule"][0]["fee"] == "0.00"
    assert decision["schedule"][0]["interest"] == "0.00"
    assert decision["plan_terms"]["late_fee"].count(".") == 1
    for row in decision["schedule"]:
        for field in ("amount", "principal", "interest", "fee", "balance_after"):
            assert len(row[field].split(".")[1]) == 2, (row["number"], field, row[field])


def test_negative_balance_named_as_negative(b2b) -> None:
    document = copy.deepcopy(CASE)
    document["account"]["balance"] = "-5.00"
    document["account"]["invoices"] = []

    with pytest.raises(CaseError) as caught:
        parse_case(document, b2b)

    assert "Balance -5.00 is negative" in caught.value.problems["account.balance"]


def test_object_type_error_hides_class_names(b2b) -> None:
    document = copy.deepcopy(CASE)
    document["request"] = "12 months"

    with pytest.raises(CaseError) as caught:
        parse_case(document, b2b)

    assert "RequestInput" not in caught.value.problems["request"]
    assert "a JSON object" in caught.value.problems["request"]


def test_first_due_on_as_of_names_as_of(b2b) -> None:
    document = copy.deepcopy(CASE)
    document["request"]["first_due"] = document["as_of"]

    with pytest.raises(CaseError) as caught:
        parse_case(document, b2b)

    assert f"is not after as_of ({document['as_of']})" in caught.value.problems["request.first_due"]
