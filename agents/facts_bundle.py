"""The facts bundle: every figure the model may use, computed by code.

The bundle has a fixed shape whatever the account's history: aging buckets,
payment statistics and their trend, disputes, the last few payments, the last
few prior plans, the requested terms and the policy result. Lists are cut to
fixed maximums, so an account with 5,000 invoices gives a prompt of the same
size as one with 50.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from policy.facts import InvoiceRecord

if TYPE_CHECKING:
    from agents.summary import SummaryInput

MAX_RECENT_PAYMENTS = 5
MAX_PRIOR_PLANS = 5
MAX_FLAGS = 12
MAX_RISK_FACTORS = 8
# The days-late trend compares the last TREND_WINDOW settled invoices with
# the TREND_WINDOW before them.
TREND_WINDOW = 12
# A change in average days late smaller than this is reported as steady.
TREND_STEADY_DAYS = Decimal("2.0")

ACCOUNT_PLACEHOLDER = "[ACCOUNT_1]"


@dataclass(frozen=True)
class PriorPlan:
    """An earlier plan request for the same account and how it ended."""

    request_id: int
    opened_on: date
    status: str
    balance: Decimal
    installment_count: int


def build_facts_bundle(inp: SummaryInput, *, account_label: str = ACCOUNT_PLACEHOLDER) -> dict[str, Any]:
    """Return the bounded, JSON-ready facts bundle for one summary.

    ``account_label`` replaces the account id, so the id itself is not sent.
    Amounts and ratios are decimal strings, dates ISO strings.
    """
    facts = inp.facts
    settled = _settled_by(inp.invoices, facts.as_of)
    return {
        "account": account_label,
        "as_of": facts.as_of.isoformat(),
        "balances": {
            "open_balance": str(facts.open_balance),
            "past_due_balance": str(facts.past_due_balance),
            "open_invoice_count": facts.open_invoice_count,
            "oldest_open_days_past_due": facts.oldest_open_days_past_due,
            "aging": {bucket: str(amount) for bucket, amount in facts.aging.items()},
        },
        "payment_history": {
            "invoice_count": facts.invoice_count,
            "total_billed": str(facts.total_billed),
            "settled_count": facts.settled_count,
            "on_time_share": _text(facts.on_time_share),
            "average_days_late": _text(facts.average_days_late),
            "max_days_late": facts.max_days_late,
            "days_late_trend": days_late_trend(settled),
        },
        "disputes": {
            "disputed_invoice_count": facts.disputed_count,
            "disputed_open_balance": str(facts.disputed_open_balance),
            "disputed_share_of_open_balance": str(facts.disputed_share),
        },
        "recent_payments": recent_payments(settled),
        "prior_plans": prior_plans_summary(inp.prior_plans),
        "requested_terms": {
            "reason_category": inp.reason_category,
            "balance": str(inp.balance),
            "down_payment": str(inp.down_payment),
            "installment_count": inp.installment_count,
            "first_due_date": inp.first_due_date.isoformat(),
        },
        "policy_result": {
            "eligible": inp.eligible,
            "risk_grade": inp.risk_grade,
            "route": list(inp.route),
            "flags": [_flag_entry(flag) for flag in inp.flags[:MAX_FLAGS]],
            "flags_not_shown": max(0, len(inp.flags) - MAX_FLAGS),
            "risk_factors": [dict(factor) for factor in inp.risk_factors[:MAX_RISK_FACTORS]],
        },
    }


def days_late_trend(settled: Sequence[InvoiceRecord]) -> dict[str, Any]:
    """Compare average days late of the latest settled invoices with the ones before them."""
    recent = settled[-TREND_WINDOW:]
    earlier = settled[-2 * TREND_WINDOW : -TREND_WINDOW]
    if not recent or not earlier:
        return {"direction": "not enough history", "window_invoices": TREND_WINDOW}

    recent_average = _average_days_late(recent)
    earlier_average = _average_days_late(earlier)
    change = recent_average - earlier_average
    if abs(change) < TREND_STEADY_DAYS:
        direction = "steady"
    elif change < 0:
        direction = "improving"
    else:
        direction = "worsening"
    return {
        "direction": direction,
        "window_invoices": TREND_WINDOW,
        "recent_average_days_late": str(recent_average),
        "earlier_average_days_late": str(earlier_average),
    }


def recent_payments(settled: Sequence[InvoiceRecord]) -> list[dict[str, Any]]:
    """Return the latest settled invoices, newest first, at most MAX_RECENT_PAYMENTS."""
    latest = list(settled[-MAX_RECENT_PAYMENTS:])
    latest.reverse()
    return [
        {
            "paid_on": invoice.settled_date.isoformat(),  # type: ignore[union-attr]
            "amount": str(invoice.amount),
            "days_late": _days_late(invoice),
        }
        for invoice in latest
    ]


def prior_plans_summary(plans: Sequence[PriorPlan]) -> dict[str, Any]:
    """Count prior plans by outcome and list the latest ones."""
    outcomes: dict[str, int] = {}
    for plan in plans:
        outcomes[plan.status] = outcomes.get(plan.status, 0) + 1
    latest = sorted(plans, key=lambda plan: (plan.opened_on, plan.request_id), reverse=True)[:MAX_PRIOR_PLANS]
    return {
        "count": len(plans),
        "outcomes": dict(sorted(outcomes.items())),
        "latest": [
            {
                "opened_on": plan.opened_on.isoformat(),
                "status": plan.status,
                "balance": str(plan.balance),
                "installment_count": plan.installment_count,
            }
            for plan in latest
        ],
    }


def _settled_by(invoices: Sequence[InvoiceRecord], as_of: date) -> list[InvoiceRecord]:
    settled = [
        invoice
        for invoice in invoices
        if invoice.invoice_date <= as_of and invoice.settled_date is not None and invoice.settled_date <= as_of
    ]
    settled.sort(key=lambda invoice: (invoice.settled_date, invoice.invoice_number))
    return settled


def _days_late(invoice: InvoiceRecord) -> int:
    return max(0, (invoice.settled_date - invoice.due_date).days)  # type: ignore[operator]


def _average_days_late(invoices: Sequence[InvoiceRecord]) -> Decimal:
    total = sum(_days_late(invoice) for invoice in invoices)
    return (Decimal(total) / Decimal(len(invoices))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _flag_entry(flag: dict[str, Any]) -> dict[str, Any]:
    keys = ("code", "message", "limit", "actual", "severity")
    return {key: flag[key] for key in keys if key in flag}


def _text(value: object) -> str | None:
    return None if value is None else str(value)
