"""Plan conditions, canonical terms, the PDF and the new lifecycle moves."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from bot.agreement_document import render_pdf
from bot.agreement_terms import DEFAULT_CONDITIONS, hash_terms, plan_conditions
from bot.config import load_policy
from policy.lifecycle import InvalidTransition, Status, check_transition

TERMS = {
    "request_id": 7,
    "account_id": "0379-NEVHP",
    "revision": 1,
    "balance": "430.55",
    "down_payment": "0.00",
    "installment_count": 2,
    "frequency": "monthly",
    "first_due_date": "2013-07-15",
    "schedule": [{"sequence": 1, "due_date": "2013-07-15", "amount": "215.28"}, {"sequence": 2, "due_date": "2013-08-15", "amount": "215.27"}],
    "policy_version": "b2b-2026.2",
    "currency": "USD",
    "parties": {"creditor": "Northwind <Supplies> & Co", "customer_account": "0379-NEVHP", "customer_name": None},
    "invoices": [{"invoice_number": "INV-1", "due_date": "2013-05-01", "amount": "430.55"}],
    "conditions": DEFAULT_CONDITIONS.to_dict(),
    "payment_instructions": "Pay by bank transfer quoting PP-00007.",
}


def test_conditions_read_from_policy_terms() -> None:
    policy = load_policy(Path("examples/policies/consumer.yaml"))

    conditions = plan_conditions(policy)

    assert conditions == replace(
        DEFAULT_CONDITIONS, grace_days=10, late_fee=Decimal("300"), default_after_missed=3, setup_fee=Decimal("0")
    )


def test_conditions_follow_policy_changes() -> None:
    policy = load_policy(Path("examples/policies/consumer.yaml"))
    changed = policy.model_copy(update={"terms": policy.terms.model_copy(update={"grace_days": 4, "late_fee": Decimal("12.50")})})

    conditions = plan_conditions(changed)

    assert (conditions.grace_days, conditions.late_fee, conditions.cure_days) == (4, Decimal("12.50"), DEFAULT_CONDITIONS.cure_days)


def test_terms_hash_ignores_key_order() -> None:
    reordered = dict(reversed(list(TERMS.items())))

    assert hash_terms(reordered) == hash_terms(TERMS)
    assert hash_terms({**TERMS, "balance": "430.56"}) != hash_terms(TERMS)


def test_pdf_same_terms_same_bytes() -> None:
    first = render_pdf(TERMS, hash_terms(TERMS))
    second = render_pdf(TERMS, hash_terms(TERMS))

    assert first.startswith(b"%PDF")
    assert first == second


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("sent_to_customer", "changes_requested"),
        ("declined", "changes_requested"),
        ("expired", "changes_requested"),
        ("active", "changes_requested"),
        ("defaulted", "changes_requested"),
        ("active", "completed"),
        ("active", "defaulted"),
    ],
)
def test_new_lifecycle_moves_allowed(current: str, target: str) -> None:
    assert check_transition(current, target) is Status(target)


def test_completed_plan_is_final() -> None:
    with pytest.raises(InvalidTransition, match="final status"):
        check_transition("completed", "changes_requested")
