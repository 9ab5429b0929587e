"""Approval SLA sweep: nudge at the first threshold, escalate at the second, once each."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import select

from bot.jobs.scheduler import run_job
from bot.slack_stub import SlackStub
from storage.models import ApprovalStep, AuditEvent, StepDelegation, TermRevision
from tests.bot.jobs.conftest import START, JobsHarness, dm_texts, job_settings, thread_texts


def steps_of(harness: JobsHarness, request_id: int) -> list[ApprovalStep]:
    with harness.runtime.session_factory() as session:
        return list(
            session.scalars(
                select(ApprovalStep).join(TermRevision).where(TermRevision.request_id == request_id).order_by(ApprovalStep.sequence)
            ).all()
        )


def test_no_nudge_before_threshold(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    harness.open_request()
    traveller.move_to(START + timedelta(hours=3, minutes=59))

    assert run_job(harness.context, "approval-sla") == []
    assert dm_texts(stub) == []


def test_nudge_at_first_threshold(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    request_id = harness.open_request()
    traveller.move_to(START + timedelta(hours=4))

    lines = run_job(harness.context, "approval-sla")

    assert len(lines) == 1
    assert "nudged UMANAGER" in lines[0]
    dms = dm_texts(stub)
    assert [channel for channel, _ in dms] == ["DMANAGER"]
    assert "4.0 business hours" in dms[0][1]
    assert any("Reminder sent to <@UMANAGER>" in text for text in thread_texts(stub))
    assert steps_of(harness, request_id)[0].status == "pending"


def test_nudge_sent_once(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    harness.open_request()
    traveller.move_to(START + timedelta(hours=4))
    run_job(harness.context, "approval-sla")
    traveller.move_to(START + timedelta(hours=5))

    assert run_job(harness.context, "approval-sla") == []
    assert len(dm_texts(stub)) == 1


def test_business_hours_skip_night(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    harness.open_request()
    # Monday 10:00 to Tuesday 09:59 is 7 business hours and 59 minutes: nudged, not escalated.
    traveller.move_to(START + timedelta(hours=23, minutes=59))

    lines = run_job(harness.context, "approval-sla")

    assert len(lines) == 1
    assert lines[0].startswith("nudged")


def test_escalation_to_next_tier(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    request_id = harness.open_request()
    traveller.move_to(START + timedelta(days=1))

    lines = run_job(harness.context, "approval-sla")

    assert len(lines) == 1
    assert "escalated" in lines[0]
    steps = steps_of(harness, request_id)
    assert [(s.tier, s.status) for s in steps] == [("collections_manager", "escalated"), ("finance_controller", "pending")]
    assert steps[0].decided_by == "system:sla"
    assert any("It now goes to the Finance controller tier: <@UCONTROLLER>" in text for text in thread_texts(stub))
    updates = [call.args.get("text", "") for call in stub.calls("chat.update")]
    assert "Collections manager: escalated" in updates
    assert any(
        "Escalated by system:sla" in block["text"]["text"]
        for call in stub.calls("chat.update")
        for block in call.args.get("blocks") or []
        if block.get("type") == "section"
    )
    with harness.runtime.session_factory() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.request_id == request_id)).all()
    assert "step.escalated" in actions


def test_catch_up_after_downtime_once(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    harness.open_request()
    # The scheduler was down for four days: one escalation, no separate nudge.
    traveller.move_to(START + timedelta(days=4))

    first = run_job(harness.context, "approval-sla")
    second = run_job(harness.context, "approval-sla")

    assert len(first) == 1
    assert "escalated" in first[0]
    assert second == []
    assert dm_texts(stub) == []


def test_escalated_step_nudged_again_later(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    harness.open_request()
    traveller.move_to(START + timedelta(days=1))
    run_job(harness.context, "approval-sla")
    # The new finance controller step has its own SLA from the escalation.
    traveller.move_to(START + timedelta(days=1, hours=4))

    lines = run_job(harness.context, "approval-sla")

    assert len(lines) == 1
    assert "nudged UCONTROLLER" in lines[0]


def test_escalation_to_backup_approvers(engine, database_url: str, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    harness = JobsHarness(job_settings(database_url, stub, PAYPLAN_BACKUP_APPROVERS={"collections_manager": ["UBACKUP"]}))
    harness.add_account("SMALL", ["120.00", "310.55"], START.date())
    request_id = harness.open_request()
    traveller.move_to(START + timedelta(days=1))

    run_job(harness.context, "approval-sla")

    steps = steps_of(harness, request_id)
    assert [(s.tier, s.status) for s in steps] == [("collections_manager", "escalated"), ("collections_manager", "pending")]
    with harness.runtime.session_factory() as session:
        backups = session.scalars(select(StepDelegation).where(StepDelegation.step_id == steps[1].id)).all()
    assert [(b.user_id, b.kind) for b in backups] == [("UBACKUP", "backup")]
    assert any("backup approvers <@UBACKUP>" in text for text in thread_texts(stub))
    outcome = harness.runtime.workflow.decide(actor="UBACKUP", step_id=steps[1].id, decision="approve")
    assert outcome.request_status == "sent_to_customer"
    harness.close()


def test_backup_breach_goes_to_next_tier(engine, database_url: str, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    harness = JobsHarness(job_settings(database_url, stub, PAYPLAN_BACKUP_APPROVERS={"collections_manager": ["UBACKUP"]}))
    harness.add_account("SMALL", ["120.00", "310.55"], START.date())
    request_id = harness.open_request()
    traveller.move_to(START + timedelta(days=1))
    run_job(harness.context, "approval-sla")
    traveller.move_to(START + timedelta(days=2))

    run_job(harness.context, "approval-sla")

    tiers = [(s.tier, s.status) for s in steps_of(harness, request_id)]
    assert tiers == [("collections_manager", "escalated"), ("collections_manager", "escalated"), ("finance_controller", "pending")]
    harness.close()


def test_top_tier_breach_reported(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    harness.add_account("HUGE", ["150000.00", "30000.00"], START.date())
    request_id = harness.open_request("HUGE", installments=12)
    first = steps_of(harness, request_id)[0]
    assert first.tier == "revenue_operations_lead"
    traveller.move_to(START + timedelta(days=1))

    lines = run_job(harness.context, "approval-sla")

    assert any("highest tier" in line for line in lines)
    assert steps_of(harness, request_id)[0].status == "pending"
    assert any("A manager needs to follow up" in text for text in thread_texts(stub))
