"""The slack-outbox job: queued Slack messages are sent later, by one replica at a time."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, text

from bot.jobs.registry import OUTBOX_LOCK_KEY
from bot.jobs.scheduler import run_job
from bot.slack_stub import SlackStub
from storage.models import PlanRequest, SlackOutboxMessage
from tests.bot.jobs.conftest import START, JobsHarness

# The publisher schedules the first retry a little after the failure.
LATER = START + timedelta(minutes=10)


def _open_while_channel_missing(harness: JobsHarness, stub: SlackStub) -> int:
    stub.fail_next("chat.postMessage", "channel_not_found")
    return harness.open_request()


def test_outbox_job_posts_queued_root(harness: JobsHarness, stub: SlackStub) -> None:
    request_id = _open_while_channel_missing(harness, stub)
    with harness.runtime.session_factory() as session:
        assert session.get(PlanRequest, request_id).slack_ts is None
    posts_before = len(stub.calls("chat.postMessage"))

    lines = run_job(harness.context, "slack-outbox", LATER)

    assert any("root message sent" in line for line in lines)
    assert len(stub.calls("chat.postMessage")) > posts_before
    with harness.runtime.session_factory() as session:
        assert session.get(PlanRequest, request_id).slack_ts is not None
        pending = session.scalars(select(SlackOutboxMessage).where(SlackOutboxMessage.status == "pending")).all()
    assert pending == []


def test_outbox_job_skips_while_other_replica_sends(harness: JobsHarness, stub: SlackStub) -> None:
    engine = harness.runtime.engine
    if engine.dialect.name != "postgresql":
        # SQLite runs one payplan process per database file, so the job takes no lock there.
        return
    _open_while_channel_missing(harness, stub)
    posts_before = len(stub.calls("chat.postMessage"))

    with engine.connect() as other_replica:
        assert other_replica.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": OUTBOX_LOCK_KEY})
        lines = run_job(harness.context, "slack-outbox", LATER)
        other_replica.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": OUTBOX_LOCK_KEY})
        other_replica.commit()

    assert lines == ["another replica is delivering the Slack outbox; skipped"]
    assert len(stub.calls("chat.postMessage")) == posts_before
    assert run_job(harness.context, "slack-outbox", LATER)


