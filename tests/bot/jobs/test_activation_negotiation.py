"""Agreement reminders and expiry, and stalled negotiations."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import time_machine
from sqlalchemy import select, update

from bot.jobs.activation import RESEND_ACTION
from bot.jobs.listeners import resend_agreement
from bot.jobs.scheduler import run_job
from bot.links import LinkClaims
from bot.slack_stub import SlackStub
from storage.models import Agreement, ApprovalStep, PlanRequest, TermRevision
from tests.bot.jobs.conftest import START, JobsHarness, dm_texts, thread_texts
from tests.bot.jobs.test_sla import steps_of


def approve_all(harness: JobsHarness, request_id: int) -> None:
    for step in steps_of(harness, request_id):
        if step.status == "pending":
            harness.runtime.workflow.decide(actor=harness.settings.approvers[step.tier][0], step_id=step.id, decision="approve")


def request_status(harness: JobsHarness, request_id: int) -> str:
    with harness.runtime.session_factory() as session:
        request = session.get(PlanRequest, request_id)
        assert request is not None
        return request.status


def test_agreement_reminder_after_days(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    request_id = harness.open_request()
    approve_all(harness, request_id)
    traveller.move_to(START + timedelta(days=2, hours=23))
    assert run_job(harness.context, "agreement-activation") == []
    traveller.move_to(START + timedelta(days=3))

    lines = run_job(harness.context, "agreement-activation")
    again = run_job(harness.context, "agreement-activation")

    assert len(lines) == 1
    assert "reminded UREQUESTER" in lines[0]
    assert again == []
    assert [channel for channel, _ in dm_texts(stub)] == ["DREQUESTER"]


def test_expired_link_marks_request(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    request_id = harness.open_request()
    approve_all(harness, request_id)
    traveller.move_to(START + timedelta(days=14))

    lines = run_job(harness.context, "agreement-activation")

    assert any("expired the agreement link" in line for line in lines)
    assert request_status(harness, request_id) == "expired"
    buttons = [
        element
        for call in stub.calls("chat.postMessage")
        for block in call.args.get("blocks") or []
        if block.get("type") == "actions"
        for element in block["elements"]
        if element["action_id"] == RESEND_ACTION
    ]
    assert len(buttons) == 1


def test_expired_renegotiation_keeps_plan_active(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    workflow = harness.runtime.workflow
    request_id = harness.open_request()
    approve_all(harness, request_id)
    with harness.runtime.session_factory() as session:
        agreement = session.scalars(select(Agreement).where(Agreement.request_id == request_id)).one()
        token = workflow.link_signer.token(LinkClaims(agreement.id, agreement.revision_id, agreement.expires_at))
    workflow.accept_agreement(token=token, ip="203.0.113.7", user_agent="Browser/1.0", typed_name="Dana Smith", consent=True)
    workflow.reopen_for_changes(
        actor="UREQUESTER", request_id=request_id, down_payment=Decimal("0"), installment_count=5, first_due_date=START.date() + timedelta(days=20)
    )
    approve_all(harness, request_id)
    traveller.move_to(START + timedelta(days=15))

    lines = run_job(harness.context, "agreement-activation")

    assert any("the agreement in force continues" in line for line in lines)
    assert request_status(harness, request_id) == "active"


def test_resend_reopens_agreement(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    request_id = harness.open_request()
    approve_all(harness, request_id)
    traveller.move_to(START + timedelta(days=15))
    run_job(harness.context, "agreement-activation")
    with harness.runtime.session_factory() as session:
        agreement_id = session.scalar(select(Agreement.id).where(Agreement.request_id == request_id))
    assert agreement_id is not None

    url = resend_agreement(harness.runtime.workflow, harness.runtime.slack_client, actor="UREQUESTER", agreement_id=agreement_id)

    assert request_status(harness, request_id) == "sent_to_customer"
    assert any(url in text for text in thread_texts(stub))
    # The new link gets its own reminder three days later.
    traveller.move_to(START + timedelta(days=18))
    assert any("reminded" in line for line in run_job(harness.context, "agreement-activation"))


def test_revision_rounds_escalate(harness: JobsHarness, stub: SlackStub) -> None:
    request_id = harness.open_request()
    with harness.runtime.session_factory.begin() as session:
        # Stands in for three rounds of changes, which the workflow does not offer yet.
        session.execute(update(PlanRequest).where(PlanRequest.id == request_id).values(current_revision=4))
        session.execute(update(TermRevision).where(TermRevision.request_id == request_id).values(number=4))

    lines = run_job(harness.context, "stalled-negotiation")
    again = run_job(harness.context, "stalled-negotiation")

    assert len(lines) == 1
    assert "revision 4, above the limit of 3" in lines[0]
    assert again == []
    assert [(s.tier, s.status) for s in steps_of(harness, request_id)] == [("collections_manager", "escalated"), ("finance_controller", "pending")]


def test_waiting_on_changes_escalates(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    request_id = harness.open_request()
    with harness.runtime.session_factory.begin() as session:
        session.execute(update(ApprovalStep).values(status="superseded"))
        session.execute(update(PlanRequest).where(PlanRequest.id == request_id).values(status="changes_requested", updated_at=START))
    traveller.move_to(START + timedelta(days=4, hours=23))
    assert run_job(harness.context, "stalled-negotiation") == []
    traveller.move_to(START + timedelta(days=5))

    lines = run_job(harness.context, "stalled-negotiation")

    assert len(lines) == 1
    assert "Changes were requested 5 days ago" in lines[0]
    assert any("please step in" in text for text in thread_texts(stub))
