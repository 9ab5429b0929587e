"""The evaluate JSON contract: input validation with JSON paths, and the output fields."""

from __future__ import annotations

import copy
import json
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
