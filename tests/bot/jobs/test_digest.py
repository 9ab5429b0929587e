"""Manager digest: contents, one message per manager per business day, block limit, weekly chart, DST."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import time_machine
from sqlalchemy import select, update

from bot.jobs.digest import MAX_BLOCKS, DigestContents, digest_messages
from bot.jobs.scheduler import run_job
from bot.slack_stub import UPLOAD_METHOD, SlackStub
from storage.models import Installment, JobMark, PlanRequest
from tests.bot.jobs.conftest import DIGEST_MANAGERS, START, JobsHarness
from tests.bot.jobs.test_activation_negotiation import approve_all


def digest_posts(stub: SlackStub) -> list[tuple[str, str]]:
    return [
        (call.args["channel"], call.args.get("text", ""))
        for call in stub.calls("chat.postMessage")
        if call.args.get("text", "").startswith("payplan digest")
    ]


def all_block_text(stub: SlackStub) -> str:
    return "\n".join(
        block["text"]["text"]
        for call in stub.calls("chat.postMessage")
        if call.args.get("text", "").startswith("payplan digest")
        for block in call.args["blocks"]
        if block["type"] == "section"
    )


def test_one_digest_per_manager(harness: JobsHarness, stub: SlackStub) -> None:
    lines = run_job(harness.context, "digest")
    again = run_job(harness.context, "digest")

    assert len(lines) == 2
    assert again == []
    assert sorted(channel for channel, _ in digest_posts(stub)) == ["DDIGEST1", "DDIGEST2"]


def test_digest_contents(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    waiting = harness.open_request("SMALL")
    sent = harness.open_request("MEDIUM", installments=6)
    approve_all(harness, sent)
    with harness.runtime.session_factory.begin() as session:
        # Installments and a missed one stand in for plan monitoring.
        session.add(Installment(request_id=sent, revision_id=1, sequence=1, due_date=date(2026, 3, 2), amount=Decimal("1666.67"), status="missed"))
        session.execute(update(PlanRequest).where(PlanRequest.id == sent).values(status="defaulted", updated_at=START + timedelta(hours=20)))
    traveller.move_to(START + timedelta(days=1))

    run_job(harness.context, "digest")

    text = all_block_text(stub)
    assert f"Collections manager: PP-{waiting:05d} (SMALL)" in text
    assert "8.0 business hours *SLA breached*" in text
    assert "Agreements awaiting the customer* (1)" in text
    assert "installment 1 of" in text
    assert "Defaults since the last digest* (1)" in text


def test_long_digest_split_without_loss() -> None:
    contents = DigestContents(date(2026, 3, 2), awaiting=[f"item {n:03d}" for n in range(200)])

    messages = digest_messages(contents)

    assert all(len(blocks) <= MAX_BLOCKS for _, blocks in messages)
    texts = [block["text"]["text"] for _, blocks in messages for block in blocks if block["type"] == "section"]
    items = [text for text in texts if text.startswith("• item")]
    assert items == [f"• item {n:03d}" for n in range(200)]
    assert messages[0][0].endswith(f"(part 1 of {len(messages)})")
    assert len(messages) == 5


def test_weekly_chart_uploaded_once(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    run_job(harness.context, "digest")
    traveller.move_to(START + timedelta(days=1))
    run_job(harness.context, "digest")

    assert len(stub.calls("files.getUploadURLExternal")) == 2
    completions = stub.calls("files.completeUploadExternal")
    assert sorted(call.args["channel_id"] for call in completions) == ["DDIGEST1", "DDIGEST2"]
    uploads = stub.calls(UPLOAD_METHOD)
    assert all(b"\x89PNG" in call.raw_body for call in uploads)


def test_no_digest_on_holiday(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    # Thanksgiving: the latest due digest is Wednesday's, sent once.
    traveller.move_to(datetime(2026, 11, 25, 14, 0, tzinfo=timezone.utc))
    run_job(harness.context, "digest")
    traveller.move_to(datetime(2026, 11, 26, 18, 0, tzinfo=timezone.utc))

    assert run_job(harness.context, "digest") == []


def sweep_every_half_hour(harness: JobsHarness, traveller: time_machine.Coordinates, start: datetime, end: datetime) -> None:
    moment = start
    while moment <= end:
        traveller.move_to(moment)
        run_job(harness.context, "digest")
        moment += timedelta(minutes=30)


def digest_marks(harness: JobsHarness) -> list[tuple[str, datetime]]:
    with harness.runtime.session_factory() as session:
        rows = session.execute(
            select(JobMark.occurrence, JobMark.done_at).where(JobMark.job == "digest", JobMark.item_key == f"manager:{DIGEST_MANAGERS[0]}").order_by(JobMark.id)
        ).all()
    return [(occurrence, done_at) for occurrence, done_at in rows]


def test_spring_forward_neither_skips_nor_repeats(harness: JobsHarness, traveller: time_machine.Coordinates) -> None:
    # Friday 6 March 06:00 EST to Tuesday 10 March 12:00 EDT, across 8 March 2026.
    sweep_every_half_hour(harness, traveller, datetime(2026, 3, 6, 11, tzinfo=timezone.utc), datetime(2026, 3, 10, 16, tzinfo=timezone.utc))

    # The first sweep, before 08:30 on Friday, catches up Thursday's digest.
    assert digest_marks(harness) == [
        ("2026-03-05", datetime(2026, 3, 5, 13, 30, tzinfo=timezone.utc)),
        ("2026-03-06", datetime(2026, 3, 6, 13, 30, tzinfo=timezone.utc)),
        ("2026-03-09", datetime(2026, 3, 9, 12, 30, tzinfo=timezone.utc)),
        ("2026-03-10", datetime(2026, 3, 10, 12, 30, tzinfo=timezone.utc)),
    ]


def test_fall_back_neither_skips_nor_repeats(harness: JobsHarness, traveller: time_machine.Coordinates) -> None:
    # Friday 30 October 06:00 EDT to Tuesday 3 November 12:00 EST, across 1 November 2026.
    sweep_every_half_hour(harness, traveller, datetime(2026, 10, 30, 10, tzinfo=timezone.utc), datetime(2026, 11, 3, 17, tzinfo=timezone.utc))

    assert digest_marks(harness) == [
        ("2026-10-29", datetime(2026, 10, 29, 12, 30, tzinfo=timezone.utc)),
        ("2026-10-30", datetime(2026, 10, 30, 12, 30, tzinfo=timezone.utc)),
        ("2026-11-02", datetime(2026, 11, 2, 13, 30, tzinfo=timezone.utc)),
        ("2026-11-03", datetime(2026, 11, 3, 13, 30, tzinfo=timezone.utc)),
    ]


def test_awaiting_grouped_by_tier(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    harness.add_account("LARGE", ["30000.00", "5000.00"], START.date())
    controller_request = harness.open_request("LARGE", installments=10)
    traveller.move_to(START + timedelta(hours=1))
    manager_request = harness.open_request("SMALL")
    traveller.move_to(START + timedelta(days=1))

    run_job(harness.context, "digest")

    lines = [line for line in all_block_text(stub).splitlines() if line.startswith("• ")]
    manager_lines = [line for line in lines if line.startswith("• Collections manager")]
    controller_lines = [line for line in lines if line.startswith("• Finance controller")]
    assert manager_lines[0].startswith(f"• Collections manager: PP-{manager_request:05d}")
    assert controller_lines[0].startswith(f"• Finance controller: PP-{controller_request:05d}")
    assert lines.index(manager_lines[0]) < lines.index(controller_lines[0])
