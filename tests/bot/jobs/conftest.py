"""Fixtures for the scheduler jobs: a Slack stub, a runtime on the test database, and time-machine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from sqlalchemy import Engine

from bot.config import Settings
from bot.jobs.registry import JobContext
from bot.jobs.scheduler import build_context
from bot.runtime import Runtime, build_runtime
from bot.slack_stub import SlackStub
from bot.workflow import RequestInput
from tests.factories import add_past_due_account

TEAM_TIMEZONE = "America/New_York"
CHANNEL = "C0JOBS0001"
REQUESTER = "UREQUESTER"
APPROVERS = {
    "collections_manager": ["UMANAGER"],
    "finance_controller": ["UCONTROLLER"],
    "revenue_operations_lead": ["UREVOPS", "UDANA"],
    "legal_compliance": ["ULEGAL"],
}
DIGEST_MANAGERS = ["UDIGEST1", "UDIGEST2"]
# Monday 2 March 2026, 10:00 in New York (EST, UTC-5).
START = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def stub() -> Iterator[SlackStub]:
    with SlackStub() as running:
        yield running


@pytest.fixture
def traveller() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(START, tick=False) as coordinates:
        yield coordinates


def job_settings(database_url: str, stub: SlackStub, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": "xoxb-jobs-test",
        "SLACK_SIGNING_SECRET": "jobs-secret",
        "SLACK_API_URL": stub.base_url,
        "PAYPLAN_SLACK_CHANNEL": CHANNEL,
        "PAYPLAN_APPROVERS": APPROVERS,
        "PAYPLAN_PORTAL_SECRET": "portal-secret",
        "PAYPLAN_LLM_ENABLED": False,
        "PAYPLAN_TIMEZONE": TEAM_TIMEZONE,
        "PAYPLAN_HOLIDAY_COUNTRY": "US",
        "PAYPLAN_BUSINESS_HOURS": "09:00-17:00",
        "PAYPLAN_SLA_HOURS": {"*": ["4", "8"]},
        "PAYPLAN_DIGEST_RECIPIENTS": DIGEST_MANAGERS,
        "PAYPLAN_DIGEST_TIME": "08:30",
    }
    values.update(overrides)
    return Settings(**values)


class JobsHarness:
    """A runtime with Slack pointed at the stub, its job context and helpers to make requests."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runtime: Runtime = build_runtime(settings, process_before_response=True)
        self.context: JobContext = build_context(self.runtime, settings)

    def add_account(self, account_id: str, amounts: list[str], as_of: date) -> None:
        with self.runtime.session_factory.begin() as session:
            add_past_due_account(session, account_id, as_of, amounts)

    def open_request(self, account_id: str = "SMALL", installments: int = 4) -> int:
        today = self.runtime.workflow.today()
        data = RequestInput(account_id, "cash_flow", "A late receivable of their own.", Decimal("0.00"), installments, today + timedelta(days=30))
        return self.runtime.workflow.open_request(actor=REQUESTER, data=data)

    def close(self) -> None:
        self.runtime.engine.dispose()


@pytest.fixture
def harness(engine: Engine, database_url: str, stub: SlackStub, traveller: time_machine.Coordinates) -> Iterator[JobsHarness]:
    built = JobsHarness(job_settings(database_url, stub))
    built.add_account("SMALL", ["120.00", "310.55"], START.date())
    built.add_account("MEDIUM", ["9000.00", "1000.00"], START.date())
    yield built
    built.close()


def thread_texts(stub: SlackStub) -> list[str]:
    return [call.args.get("text", "") for call in stub.calls("chat.postMessage") if call.args.get("thread_ts")]


def dm_texts(stub: SlackStub) -> list[tuple[str, str]]:
    return [(call.args["channel"], call.args.get("text", "")) for call in stub.calls("chat.postMessage") if str(call.args.get("channel", "")).startswith("D")]
