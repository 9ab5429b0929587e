"""The assessment: eligibility, risk grade, deviations, documents, approval route and schedule.

Given the same policy, facts, account and terms, :func:`assess` always
returns the same result, and every result carries the flags and factors that
explain it. Flags have a severity: a ``blocker`` makes the request
ineligible, a ``deviation`` is a term outside standard limits that an
approver may still accept, and ``info`` adds scrutiny without changing the
outcome.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Literal

from policy.config import Policy
from policy.facts import AccountFacts, PriorPlan
from policy.risk import RiskFactor, grade_risk
from policy.schedule import PERIODS_PER_YEAR, ScheduledPayment, ScheduleError, build_schedule, canonical_amount, minor_unit

__all__ = [
    "AccountProfile",
    "Alternative",
    "Assessment",
    "Flag",
    "FlagCode",
    "RequiredDocument",
    "RiskFactor",
    "Terms",
    "TermsProblem",
    "Totals",
    "assess",
    "grade_risk",
    "route_for",
    "validate_terms",
]

Severity = Literal["blocker", "deviation", "info"]
ZERO = Decimal("0")


class FlagCode:
    """Codes of the flags an assessment may raise."""

    # Blockers: the request is ineligible.
    BALANCE_BELOW_MIN = "balance_below_min"
    BALANCE_ABOVE_MAX = "balance_above_max"
    OPEN_PLAN_EXISTS = "open_plan_exists"
    DISPUTED_SHARE_ABOVE_MAX = "disputed_share_above_max"
    PRIOR_DEFAULT_IN_LOOKBACK = "prior_default_in_lookback"
    ACCOUNT_STATUS_REFERRED = "account_status_referred"
    SEGMENT_NOT_ALLOWED = "segment_not_allowed"
    CURRENCY_NOT_POLICY = "currency_not_policy"
    SCHEDULE_NOT_POSSIBLE = "schedule_not_possible"
    # Deviations: terms outside standard limits.
    INSTALLMENTS_ABOVE_MAX = "installments_above_max"
    FIRST_DUE_BEYOND_WINDOW = "first_due_beyond_window"
    FIRST_DUE_BEFORE_WINDOW = "first_due_before_window"
    DOWN_PAYMENT_BELOW_MIN = "down_payment_below_min"
    INSTALLMENT_BELOW_MIN = "installment_below_min"
    FREQUENCY_NOT_ALLOWED = "frequency_not_allowed"
    INTEREST_NOT_ALLOWED = "interest_not_allowed"
    APR_ABOVE_CAP = "apr_above_cap"
    # Information: extra scrutiny.
    LEGAL_REVIEW_REQUIRED = "legal_review_required"
    DETAILED_ASSESSMENT_REQUIRED = "detailed_assessment_required"
    HARDSHIP_REVIEW = "hardship_review"


# Deviations that raise the route to ``escalation.deviation_tier``. The
# minimum installment amount is left out on purpose: for the same plan
# length the installment grows with the balance, so escalating it would give
# a smaller balance a higher tier than a larger one.
ESCALATING_DEVIATIONS = frozenset(
    {
        FlagCode.INSTALLMENTS_ABOVE_MAX,
        FlagCode.FIRST_DUE_BEYOND_WINDOW,
        FlagCode.FIRST_DUE_BEFORE_WINDOW,
        FlagCode.DOWN_PAYMENT_BELOW_MIN,
        FlagCode.FREQUENCY_NOT_ALLOWED,
        FlagCode.INTEREST_NOT_ALLOWED,
        FlagCode.APR_ABOVE_CAP,
    }
)


@dataclass(frozen=True)
class Flag:
    """One finding: which rule, the limit it sets and the value found."""

    code: str
    message: str
    limit: str
    actual: str
    severity: Severity = "info"

    @property
    def blocking(self) -> bool:
        """True for blockers, which make the request ineligible."""
        return self.severity == "blocker"

    @property
    def value(self) -> str:
        return self.actual

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "limit": self.limit,
            "value": self.actual,
            "actual": self.actual,
            "blocking": self.blocking,
        }


@dataclass(frozen=True)
class Terms:
    """Proposed plan terms; the balance is the account's open balance and ``apr`` is percent a year."""

    balance: Decimal
    down_payment: Decimal
    installment_count: int
    first_due_date: date
    frequency: str = "monthly"
    apr: Decimal = ZERO

    def __post_init__(self) -> None:
        # Terms from the CLI, Slack and webhooks all pass here, so amounts are
        # stored and hashed in one form whatever the caller typed.
        object.__setattr__(self, "balance", canonical_amount(self.balance))
        object.__setattr__(self, "down_payment", canonical_amount(self.down_payment))

    @property
    def duration_months(self) -> int:
        """Plan length in whole months, rounded up: 26 biweekly installments are 12 months."""
        periods = PERIODS_PER_YEAR.get(self.frequency, 12)
        return -(-self.installment_count * 12 // periods)

    def to_dict(self) -> dict[str, object]:
        return {
            "balance": str(self.balance),
            "down_payment": str(self.down_payment),
            "installments": self.installment_count,
            "frequency": self.frequency,
            "first_due": self.first_due_date.isoformat(),
            "apr": str(self.apr),
        }


@dataclass(frozen=True)
class AccountProfile:
    """Account attributes the engine reads besides the invoices."""

    segment: str = "business"
    # ISO 4217 code; None means the policy's currency.
    currency: str | None = None
    status: str = "open"
    prior_plans: tuple[PriorPlan, ...] = ()


@dataclass(frozen=True)
class TermsProblem:
    """A term that cannot be assessed at all, with the field it belongs to."""

    field: str
    message: str


@dataclass(frozen=True)
class RequiredDocument:
    """A document the customer must provide, and the policy rule that requires it."""

    code: str
    reason: str
    rule: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "reason": self.reason, "rule": self.rule}


