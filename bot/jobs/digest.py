"""The manager digest: one message per manager on business days, with a chart once a week.

Each manager in ``PAYPLAN_DIGEST_RECIPIENTS`` gets the digest of the latest
business day whose ``PAYPLAN_DIGEST_TIME`` has passed, once: the claim key is
the manager and that local date. A digest longer than Slack's 50 blocks per
message is sent as several numbered messages, so no item is dropped.
"""

from __future__ import annotations

import io
import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.jobs.calendar import BusinessCalendar
from bot.jobs.claims import claim, was_claimed
from bot.jobs.registry import JobContext
from bot.jobs.slack import open_dm
from bot.jobs.steps import pending_steps
from bot.messages import money, request_label
from storage.models import Agreement, Installment, JobMark, Payment, PlanRequest

logger = logging.getLogger(__name__)

# Slack rejects a message with more than 50 blocks.
MAX_BLOCKS = 50
WEEKLY_WEEKS = 8


@dataclass
class DigestContents:
    day: date
    awaiting: list[str] = field(default_factory=list)
    agreements: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)
    completions: list[str] = field(default_factory=list)

    def sections(self) -> list[tuple[str, list[str]]]:
        return [
            ("Awaiting approval", self.awaiting),
            ("Agreements awaiting the customer", self.agreements),
            ("Missed installments since the last digest", self.missed),
            ("Defaults since the last digest", self.defaults),
            ("Completed since the last digest", self.completions),
        ]


def digest_contents(session: Session, context: JobContext, *, day: date, since: datetime, now: datetime) -> DigestContents:
    """Collect every item of one digest; the single query point for what a digest shows.

    ``since`` is the previous digest's time: missed installments, defaults
    and completions after it are listed.
    """
    from bot.jobs.sla import business_hours_text, sla_thresholds

    contents = DigestContents(day)
    tier_order = context.policy.tier_names()
    waiting = [(pending, context.calendar.business_time_between(pending.since, now)) for pending in pending_steps(session)]
    # Grouped by tier, lowest authority first, and the longest wait first within a tier.
    waiting.sort(key=lambda item: (tier_order.index(item[0].step.tier), -item[1]))
    for pending, elapsed in waiting:
        _, escalate_after = sla_thresholds(context, pending.step.tier)
        breach = " *SLA breached*" if elapsed >= escalate_after else ""
        tier_label = context.policy.tier(pending.step.tier).label
        contents.awaiting.append(f"{tier_label}: {request_label(pending.request.id)} ({pending.request.account_id}), {business_hours_text(elapsed)}{breach}")

    for agreement, request in session.execute(
        select(Agreement, PlanRequest).join(PlanRequest, Agreement.request_id == PlanRequest.id).where(Agreement.status == "sent").order_by(Agreement.id)
    ).all():
        days = (now - agreement.created_at).days
        contents.agreements.append(f"{request_label(request.id)} ({request.account_id}): sent {days} days ago, link expires {agreement.expires_at.date().isoformat()}")

    since_day = context.calendar.local_date(since)
    # An installment can be missed only after its due date, so the window is
    # the previous digest's day up to yesterday.
    # NOTE: installments become "missed" once plan monitoring marks them; until then none are listed.
    for installment, request in session.execute(
        select(Installment, PlanRequest)
        .join(PlanRequest, Installment.request_id == PlanRequest.id)
        .where(Installment.status == "missed", Installment.due_date >= since_day, Installment.due_date < day)
        .order_by(Installment.due_date, Installment.id)
    ).all():
        contents.missed.append(
            f"{request_label(request.id)} ({request.account_id}): installment {installment.sequence} of "
            f"{money(installment.amount, context.policy.currency)} due {installment.due_date.isoformat()}"
        )

    for request in session.scalars(
        select(PlanRequest).where(PlanRequest.status.in_(("defaulted", "completed")), PlanRequest.updated_at > since, PlanRequest.updated_at <= now).order_by(PlanRequest.id)
    ).all():
        line = f"{request_label(request.id)} ({request.account_id})"
        (contents.defaults if request.status == "defaulted" else contents.completions).append(line)
    return contents


