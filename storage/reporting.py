"""Plan performance figures and the consistency-of-treatment report.

:func:`compute_report` reads the requests opened in a date range and returns
every figure of ``payplan report`` as plain values, so the weekly digest can
chart the same numbers. Definitions, which docs/audit.md repeats:

- A request is in the range when the UTC date of its ``created_at`` lies
  between ``start`` and ``end``, both inclusive. Every figure covers those
  requests only.
- Approval time of a step: from the moment the step became pending (the
  revision's creation for the first step, the previous step's decision for
  later ones) to its decision. Only approved or rejected steps count.
- Median is the middle value, or the mean of the two middle values. The 90th
  percentile is the nearest-rank value: the ``ceil(0.9 * n)``-th smallest.
- Time to acceptance: from the agreement's creation, which happens at final
  approval, to the customer's acceptance.
- Recovery rate: payments matched to installments and paid on or before
  ``as_of``, over the amounts of installments due on or before ``as_of``.
- Default rate: defaulted plans over plans that became active (status active,
  completed or defaulted), grouped by the current revision's risk grade and
  by its approval tier, the first tier of the route.
- Outside standard policy: among requests that an approver decided, those
  whose assessment raised a flag other than a routing flag, or that were
  granted an exception (an ``exception.*`` event, or a move from ineligible
  to pending approval).
- SLA breaches: the scheduler's SLA events, counted per action: nudges
  (``step.nudged``), escalations it made (``step.escalated`` by
  ``system:sla``) and breaches at the top tier (``step.sla_breached``).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from storage.audit import to_json_safe
from storage.models import Agreement, AuditEvent, Installment, Payment, PaymentAllocation, PlanRequest, TermRevision

# Flags that only choose who reviews a plan, so a plan carrying them is still standard.
ROUTING_FLAG_CODES = frozenset({"legal_review_required"})
ACTIVATED_STATUSES = frozenset({"active", "completed", "defaulted"})
HUMAN_DECIDED_STATUSES = frozenset(
    {"approved", "rejected", "sent_to_customer", "declined", "expired", "active", "completed", "defaulted"}
)
# Lower bounds of the balance bands of the consistency report, in the account currency.
DEFAULT_BALANCE_BANDS: tuple[Decimal, ...] = (
    Decimal("0"),
    Decimal("1000"),
    Decimal("5000"),
    Decimal("25000"),
    Decimal("100000"),
)
HOURS = Decimal("0.01")
PERCENT = Decimal("0.1")


@dataclass(frozen=True)
class DurationStats:
    """Median and 90th percentile of a set of durations, in hours rounded to 0.01."""

    count: int
    median_hours: Decimal | None
    p90_hours: Decimal | None


@dataclass(frozen=True)
class Rate:
    """A count over a total, and the share in percent rounded half up to 0.1."""

    numerator: int | Decimal
    denominator: int | Decimal
    percent: Decimal | None


@dataclass(frozen=True)
class TreatmentCase:
    """One request in a consistency group: its outcome and the reasons recorded for it."""

    request_id: int
    account_id: str
    balance: Decimal
    outcome: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ConsistencyGroup:
    """Requests of the same risk grade and balance band that received different outcomes."""

    risk_grade: str
    balance_band: str
    cases: tuple[TreatmentCase, ...]


@dataclass(frozen=True)
class PlanReport:
    """Every figure of ``payplan report`` for one date range."""

    start: date | None
    end: date | None
    as_of: date
    requests: int
    outcomes: dict[str, int]
    approval_time_by_tier: dict[str, DurationStats]
    sla_breaches: dict[str, int]
    approval_to_acceptance: DurationStats
    recovery: Rate
    default_rate_by_grade: dict[str, Rate]
    default_rate_by_tier: dict[str, Rate]
    outside_standard_policy: Rate
    consistency: tuple[ConsistencyGroup, ...] = field(default=())


SLA_ACTOR = "system:sla"


def _is_sla_event(audit_event: AuditEvent) -> bool:
    """Tell whether an event records an approval step past its SLA."""
    if audit_event.action in ("step.nudged", "step.sla_breached"):
        return True
    return audit_event.action == "step.escalated" and audit_event.actor == SLA_ACTOR


def compute_report(
    session: Session,
    *,
    start: date | None,
    end: date | None,
    as_of: date,
    balance_bands: Sequence[Decimal] = DEFAULT_BALANCE_BANDS,
) -> PlanReport:
    """Compute the report for requests opened from ``start`` to ``end`` (inclusive, UTC dates)."""
    if start is not None and end is not None and start > end:
        raise ValueError(f"the start date {start} is after the end date {end}; swap them")
    requests = _load_requests(session, start, end)
    request_ids = [request.id for request in requests]
    events = _load_events(session, request_ids)

    return PlanReport(
        start=start,
        end=end,
        as_of=as_of,
        requests=len(requests),
        outcomes=dict(sorted(Counter(request.status for request in requests).items())),
        approval_time_by_tier=_approval_time_by_tier(requests),
        sla_breaches=dict(sorted(Counter(audit_event.action for audit_event in events if _is_sla_event(audit_event)).items())),
        approval_to_acceptance=_approval_to_acceptance(session, request_ids),
        recovery=_recovery(session, request_ids, as_of),
        default_rate_by_grade=_default_rates(requests, _risk_grade),
        default_rate_by_tier=_default_rates(requests, _approval_tier),
        outside_standard_policy=_outside_standard_policy(requests, events),
        consistency=_consistency_groups(requests, balance_bands),
    )


def duration_stats(durations: Sequence[timedelta]) -> DurationStats:
    """Return the median and nearest-rank 90th percentile of ``durations`` in hours."""
    if not durations:
        return DurationStats(0, None, None)
    hours = sorted(_hours(duration) for duration in durations)
    median = statistics.median(hours)
    p90 = hours[math.ceil(Decimal("0.9") * len(hours)) - 1]
    return DurationStats(len(hours), median.quantize(HOURS, ROUND_HALF_UP), p90.quantize(HOURS, ROUND_HALF_UP))


def rate(numerator: int | Decimal, denominator: int | Decimal) -> Rate:
    """Return ``numerator`` over ``denominator`` as a percentage, or no percentage for a zero denominator."""
    if not denominator:
        return Rate(numerator, denominator, None)
    percent = (Decimal(numerator) * 100 / Decimal(denominator)).quantize(PERCENT, ROUND_HALF_UP)
    return Rate(numerator, denominator, percent)


def balance_band_label(balance: Decimal, bands: Sequence[Decimal]) -> str:
    """Return the label of the band that contains ``balance``, for example ``"1000 to <5000"``."""
    ordered = sorted(bands)
    for lower, upper in zip(ordered, [*ordered[1:], None]):
        if balance >= lower and (upper is None or balance < upper):
            return f"{lower}+" if upper is None else f"{lower} to <{upper}"
    return f"<{ordered[0]}"


def _hours(duration: timedelta) -> Decimal:
    seconds = Decimal(duration.days * 86400 + duration.seconds) + Decimal(duration.microseconds) / 1_000_000
    return seconds / 3600


def _load_requests(session: Session, start: date | None, end: date | None) -> list[PlanRequest]:
    query = select(PlanRequest).order_by(PlanRequest.id).options(
        selectinload(PlanRequest.revisions).selectinload(TermRevision.steps),
        selectinload(PlanRequest.revisions).selectinload(TermRevision.assessment),
    )
    if start is not None:
        query = query.where(PlanRequest.created_at >= datetime.combine(start, datetime.min.time(), timezone.utc))
    if end is not None:
        # The last microsecond of the end day, because the day after 9999-12-31 does not exist.
        query = query.where(PlanRequest.created_at <= datetime.combine(end, time.max, timezone.utc))
    return list(session.scalars(query))


def _load_events(session: Session, request_ids: list[int]) -> list[AuditEvent]:
    if not request_ids:
        return []
    query = select(AuditEvent).where(AuditEvent.request_id.in_(request_ids)).order_by(AuditEvent.sequence)
    return list(session.scalars(query))


def _current_revision(request: PlanRequest) -> TermRevision | None:
    return next((revision for revision in request.revisions if revision.number == request.current_revision), None)


def _risk_grade(request: PlanRequest) -> str | None:
    revision = _current_revision(request)
    if revision is None or revision.assessment is None:
        return None
    return revision.assessment.risk_grade


def _approval_tier(request: PlanRequest) -> str | None:
    revision = _current_revision(request)
    if revision is None or revision.assessment is None or not revision.assessment.route:
        return None
    return str(revision.assessment.route[0])


def _approval_time_by_tier(requests: list[PlanRequest]) -> dict[str, DurationStats]:
    durations: dict[str, list[timedelta]] = defaultdict(list)
    for request in requests:
        for revision in request.revisions:
            pending_since = revision.created_at
            for step in sorted(revision.steps, key=lambda step: step.sequence):
                if step.status not in ("approved", "rejected") or step.decided_at is None:
                    break
                durations[step.tier].append(step.decided_at - pending_since)
                pending_since = step.decided_at
    return {tier: duration_stats(values) for tier, values in sorted(durations.items())}


def _approval_to_acceptance(session: Session, request_ids: list[int]) -> DurationStats:
    if not request_ids:
        return duration_stats([])
    query = select(Agreement.created_at, Agreement.accepted_at).where(
        Agreement.request_id.in_(request_ids), Agreement.accepted_at.is_not(None)
    )
    return duration_stats([accepted - created for created, accepted in session.execute(query)])


def _recovery(session: Session, request_ids: list[int], as_of: date) -> Rate:
    if not request_ids:
        return rate(Decimal("0.00"), Decimal("0.00"))
    due = select(Installment.id, Installment.amount).where(
        Installment.request_id.in_(request_ids), Installment.due_date <= as_of
    )
    due_rows = session.execute(due).all()
    scheduled = sum((row.amount for row in due_rows), Decimal("0.00"))
    due_ids = [row.id for row in due_rows]
    collected = Decimal("0.00")
    if due_ids:
        paid = select(Payment.amount).where(Payment.installment_id.in_(due_ids), Payment.paid_on <= as_of)
        collected = sum(session.scalars(paid), Decimal("0.00"))
        # Plan payments are split across installments by allocations, and
        # leave Payment.installment_id empty, so neither is counted twice.
        allocated = (
            select(PaymentAllocation.amount)
            .join(Payment, Payment.id == PaymentAllocation.payment_id)
            .where(PaymentAllocation.installment_id.in_(due_ids), PaymentAllocation.kind == "installment", Payment.paid_on <= as_of)
        )
        collected += sum(session.scalars(allocated), Decimal("0.00"))
    return rate(collected, scheduled)


def _default_rates(requests: list[PlanRequest], key: Any) -> dict[str, Rate]:
    activated: Counter[str] = Counter()
    defaulted: Counter[str] = Counter()
    for request in requests:
        if request.status not in ACTIVATED_STATUSES:
            continue
        group = key(request) or "unknown"
        activated[group] += 1
        if request.status == "defaulted":
            defaulted[group] += 1
    return {group: rate(defaulted[group], activated[group]) for group in sorted(activated)}


def _outside_standard_policy(requests: list[PlanRequest], events: list[AuditEvent]) -> Rate:
    excepted = {
        audit_event.request_id
        for audit_event in events
        if audit_event.action.startswith("exception.")
        or (audit_event.action == "status.pending_approval" and audit_event.before.get("status") == "ineligible")
    }
    decided = [request for request in requests if request.status in HUMAN_DECIDED_STATUSES]
    outside = [request for request in decided if request.id in excepted or _deviation_codes(request)]
    return rate(len(outside), len(decided))


def _deviation_codes(request: PlanRequest) -> list[str]:
    revision = _current_revision(request)
    if revision is None or revision.assessment is None:
        return []
    return [flag["code"] for flag in revision.assessment.flags if flag["code"] not in ROUTING_FLAG_CODES]


def _outcome(request: PlanRequest) -> str | None:
    """Return "approved" or "rejected" for a request an approver decided, and None otherwise.

    Requests that the policy's eligibility rules closed (status ineligible)
    are left out: a hard rule explains their outcome, so comparing them with
    approved requests would flag nearly every group. An ineligible request
    that was granted an exception and then decided is in a later status and
    counts.
    """
    if request.status == "rejected":
        return "rejected"
    if request.status in HUMAN_DECIDED_STATUSES:
        return "approved"
    return None


def _reasons(request: PlanRequest) -> tuple[str, ...]:
    revision = _current_revision(request)
    if revision is None:
        return ()
    reasons = []
    if revision.assessment is not None:
        reasons.extend(f"policy: {flag['message']}" for flag in revision.assessment.flags)
    for step in sorted(revision.steps, key=lambda step: step.sequence):
        if step.status in ("approved", "rejected"):
            comment = f": {step.comment}" if step.comment else ""
            reasons.append(f"{step.tier} {step.status} by {step.decided_by}{comment}")
    return tuple(reasons)


def _consistency_groups(requests: list[PlanRequest], bands: Sequence[Decimal]) -> tuple[ConsistencyGroup, ...]:
    groups: dict[tuple[str, str], list[TreatmentCase]] = defaultdict(list)
    for request in requests:
        outcome = _outcome(request)
        revision = _current_revision(request)
        grade = _risk_grade(request)
        if outcome is None or revision is None or grade is None:
            continue
        band = balance_band_label(revision.balance, bands)
        case = TreatmentCase(request.id, request.account_id, revision.balance, outcome, _reasons(request))
        groups[(grade, band)].append(case)

    uneven = []
    for (grade, band), cases in sorted(groups.items()):
        if len({case.outcome for case in cases}) > 1:
            uneven.append(ConsistencyGroup(grade, band, tuple(cases)))
    return tuple(uneven)


@dataclass(frozen=True)
class FigureRow:
    """One line of the report as text: the figure, the group it covers, its value and what it is based on."""

    figure: str
    group: str
    value: str
    basis: str


def report_to_dict(report: PlanReport) -> dict[str, Any]:
    """Return the report as JSON-ready values: Decimals as strings, dates in ISO 8601."""
    converted = to_json_safe(asdict(report))
    assert isinstance(converted, dict)
    return converted


def figure_rows(report: PlanReport) -> list[FigureRow]:
    """Return every figure of the report except the consistency groups, one row each, in a fixed order."""
    rows = [FigureRow("requests opened", "all", str(report.requests), "")]
    rows.extend(FigureRow("requests by status", status, str(count), "") for status, count in report.outcomes.items())
    for tier, stats in report.approval_time_by_tier.items():
        rows.extend(_duration_rows("approval hours", tier, stats))
    rows.extend(FigureRow("SLA breaches", action, str(count), "") for action, count in report.sla_breaches.items())
    if not report.sla_breaches:
        rows.append(FigureRow("SLA breaches", "all", "0", "no nudge or SLA escalation"))
    rows.extend(_duration_rows("hours from approval to acceptance", "all", report.approval_to_acceptance))
    rows.append(_rate_row("recovery rate %", "collected over scheduled", report.recovery))
    rows.extend(_rate_row("default rate % by risk grade", grade, value) for grade, value in report.default_rate_by_grade.items())
    rows.extend(_rate_row("default rate % by tier", tier, value) for tier, value in report.default_rate_by_tier.items())
    rows.append(_rate_row("decided outside standard policy %", "all", report.outside_standard_policy))
    return rows


def _duration_rows(figure: str, group: str, stats: DurationStats) -> list[FigureRow]:
    noun = "decision" if figure == "approval hours" else "agreement"
    basis = f"{stats.count} {noun}" if stats.count == 1 else f"{stats.count} {noun}s"
    return [
        FigureRow(f"{figure}, median", group, _text(stats.median_hours), basis),
        FigureRow(f"{figure}, 90th percentile", group, _text(stats.p90_hours), basis),
    ]


def _rate_row(figure: str, group: str, value: Rate) -> FigureRow:
    return FigureRow(figure, group, _text(value.percent), f"{value.numerator} of {value.denominator}")


def _text(value: Decimal | None) -> str:
    return "n/a" if value is None else str(value)