@dataclass(frozen=True)
class Totals:
    down_payment: Decimal
    principal: Decimal
    interest: Decimal
    fees: Decimal
    total: Decimal

    def to_dict(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in ("down_payment", "principal", "interest", "fees", "total")}


@dataclass(frozen=True)
class Alternative:
    """A plan structure inside standard policy, with what it costs the customer."""

    label: str
    terms: Terms
    periodic_amount: Decimal
    total_cost: Decimal
    totals: Totals

    def to_dict(self) -> dict[str, object]:
        return {
            "label": self.label,
            "terms": self.terms.to_dict(),
            "periodic_amount": str(self.periodic_amount),
            "total_cost": str(self.total_cost),
            "totals": self.totals.to_dict(),
        }


@dataclass(frozen=True)
class Assessment:
    policy_version: str
    eligible: bool
    risk_grade: str
    flags: list[Flag]
    risk_factors: list[RiskFactor]
    route: list[str]
    schedule: list[ScheduledPayment] = field(default_factory=list)
    required_documents: list[RequiredDocument] = field(default_factory=list)
    counter_proposal: Terms | None = None
    alternatives: list[Alternative] = field(default_factory=list)
    totals: Totals | None = None
    currency: str = "USD"

    @property
    def blocking_flags(self) -> list[Flag]:
        return [flag for flag in self.flags if flag.blocking]

    @property
    def deviations(self) -> list[Flag]:
        return [flag for flag in self.flags if flag.severity == "deviation"]

    def details(self) -> dict[str, object]:
        """Return the outputs beyond the original assessment columns, JSON-ready."""
        return {
            "currency": self.currency,
            "required_documents": [document.to_dict() for document in self.required_documents],
            "counter_proposal": None if self.counter_proposal is None else self.counter_proposal.to_dict(),
            "alternatives": [alternative.to_dict() for alternative in self.alternatives],
            "totals": None if self.totals is None else self.totals.to_dict(),
        }


# Terms beyond these cannot be assessed at all. Terms between the policy's
# standard limits and these are deviations, which an approver decides.
MAX_FIRST_DUE_DAYS_ANY_POLICY = 366
MAX_APR_ANY_POLICY = Decimal("100")


