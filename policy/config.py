"""The policy file: a YAML document validated into pydantic models.

Parsing takes an already-loaded mapping so that this package stays free of
I/O; ``bot.config`` and ``bot.cli_policy`` read the file. Every section added
after the first policy version has defaults, so older files still load.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

NonNegativeMoney = Annotated[Decimal, Field(ge=0, decimal_places=3)]
Share = Annotated[Decimal, Field(ge=0, le=1)]
Percent = Annotated[Decimal, Field(ge=0, le=100)]
TierName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]

# Names in the policy file for the standard library's rounding modes.
ROUNDING_MODES = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "half_down": ROUND_HALF_DOWN,
    "down": ROUND_DOWN,
    "up": ROUND_UP,
    "floor": ROUND_FLOOR,
    "ceiling": ROUND_CEILING,
}

GRADES = ("A", "B", "C", "D", "E")
Grade = Literal["A", "B", "C", "D", "E"]
Frequency = Literal["weekly", "biweekly", "monthly"]
Segment = Literal["business", "consumer"]
AccountStatus = Literal["open", "closed", "bankruptcy", "legal_hold", "deceased"]
REFERRED_STATUSES = ("bankruptcy", "legal_hold", "deceased", "closed")


class PolicyError(ValueError):
    """Raised when a policy document is invalid; ``problems`` lists every one."""

    def __init__(self, message: str, problems: list[PolicyProblem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class PolicyProblem(BaseModel):
    """One problem in a policy document: where, what was found and what is allowed."""

    path: str
    value: str
    message: str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EligibilityRules(_Strict):
    min_balance: NonNegativeMoney
    max_balance: NonNegativeMoney
    max_disputed_share: Share
    allow_second_open_plan: bool = False
    segments: list[Segment] = Field(default_factory=lambda: ["business", "consumer"], min_length=1)
    # A prior plan that defaulted within this many days makes the account ineligible.
    prior_default_lookback_days: int = Field(default=730, ge=0)
    max_prior_defaults: int = Field(default=0, ge=0)
    # Account statuses that make a plan ineligible, each with the tier the
    # case is referred to. Unset means the four statuses of REFERRED_STATUSES,
    # each referred to the legal review tier.
    referred_statuses: dict[AccountStatus, TierName] | None = None

    @model_validator(mode="after")
    def _bounds_in_order(self) -> EligibilityRules:
        if self.min_balance > self.max_balance:
            raise ValueError(f"min_balance {self.min_balance} is above max_balance {self.max_balance}")
        if self.referred_statuses and "open" in self.referred_statuses:
            raise ValueError("referred_statuses must not contain 'open'; an open account is the normal case")
        return self


class Tier(_Strict):
    """One approval tier: who may approve plans up to these limits.

    ``max_installments`` counts monthly installments; weekly and biweekly
    plans are compared by their length in months.
    """

    name: TierName
    label: str
    max_balance: NonNegativeMoney
    max_installments: int = Field(ge=1)


class ReviewTier(_Strict):
    """A review step outside the balance bands, such as legal or a credit analyst."""

    name: TierName
    label: str
    # Accepted for files written for the first policy version; not used.
    max_balance: NonNegativeMoney | None = None
    max_installments: int | None = Field(default=None, ge=1)


class LegalReview(_Strict):
    tier: ReviewTier
    balance_above: NonNegativeMoney


class ScheduleRules(_Strict):
    max_installments: int = Field(ge=1, le=120)
    max_first_due_days: int = Field(ge=0, le=365)
    min_first_due_days: int = Field(default=1, ge=1, le=365)
    rounding: Literal["half_up", "half_even", "half_down", "down", "up", "floor", "ceiling"] = "half_up"
    frequencies: list[Frequency] = Field(default_factory=lambda: ["monthly"], min_length=1)
    # Holiday calendar (ISO 3166 country code) for moving due dates off weekends and holidays; none keeps them.
    business_day_country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")

    @model_validator(mode="after")
    def _window_in_order(self) -> ScheduleRules:
        if self.min_first_due_days > self.max_first_due_days:
            raise ValueError(
                f"min_first_due_days {self.min_first_due_days} is above max_first_due_days {self.max_first_due_days}"
            )
        return self


class InterestRules(_Strict):
    mode: Literal["none", "amortized"] = "none"
    # Annual percentage rates, for example "7.5" for 7.5% a year.
    standard_apr: Percent = Decimal("0")
    max_apr: Percent = Decimal("0")
    # blocker: a rate above max_apr cannot be approved at all; deviation: the route escalates.
    above_cap: Literal["blocker", "deviation"] = "deviation"

    @model_validator(mode="after")
    def _rates_in_order(self) -> InterestRules:
        if self.standard_apr > self.max_apr:
            raise ValueError(f"standard_apr {self.standard_apr} is above max_apr {self.max_apr}")
        if self.mode == "none" and self.max_apr != 0:
            raise ValueError(f"mode 'none' charges no interest, so max_apr must be 0, got {self.max_apr}")
        return self


class TermsRules(_Strict):
    down_payment_min_share: Share = Decimal("0")
    down_payment_min_amount: NonNegativeMoney = Decimal("0")
    min_installment_amount: NonNegativeMoney = Decimal("0")
    # Maximum standard plan length in months for each grade. A grade not listed uses schedule.max_installments.
    max_installments_by_grade: dict[Grade, int] = Field(default_factory=dict)
    interest: InterestRules = Field(default_factory=InterestRules)
    setup_fee: NonNegativeMoney = Decimal("0")
    late_fee: NonNegativeMoney = Decimal("0")
    grace_days: int = Field(default=0, ge=0, le=60)
    default_after_missed: int = Field(default=2, ge=1, le=12)

    @field_validator("max_installments_by_grade")
    @classmethod
    def _grades_not_longer_for_worse(cls, limits: dict[str, int]) -> dict[str, int]:
        present = [grade for grade in GRADES if grade in limits]
        for better, worse in zip(present, present[1:]):
            if limits[worse] > limits[better]:
                raise ValueError(
                    f"grade {worse} allows {limits[worse]} installments, more than grade {better} ({limits[better]}); "
                    "a worse grade must not allow a longer plan"
                )
            if limits[worse] < 1:
                raise ValueError(f"grade {worse} allows {limits[worse]} installments; allow at least 1")
        return limits


class RiskAdjustments(_Strict):
    """Findings that lower the grade by one step each, after the base grade."""

    max_days_late_above: int = Field(default=60, ge=0)
    # Recent average days late minus the earlier average, in days.
    worsening_trend_above: Decimal = Field(default=Decimal("10"), ge=0)
    disputed_invoice_share_above: Share = Decimal("0.30")
    balance_to_typical_invoice_above: Decimal = Field(default=Decimal("12"), gt=0)
    oldest_open_days_above: int = Field(default=90, ge=0)
    # Steps down per prior plan that defaulted within the lookback.
    steps_per_prior_default: int = Field(default=1, ge=0, le=4)


class RiskRules(_Strict):
    """Thresholds for the A–E grade; each grade needs every figure at or better than its row."""

    # grade -> (minimum on-time share, maximum average days late)
    grades: dict[Literal["A", "B", "C", "D"], tuple[Share, Decimal]]
    adjustments: RiskAdjustments = Field(default_factory=RiskAdjustments)
    no_history_grade: Grade = "C"

    @field_validator("grades")
    @classmethod
    def _grades_complete_and_ordered(cls, grades: dict[str, tuple[Decimal, Decimal]]) -> dict[str, tuple[Decimal, Decimal]]:
        missing = [grade for grade in GRADES[:4] if grade not in grades]
        if missing:
            raise ValueError(f"grades {missing} are missing; give a row for each of A, B, C and D")
        for better, worse in zip(GRADES[:3], GRADES[1:4]):
            if grades[worse][0] > grades[better][0] or grades[worse][1] < grades[better][1]:
                raise ValueError(f"grade {worse} must be easier to reach than grade {better}")
        return grades


class DetailedAssessment(_Strict):
    """When a credit analyst must assess the account before any approver decides."""

    tier: ReviewTier
    balance_above: NonNegativeMoney | None = None
    grades: list[Grade] = Field(default_factory=lambda: ["D", "E"])
    prior_default: bool = True
    disputed_share_above: Share | None = None


class DocumentRule(_Strict):
    """A document the customer must provide, and the condition that requires it."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    balance_above: NonNegativeMoney | None = None
    installments_above: int | None = Field(default=None, ge=1)
    grades: list[Grade] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    prior_default: bool = False

    @model_validator(mode="after")
    def _has_condition(self) -> DocumentRule:
        if (
            self.balance_above is None
            and self.installments_above is None
            and not self.grades
            and not self.reasons
            and not self.segments
            and not self.prior_default
        ):
            raise ValueError(f"document {self.code} has no condition; set balance_above, grades, reasons or another condition")
        return self