def digest_messages(contents: DigestContents) -> list[tuple[str, list[dict[str, Any]]]]:
    """Build the digest as Slack messages of at most 50 blocks each, keeping every item."""
    blocks: list[dict[str, Any]] = []
    for title, items in contents.sections():
        blocks.append(_section(f"*{title}* ({len(items)})" + ("" if items else "\nNone.")))
        blocks.extend(_section(f"• {item}") for item in items)
    # One block of each message is the header.
    per_message = MAX_BLOCKS - 1
    chunks = [blocks[start:start + per_message] for start in range(0, len(blocks), per_message)]
    messages = []
    for number, chunk in enumerate(chunks, start=1):
        part = f" (part {number} of {len(chunks)})" if len(chunks) > 1 else ""
        title = f"payplan digest for {contents.day.isoformat()}{part}"
        messages.append((title, [{"type": "header", "text": {"type": "plain_text", "text": title}}, *chunk]))
    return messages


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def run_digest(context: JobContext, now: datetime) -> list[str]:
    """Send each configured manager the digest of the latest business day due at ``now``, once."""
    calendar = context.calendar
    day = calendar.latest_occurrence(now, context.settings.digest_time)
    if day is None:
        return []
    lines = []
    for manager in context.settings.digest_recipients:
        lines.extend(_send_digest(context, manager, day, now))
    return lines


def _send_digest(context: JobContext, manager: str, day: date, now: datetime) -> list[str]:
    calendar = context.calendar
    scheduled = calendar.at_local(day, context.settings.digest_time)
    with claim(context.session_factory, job="digest", item_key=f"manager:{manager}", occurrence=day.isoformat(), now=scheduled) as session:
        if session is None:
            return []
        since = _previous_digest_time(session, manager, scheduled)
        contents = digest_contents(session, context, day=day, since=since, now=now)
        channel = open_dm(context.slack, manager)
        messages = digest_messages(contents)
        for text, blocks in messages:
            context.slack.chat_postMessage(channel=channel, text=text, blocks=blocks)
        chart = ""
        week = day.isocalendar()
        week_key = f"{week.year}-W{week.week:02d}"
        if day.isoweekday() >= context.settings.weekly_digest_weekday and not was_claimed(session, job="digest.weekly", item_key=f"manager:{manager}", occurrence=week_key):
            session.add(JobMark(job="digest.weekly", item_key=f"manager:{manager}", occurrence=week_key, done_at=scheduled, detail={}))
            session.flush()
            png = weekly_chart(session, calendar, day)
            context.slack.files_upload_v2(channel=channel, content=png, filename=f"payplan-{week_key}.png",
                                          title=f"payplan week {week_key}", initial_comment="Weekly chart: plans by status and amounts recovered.")
            chart = " with the weekly chart"
        items = sum(len(items) for _, items in contents.sections())
        return [f"sent the {day.isoformat()} digest to {manager}: {items} items in {len(messages)} message(s){chart}"]


def _previous_digest_time(session: Session, manager: str, scheduled: datetime) -> datetime:
    previous = session.scalars(
        select(JobMark.done_at)
        .where(JobMark.job == "digest", JobMark.item_key == f"manager:{manager}", JobMark.done_at < scheduled)
        .order_by(JobMark.done_at.desc())
    ).first()
    return previous or scheduled - timedelta(days=1)


def weekly_chart(session: Session, calendar: BusinessCalendar, day: date) -> bytes:
    """Draw plans by status and amounts recovered per week over the last eight weeks, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    statuses = Counter(session.scalars(select(PlanRequest.status)).all())
    first_week = day - timedelta(days=day.weekday() + 7 * (WEEKLY_WEEKS - 1))
    recovered: dict[date, Decimal] = defaultdict(Decimal)
    for paid_on, amount in session.execute(
        select(Payment.paid_on, Payment.amount).where(Payment.installment_id.is_not(None), Payment.paid_on >= first_week, Payment.paid_on <= day)
    ).all():
        recovered[paid_on - timedelta(days=paid_on.weekday())] += amount
    weeks = [first_week + timedelta(weeks=n) for n in range(WEEKLY_WEEKS)]

    figure = Figure(figsize=(9, 3.5), dpi=100)
    by_status, by_week = figure.subplots(1, 2)
    names = sorted(statuses)
    by_status.barh(names, [statuses[name] for name in names])
    by_status.set_title("Plans by status")
    # Matplotlib draws floats; the Decimal sums are exact and only the drawing rounds.
    by_week.plot([week.isoformat() for week in weeks], [float(recovered[week]) for week in weeks], marker="o")
    by_week.set_title("Recovered per week")
    by_week.tick_params(axis="x", labelrotation=45, labelsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
