"""The registry of named jobs and the context every job receives.

Adding a job is one entry in ``_build_jobs()``: a name, a trigger and a function
``run(context, now) -> list[str]`` that sweeps the database for what is due at
``now`` (aware UTC) and returns one line per thing it did.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from datetime import datetime, time, timedelta

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.config import Settings
from bot.jobs.calendar import BusinessCalendar
from bot.workflow import Workflow
from policy.config import Policy
from storage.connectors.base import Connector


@dataclass
class JobContext:
    session_factory: sessionmaker[Session]
    clock: Clock
    slack: WebClient
    settings: Settings
    policy: Policy
    calendar: BusinessCalendar
    workflow: Workflow
    channel: str
    # Delivers customer reminders; None turns customer reminders off.
    customer_sender: CustomerSender | None = None
    # Account data sources by name, for the write-back job.
    connectors: Mapping[str, Connector] = field(default_factory=dict)


class CustomerSender(Protocol):
    """A channel that reaches customers, such as email or SMS."""

    def send(self, *, account_id: str, text: str) -> None: ...


@dataclass(frozen=True)
class Interval:
    """Run every ``minutes`` minutes."""

    minutes: int

    def __str__(self) -> str:
        return f"every {self.minutes} min"


@dataclass(frozen=True)
class DailyAt:
    """Run once a day at a local time of the team's timezone, on business days only."""

    at: time

    def __str__(self) -> str:
        return f"business days at {self.at.strftime('%H:%M')}"


Trigger = Interval | DailyAt
JobFunction = Callable[[JobContext, datetime], list[str]]


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    # A fixed trigger, or a function that reads it from the settings.
    trigger: Trigger | Callable[[Settings], Trigger]
    run: JobFunction

    def trigger_for(self, settings: Settings) -> Trigger:
        return self.trigger(settings) if callable(self.trigger) else self.trigger


def next_run(job: Job, settings: Settings, calendar: BusinessCalendar, now: datetime) -> datetime:
    """Return when ``job`` runs next after ``now``; an interval job counts from ``now``."""
    trigger = job.trigger_for(settings)
    if isinstance(trigger, Interval):
        return now + timedelta(minutes=trigger.minutes)
    return calendar.next_occurrence(now, trigger.at)


def _build_jobs() -> dict[str, Job]:
    from bot.jobs import activation, authority, customer, digest, negotiation, sla

    jobs = [
        Job("approval-sla", "Nudge approvers, then escalate steps past their SLA in business hours", Interval(5), sla.run_approval_sla),
        Job("missing-authority", "Send steps whose approvers are all unavailable to a delegate", Interval(5), authority.run_missing_authority),
        Job("stalled-negotiation", "Escalate requests with too many revision rounds or a long wait for changes", Interval(60), negotiation.run_stalled_negotiation),
        Job("agreement-activation", "Remind account managers of unaccepted agreements; expire old links", Interval(30), activation.run_agreement_activation),
        Job("customer-reminders", "Remind customers of installments due soon, in their contact hours and limit", Interval(30), customer.run_customer_reminders),
        Job("connector-write-back", "Write plan states back to the account's source system, with retries", Interval(5), _run_write_back),
        Job("plan-monitoring", "Mark late installments, send notices, default and complete plans", Interval(60), _run_plan_monitoring),
        Job("slack-outbox", "Send Slack messages that failed when they were due, in order per request", Interval(1), _run_slack_outbox),
        Job("digest", "Send each manager the daily digest, with a chart once a week", lambda settings: DailyAt(settings.digest_time), digest.run_digest),
    ]
    return {job.name: job for job in jobs}


def _run_write_back(context: JobContext, now: datetime) -> list[str]:
    from storage.connectors.writeback import run_write_back

    return run_write_back(context.session_factory, context.connectors, now)


def _run_plan_monitoring(context: JobContext, now: datetime) -> list[str]:
    from bot.monitoring import run_plan_monitoring
    from bot.plan_notices import SlackThreadNotifier

    notifier = SlackThreadNotifier(client=context.slack, session_factory=context.session_factory)
    return run_plan_monitoring(context.session_factory, notifier, context.policy, now)


# Any fixed number works, as long as no other payplan lock uses it.
OUTBOX_LOCK_KEY = 0x7061_7970_6C61_6E01


def _run_slack_outbox(context: JobContext, now: datetime) -> list[str]:
    """Deliver the Slack outbox, in one replica at a time.

    The outbox keeps each request's messages in order, which per-row claims
    cannot promise across replicas, so on PostgreSQL the whole sweep takes a
    session advisory lock and a replica that does not get it skips the run.
    """
    from sqlalchemy import text

    from bot.outbox import deliver_outbox

    engine = context.session_factory.kw["bind"]
    if engine.dialect.name != "postgresql":
        return deliver_outbox(context.session_factory, context.slack, now)
    with engine.connect() as connection:
        if not connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": OUTBOX_LOCK_KEY}):
            return ["another replica is delivering the Slack outbox; skipped"]
        try:
            return deliver_outbox(context.session_factory, context.slack, now)
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": OUTBOX_LOCK_KEY})
            connection.commit()


JOBS: dict[str, Job] = {}


def registered_jobs() -> dict[str, Job]:
    """Return the jobs by name; the modules load on first use because they import the registry."""
    if not JOBS:
        JOBS.update(_build_jobs())
    return JOBS