class HardshipRules(_Strict):
    """Handling of requests whose reason is hardship."""

    review_tier: TierName | None = None
    extra_installments: int = Field(default=0, ge=0, le=60)
    waive_interest: bool = True


class Escalation(_Strict):
    """Lowest approval tier for deviations and for weak grades."""

    deviation_tier: TierName | None = None
    grade_tiers: dict[Grade, TierName] = Field(default_factory=dict)


class Policy(_Strict):
    version: str = Field(min_length=1)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    description: str = ""
    # Where the figures in this file come from, for policies that copy a published rule.
    sources: list[str] = Field(default_factory=list)
    eligibility: EligibilityRules
    tiers: list[Tier] = Field(min_length=1)
    legal_review: LegalReview
    schedule: ScheduleRules
    risk: RiskRules
    terms: TermsRules = Field(default_factory=TermsRules)
    detailed_assessment: DetailedAssessment | None = None
    documents: list[DocumentRule] = Field(default_factory=list)
    hardship: HardshipRules = Field(default_factory=HardshipRules)
    escalation: Escalation = Field(default_factory=Escalation)

    @field_validator("tiers")
    @classmethod
    def _tiers_ascending(cls, tiers: list[Tier]) -> list[Tier]:
        names = [tier.name for tier in tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique, got {names}")
        for lower, upper in zip(tiers, tiers[1:]):
            if upper.max_balance < lower.max_balance or upper.max_installments < lower.max_installments:
                raise ValueError(
                    f"tier {upper.name} must allow at least what {lower.name} allows "
                    "(tiers are listed from lowest to highest authority)"
                )
            if upper.max_balance == lower.max_balance and upper.max_installments == lower.max_installments:
                raise ValueError(f"tiers {lower.name} and {upper.name} have the same band; give the higher tier a larger limit")
        return tiers

    @property
    def rounding_mode(self) -> str:
        return ROUNDING_MODES[self.schedule.rounding]

    def tier(self, name: str) -> Tier | ReviewTier:
        """Return the tier or review step called ``name``."""
        for tier in self.all_tiers():
            if tier.name == name:
                return tier
        raise KeyError(f"unknown tier {name!r}; tiers are {self.tier_names()}")

    def all_tiers(self) -> list[Tier | ReviewTier]:
        reviews: list[Tier | ReviewTier] = [self.legal_review.tier]
        if self.detailed_assessment is not None:
            reviews.insert(0, self.detailed_assessment.tier)
        return [*self.tiers, *reviews]

    def tier_names(self) -> list[str]:
        return [tier.name for tier in self.all_tiers()]

    @property
    def referred_statuses(self) -> dict[str, str]:
        """Account statuses that make a plan ineligible, with the tier each case is referred to."""
        configured = self.eligibility.referred_statuses
        if configured is None:
            return dict.fromkeys(REFERRED_STATUSES, self.legal_review.tier.name)
        return dict(configured)

    def max_installments_for(self, grade: str) -> int:
        return self.terms.max_installments_by_grade.get(grade, self.schedule.max_installments)  # type: ignore[arg-type]


def reference_problems(policy: Policy) -> list[PolicyProblem]:
    """Return every tier name that does not resolve and every limit that contradicts another section."""
    problems = []
    approval = [tier.name for tier in policy.tiers]
    reviews = [policy.legal_review.tier.name]
    if policy.detailed_assessment is not None:
        reviews.append(policy.detailed_assessment.tier.name)
    everything = approval + reviews
    for path, name in (("legal_review.tier.name", reviews[0]), ("detailed_assessment.tier.name", reviews[-1] if len(reviews) > 1 else None)):
        if name is not None and everything.count(name) > 1:
            problems.append(PolicyProblem(path=path, value=repr(name), message=f"tier name {name!r} is already used; give each tier and review step its own name"))
    references = [
        ("escalation.deviation_tier", policy.escalation.deviation_tier, approval),
        ("hardship.review_tier", policy.hardship.review_tier, everything),
        *[(f"escalation.grade_tiers.{grade}", name, approval) for grade, name in policy.escalation.grade_tiers.items()],
        *[(f"eligibility.referred_statuses.{status}", name, everything) for status, name in (policy.eligibility.referred_statuses or {}).items()],
    ]
    for path, name, allowed in references:
        if name is not None and name not in allowed:
            problems.append(PolicyProblem(path=path, value=repr(name), message=f"unknown tier; use one of {', '.join(allowed)}"))
    for grade, limit in policy.terms.max_installments_by_grade.items():
        if limit > policy.schedule.max_installments:
            problems.append(
                PolicyProblem(
                    path=f"terms.max_installments_by_grade.{grade}",
                    value=str(limit),
                    message=f"allow at most schedule.max_installments ({policy.schedule.max_installments})",
                )
            )
    top = policy.tiers[-1]
    if policy.eligibility.max_balance > top.max_balance:
        problems.append(
            PolicyProblem(
                path="eligibility.max_balance",
                value=str(policy.eligibility.max_balance),
                message=f"allow at most the top tier's max_balance ({top.name}: {top.max_balance}), or add a tier that covers it",
            )
        )
    return problems


def _problem_path(location: tuple[Any, ...], document: Any) -> str:
    """Render a pydantic location as a YAML path, naming list items by their ``name`` when they have one."""
    parts: list[str] = []
    node = document
    for part in location:
        if isinstance(part, int):
            label = f"[{part}]"
            if isinstance(node, list) and part < len(node):
                node = node[part]
                if isinstance(node, dict) and isinstance(node.get("name") or node.get("code"), str):
                    label = f"[{part}] ({node.get('name') or node.get('code')})"
            parts.append(label)
            continue
        if isinstance(node, dict):
            node = node.get(part)
        else:
            node = None
        parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "(top level)"


def _allowed(problem: dict[str, Any]) -> str:
    """Return the pydantic message, with 'Value error, ' dropped for our own checks."""
    message = str(problem["msg"])
    return message.removeprefix("Value error, ")


def parse_policy(document: Any) -> Policy:
    """Validate a loaded YAML document into a :class:`Policy`.

    Raises :class:`PolicyError` listing each problem with its path in the
    document, the bad value and what is allowed.
    """
    if not isinstance(document, dict):
        problem = PolicyProblem(path="(top level)", value=type(document).__name__, message="the policy must be a mapping")
        raise PolicyError(f"policy must be a mapping at the top level, got {type(document).__name__}", [problem])
    try:
        policy = Policy.model_validate(document)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            value = item.get("input")
            shown = "(missing)" if item["type"] == "missing" else repr(value)
            if isinstance(value, dict):
                shown = "(the section)"
            elif isinstance(value, list):
                shown = "[" + ", ".join(str(item.get("name", "?")) if isinstance(item, dict) else repr(item) for item in value) + "]"
            problems.append(PolicyProblem(path=_problem_path(item["loc"], document), value=shown, message=_allowed(item)))
        raise _policy_error(problems) from None
    problems = reference_problems(policy)
    if problems:
        raise _policy_error(problems)
    return policy


def _policy_error(problems: list[PolicyProblem]) -> PolicyError:
    lines = [f"{problem.path}: {problem.message} (got {problem.value})" for problem in problems]
    return PolicyError("invalid policy:\n  " + "\n  ".join(lines), problems)
