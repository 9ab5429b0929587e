"""``payplan jobs``: list the scheduled sweeps and run one by hand."""

from __future__ import annotations

from datetime import datetime, timezone

import typer
from rich.console import Console

from bot.config import Settings

def scheduler_tier_settings(settings: Settings) -> dict[str, list[str]]:
    """Return the tier names each scheduler setting refers to, keyed by its environment variable."""
    return {
        "PAYPLAN_SLA_HOURS": [tier for tier in settings.sla_hours if tier != "*"],
        "PAYPLAN_BACKUP_APPROVERS": list(settings.backup_approvers),
        "PAYPLAN_DELEGATES": list(settings.delegates),
    }


jobs_app = typer.Typer(help="Scheduled reminders, escalations and digests.", no_args_is_help=True)
console = Console()
error_console = Console(stderr=True)


@jobs_app.command("list")
def list_jobs() -> None:
    """Show each job, its trigger and its next run in the team's timezone."""
    from bot.cli import _load_settings
    from bot.jobs.registry import next_run, registered_jobs
    from bot.jobs.scheduler import build_calendar

    settings = _load_settings()
    calendar = build_calendar(settings)
    now = datetime.now(timezone.utc)
    for name, job in registered_jobs().items():
        trigger = job.trigger_for(settings)
        when = next_run(job, settings, calendar, now).astimezone(calendar.zone)
        console.print(f"{name:<22} {str(trigger):<28} next {when.isoformat(timespec='minutes')}  {job.description}", soft_wrap=True, markup=False, highlight=False)


@jobs_app.command("run")
def run_one(
    name: str = typer.Argument(..., help="Job name, as `payplan jobs list` shows it."),
    at: str | None = typer.Option(None, "--at", help="Run as if at this ISO 8601 time with an offset, such as 2026-03-09T09:00:00-05:00."),
) -> None:
    """Run one sweep now, or as if at --at, and print what it did."""
    from bot.cli import _load_settings, exit_if_missing
    from bot.jobs.registry import registered_jobs
    from bot.jobs.scheduler import build_context, run_job
    from bot.clock import FixedClock
    from bot.runtime import build_runtime
    from storage.db import upgrade_database

    if name not in registered_jobs():
        error_console.print(f"Unknown job {name!r}. Jobs: {', '.join(registered_jobs())}.", soft_wrap=True, markup=False)
        raise typer.Exit(2)
    moment = None
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            error_console.print(f"Invalid --at {at!r}: use ISO 8601 such as 2026-03-09T09:00:00-05:00.", soft_wrap=True, markup=False)
            raise typer.Exit(2) from None
        if moment.tzinfo is None:
            error_console.print(f"Invalid --at {at!r}: add a UTC offset such as +00:00.", soft_wrap=True, markup=False)
            raise typer.Exit(2)
    settings = _load_settings()
    exit_if_missing(settings.missing_for_jobs())
    upgrade_database(settings.database_url)
    # With --at, everything the sweep records (audit times, new steps' start) uses that time too.
    runtime = build_runtime(settings, clock=FixedClock(moment) if moment is not None else None)
    lines = run_job(build_context(runtime, settings), name, moment)
    for line in lines:
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    if not lines:
        console.print(f"{name}: nothing was due.", markup=False)
