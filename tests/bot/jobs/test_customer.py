"""Customer reminders: contact hours in every plausible time zone and a rolling contact limit."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import time_machine
from sqlalchemy import Engine, update

from bot.jobs.scheduler import run_job
from storage.models import CustomerContactProfile, Installment, PlanRequest
from bot.slack_stub import SlackStub
from tests.bot.jobs.conftest import START, JobsHarness, job_settings

# START is Monday 2 March 2026, 10:00 in New York.


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, *, account_id: str, text: str) -> None:
        self.sent.append((account_id, text))


def active_plan(harness: JobsHarness, due_dates: list[date]) -> int:
    request_id = harness.open_request()
    with harness.runtime.session_factory.begin() as session:
        session.execute(update(PlanRequest).where(PlanRequest.id == request_id).values(status="active"))
        for sequence, due in enumerate(due_dates, start=1):
            session.add(Installment(request_id=request_id, revision_id=1, sequence=sequence, due_date=due, amount=Decimal("107.64"), status="scheduled"))
    return request_id


def with_sender(harness: JobsHarness) -> RecordingSender:
    sender = RecordingSender()
    harness.context.customer_sender = sender
    return sender


def test_no_sender_sends_nothing(harness: JobsHarness) -> None:
    active_plan(harness, [date(2026, 3, 4)])

    assert run_job(harness.context, "customer-reminders") == []


def test_reminder_sent_once(harness: JobsHarness) -> None:
    sender = with_sender(harness)
    active_plan(harness, [date(2026, 3, 4), date(2026, 4, 4)])

    lines = run_job(harness.context, "customer-reminders")
    again = run_job(harness.context, "customer-reminders")

    assert len(lines) == 1
    assert again == []
    assert len(sender.sent) == 1
    assert sender.sent[0][0] == "SMALL"
    assert "installment 1" in sender.sent[0][1]
    assert "due on 2026-03-04" in sender.sent[0][1]


def test_outside_contact_hours_held(harness: JobsHarness, traveller: time_machine.Coordinates) -> None:
    sender = with_sender(harness)
    active_plan(harness, [date(2026, 3, 4)])
    # 21:30 in New York.
    traveller.move_to(datetime(2026, 3, 3, 2, 30, tzinfo=timezone.utc))

    held = run_job(harness.context, "customer-reminders")
    traveller.move_to(datetime(2026, 3, 3, 13, 0, tzinfo=timezone.utc))
    sent = run_job(harness.context, "customer-reminders")

    assert "outside the customer's contact hours" in held[0]
    assert len(sent) == 1
    assert len(sender.sent) == 1


def test_every_time_zone_must_allow(harness: JobsHarness, traveller: time_machine.Coordinates) -> None:
    sender = with_sender(harness)
    active_plan(harness, [date(2026, 3, 4)])
    with harness.runtime.session_factory.begin() as session:
        session.add(CustomerContactProfile(account_id="SMALL", timezones=["America/New_York", "America/Los_Angeles"]))
    # 09:00 in New York is 06:00 in Los Angeles.
    traveller.move_to(datetime(2026, 3, 3, 14, 0, tzinfo=timezone.utc))

    held = run_job(harness.context, "customer-reminders")

    assert "outside the customer's contact hours" in held[0]
    assert sender.sent == []


def test_rolling_limit_holds_extra(engine: Engine, database_url: str, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    harness = JobsHarness(job_settings(database_url, stub, PAYPLAN_CUSTOMER_CONTACT_LIMIT=2, PAYPLAN_CUSTOMER_CONTACT_WINDOW_DAYS=2))
    harness.add_account("SMALL", ["120.00", "310.55"], START.date())
    sender = with_sender(harness)
    active_plan(harness, [date(2026, 3, 3), date(2026, 3, 4), date(2026, 3, 5)])

    lines = run_job(harness.context, "customer-reminders")
    held_count = len(sender.sent)
    # Two days later Monday's contacts have left the window.
    traveller.move_to(START + timedelta(days=2, hours=1))
    later = run_job(harness.context, "customer-reminders")

    assert held_count == 2
    assert "2 contacts in the last 2 days" in lines[2]
    assert len(later) == 1
    assert "installment 3" in later[0]
    assert len(sender.sent) == 3
    harness.close()
