"""The risk grade, A (best) to E, with the factors that explain it.

The base grade comes from the on-time share and the average days late of
settled invoices (the policy's ``risk.grades`` table). Each adverse finding in
``risk.adjustments`` then lowers the grade by its number of steps, never
below E. Every factor is listed with its value and its contribution in grade
steps, so an analyst can see why the grade is what it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from policy.config import GRADES, Policy
from policy.facts import AccountFacts


@dataclass(frozen=True)
class RiskFactor:
    """One input of the grade: its value, and how many grade steps it moved the grade down."""

    name: str
    value: str
    detail: str
    contribution: int = 0

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "value": self.value, "detail": self.detail, "contribution": self.contribution}


def grade_risk(policy: Policy, facts: AccountFacts, *, prior_defaults: int = 0, prior_completed: int = 0) -> tuple[str, list[RiskFactor]]:
    """Grade the account from its settled invoices, then apply the adjustments."""
    rules = policy.risk.adjustments
    factors = [
        RiskFactor("settled_invoices", str(facts.settled_count), "invoices paid before the request date"),
        RiskFactor("on_time_share", _text(facts.on_time_share), "share of settled invoices paid by the due date"),
        RiskFactor("average_days_late", _text(facts.average_days_late), "mean days past due at settlement"),
    ]
    base, basis = _base_grade(policy, facts)

    adjustments = [
        _above("max_days_late", facts.max_days_late, rules.max_days_late_above, "worst days past due at settlement"),
        _above(
            "days_late_trend",
            facts.days_late_trend,
            rules.worsening_trend_above,
            "recent minus earlier average days late, in days; positive means slower payment",
        ),
        _above(
            "disputed_invoice_share",
            _share(facts.disputed_count, facts.invoice_count),
            rules.disputed_invoice_share_above,
            f"share of invoices ever disputed ({facts.disputed_count} of {facts.invoice_count})",
        ),
        _above(
            "balance_to_typical_invoice",
            _ratio(facts.open_balance, facts.median_invoice_amount),
            rules.balance_to_typical_invoice_above,
            "open balance divided by the median invoice amount",
        ),
        _above(
            "oldest_open_days_past_due",
            facts.oldest_open_days_past_due,
            rules.oldest_open_days_above,
            "days past due of the oldest open invoice",
        ),
        RiskFactor(
            "prior_plan_defaults",
            str(prior_defaults),
            f"prior plans that defaulted within the lookback; {prior_completed} completed",
            prior_defaults * rules.steps_per_prior_default,
        ),
    ]
    factors.extend(adjustments)
    steps = sum(factor.contribution for factor in adjustments)
    grade = GRADES[min(GRADES.index(base) + steps, len(GRADES) - 1)]
    factors.append(RiskFactor("grade_basis", grade, f"base grade {base} ({basis}), lowered by {steps} step(s) for the findings above"))
    return grade, factors


def _base_grade(policy: Policy, facts: AccountFacts) -> tuple[str, str]:
    if facts.on_time_share is None or facts.average_days_late is None:
        return policy.risk.no_history_grade, "no settled invoices"
    for grade in ("A", "B", "C", "D"):
        min_on_time, max_days_late = policy.risk.grades[grade]
        if facts.on_time_share >= min_on_time and facts.average_days_late <= max_days_late:
            return grade, f"on-time share at least {min_on_time} and average days late at most {max_days_late}"
    return "E", "below the thresholds of grade D"


def _above(name: str, value: Decimal | int | None, limit: Decimal | int, detail: str) -> RiskFactor:
    contribution = 1 if value is not None and value > limit else 0
    return RiskFactor(name, _text(value), f"{detail}; lowers the grade one step above {limit}", contribution)


def _share(part: int, whole: int) -> Decimal | None:
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _ratio(amount: Decimal, typical: Decimal | None) -> Decimal | None:
    if not typical or typical <= 0:
        return None
    return (amount / typical).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _text(value: object) -> str:
    return "n/a" if value is None else str(value)
