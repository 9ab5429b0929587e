"""Account facts computed from invoice history at an as-of date.

Every figure the policy engine and the summary agent use comes from here, so
that both read the same numbers. The function is pure: the caller loads the
invoices and passes the as-of date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0.00")

# Aging buckets by days past due, as collections teams report them.
AGING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("current", -10**6, 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("90+", 91, None),
)


@dataclass(frozen=True)
class InvoiceRecord:
    """One invoice, with the fields the policy engine reads."""

    invoice_number: str
    invoice_date: date
    due_date: date
    amount: Decimal
    disputed: bool
    settled_date: date | None


@dataclass(frozen=True)
class PriorPlan:
    """An earlier payment plan of the account: ``status`` is completed, defaulted, active or cancelled."""

    status: str
    started: date
    ended: date | None


@dataclass(frozen=True)
class AccountFacts:
    """Figures about one account at one date, all derived from its invoices."""

    account_id: str
    as_of: date
    invoice_count: int
    total_billed: Decimal
    settled_count: int
    on_time_share: Decimal | None
    average_days_late: Decimal | None
    max_days_late: int | None
    disputed_count: int
    open_invoice_count: int
    open_balance: Decimal
    past_due_balance: Decimal
    disputed_open_balance: Decimal
    oldest_open_days_past_due: int | None
    aging: dict[str, Decimal] = field(default_factory=dict)
    # Average days late of the later and the earlier half of settled invoices, by due date.
    recent_average_days_late: Decimal | None = None
    earlier_average_days_late: Decimal | None = None
    median_invoice_amount: Decimal | None = None

    @property
    def days_late_trend(self) -> Decimal | None:
        """Recent minus earlier average days late: positive when payment is getting slower."""
        if self.recent_average_days_late is None or self.earlier_average_days_late is None:
            return None
        return self.recent_average_days_late - self.earlier_average_days_late

    @property
    def disputed_share(self) -> Decimal:
        """Share of the open balance in dispute, from 0 to 1."""
        if self.open_balance == ZERO:
            return Decimal("0")
        return (self.disputed_open_balance / self.open_balance).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)

    def to_dict(self) -> dict[str, object]:
        """Return the facts as JSON-ready values: money and ratios as strings."""
        def plain(value: object) -> object:
            if isinstance(value, (Decimal, date)):
                return str(value)
            return value

        data = {name: plain(getattr(self, name)) for name in self.__dataclass_fields__ if name != "aging"}
        data["aging"] = {bucket: str(amount) for bucket, amount in self.aging.items()}
        data["disputed_share"] = str(self.disputed_share)
        return data


def is_open(invoice: InvoiceRecord, as_of: date) -> bool:
    """Tell whether an invoice is unpaid at the end of ``as_of``."""
    issued = invoice.invoice_date <= as_of
    unsettled = invoice.settled_date is None or invoice.settled_date > as_of
    return issued and unsettled


def compute_facts(account_id: str, invoices: list[InvoiceRecord], as_of: date) -> AccountFacts:
    """Compute an account's facts from the invoices issued up to ``as_of``.

    History after ``as_of`` is ignored, so replaying an old date gives the
    figures an analyst would have seen on that day.
    """
    known = [inv for inv in invoices if inv.invoice_date <= as_of]
    settled = [inv for inv in known if inv.settled_date is not None and inv.settled_date <= as_of]
    open_items = [inv for inv in known if is_open(inv, as_of)]

    settled.sort(key=lambda inv: (inv.due_date, inv.invoice_number))
    days_late = [max(0, (inv.settled_date - inv.due_date).days) for inv in settled]  # type: ignore[operator]
    half = len(days_late) // 2
    on_time = sum(1 for days in days_late if days == 0)

    aging = {name: ZERO for name, _, _ in AGING_BUCKETS}
    open_balance = past_due_balance = disputed_open_balance = ZERO
    oldest = None
    for inv in open_items:
        days_past_due = (as_of - inv.due_date).days
        aging[_bucket_for(days_past_due)] += inv.amount
        open_balance += inv.amount
        if inv.disputed:
            disputed_open_balance += inv.amount
        if days_past_due > 0:
            past_due_balance += inv.amount
            oldest = days_past_due if oldest is None else max(oldest, days_past_due)

    return AccountFacts(
        account_id=account_id,
        as_of=as_of,
        invoice_count=len(known),
        total_billed=sum((inv.amount for inv in known), ZERO),
        settled_count=len(settled),
        on_time_share=_ratio(on_time, len(settled)),
        average_days_late=_ratio(sum(days_late), len(days_late), places="0.1"),
        max_days_late=max(days_late, default=None),
        disputed_count=sum(1 for inv in known if inv.disputed),
        open_invoice_count=len(open_items),
        open_balance=open_balance,
        past_due_balance=past_due_balance,
        disputed_open_balance=disputed_open_balance,
        oldest_open_days_past_due=oldest,
        aging=aging,
        recent_average_days_late=_ratio(sum(days_late[half:]), len(days_late) - half, places="0.1") if half else None,
        earlier_average_days_late=_ratio(sum(days_late[:half]), half, places="0.1") if half else None,
        median_invoice_amount=_median([inv.amount for inv in known]),
    )


def _median(amounts: list[Decimal]) -> Decimal | None:
    if not amounts:
        return None
    ordered = sorted(amounts)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _bucket_for(days_past_due: int) -> str:
    for name, low, high in AGING_BUCKETS:
        if days_past_due >= low and (high is None or days_past_due <= high):
            return name
    raise AssertionError(f"no aging bucket for {days_past_due} days")


def _ratio(numerator: int, denominator: int, places: str = "0.0001") -> Decimal | None:
    if denominator == 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(places), rounding=ROUND_HALF_UP)
