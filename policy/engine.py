"""The assessment: eligibility, risk grade, deviations and approval route.

Given the same policy, facts and terms, :func:`assess` always returns the
same result, and every result carries the flags and factors that explain it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from policy.config import Policy
from policy.facts import AccountFacts
from policy.schedule import ScheduledPayment, equal_installments, minor_units


class FlagCode:
    """Codes of the flags an assessment may raise."""

    BALANCE_BELOW_MIN = "balance_below_min"
    BALANCE_ABOVE_MAX = "balance_above_max"
    OPEN_PLAN_EXISTS = "open_plan_exists"
    DISPUTED_SHARE_ABOVE_MAX = "disputed_share_above_max"
    INSTALLMENTS_ABOVE_MAX = "installments_above_max"
    FIRST_DUE_BEYOND_WINDOW = "first_due_beyond_window"
    LEGAL_REVIEW_REQUIRED = "legal_review_required"


@dataclass(frozen=True)
class Flag:
    """One finding: which rule, the limit it sets and the value found."""

    code: str
    message: str
    limit: str
    actual: str
    # Blocking flags make the request ineligible; the others add scrutiny.
    blocking: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "message": self.message,
            "limit": self.limit,
            "actual": self.actual,
            "blocking": self.blocking,
        }


@dataclass(frozen=True)
class Terms:
    """Proposed plan terms; the balance is the account's open balance."""

    balance: Decimal
    down_payment: Decimal
    installment_count: int
    first_due_date: date

    def __post_init__(self) -> None:
        # Terms from the CLI, Slack and webhooks all pass here, so amounts are
        # stored and hashed in one form whatever the caller typed.
        object.__setattr__(self, "balance", minor_units(self.balance))
        object.__setattr__(self, "down_payment", minor_units(self.down_payment))


@dataclass(frozen=True)
class TermsProblem:
    """A term that cannot be assessed at all, with the field it belongs to."""

    field: str
    message: str


@dataclass(frozen=True)
class RiskFactor:
    name: str
    value: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "value": self.value, "detail": self.detail}


@dataclass(frozen=True)
class Assessment:
    policy_version: str
    eligible: bool
    risk_grade: str
    flags: list[Flag]
    risk_factors: list[RiskFactor]
    route: list[str]
    schedule: list[ScheduledPayment] = field(default_factory=list)

    @property
    def blocking_flags(self) -> list[Flag]:
        return [flag for flag in self.flags if flag.blocking]


# Terms beyond these cannot be assessed at all. Terms between the policy's
# standard limits and these are deviations, which the top tier decides.
MAX_FIRST_DUE_DAYS_ANY_POLICY = 366


def validate_terms(terms: Terms, *, policy: Policy, as_of: date) -> list[TermsProblem]:
    """Return what makes ``terms`` impossible to assess; empty when they are usable."""
    problems = []
    if terms.balance <= 0:
        problems.append(
            TermsProblem("account", f"The account has no open balance on {as_of.isoformat()}. Choose an account with a past-due balance.")
        )
    if terms.down_payment < 0:
        problems.append(TermsProblem("down_payment", f"Down payment {terms.down_payment} is negative. Enter 0 or more."))
    elif terms.balance > 0 and terms.down_payment >= terms.balance:
        problems.append(
            TermsProblem(
                "down_payment",
                f"Down payment {terms.down_payment} must be less than the balance {terms.balance}. Lower it, or collect the balance without a plan.",
            )
        )
    max_count = policy.schedule.max_installments * 2
    if terms.installment_count < 1:
        problems.append(TermsProblem("installments", f"{terms.installment_count} installments is not valid. Enter 1 or more."))
    elif terms.installment_count > max_count:
        problems.append(
            TermsProblem(
                "installments",
                f"{terms.installment_count} installments is more than the policy can approve. "
                f"Enter at most {max_count} (the standard maximum is {policy.schedule.max_installments}).",
            )
        )
    days_to_first_due = (terms.first_due_date - as_of).days
    if days_to_first_due <= 0:
        problems.append(
            TermsProblem(
                "first_due_date",
                f"First due date {terms.first_due_date.isoformat()} is not after today ({as_of.isoformat()}). Pick a later date.",
            )
        )
    elif days_to_first_due > MAX_FIRST_DUE_DAYS_ANY_POLICY:
        problems.append(
            TermsProblem(
                "first_due_date",
                f"First due date {terms.first_due_date.isoformat()} is more than {MAX_FIRST_DUE_DAYS_ANY_POLICY} days away. "
                f"Pick a date within {policy.schedule.max_first_due_days} days for standard terms.",
            )
        )
    return problems


