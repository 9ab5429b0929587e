"""Read-only queries that the workflow and the demo share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import groupby
from typing import Any
from operator import attrgetter, itemgetter

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from policy.facts import InvoiceRecord
from storage.models import Account, Invoice

ZERO = Decimal("0.00")
# The highest code point: every string that starts with a prefix sorts below prefix + PREFIX_END.
PREFIX_END = "\U0010ffff"
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class PastDueEpisode:
    """The date on which an account's past-due balance was largest, and its balances at the end of that day."""

    account_id: str
    as_of: date
    # Every invoice issued by as_of and unpaid at its end, due or not.
    open_balance: Decimal
    # The part of open_balance that was due before as_of.
    past_due_balance: Decimal


@dataclass(frozen=True)
class _Span:
    account_id: str
    invoice_date: date
    due_date: date
    amount: Decimal
    settled_date: date | None


def invoice_history(session: Session, account_id: str) -> list[InvoiceRecord]:
    """Load an account's invoices, oldest first, as the policy engine takes them.

    Returns an empty list for an account with no invoices or no such account.
    """
    query = (
        select(Invoice)
        .where(Invoice.account_id == account_id)
        .order_by(Invoice.invoice_date, Invoice.invoice_number)
    )
    return [
        InvoiceRecord(
            invoice_number=invoice.invoice_number,
            invoice_date=invoice.invoice_date,
            due_date=invoice.due_date,
            amount=invoice.amount,
            disputed=invoice.disputed,
            settled_date=invoice.settled_date,
        )
        for invoice in session.scalars(query)
    ]


def past_due_episodes(session: Session) -> list[PastDueEpisode]:
    """Find, for each account that was ever past due, the day its past-due balance peaked.

    The candidate days are each invoice's due date plus one day, the first
    day on which it can be past due. On day ``d`` an invoice is open if it was
    issued by ``d`` and not settled by the end of ``d``, and past due if it is
    also due before ``d``. When several days share the largest past-due
    balance, the earliest one is returned. Episodes are ordered by account id.

    Every invoice is read in one query and the balances are computed here.
    The cost is O(n log n) in each account's invoice count n.
    """
    query = select(
        Invoice.account_id, Invoice.invoice_date, Invoice.due_date, Invoice.amount, Invoice.settled_date
    ).order_by(Invoice.account_id)
    spans = (_Span(*row) for row in session.execute(query))

    episodes = []
    for account_id, account_spans in groupby(spans, key=attrgetter("account_id")):
        episode = _worst_past_due_day(account_id, list(account_spans))
        if episode is not None:
            episodes.append(episode)
    return episodes


def search_accounts(session: Session, prefix: str, limit: int = 20) -> list[Account]:
    """Find up to ``limit`` accounts whose id or name starts with ``prefix``, ignoring case.

    Accounts whose id matches come first, ordered by id, then those matched
    by name only, ordered by name. ``%`` and ``_`` in the prefix match
    themselves, not as LIKE wildcards. An empty prefix lists accounts by id.

    Each match is a range on ``lower(id)`` or ``lower(name)``, which the
    expression indexes ``ix_accounts_lower_id`` and ``ix_accounts_lower_name``
    serve, so the time depends on ``limit``, not on the number of accounts.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    prefix = prefix.strip().lower()
    if not prefix:
        return list(session.scalars(select(Account).order_by(Account.id).limit(limit)))

    found = list(session.scalars(_prefix_query(Account.id, prefix, limit)))
    if len(found) < limit:
        seen = {account.id for account in found}
        by_name = session.scalars(_prefix_query(Account.name, prefix, limit))
        found += [account for account in by_name if account.id not in seen][: limit - len(found)]
    return found


def _prefix_query(column: Any, prefix: str, limit: int) -> Select[tuple[Account]]:
    lowered = func.lower(column)
    # NOTE: the range is exact for code point order (SQLite, PostgreSQL
    # with the C or C.UTF-8 collation). Under a linguistic collation it can
    # miss matches, so the istartswith check is kept for exactness.
    return (
        select(Account)
        .where(lowered >= prefix, lowered < prefix + PREFIX_END, column.istartswith(prefix, autoescape=True))
        .order_by(lowered)
        .limit(limit)
    )


def _worst_past_due_day(account_id: str, spans: list[_Span]) -> PastDueEpisode | None:
    # Each balance is a step function of the day. An invoice enters it on its
    # first counted day and leaves it on its settled date, because it was
    # paid during that day and is not open at its end.
    open_changes: list[tuple[date, Decimal]] = []
    past_due_changes: list[tuple[date, Decimal]] = []
    for span in spans:
        _add_interval(open_changes, span.invoice_date, span.settled_date, span.amount)
        first_past_due = max(span.invoice_date, span.due_date + ONE_DAY)
        _add_interval(past_due_changes, first_past_due, span.settled_date, span.amount)

    candidates = sorted({span.due_date + ONE_DAY for span in spans})
    open_balances = _balances_on(open_changes, candidates)
    past_due_balances = _balances_on(past_due_changes, candidates)

    worst: PastDueEpisode | None = None
    for day, open_balance, past_due_balance in zip(candidates, open_balances, past_due_balances):
        if past_due_balance > ZERO and (worst is None or past_due_balance > worst.past_due_balance):
            worst = PastDueEpisode(account_id, day, open_balance, past_due_balance)
    return worst


def _add_interval(changes: list[tuple[date, Decimal]], start: date, end: date | None, amount: Decimal) -> None:
    """Record that ``amount`` counts on the days from ``start`` up to, not including, ``end``."""
    if end is not None and end <= start:
        return
    changes.append((start, amount))
    if end is not None:
        changes.append((end, -amount))


def _balances_on(changes: Iterable[tuple[date, Decimal]], days: list[date]) -> list[Decimal]:
    """Return the running total of ``changes`` at the end of each of the sorted ``days``."""
    ordered = sorted(changes, key=itemgetter(0))
    balances = []
    balance = ZERO
    position = 0
    for day in days:
        while position < len(ordered) and ordered[position][0] <= day:
            balance += ordered[position][1]
            position += 1
        balances.append(balance)
    return balances