def validate_terms(terms: Terms, *, policy: Policy, as_of: date) -> list[TermsProblem]:
    """Return what makes ``terms`` impossible to assess; empty when they are usable."""
    problems = []
    if terms.balance < 0:
        problems.append(
            TermsProblem("account", f"Balance {terms.balance} is negative, so the account is in credit. A plan needs a balance above 0.")
        )
    elif terms.balance == 0:
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
    elif terms.duration_months > max_count:
        problems.append(
            TermsProblem(
                "installments",
                f"{terms.installment_count} {terms.frequency} installments is more than the policy can approve. "
                f"Enter at most {max_count} months of installments (the standard maximum is {policy.schedule.max_installments}).",
            )
        )
    if terms.frequency not in PERIODS_PER_YEAR:
        problems.append(TermsProblem("frequency", f"Frequency {terms.frequency!r} is not one of weekly, biweekly or monthly."))
    if terms.apr < 0 or terms.apr > MAX_APR_ANY_POLICY:
        problems.append(TermsProblem("apr", f"APR {terms.apr} is outside 0 to {MAX_APR_ANY_POLICY} percent a year."))
    days_to_first_due = (terms.first_due_date - as_of).days
    if days_to_first_due <= 0:
        problems.append(
            TermsProblem(
                "first_due_date",
                f"First due date {terms.first_due_date.isoformat()} is not after as_of ({as_of.isoformat()}), the business date of the request. Pick a later date.",
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


def assess(
    policy: Policy,
    facts: AccountFacts,
    terms: Terms,
    *,
    as_of: date,
    open_plan_count: int,
    account: AccountProfile | None = None,
    reason: str = "",
) -> Assessment:
    """Assess proposed terms for an account under ``policy`` at ``as_of``.

    The caller checks :func:`validate_terms` first. Terms that pass it but
    still cannot form a schedule get a ``schedule_not_possible`` blocker.
    """
    from policy.proposals import alternatives_for, counter_proposal_for, schedule_for, totals_of

    profile = account or AccountProfile()
    currency = profile.currency or policy.currency
    defaults, completed = _prior_plan_counts(policy, profile.prior_plans, as_of)
    risk_grade, risk_factors = grade_risk(policy, facts, prior_defaults=defaults, prior_completed=completed)
    hardship = reason == "hardship"

    flags = _eligibility_flags(policy, facts, terms, open_plan_count, profile, currency, defaults)
    flags += deviation_flags(policy, terms, as_of, risk_grade, hardship=hardship, currency=currency)

    schedule: list[ScheduledPayment] = []
    try:
        schedule = schedule_for(policy, terms, as_of, currency)
    except ScheduleError as error:
        requested = f"{terms.balance - terms.down_payment} in {terms.installment_count} {terms.frequency} installments"
        flags.append(Flag(FlagCode.SCHEDULE_NOT_POSSIBLE, str(error), "a positive amount for every installment", requested, "blocker"))

    eligible = not any(flag.blocking for flag in flags)
    detailed_reasons = _detailed_assessment_reasons(policy, facts, terms, risk_grade, defaults)
    if eligible:
        route = route_for(
            policy,
            terms,
            risk_grade=risk_grade,
            has_deviations=any(flag.code in ESCALATING_DEVIATIONS for flag in flags),
            detailed_assessment=bool(detailed_reasons),
            hardship=hardship,
        )
        flags.extend(_info_flags(policy, terms, detailed_reasons, route, hardship))
    else:
        route = _referral_route(policy, profile)

    documents = required_documents(policy, terms, risk_grade, reason, profile.segment, defaults) if eligible else []
    counter = None
    alternatives = []
    if eligible:
        if any(flag.severity == "deviation" for flag in flags):
            counter = counter_proposal_for(policy, terms, as_of, risk_grade, hardship=hardship, currency=currency)
        alternatives = alternatives_for(policy, counter or terms, as_of, risk_grade, hardship=hardship, currency=currency)
    return Assessment(
        policy_version=policy.version,
        eligible=eligible,
        risk_grade=risk_grade,
        flags=flags,
        risk_factors=risk_factors,
        route=route,
        schedule=schedule,
        required_documents=documents,
        counter_proposal=counter,
        alternatives=alternatives,
        totals=totals_of(schedule) if schedule else None,
        currency=currency,
    )


def route_for(
    policy: Policy,
    terms: Terms,
    *,
    risk_grade: str | None = None,
    has_deviations: bool = False,
    detailed_assessment: bool = False,
    hardship: bool = False,
) -> list[str]:
    """Return the tiers that must sign off, in order.

    The approval tier is the highest of: the lowest tier whose limits cover
    the balance and the plan length (the top tier when none does), the
    policy's tier for deviations, and its tier for the risk grade. Each of
    these rises with balance and length, so a larger or longer plan never
    gets a lower tier. A credit analyst's detailed assessment comes first
    when required; legal review follows above its balance threshold, and
    the hardship reviewer last.
    """
    names = [tier.name for tier in policy.tiers]
    covering = [
        index
        for index, tier in enumerate(policy.tiers)
        if terms.balance <= tier.max_balance and terms.duration_months <= tier.max_installments
    ]
    level = covering[0] if covering else len(names) - 1
    if has_deviations and policy.escalation.deviation_tier is not None:
        level = max(level, names.index(policy.escalation.deviation_tier))
    grade_tier = policy.escalation.grade_tiers.get(risk_grade) if risk_grade else None  # type: ignore[call-overload]
    if grade_tier is not None:
        level = max(level, names.index(grade_tier))

    route = []
    if detailed_assessment and policy.detailed_assessment is not None:
        route.append(policy.detailed_assessment.tier.name)
    route.append(names[level])
    if terms.balance > policy.legal_review.balance_above:
        route.append(policy.legal_review.tier.name)
    if hardship and policy.hardship.review_tier is not None and policy.hardship.review_tier not in route:
        route.append(policy.hardship.review_tier)
    return route


def deviation_flags(policy: Policy, terms: Terms, as_of: date, risk_grade: str, *, hardship: bool, currency: str) -> list[Flag]:
    """Return a flag for each term outside standard limits: a deviation, or a blocker where the policy sets one."""
    rules = policy.terms
    flags = []
    max_months = max_installments(policy, risk_grade, hardship=hardship)
    if terms.duration_months > max_months:
        flags.append(
            Flag(
                FlagCode.INSTALLMENTS_ABOVE_MAX,
                f"longer than the standard maximum for grade {risk_grade}",
                f"{max_months} months",
                f"{terms.duration_months} months",
                "deviation",
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
                "deviation",
            )
        )
    if days_to_first_due < policy.schedule.min_first_due_days:
        flags.append(
            Flag(
                FlagCode.FIRST_DUE_BEFORE_WINDOW,
                "first installment is due sooner than the standard window",
                f"{policy.schedule.min_first_due_days} days",
                f"{days_to_first_due} days",
                "deviation",
            )
        )
    minimum_down = min_down_payment(policy, terms.balance, currency)
    if terms.down_payment < minimum_down:
        flags.append(
            Flag(
                FlagCode.DOWN_PAYMENT_BELOW_MIN,
                f"down payment is below the minimum ({rules.down_payment_min_share} of the balance, at least {rules.down_payment_min_amount})",
                str(minimum_down),
                str(terms.down_payment),
                "deviation",
            )
        )
    if terms.frequency not in policy.schedule.frequencies:
        flags.append(
            Flag(
                FlagCode.FREQUENCY_NOT_ALLOWED,
                "payment frequency is not a standard one",
                ", ".join(policy.schedule.frequencies),
                terms.frequency,
                "deviation",
            )
        )
    flags.extend(_interest_flags(policy, terms, hardship))
    regular = regular_installment(terms, currency, policy.rounding_mode)
    if regular is not None and regular < rules.min_installment_amount:
        flags.append(
            Flag(
                FlagCode.INSTALLMENT_BELOW_MIN,
                "installment is below the minimum amount",
                str(rules.min_installment_amount),
                str(regular),
                "deviation",
            )
        )
    return flags


def max_installments(policy: Policy, risk_grade: str, *, hardship: bool) -> int:
    """Return the longest standard plan in months for the grade, with the hardship extension."""
    extra = policy.hardship.extra_installments if hardship else 0
    return policy.max_installments_for(risk_grade) + extra


def min_down_payment(policy: Policy, balance: Decimal, currency: str) -> Decimal:
    """Return the minimum down payment: the larger of the share and the amount, rounded up to the minor unit, below the balance."""
    rules = policy.terms
    unit = minor_unit(currency)
    required = max((balance * rules.down_payment_min_share).quantize(unit, rounding=ROUND_CEILING), rules.down_payment_min_amount)
    return min(required, max(balance - unit, ZERO))


def regular_installment(terms: Terms, currency: str, rounding: str) -> Decimal | None:
    """Return the periodic amount of ``terms`` before fees, or None when the terms cannot form a schedule."""
    from policy.schedule import annuity_payment, periodic_rate

    financed = terms.balance - terms.down_payment
    if financed <= 0 or terms.installment_count < 1 or terms.frequency not in PERIODS_PER_YEAR:
        return None
    rate = periodic_rate(terms.apr, terms.frequency)
    return annuity_payment(financed, rate, terms.installment_count, unit=minor_unit(currency), rounding=rounding)


def required_documents(policy: Policy, terms: Terms, risk_grade: str, reason: str, segment: str, prior_defaults: int) -> list[RequiredDocument]:
    """Return the documents the policy requires for this case; every condition a rule sets must hold.

    Several rules with the same document code mean "any of these rules". The
    document is then listed once, with the reasons of every rule that matched.
    """
    documents: dict[str, RequiredDocument] = {}
    for index, rule in enumerate(policy.documents):
        met = []
        if rule.balance_above is not None:
            if terms.balance <= rule.balance_above:
                continue
            met.append(f"balance {terms.balance} is above {rule.balance_above}")
        if rule.installments_above is not None:
            if terms.duration_months <= rule.installments_above:
                continue
            met.append(f"plan of {terms.duration_months} months is longer than {rule.installments_above}")
        if rule.grades:
            if risk_grade not in rule.grades:
                continue
            met.append(f"risk grade {risk_grade} is one of {', '.join(rule.grades)}")
        if rule.reasons:
            if reason not in rule.reasons:
                continue
            met.append(f"reason is {reason}")
        if rule.segments:
            if segment not in rule.segments:
                continue
            met.append(f"segment is {segment}")
        if rule.prior_default:
            if prior_defaults == 0:
                continue
            met.append(f"{prior_defaults} prior plan(s) defaulted within the lookback")
        found = documents.get(rule.code)
        if found is None:
            documents[rule.code] = RequiredDocument(rule.code, f"{rule.label}: {'; '.join(met)}", f"documents[{index}] ({rule.code})")
        else:
            documents[rule.code] = RequiredDocument(rule.code, f"{found.reason}; {'; '.join(met)}", f"{found.rule}, documents[{index}]")
    return list(documents.values())


def _prior_plan_counts(policy: Policy, plans: tuple[PriorPlan, ...], as_of: date) -> tuple[int, int]:
    since = as_of - timedelta(days=policy.eligibility.prior_default_lookback_days)
    defaults = sum(1 for plan in plans if plan.status == "defaulted" and (plan.ended or plan.started) >= since and plan.started <= as_of)
    completed = sum(1 for plan in plans if plan.status == "completed" and plan.started <= as_of)
    return defaults, completed


def _eligibility_flags(
    policy: Policy,
    facts: AccountFacts,
    terms: Terms,
    open_plan_count: int,
    profile: AccountProfile,
    currency: str,
    prior_defaults: int,
) -> list[Flag]:
    rules = policy.eligibility
    flags = []
    referred = policy.referred_statuses
    if profile.status in referred:
        tier = referred[profile.status]
        flags.append(
            Flag(FlagCode.ACCOUNT_STATUS_REFERRED, f"account status is {profile.status}; the case goes to {tier}, not a payment plan", "open", profile.status, "blocker")
        )
    if profile.segment not in rules.segments:
        flags.append(Flag(FlagCode.SEGMENT_NOT_ALLOWED, "this policy does not cover the account's segment", ", ".join(rules.segments), profile.segment, "blocker"))
    if currency != policy.currency:
        flags.append(Flag(FlagCode.CURRENCY_NOT_POLICY, "the policy's limits are in another currency", policy.currency, currency, "blocker"))
    if terms.balance < rules.min_balance:
        flags.append(Flag(FlagCode.BALANCE_BELOW_MIN, "balance is below the minimum for a plan", str(rules.min_balance), str(terms.balance), "blocker"))
    if terms.balance > rules.max_balance:
        flags.append(Flag(FlagCode.BALANCE_ABOVE_MAX, "balance is above the maximum for a plan", str(rules.max_balance), str(terms.balance), "blocker"))
    if open_plan_count > 0 and not rules.allow_second_open_plan:
        flags.append(Flag(FlagCode.OPEN_PLAN_EXISTS, "the account already has an open plan or request", "0", str(open_plan_count), "blocker"))
    if prior_defaults > rules.max_prior_defaults:
        flags.append(
            Flag(
                FlagCode.PRIOR_DEFAULT_IN_LOOKBACK,
                f"prior plans defaulted within the last {rules.prior_default_lookback_days} days",
                str(rules.max_prior_defaults),
                str(prior_defaults),
                "blocker",
            )
        )
    # Compare amounts, not the rounded share, so 50.002% is above a 50% limit.
    if facts.disputed_open_balance > rules.max_disputed_share * facts.open_balance:
        flags.append(
            Flag(
                FlagCode.DISPUTED_SHARE_ABOVE_MAX,
                "too much of the balance is in dispute",
                str(rules.max_disputed_share),
                str(facts.disputed_share),
                "blocker",
            )
        )
    return flags


def _interest_flags(policy: Policy, terms: Terms, hardship: bool) -> list[Flag]:
    interest = policy.terms.interest
    if terms.apr == 0:
        return []
    if interest.mode == "none" or (hardship and policy.hardship.waive_interest):
        message = "this policy charges no interest" if interest.mode == "none" else "interest is waived for hardship"
        return [Flag(FlagCode.INTEREST_NOT_ALLOWED, message, "0", str(terms.apr), "deviation")]
    if terms.apr > interest.max_apr:
        return [Flag(FlagCode.APR_ABOVE_CAP, "APR is above the policy's cap", str(interest.max_apr), str(terms.apr), interest.above_cap)]
    return []


def _detailed_assessment_reasons(policy: Policy, facts: AccountFacts, terms: Terms, risk_grade: str, prior_defaults: int) -> list[str]:
    rules = policy.detailed_assessment
    if rules is None:
        return []
    reasons = []
    if rules.balance_above is not None and terms.balance > rules.balance_above:
        reasons.append(f"balance {terms.balance} is above {rules.balance_above}")
    if rules.installments_above is not None and terms.duration_months > rules.installments_above:
        reasons.append(f"plan of {terms.duration_months} months is longer than {rules.installments_above}")
    if risk_grade in rules.grades:
        reasons.append(f"risk grade is {risk_grade}")
    if rules.prior_default and prior_defaults > 0:
        reasons.append(f"{prior_defaults} prior plan(s) defaulted")
    if rules.disputed_share_above is not None and facts.disputed_open_balance > rules.disputed_share_above * facts.open_balance:
        reasons.append(f"disputed share {facts.disputed_share} is above {rules.disputed_share_above}")
    return reasons


def _info_flags(policy: Policy, terms: Terms, detailed_reasons: list[str], route: list[str], hardship: bool) -> list[Flag]:
    flags = []
    if detailed_reasons and policy.detailed_assessment is not None:
        flags.append(
            Flag(
                FlagCode.DETAILED_ASSESSMENT_REQUIRED,
                f"a {policy.detailed_assessment.tier.label.lower()} must assess the account first",
                "standard parameters",
                "; ".join(detailed_reasons),
                "info",
            )
        )
    if terms.balance > policy.legal_review.balance_above:
        flags.append(
            Flag(FlagCode.LEGAL_REVIEW_REQUIRED, "balance is above the legal review threshold", str(policy.legal_review.balance_above), str(terms.balance), "info")
        )
    if hardship and policy.hardship.review_tier in route:
        flags.append(Flag(FlagCode.HARDSHIP_REVIEW, "hardship requests get a compliance review", "reason other than hardship", "hardship", "info"))
    return flags


def _referral_route(policy: Policy, profile: AccountProfile) -> list[str]:
    tier = policy.referred_statuses.get(profile.status)
    return [tier] if tier else []
