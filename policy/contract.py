"""The JSON contract of ``payplan policy evaluate``: one case in, one decision out.

Input and output field names are fixed; fields may be added. Money is a
decimal string in both directions, because a JSON number may pass through a
binary float on the way.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from policy.config import AccountStatus, Frequency, Policy, Segment
from policy.engine import AccountProfile, Assessment, Terms, assess, validate_terms
from policy.facts import InvoiceRecord, PriorPlan, compute_facts
from policy.schedule import minor_unit

MAX_AMOUNT = Decimal(10) ** 15
DECIMAL_TEXT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")

# JSON path in the input document of each field that validate_terms reports on.
TERMS_FIELD_PATHS = {
    "account": "account.balance",
    "down_payment": "request.down_payment",
    "installments": "request.installments",
    "first_due_date": "request.first_due",
    "frequency": "request.frequency",
    "apr": "request.apr",
}


def _decimal_text(value: Any) -> Decimal:
    if not isinstance(value, str):
        raise ValueError(f'give the amount as a decimal string such as "1200.50", not {type(value).__name__}')
    if not DECIMAL_TEXT.match(value.strip()):
        raise ValueError('not a decimal number; write digits with an optional point, such as "1200.50"')
    amount = Decimal(value.strip())
    if abs(amount) >= MAX_AMOUNT:
        raise ValueError(f"amount is too large; give less than {MAX_AMOUNT}")
    return amount


def _currency_code(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise ValueError("give an ISO 4217 code of three capital letters, such as USD")
    return value


DecimalText = Annotated[Decimal, BeforeValidator(_decimal_text)]
CurrencyCode = Annotated[str, AfterValidator(_currency_code)]


class CaseError(ValueError):
    """Raised when a case is invalid; ``problems`` maps each JSON path to what is wrong."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("invalid case: " + "; ".join(f"{path}: {message}" for path, message in problems.items()))
        self.problems = problems


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InvoiceInput(_Input):
    number: str = Field(min_length=1)
    amount: DecimalText
    issued: date
    due: date
    paid: date | None
    disputed: bool = False

    @model_validator(mode="after")
    def _dates_in_order(self) -> InvoiceInput:
        if self.due < self.issued:
            raise ValueError(f"due {self.due} is before issued {self.issued}")
        if self.amount <= 0:
            raise ValueError(f"amount {self.amount} must be positive")
        return self


class PriorPlanInput(_Input):
    status: Literal["completed", "defaulted", "active", "cancelled"]
    started: date
    ended: date | None = None


class AccountInput(_Input):
    id: str = Field(min_length=1)
    segment: Segment
    currency: CurrencyCode
    balance: DecimalText
    status: AccountStatus = "open"
    invoices: list[InvoiceInput] = Field(default_factory=list)
    prior_plans: list[PriorPlanInput] = Field(default_factory=list)


class RequestInput(_Input):
    down_payment: DecimalText
    installments: int = Field(ge=1, le=520)
    frequency: Frequency = "monthly"
    first_due: date
    apr: DecimalText = Decimal("0")
    reason: str = ""


class CaseInput(_Input):
    as_of: date
    account: AccountInput
    request: RequestInput


def parse_case(document: Any, policy: Policy) -> CaseInput:
    """Validate a loaded JSON document; raise :class:`CaseError` naming the JSON path of every bad field."""
    try:
        case = CaseInput.model_validate(document)
    except ValidationError as error:
        problems = {}
        for item in error.errors():
            path = json_path(item["loc"])
            got = "missing" if item["type"] == "missing" else repr(item.get("input"))
            problems[path] = f"{str(item['msg']).removeprefix('Value error, ')} (got {got})"
        for path, message in _amount_problems(document).items():
            problems.setdefault(path, message)
        raise CaseError(problems) from None

    problems = _amount_problems(document)
    terms = case_terms(case)
    for problem in validate_terms(terms, policy=policy, as_of=case.as_of):
        problems.setdefault(TERMS_FIELD_PATHS.get(problem.field, problem.field), problem.message)
    if problems:
        raise CaseError(problems)
    return case


def json_path(location: tuple[Any, ...]) -> str:
    """Render a pydantic location as a JSON path such as ``account.invoices[3].amount``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif path:
            path += f".{part}"
        else:
            path = str(part)
    return path or "(document)"


def case_terms(case: CaseInput) -> Terms:
    """Return the requested terms, amounts in the currency's minor unit so "100.5" and "100.50" read the same."""
    request = case.request
    unit = minor_unit(case.account.currency)
    balance, down = (_in_unit(amount, unit) for amount in (case.account.balance, request.down_payment))
    return Terms(balance, down, request.installments, request.first_due, request.frequency, request.apr.normalize() + 0)


