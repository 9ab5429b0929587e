"""``payplan jobs list`` and ``payplan jobs run``."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app
from bot.jobs.scheduler import run_job
from bot.slack_stub import SlackStub
from storage.models import AuditEvent
from tests.bot.jobs.conftest import APPROVERS, CHANNEL, DIGEST_MANAGERS, JobsHarness

runner = CliRunner()


@pytest.fixture
def cli_environment(harness: JobsHarness, stub: SlackStub, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": "xoxb-jobs-test",
        "SLACK_API_URL": stub.base_url,
        "PAYPLAN_SLACK_CHANNEL": CHANNEL,
        "PAYPLAN_APPROVERS": json.dumps(APPROVERS),
        "PAYPLAN_PORTAL_SECRET": "portal-secret",
        "PAYPLAN_LLM_ENABLED": "false",
        "PAYPLAN_TIMEZONE": "America/New_York",
        "PAYPLAN_HOLIDAY_COUNTRY": "US",
        "PAYPLAN_SLA_HOURS": '{"*": [4, 8]}',
        "PAYPLAN_DIGEST_RECIPIENTS": json.dumps(DIGEST_MANAGERS),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_list_shows_next_runs(cli_environment: None) -> None:
    result = runner.invoke(app, ["jobs", "list"])

    assert result.exit_code == 0, result.output
    digest_line = next(line for line in result.output.splitlines() if line.startswith("digest"))
    assert "business days at 08:30" in digest_line
    assert "next 2026-03-03T08:30-05:00" in digest_line
    for name in ("approval-sla", "missing-authority", "stalled-negotiation", "agreement-activation", "plan-monitoring"):
        assert name in result.output


def test_run_at_given_time(cli_environment: None, harness: JobsHarness, stub: SlackStub) -> None:
    harness.open_request()

    early = runner.invoke(app, ["jobs", "run", "approval-sla", "--at", "2026-03-02T13:00:00-05:00"])
    due = runner.invoke(app, ["jobs", "run", "approval-sla", "--at", "2026-03-02T14:00:00-05:00"])

    assert early.exit_code == 0, early.output
    assert "approval-sla: nothing was due." in early.output
    assert due.exit_code == 0, due.output
    assert "nudged UMANAGER" in due.output


def test_run_at_stamps_events_at_that_time(cli_environment: None, harness: JobsHarness) -> None:
    request_id = harness.open_request()

    result = runner.invoke(app, ["jobs", "run", "approval-sla", "--at", "2026-03-05T10:00:00-05:00"])

    assert result.exit_code == 0, result.output
    assert "escalated" in result.output
    with harness.runtime.session_factory() as session:
        escalation = session.scalars(
            select(AuditEvent).where(AuditEvent.request_id == request_id, AuditEvent.action == "step.escalated")
        ).one()
    assert escalation.occurred_at == datetime(2026, 3, 5, 15, 0, tzinfo=timezone.utc)


def test_run_rejects_naive_time(cli_environment: None) -> None:
    result = runner.invoke(app, ["jobs", "run", "digest", "--at", "2026-03-02T14:00:00"])

    assert result.exit_code == 2
    assert "add a UTC offset" in result.output


def test_run_rejects_unknown_job(cli_environment: None) -> None:
    result = runner.invoke(app, ["jobs", "run", "reminders"])

    assert result.exit_code == 2
    assert "Unknown job 'reminders'" in result.output


@pytest.mark.parametrize(
    "unset",
    [["PAYPLAN_PORTAL_SECRET"], ["SLACK_BOT_TOKEN"], ["PAYPLAN_PORTAL_SECRET", "SLACK_BOT_TOKEN"]],
)
def test_run_names_missing_settings(cli_environment: None, monkeypatch: pytest.MonkeyPatch, unset: list[str]) -> None:
    for name in unset:
        monkeypatch.delenv(name)

    result = runner.invoke(app, ["jobs", "run", "approval-sla", "--at", "2026-03-02T14:00:00-05:00"])

    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for name in unset:
        assert f"Missing setting: {name} is not set" in result.output


def test_scheduler_runs_jobs_at_start(harness: JobsHarness, stub: SlackStub) -> None:
    from bot.jobs.scheduler import start_scheduler

    scheduler = start_scheduler(harness.context)
    try:
        stub.wait_for("chat.postMessage", count=len(DIGEST_MANAGERS), timeout=30, predicate=lambda call: call.args.get("text", "").startswith("payplan digest"))
        jobs = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=True)

    expected = ["approval-sla", "missing-authority", "stalled-negotiation", "agreement-activation", "customer-reminders", "connector-write-back", "plan-monitoring", "slack-outbox", "digest"]
    assert sorted(jobs) == sorted(expected)
    assert str(jobs["digest"].trigger).startswith("cron[day_of_week='mon-fri', hour='8', minute='30'")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PAYPLAN_SLA_HOURS", '{"collection_manager": [4, 8]}'),
        ("PAYPLAN_BACKUP_APPROVERS", '{"collection_manager": ["U2"]}'),
        ("PAYPLAN_DELEGATES", '{"collection_manager": ["U2"]}'),
    ],
)
def test_serve_rejects_unknown_scheduler_tier(tmp_path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    serve_settings = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "secret",
        "PAYPLAN_SLACK_CHANNEL": "C1",
        "PAYPLAN_PORTAL_SECRET": "portal",
        "PAYPLAN_APPROVERS": '{"collections_manager": ["U1"]}',
        variable: value,
    }
    for name, setting in serve_settings.items():
        monkeypatch.setenv(name, setting)

    result = runner.invoke(app, ["serve", "--http"])

    assert result.exit_code == 2
    assert f"{variable} names unknown tiers ['collection_manager']" in result.output


@pytest.mark.parametrize(
    ("variable", "value", "shown"),
    [
        ("PAYPLAN_BUSINESS_HOURS", "17:00-09:00", "must be before the end"),
        ("PAYPLAN_BUSINESS_HOURS", "9 to 5", "must look like 09:00-17:00"),
        ("PAYPLAN_SLA_HOURS", '{"*": [8, 4]}', "must be above 0 and below the escalation"),
        ("PAYPLAN_AWAY_SIGNALS", '["calendar"]', "PAYPLAN_AWAY_SIGNALS"),
    ],
)
def test_invalid_scheduler_setting_exit_2(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, shown: str) -> None:
    monkeypatch.setenv(variable, value)

    result = runner.invoke(app, ["jobs", "list"])

    assert result.exit_code == 2
    assert shown in result.output


def test_write_back_job_passes_connectors(harness: JobsHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage.connectors import writeback

    calls = []

    def record(session_factory, connectors, now):
        calls.append((session_factory, connectors, now))
        return ["sent 1 task"]

    monkeypatch.setattr(writeback, "run_write_back", record)
    harness.context.connectors = {"salesforce": object()}

    lines = run_job(harness.context, "connector-write-back")

    assert lines == ["sent 1 task"]
    assert calls[0][0] is harness.context.session_factory
    assert calls[0][1] == {"salesforce": harness.context.connectors["salesforce"]}


def test_plan_monitoring_job_runs_sweep(harness: JobsHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import monitoring

    calls = []

    def record(session_factory, notifier, policy, now):
        calls.append((session_factory, notifier, policy, now))
        return ["marked 1 installment late"]

    monkeypatch.setattr(monitoring, "run_plan_monitoring", record)

    lines = run_job(harness.context, "plan-monitoring")

    assert lines == ["marked 1 installment late"]
    assert calls[0][0] is harness.context.session_factory
    assert calls[0][1].client is harness.context.slack
    assert calls[0][2] is harness.context.policy