def assess(policy: Policy, facts: AccountFacts, terms: Terms, *, as_of: date, open_plan_count: int) -> Assessment:
    """Assess proposed terms for an account under ``policy`` at ``as_of``.

    The caller checks :func:`validate_terms` first; terms that fail it raise
    :class:`policy.schedule.ScheduleError` here.
    """
    flags = _eligibility_flags(policy, facts, terms, open_plan_count) + _deviation_flags(policy, terms, as_of)
    eligible = not any(flag.blocking for flag in flags)
    risk_grade, risk_factors = grade_risk(policy, facts)
    route = route_for(policy, terms) if eligible else []
    if eligible and terms.balance > policy.legal_review.balance_above:
        flags.append(
            Flag(
                FlagCode.LEGAL_REVIEW_REQUIRED,
                "balance is above the legal review threshold",
                str(policy.legal_review.balance_above),
                str(terms.balance),
                blocking=False,
            )
        )
    schedule = equal_installments(
        balance=terms.balance,
        down_payment=terms.down_payment,
        installment_count=terms.installment_count,
        start_date=as_of,
        first_due_date=terms.first_due_date,
        rounding=policy.rounding_mode,
    )
    return Assessment(policy.version, eligible, risk_grade, flags, risk_factors, route, schedule)


def route_for(policy: Policy, terms: Terms) -> list[str]:
    """Return the tiers that must approve, in order.

    The plan goes to the lowest tier whose limits cover its balance and its
    installment count, or to the highest tier when none does. Legal review
    follows when the balance is above its threshold.
    """
    covering = [
        tier
        for tier in policy.tiers
        if terms.balance <= tier.max_balance and terms.installment_count <= tier.max_installments
    ]
    route = [covering[0].name if covering else policy.tiers[-1].name]
    if terms.balance > policy.legal_review.balance_above:
        route.append(policy.legal_review.tier.name)
    return route


def grade_risk(policy: Policy, facts: AccountFacts) -> tuple[str, list[RiskFactor]]:
    """Grade the account A (best) to E from its settled invoices."""
    factors = [
        RiskFactor("settled_invoices", str(facts.settled_count), "invoices paid before the request date"),
        RiskFactor("on_time_share", _text(facts.on_time_share), "share of settled invoices paid by the due date"),
        RiskFactor("average_days_late", _text(facts.average_days_late), "mean days past due at settlement"),
        RiskFactor("max_days_late", _text(facts.max_days_late), "worst days past due at settlement"),
        RiskFactor("disputed_invoices", str(facts.disputed_count), "invoices ever disputed"),
    ]
    if facts.on_time_share is None or facts.average_days_late is None:
        factors.append(RiskFactor("grade_basis", "no history", "no settled invoices, graded C by default"))
        return "C", factors

    for grade in ("A", "B", "C", "D"):
        min_on_time, max_days_late = policy.risk.grades[grade]
        if facts.on_time_share >= min_on_time and facts.average_days_late <= max_days_late:
            detail = f"on-time share at least {min_on_time} and average days late at most {max_days_late}"
            factors.append(RiskFactor("grade_basis", grade, detail))
            return grade, factors
    factors.append(RiskFactor("grade_basis", "E", "below the thresholds of grade D"))
    return "E", factors


def _eligibility_flags(policy: Policy, facts: AccountFacts, terms: Terms, open_plan_count: int) -> list[Flag]:
    rules = policy.eligibility
    flags = []
    if terms.balance < rules.min_balance:
        flags.append(Flag(FlagCode.BALANCE_BELOW_MIN, "balance is below the minimum for a plan", str(rules.min_balance), str(terms.balance), True))
    if terms.balance > rules.max_balance:
        flags.append(Flag(FlagCode.BALANCE_ABOVE_MAX, "balance is above the maximum for a plan", str(rules.max_balance), str(terms.balance), True))
    if open_plan_count > 0 and not rules.allow_second_open_plan:
        flags.append(Flag(FlagCode.OPEN_PLAN_EXISTS, "the account already has an open plan or request", "0", str(open_plan_count), True))
    # Compare amounts, not the rounded share, so 50.002% is above a 50% limit.
    if facts.disputed_open_balance > rules.max_disputed_share * facts.open_balance:
        flags.append(
            Flag(
                FlagCode.DISPUTED_SHARE_ABOVE_MAX,
                "too much of the balance is in dispute",
                str(rules.max_disputed_share),
                str(facts.disputed_share),
                True,
            )
        )
    return flags


def _deviation_flags(policy: Policy, terms: Terms, as_of: date) -> list[Flag]:
    flags = []
    if terms.installment_count > policy.schedule.max_installments:
        flags.append(
            Flag(
                FlagCode.INSTALLMENTS_ABOVE_MAX,
                "more installments than the standard maximum; the top tier decides",
                str(policy.schedule.max_installments),
                str(terms.installment_count),
                False,
            )
        )
    days_to_first_due = (terms.first_due_date - as_of).days
    if days_to_first_due > policy.schedule.max_first_due_days:
        flags.append(
            Flag(
                FlagCode.FIRST_DUE_BEYOND_WINDOW,
                "first installment is due later than the standard window",
                f"{policy.schedule.max_first_due_days} days",
                f"{days_to_first_due} days",
                False,
            )
        )
    return flags


def _text(value: object) -> str:
    return "n/a" if value is None else str(value)
