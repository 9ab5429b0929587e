"""The policy file: a YAML document validated into pydantic models.

Parsing takes an already-loaded mapping so that this package stays free of
I/O; ``bot.config`` and ``bot.cli_policy`` read the file. Every section added
after the first policy version has defaults, so older files still load.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from typing import Annotated, Any, Literal

import holidays
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, ValidationError, ValidationInfo, field_validator, model_validator

from policy.schedule import is_currency_code, minor_unit

# Largest amount a policy may name: a trillion in the policy currency, far
# above any real plan, so a typing slip such as an extra exponent is caught.
MAX_AMOUNT = Decimal("1000000000000")
# Plain ASCII decimal text: an optional minus, digits, an optional fraction.
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)


def _decimal_from_text(value: Any) -> Any:
    """Accept a quoted decimal string or a YAML integer; reject floats and loose text.

    YAML reads an unquoted ``0.1`` as a binary float, which cannot hold most
    decimal fractions exactly, so money and rates must be quoted. Integers
    are exact, so ``100`` is accepted and means ``100``.
    """
    if isinstance(value, bool):
        raise ValueError(f'{value} is a boolean; write a quoted decimal string, e.g. "0.10"')
    if isinstance(value, float):
        raise ValueError(f'YAML reads {value!r} as a floating-point number; write it as a quoted decimal string, e.g. "0.10"')
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a plain decimal number; write ASCII digits with an optional point, "
            'e.g. "250.00", without exponent, plus sign or spaces'
        )
    return value


DecimalText = Annotated[Decimal, BeforeValidator(_decimal_from_text)]
NonNegativeMoney = Annotated[DecimalText, Field(ge=0, le=MAX_AMOUNT, decimal_places=3)]
Share = Annotated[DecimalText, Field(ge=0, le=1)]
Percent = Annotated[DecimalText, Field(ge=0, le=100)]
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


def _currency_code(code: str) -> str:
    if not is_currency_code(code):
        raise ValueError(f"{code} is not an ISO 4217 currency code; give one such as USD, EUR or JPY")
    return code


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
    prior_default_lookback_days: StrictInt = Field(default=730, ge=0)
    max_prior_defaults: StrictInt = Field(default=0, ge=0)
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
    max_installments: StrictInt = Field(ge=1)


class ReviewTier(_Strict):
    """A review step outside the balance bands, such as legal or a credit analyst."""

    name: TierName
    label: str
    # Accepted for files written for the first policy version; not used.
    max_balance: NonNegativeMoney | None = None
    max_installments: StrictInt | None = Field(default=None, ge=1)


class LegalReview(_Strict):
    tier: ReviewTier
    balance_above: NonNegativeMoney


class ScheduleRules(_Strict):
    max_installments: StrictInt = Field(ge=1, le=120)
    max_first_due_days: StrictInt = Field(ge=0, le=365)
    min_first_due_days: StrictInt = Field(default=1, ge=1, le=365, validate_default=True)
    rounding: Literal["half_up", "half_even", "half_down", "down", "up", "floor", "ceiling"] = "half_up"
    frequencies: list[Frequency] = Field(default_factory=lambda: ["monthly"], min_length=1)
    # Holiday calendar (ISO 3166 country code) for moving due dates off weekends and holidays; none keeps them.
    business_day_country: str | None = None

    @field_validator("business_day_country")
    @classmethod
    def _supported_country(cls, country: str | None) -> str | None:
        if country is None:
            return None
        code = country.strip().upper()
        if code not in holidays.list_supported_countries():
            raise ValueError(
                f"{country!r} is not a country code with a holiday calendar in the holidays package; "
                "give an ISO 3166 alpha-2 code such as US or DE (list them with "
                "python -c 'import holidays; print(sorted(holidays.list_supported_countries()))')"
            )
        return code

    @field_validator("min_first_due_days")
    @classmethod
    def _window_in_order(cls, min_days: int, info: ValidationInfo) -> int:
        # max_first_due_days is declared first, so it is in info.data when it was valid.
        max_days = info.data.get("max_first_due_days")
        if max_days is not None and min_days > max_days:
            raise ValueError(f"{min_days} is above max_first_due_days ({max_days}); the first due date window would be empty")
        return min_days


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
    max_installments_by_grade: dict[Grade, StrictInt] = Field(default_factory=dict)
    interest: InterestRules = Field(default_factory=InterestRules)
    setup_fee: NonNegativeMoney = Decimal("0")
    late_fee: NonNegativeMoney = Decimal("0")
    grace_days: StrictInt = Field(default=0, ge=0, le=60)
    default_after_missed: StrictInt = Field(default=2, ge=1, le=12)

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

    max_days_late_above: StrictInt = Field(default=60, ge=0)
    # Recent average days late minus the earlier average, in days.
    worsening_trend_above: DecimalText = Field(default=Decimal("10"), ge=0)
    disputed_invoice_share_above: Share = Decimal("0.30")
    balance_to_typical_invoice_above: DecimalText = Field(default=Decimal("12"), gt=0)
    oldest_open_days_above: StrictInt = Field(default=90, ge=0)
    # Steps down per prior plan that defaulted within the lookback.
    steps_per_prior_default: StrictInt = Field(default=1, ge=0, le=4)


class RiskRules(_Strict):
    """Thresholds for the A–E grade; each grade needs every figure at or better than its row."""

    # grade -> (minimum on-time share, maximum average days late)
    grades: dict[Literal["A", "B", "C", "D"], tuple[Share, DecimalText]]
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
    # A plan longer than this many months (weekly and biweekly plans by their length in months).
    installments_above: StrictInt | None = Field(default=None, ge=1)
    grades: list[Grade] = Field(default_factory=lambda: ["D", "E"])
    prior_default: bool = True
    disputed_share_above: Share | None = None


class DocumentRule(_Strict):
    """A document the customer must provide, and the condition that requires it."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    balance_above: NonNegativeMoney | None = None
    installments_above: StrictInt | None = Field(default=None, ge=1)
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
    extra_installments: StrictInt = Field(default=0, ge=0, le=60)
    waive_interest: bool = True


