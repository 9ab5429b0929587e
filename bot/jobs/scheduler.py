"""APScheduler 3 inside ``payplan serve``: one scheduler job per registered sweep.

The scheduler only wakes the sweeps. What to do comes from the database and
the claims in ``job_marks``, so a missed run, a restart or a second replica
changes nothing about what is sent. Every job also runs once at start, which
is the one catch-up after downtime.
"""

from __future__ import annotations

import logging
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.config import Settings
from bot.jobs.calendar import BusinessCalendar
from bot.jobs.registry import DailyAt, Interval, Job, JobContext, registered_jobs
from bot.runtime import Runtime

logger = logging.getLogger(__name__)


def build_calendar(settings: Settings) -> BusinessCalendar:
    start, end = settings.business_hours
    return BusinessCalendar.build(
        settings.timezone, day_start=start, day_end=end, country=settings.holiday_country, subdivision=settings.holiday_subdivision
    )


def build_context(runtime: Runtime, settings: Settings) -> JobContext:
    """Build the context every job receives from a runtime built with Slack."""
    if runtime.slack_client is None:
        raise ValueError("the scheduler needs a runtime built with Slack (with_slack=True)")
    return JobContext(
        session_factory=runtime.session_factory,
        clock=runtime.workflow.clock,
        slack=runtime.slack_client,
        settings=settings,
        policy=runtime.policy,
        calendar=build_calendar(settings),
        workflow=runtime.workflow,
        channel=settings.slack_channel or "",
        connectors=runtime.connectors,
    )


def run_job(context: JobContext, name: str, now: datetime | None = None) -> list[str]:
    """Run one sweep as if at ``now`` (default: the context's clock) and return what it did."""
    jobs = registered_jobs()
    if name not in jobs:
        raise KeyError(f"unknown job {name!r}; jobs are {', '.join(jobs)}")
    moment = now or context.clock.now()
    if moment.tzinfo is None:
        raise ValueError(f"job time {moment.isoformat()} has no time zone; give an offset such as +00:00")
    lines = jobs[name].run(context, moment)
    for line in lines:
        logger.info("job %s: %s", name, line)
    return lines


def _run_logged(context: JobContext, name: str) -> None:
    try:
        run_job(context, name)
    except Exception:
        # The scheduler thread must survive one failed sweep; the next run retries.
        logger.exception("job %s failed; it runs again at its next time", name)


def _scheduler_trigger(job: Job, context: JobContext) -> IntervalTrigger | CronTrigger:
    trigger = job.trigger_for(context.settings)
    if isinstance(trigger, Interval):
        return IntervalTrigger(minutes=trigger.minutes)
    assert isinstance(trigger, DailyAt)
    # Holidays are skipped by the sweep itself, which keys its work by business day.
    return CronTrigger(day_of_week="mon-fri", hour=trigger.at.hour, minute=trigger.at.minute, timezone=context.calendar.zone)


def start_scheduler(context: JobContext) -> BackgroundScheduler:
    """Start a background scheduler running every registered job; each also runs once now."""
    scheduler = BackgroundScheduler(timezone=context.calendar.zone)
    for name, job in registered_jobs().items():
        scheduler.add_job(
            _run_logged,
            _scheduler_trigger(job, context),
            args=(context, name),
            id=name,
            name=job.description,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=None,
            next_run_time=datetime.now(context.calendar.zone),
        )
    scheduler.start()
    logger.info("scheduler started with jobs %s", ", ".join(registered_jobs()))
    return scheduler