def _in_unit(amount: Decimal, unit: Decimal) -> Decimal:
    # Amounts with more places than the currency allows are reported by
    # parse_case; they are kept as given here so the report shows them.
    rounded = amount.quantize(unit) if abs(amount) < MAX_AMOUNT else amount
    return rounded if rounded == amount else amount


def evaluate_case(policy: Policy, case: CaseInput) -> Assessment:
    """Assess a validated case under ``policy``."""
    account = case.account
    unit = minor_unit(account.currency)
    invoices = [
        InvoiceRecord(item.number, item.issued, item.due, _in_unit(item.amount, unit), item.disputed, item.paid) for item in account.invoices
    ]
    facts = compute_facts(account.id, invoices, case.as_of)
    plans = tuple(PriorPlan(plan.status, plan.started, plan.ended) for plan in account.prior_plans)
    profile = AccountProfile(segment=account.segment, currency=account.currency, status=account.status, prior_plans=plans)
    open_plans = sum(1 for plan in plans if plan.status == "active")
    return assess(
        policy,
        facts,
        case_terms(case),
        as_of=case.as_of,
        open_plan_count=open_plans,
        account=profile,
        reason=case.request.reason,
    )


def decision_json(policy: Policy, case: CaseInput, result: Assessment) -> dict[str, Any]:
    """Render an assessment in the contract's output fields."""
    rules = policy.terms
    return {
        "policy_version": result.policy_version,
        "account_id": case.account.id,
        "as_of": case.as_of.isoformat(),
        "currency": result.currency,
        "eligible": result.eligible,
        "risk_grade": result.risk_grade,
        "risk_factors": [factor.to_dict() for factor in result.risk_factors],
        "flags": [
            {"code": flag.code, "severity": flag.severity, "message": flag.message, "limit": flag.limit, "value": flag.actual}
            for flag in result.flags
        ],
        "route": list(result.route),
        "required_documents": [{"code": document.code, "reason": document.reason, "rule": document.rule} for document in result.required_documents],
        "counter_proposal": None if result.counter_proposal is None else terms_json(result.counter_proposal),
        "alternatives": [
            {
                "label": alternative.label,
                "terms": terms_json(alternative.terms),
                "periodic_amount": str(alternative.periodic_amount),
                "total_cost": str(alternative.total_cost),
                "totals": alternative.totals.to_dict(),
            }
            for alternative in result.alternatives
        ],
        "schedule": [
            {
                "number": payment.sequence,
                "due": payment.due_date.isoformat(),
                "amount": str(payment.amount),
                "principal": str(payment.principal),
                "interest": str(payment.interest),
                "fee": str(payment.fee),
                "balance_after": str(payment.balance_after),
            }
            for payment in result.schedule
        ],
        "totals": None if result.totals is None else result.totals.to_dict(),
        "plan_terms": {
            "late_fee": str(rules.late_fee),
            "grace_days": rules.grace_days,
            "default_after_missed": rules.default_after_missed,
        },
    }


def terms_json(terms: Terms) -> dict[str, Any]:
    """Render terms with the request's field names, so a counter-proposal can be sent back as a request."""
    return {
        "down_payment": str(terms.down_payment),
        "installments": terms.installment_count,
        "frequency": terms.frequency,
        "first_due": terms.first_due_date.isoformat(),
        "apr": str(terms.apr),
    }


def _amount_problems(document: Any) -> dict[str, str]:
    """Return amounts with more decimal places than the account's currency has.

    Reads the raw document, so these problems are reported together with
    the schema's problems; values the schema rejects are skipped here.
    """
    account = _mapping(_mapping(document).get("account"))
    currency = account.get("currency")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        return {}
    amounts = [("account.balance", account.get("balance")), ("request.down_payment", _mapping(_mapping(document).get("request")).get("down_payment"))]
    invoices = account.get("invoices")
    if isinstance(invoices, list):
        amounts += [(f"account.invoices[{index}].amount", _mapping(item).get("amount")) for index, item in enumerate(invoices)]
    unit = minor_unit(currency)
    problems = {}
    for path, text in amounts:
        if not isinstance(text, str) or not DECIMAL_TEXT.match(text.strip()):
            continue
        amount = Decimal(text.strip())
        if abs(amount) < MAX_AMOUNT and amount != amount.quantize(unit):
            problems[path] = f"{amount} has more decimal places than {currency} allows (minor unit {unit})"
    return problems


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