class Escalation(_Strict):
    """Lowest approval tier for deviations and for weak grades."""

    deviation_tier: TierName | None = None
    grade_tiers: dict[Grade, TierName] = Field(default_factory=dict)


class Policy(_Strict):
    version: str = Field(min_length=1)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(_currency_code)]
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
    detailed = policy.detailed_assessment.tier.name if policy.detailed_assessment is not None else None
    references = [
        ("escalation.deviation_tier", policy.escalation.deviation_tier, True),
        ("hardship.review_tier", policy.hardship.review_tier, False),
        *[(f"escalation.grade_tiers.{grade}", name, True) for grade, name in policy.escalation.grade_tiers.items()],
        *[(f"eligibility.referred_statuses.{status}", name, False) for status, name in (policy.eligibility.referred_statuses or {}).items()],
    ]
    problems = _tier_order_problems(policy.tiers)
    problems += _minor_unit_problems(policy)
    problems += _tier_name_problems([tier.name for tier in policy.tiers], policy.legal_review.tier.name, detailed, references)
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


def _minor_unit_problems(policy: Policy) -> list[PolicyProblem]:
    """Return every amount with more decimal places than the policy currency has, such as 25.001 in USD."""
    amounts: list[tuple[str, Decimal | None]] = [
        ("eligibility.min_balance", policy.eligibility.min_balance),
        ("eligibility.max_balance", policy.eligibility.max_balance),
        *[(f"tiers[{index}] ({tier.name}).max_balance", tier.max_balance) for index, tier in enumerate(policy.tiers)],
        ("legal_review.balance_above", policy.legal_review.balance_above),
        ("terms.down_payment_min_amount", policy.terms.down_payment_min_amount),
        ("terms.min_installment_amount", policy.terms.min_installment_amount),
        ("terms.setup_fee", policy.terms.setup_fee),
        ("terms.late_fee", policy.terms.late_fee),
        *[(f"documents[{index}] ({rule.code}).balance_above", rule.balance_above) for index, rule in enumerate(policy.documents)],
    ]
    if policy.detailed_assessment is not None:
        amounts.append(("detailed_assessment.balance_above", policy.detailed_assessment.balance_above))
    unit = minor_unit(policy.currency)
    return [
        PolicyProblem(
            path=path,
            value=repr(str(amount)),
            message=f"more decimal places than {policy.currency} allows; round it to the minor unit {unit}",
        )
        for path, amount in amounts
        if amount is not None and amount != amount.quantize(unit)
    ]


