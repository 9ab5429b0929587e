"""The conditions an agreement states beyond its schedule, and its canonical terms.

Grace period, late fee, default after missed installments and set-up fee
come from the policy's ``terms`` section; the cure period and interest rate,
which the policy has no field for, come from ``DEFAULT_CONDITIONS``.
:func:`plan_conditions` is the one place that reads them.

The canonical terms are the JSON document whose SHA-256 identifies an
agreement. The approved, accepted and activated terms must hash the same.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import Any

from bot.messages import day
from policy.config import Policy
from policy.schedule import canonical_amount


@dataclass(frozen=True)
class PlanConditions:
    # Days after a due date before an unpaid installment is late.
    grace_days: int
    # Flat fee added to each installment that becomes late.
    late_fee: Decimal
    # Late installments that trigger a notice of default.
    default_after_missed: int
    # Days the notice gives the customer to pay the late installments.
    cure_days: int
    # Annual percentage rate; 0 means the plan carries no interest.
    annual_interest_rate: Decimal
    # One-off fee for setting up the plan, added to the balance.
    setup_fee: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {key: str(value) if isinstance(value, Decimal) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlanConditions:
        return cls(
            grace_days=int(data["grace_days"]),
            late_fee=Decimal(data["late_fee"]),
            default_after_missed=int(data["default_after_missed"]),
            cure_days=int(data["cure_days"]),
            annual_interest_rate=Decimal(data["annual_interest_rate"]),
            setup_fee=Decimal(data["setup_fee"]),
        )


# NOTE: the cure period and interest rate here apply to every plan, because
# the policy file has no field for them. The figures are estimates of common business-to-business terms, not sourced values, so
# review them before relying on them.
DEFAULT_CONDITIONS = PlanConditions(
    grace_days=5,
    late_fee=Decimal("25.00"),
    default_after_missed=2,
    cure_days=30,
    annual_interest_rate=Decimal("0"),
    setup_fee=Decimal("0.00"),
)


def plan_conditions(policy: Policy) -> PlanConditions:
    """Return the conditions the policy's ``terms`` section sets.

    Grace days, late fee, missed installments before default and set-up fee
    come from ``policy.terms``. The policy has no field for the cure period or
    for a plan-wide interest rate, so those keep ``DEFAULT_CONDITIONS``.
    """
    terms = policy.terms
    return replace(
        DEFAULT_CONDITIONS,
        grace_days=terms.grace_days,
        late_fee=terms.late_fee,
        default_after_missed=terms.default_after_missed,
        setup_fee=terms.setup_fee,
    )


# The due date the terms state for the down payment: it falls due on the day
# the customer accepts, so a customer who accepts late does not start in
# arrears. The installment created at acceptance carries the actual date.
ON_ACCEPTANCE = "on_acceptance"


def canonical_schedule(schedule: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the agreed fields of ``schedule``, amounts to the cent and the down payment due on acceptance."""
    return [
        {
            **_agreed_payment(row),
            "amount": str(canonical_amount(Decimal(row["amount"]))),
            **({"due_date": ON_ACCEPTANCE} if int(row["sequence"]) == 0 else {}),
        }
        for row in schedule
    ]


def due_wording(row: dict[str, Any]) -> str:
    """Say when a schedule row falls due, for the customer: the down payment on acceptance."""
    if int(row["sequence"]) == 0:
        return "The day you accept"
    return day(row["due_date"])


def hash_terms(terms: dict[str, Any]) -> str:
    """Return the SHA-256 of ``terms`` serialised with sorted keys and no spaces."""
    canonical = json.dumps(terms, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# Fields of a schedule row that the customer agrees to and that become
# installments. The assessment's rows also carry principal, interest, fee
# and balance_after, which follow from these.
AGREED_PAYMENT_FIELDS = ("sequence", "due_date", "amount")


def _agreed_payment(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in AGREED_PAYMENT_FIELDS}


def canonical_terms(request: Any, revision: Any, extras: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the terms a customer agrees to, as plain JSON values.

    ``request`` and ``revision`` are the stored PlanRequest and TermRevision;
    ``extras`` adds the parties, covered invoices, conditions and payment
    instructions that the agreement document states.
    """
    assessment = revision.assessment
    terms: dict[str, Any] = {
        "request_id": request.id,
        "account_id": request.account_id,
        "revision": revision.number,
        "balance": str(canonical_amount(revision.balance)),
        "down_payment": str(canonical_amount(revision.down_payment)),
        "installment_count": revision.installment_count,
        "frequency": revision.frequency,
        "first_due_date": revision.first_due_date.isoformat(),
        "schedule": canonical_schedule(assessment.schedule) if assessment else [],
        "policy_version": assessment.policy_version if assessment else None,
    }
    if extras:
        terms.update(extras)
    return terms
