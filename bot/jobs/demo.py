"""The scheduler part of ``payplan demo``: sweeps driven by the demo's clock.

Two more requests are opened and left undecided, and the clock moves an
hour at a time over three days while every job sweeps, as the scheduler
would. The output shows the nudges, escalations and digests the jobs sent.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from decimal import Decimal

from rich.console import Console
from sqlalchemy import select

from bot.clock import FixedClock
from bot.config import Settings
from bot.errors import InvalidInput
from bot.jobs.scheduler import build_context, run_job
from bot.runtime import Runtime
from bot.workflow import RequestInput
from storage.models import PlanRequest, TermRevision
from storage.repository import PastDueEpisode, past_due_episodes

DEMO_TIMEZONE = "America/New_York"
DEMO_MANAGER = "U0DEMOMGR01"
SWEEP_HOURS = 72
EXTRA_REQUESTS = 2
# The demo replays payments and plan monitoring itself after this sweep, so
# plan monitoring and write-back are left out here.
DEMO_JOBS = ("approval-sla", "missing-authority", "stalled-negotiation", "agreement-activation", "customer-reminders", "digest")


def run_scheduler_demo(
    runtime: Runtime, settings: Settings, clock: FixedClock, used_accounts: set[str], requester: str, console: Console
) -> dict[str, int]:
    """Open undecided requests, sweep every job hourly for three days, print what the jobs did; return counts."""
    job_settings = settings.model_copy(update={
        "timezone": DEMO_TIMEZONE,
        "holiday_country": "US",
        "sla_hours": {"*": (Decimal(4), Decimal(8))},
        "digest_recipients": [DEMO_MANAGER],
    })
    context = build_context(runtime, job_settings)
    with runtime.session_factory() as session:
        episodes = past_due_episodes(session)
    start = _open_undecided_requests(runtime, clock, episodes, used_accounts, requester)
    if start is None:
        console.print("Scheduler demo skipped: no eligible account was left for an undecided request.")
        return {}

    # Counted by the first words of each line a job returns.
    counts = {"nudged": 0, "escalated": 0, "sent the": 0}
    console.print(f"Scheduler sweeps, hourly from {start:%Y-%m-%d %H:%M} UTC for {SWEEP_HOURS} hours (team timezone {DEMO_TIMEZONE}):")
    for hour in range(SWEEP_HOURS + 1):
        moment = start + timedelta(hours=hour)
        clock.set(moment)
        for name in DEMO_JOBS:
            for line in run_job(context, name):
                console.print(f"  {moment.astimezone(context.calendar.zone):%a %Y-%m-%d %H:%M %Z}  {name}: {line}", soft_wrap=True, markup=False, highlight=False)
                for prefix in counts:
                    counts[prefix] += line.startswith(prefix)
    console.print(f"Jobs sent {counts['nudged']} nudges, {counts['escalated']} escalations and {counts['sent the']} digests.")
    return {"nudges": counts["nudged"], "escalations": counts["escalated"], "digests": counts["sent the"]}


def _open_undecided_requests(
    runtime: Runtime, clock: FixedClock, episodes: list[PastDueEpisode], used_accounts: set[str], requester: str
) -> datetime | None:
    """Open requests for unused accounts on one business morning; return when the first was opened."""
    candidates = sorted(
        (e for e in episodes if e.account_id not in used_accounts and Decimal(100) <= e.open_balance <= Decimal(5000) and e.as_of.weekday() < 4),
        key=lambda e: (e.as_of, e.account_id),
    )
    start = None
    opened = 0
    for episode in candidates:
        moment = datetime.combine(episode.as_of, time(15, 0), tzinfo=timezone.utc) if start is None else start
        clock.set(moment)
        first_due = moment.date() + timedelta(days=30)
        data = RequestInput(episode.account_id, "cash_flow", "Customer asks to spread a late balance.", Decimal("0.00"), 3, first_due)
        try:
            request_id = runtime.workflow.open_request(actor=requester, data=data)
        except InvalidInput:
            # An account with nothing past due at the start date is skipped.
            continue
        with runtime.session_factory() as session:
            request = session.get(PlanRequest, request_id)
            if request is None or request.status != "pending_approval":
                continue
        if not _ladder_step_pending(runtime, request_id):
            continue
        start = start or moment
        opened += 1
        if opened == EXTRA_REQUESTS:
            break
    return start



def _ladder_step_pending(runtime: Runtime, request_id: int) -> bool:
    """Return whether the request's pending step is of a tier that can escalate, not a review such as a credit analyst's."""
    ladder = {tier.name for tier in runtime.policy.tiers}
    with runtime.session_factory() as session:
        revision = session.scalars(select(TermRevision).where(TermRevision.request_id == request_id).order_by(TermRevision.number.desc())).first()
        pending = next((step for step in revision.steps if step.status == "pending"), None) if revision else None
        return pending is not None and pending.tier in ladder
