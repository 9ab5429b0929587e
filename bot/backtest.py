"""Evaluate a standard request for every account in the database, under one or two policies.

A policy change can then be reviewed before it goes live: the distribution
of outcomes, and what changes account by account.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import groupby
from operator import itemgetter

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from policy.config import Policy
from policy.engine import AccountProfile, Terms, assess, min_down_payment, validate_terms
from policy.facts import InvoiceRecord, PriorPlan, compute_facts
from policy.lifecycle import OPEN_STATUSES
from storage.models import Account, Invoice, PlanRequest

STANDARD_INSTALLMENTS = 12
# Days from the as-of date to the first due date of the standard request, at most the policy's window.
STANDARD_FIRST_DUE_DAYS = 30


@dataclass(frozen=True)
class PortfolioAccount:
    account_id: str
    profile: AccountProfile
    invoices: list[InvoiceRecord]
    open_plan_count: int


@dataclass(frozen=True)
class Outcome:
    """One account's result; ``eligible`` is None when no plan can be requested (no open balance)."""

    account_id: str
    eligible: bool | None
    risk_grade: str
    route: tuple[str, ...]
    flags: tuple[str, ...]
    note: str = ""


@dataclass
class Distribution:
    accounts: int = 0
    not_assessable: int = 0
    eligible: int = 0
    grades: Counter[str] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)

    @property
    def eligible_share(self) -> Decimal:
        assessed = self.accounts - self.not_assessable
        return Decimal(0) if assessed == 0 else (Decimal(self.eligible) / assessed).quantize(Decimal("0.0001"))


@dataclass(frozen=True)
class Difference:
    account_id: str
    field: str
    before: str
    after: str


def default_as_of(session: Session) -> date | None:
    """Return the last day of the month after the latest invoice date, or None without invoices."""
    latest = session.scalar(select(func.max(Invoice.invoice_date)))
    if latest is None:
        return None
    year, month = (latest.year + 1, 1) if latest.month == 12 else (latest.year, latest.month + 1)
    return date(year, month, calendar.monthrange(year, month)[1])


def load_portfolio(session: Session, as_of: date) -> list[PortfolioAccount]:
    """Load every account with its invoices and plan history in three queries."""
    rows = session.execute(
        select(
            Invoice.account_id, Invoice.invoice_number, Invoice.invoice_date, Invoice.due_date, Invoice.amount, Invoice.disputed, Invoice.settled_date
        ).order_by(Invoice.account_id, Invoice.invoice_date, Invoice.invoice_number)
    ).all()
    invoices = {
        account_id: [InvoiceRecord(*row[1:]) for row in group] for account_id, group in groupby(rows, key=itemgetter(0))
    }
    plans: dict[str, list[PriorPlan]] = {}
    open_counts: Counter[str] = Counter()
    for request in session.scalars(select(PlanRequest).where(PlanRequest.as_of <= as_of)):
        if request.status in OPEN_STATUSES:
            open_counts[request.account_id] += 1
        elif request.status in ("completed", "defaulted"):
            plans.setdefault(request.account_id, []).append(PriorPlan(request.status, request.as_of, request.updated_at.date()))
    portfolio = []
    for account in session.scalars(select(Account).order_by(Account.id)):
        profile = AccountProfile(account.segment, account.currency, account.standing, tuple(plans.get(account.id, [])))
        portfolio.append(PortfolioAccount(account.id, profile, invoices.get(account.id, []), open_counts[account.id]))
    return portfolio


def standard_terms(policy: Policy, balance: Decimal, as_of: date, installments: int, currency: str) -> Terms:
    """Return the standard request: the minimum down payment, monthly, first due within the window, the standard APR."""
    days = max(policy.schedule.min_first_due_days, min(STANDARD_FIRST_DUE_DAYS, policy.schedule.max_first_due_days))
    apr = policy.terms.interest.standard_apr if policy.terms.interest.mode == "amortized" else Decimal(0)
    down = min_down_payment(policy, balance, currency) if balance > 0 else Decimal(0)
    return Terms(balance, down, installments, as_of + timedelta(days=days), "monthly", apr)


def evaluate(policy: Policy, account: PortfolioAccount, as_of: date, installments: int) -> Outcome:
    facts = compute_facts(account.account_id, account.invoices, as_of)
    currency = account.profile.currency or policy.currency
    terms = standard_terms(policy, facts.open_balance, as_of, installments, currency)
    problems = validate_terms(terms, policy=policy, as_of=as_of)
    if problems:
        return Outcome(account.account_id, None, "", (), (), problems[0].message)
    result = assess(policy, facts, terms, as_of=as_of, open_plan_count=account.open_plan_count, account=account.profile)
    return Outcome(account.account_id, result.eligible, result.risk_grade, tuple(result.route), tuple(flag.code for flag in result.flags))


def evaluate_portfolio(
    policy: Policy,
    portfolio: list[PortfolioAccount],
    as_of: date,
    *,
    installments: int = STANDARD_INSTALLMENTS,
    on_progress: Callable[[int], None] | None = None,
) -> list[Outcome]:
    outcomes = []
    for index, account in enumerate(portfolio, start=1):
        outcomes.append(evaluate(policy, account, as_of, installments))
        if on_progress and (index % 500 == 0 or index == len(portfolio)):
            on_progress(index)
    return outcomes


def distribution(outcomes: Iterable[Outcome]) -> Distribution:
    result = Distribution()
    for outcome in outcomes:
        result.accounts += 1
        if outcome.eligible is None:
            result.not_assessable += 1
            continue
        result.eligible += int(outcome.eligible)
        result.grades[outcome.risk_grade] += 1
        result.routes[" → ".join(outcome.route) or "(none)"] += 1
        result.flags.update(outcome.flags)
    return result


def differences(before: list[Outcome], after: list[Outcome]) -> list[Difference]:
    """Return each field that differs between two runs over the same accounts, account by account."""
    changes = []
    for old, new in zip(before, after, strict=True):
        pairs = [
            ("eligible", _eligibility(old), _eligibility(new)),
            ("risk_grade", old.risk_grade, new.risk_grade),
            ("route", " → ".join(old.route), " → ".join(new.route)),
            ("flags", ", ".join(sorted(old.flags)), ", ".join(sorted(new.flags))),
        ]
        changes.extend(Difference(old.account_id, name, a, b) for name, a, b in pairs if a != b)
    return changes


def _eligibility(outcome: Outcome) -> str:
    if outcome.eligible is None:
        return "not assessable"
    return "yes" if outcome.eligible else "no"