def _tier_order_problems(tiers: list[Tier]) -> list[PolicyProblem]:
    """Check that tier names are unique and that each tier allows at least what the one before it allows."""
    problems = []
    first_index: dict[str, int] = {}
    for index, tier in enumerate(tiers):
        path = f"tiers[{index}] ({tier.name})"
        if tier.name in first_index:
            problems.append(
                PolicyProblem(
                    path=f"{path}.name",
                    value=repr(tier.name),
                    message=f"tier name already used by tiers[{first_index[tier.name]}]; give each tier its own name",
                )
            )
        first_index.setdefault(tier.name, index)
        if index == 0:
            continue
        lower = tiers[index - 1]
        lower_path = f"tiers[{index - 1}] ({lower.name})"
        order = "tiers are listed from lowest to highest authority, so each must allow at least what the tier before it allows"
        if tier.max_balance < lower.max_balance:
            problems.append(
                PolicyProblem(
                    path=f"{path}.max_balance",
                    value=str(tier.max_balance),
                    message=f"{tier.max_balance} < {lower.max_balance} of {lower_path}.max_balance; {order}",
                )
            )
        if tier.max_installments < lower.max_installments:
            problems.append(
                PolicyProblem(
                    path=f"{path}.max_installments",
                    value=str(tier.max_installments),
                    message=f"{tier.max_installments} < {lower.max_installments} of {lower_path}.max_installments; {order}",
                )
            )
        if tier.max_balance == lower.max_balance and tier.max_installments == lower.max_installments:
            problems.append(
                PolicyProblem(
                    path=path,
                    value=f"max_balance {tier.max_balance}, max_installments {tier.max_installments}",
                    message=f"the same band as {lower_path}; give the higher tier a larger limit",
                )
            )
    return problems


def _tier_name_problems(
    approval: list[str], legal: str | None, detailed: str | None, references: list[tuple[str, Any, bool]]
) -> list[PolicyProblem]:
    """Check names of review steps for clashes and each reference against the tiers; True means approval tiers only."""
    problems = []
    reviews = [name for name in (legal, detailed) if name is not None]
    everything = approval + reviews
    for path, name in (("legal_review.tier.name", legal), ("detailed_assessment.tier.name", detailed)):
        if name is not None and everything.count(name) > 1:
            problems.append(PolicyProblem(path=path, value=repr(name), message=f"tier name {name!r} is already used; give each tier and review step its own name"))
    for path, name, approval_only in references:
        allowed = approval if approval_only else everything
        if isinstance(name, str) and name not in allowed:
            problems.append(PolicyProblem(path=path, value=repr(name), message=f"unknown tier; use one of {', '.join(allowed)}"))
    return problems


def _document_tier_name_problems(document: dict[str, Any]) -> list[PolicyProblem]:
    """Run the tier order and name checks on a document that failed validation, using whatever tiers it gives.

    This lets one run of validation list unknown tier names next to type
    errors. It is skipped when the tiers themselves cannot be read, because
    every reference would then look unknown.
    """

    def section(*keys: str) -> dict[str, Any]:
        node: Any = document
        for key in keys:
            node = node.get(key) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else {}

    tiers = document.get("tiers")
    if not isinstance(tiers, list) or not all(isinstance(tier, dict) and isinstance(tier.get("name"), str) for tier in tiers):
        return []
    problems = []
    try:
        problems += _tier_order_problems([Tier.model_validate(tier) for tier in tiers])
    except ValidationError:
        pass  # the tier's own problems are already listed
    legal = section("legal_review", "tier").get("name")
    detailed = section("detailed_assessment", "tier").get("name")
    if not isinstance(legal, str):
        return problems
    references = [
        ("escalation.deviation_tier", section("escalation").get("deviation_tier"), True),
        ("hardship.review_tier", section("hardship").get("review_tier"), False),
        *[(f"escalation.grade_tiers.{grade}", name, True) for grade, name in section("escalation", "grade_tiers").items()],
        *[(f"eligibility.referred_statuses.{status}", name, False) for status, name in section("eligibility", "referred_statuses").items()],
    ]
    detailed_name = detailed if isinstance(detailed, str) else None
    return problems + _tier_name_problems([tier["name"] for tier in tiers], legal, detailed_name, references)


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
    message = str(problem["msg"]).removeprefix("Value error, ")
    # Pydantic shows decimal limits as Decimal('1000000000000'); show the number.
    message = re.sub(r"Decimal\('([^']*)'\)", r"\1", message)
    # A policy author writes YAML, so "or instance of EligibilityRules" means nothing to them.
    return re.sub(r"a valid dictionary or instance of \w+", "a mapping (a YAML section of key: value lines)", message)


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
        reported = {problem.path for problem in problems}
        problems += [problem for problem in _document_tier_name_problems(document) if problem.path not in reported]
        raise _policy_error(problems) from None
    problems = reference_problems(policy)
    if problems:
        raise _policy_error(problems)
    return policy


def _policy_error(problems: list[PolicyProblem]) -> PolicyError:
    lines = [f"{problem.path}: {problem.message} (got {problem.value})" for problem in problems]
    return PolicyError("invalid policy:\n  " + "\n  ".join(lines), problems)
