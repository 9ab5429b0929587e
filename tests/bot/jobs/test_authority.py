"""Missing approval authority: unavailable approvers hand the step to a delegate at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from slack_bolt import BoltRequest, BoltResponse

from bot import slack_payloads
from bot.errors import PermissionDenied
from bot.jobs.activation import RESEND_ACTION
from bot.jobs.away import handle_away_command
from bot.jobs.scheduler import run_job
from bot.slack_stub import SlackStub
from storage.models import Absence, Agreement, AuditEvent, StepDelegation
from tests.bot.jobs.conftest import CHANNEL, START, JobsHarness, job_settings, thread_texts
from tests.bot.jobs.test_sla import steps_of


def delegation_audit(harness: JobsHarness, request_id: int) -> AuditEvent:
    with harness.runtime.session_factory() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.request_id == request_id, AuditEvent.action == "step.delegated")).one()
    return event


def test_available_approver_keeps_step(harness: JobsHarness, stub: SlackStub) -> None:
    harness.open_request()

    assert run_job(harness.context, "missing-authority") == []


def test_away_command_delegates_step(harness: JobsHarness, stub: SlackStub) -> None:
    reply = handle_away_command(harness.runtime.workflow, user_id="UMANAGER", text="away 2026-03-01 2026-03-06 delegate <@UDANA|dana>")
    assert "Recorded" in reply
    request_id = harness.open_request()

    lines = run_job(harness.context, "missing-authority")

    assert len(lines) == 1
    assert "step 1 to UDANA (<@UMANAGER> is away until 2026-03-06)" in lines[0]
    event = delegation_audit(harness, request_id)
    assert event.before["approvers"] == ["UMANAGER"]
    assert event.after["delegate"] == "UDANA"
    assert any("goes to <@UDANA> on behalf of <@UMANAGER>" in text for text in thread_texts(stub))
    step = steps_of(harness, request_id)[0]
    outcome = harness.runtime.workflow.decide(actor="UDANA", step_id=step.id, decision="approve")
    assert outcome.request_status == "sent_to_customer"


def test_delegation_happens_once(harness: JobsHarness, stub: SlackStub) -> None:
    handle_away_command(harness.runtime.workflow, user_id="UMANAGER", text="away 2026-03-01 2026-03-06 delegate <@UDANA>")
    harness.open_request()
    run_job(harness.context, "missing-authority")

    assert run_job(harness.context, "missing-authority") == []


def test_deactivated_approver_goes_to_tier_delegate(engine, database_url: str, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    harness = JobsHarness(job_settings(database_url, stub, PAYPLAN_DELEGATES={"collections_manager": ["UDEPUTY"]}))
    harness.add_account("SMALL", ["120.00", "310.55"], START.date())
    stub.set_user("UMANAGER", deleted=True)
    request_id = harness.open_request()

    lines = run_job(harness.context, "missing-authority")

    assert "deactivated in Slack" in lines[0]
    assert delegation_audit(harness, request_id).after["delegate"] == "UDEPUTY"
    harness.close()


def test_dnd_counts_when_configured(engine, database_url: str, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    harness = JobsHarness(job_settings(database_url, stub, PAYPLAN_AWAY_SIGNALS=["dnd"], PAYPLAN_FALLBACK_APPROVERS=["UFALLBACK"]))
    harness.add_account("SMALL", ["120.00", "310.55"], START.date())
    stub.set_user("UMANAGER", dnd_snoozed=True)
    request_id = harness.open_request()

    lines = run_job(harness.context, "missing-authority")

    assert "do-not-disturb" in lines[0]
    assert delegation_audit(harness, request_id).after["delegate"] == "UFALLBACK"
    harness.close()


def test_status_ignored_unless_configured(harness: JobsHarness, stub: SlackStub) -> None:
    stub.set_user("UMANAGER", status_text="On vacation", status_emoji=":palm_tree:")
    harness.open_request()

    assert run_job(harness.context, "missing-authority") == []


def test_status_counts_when_configured(engine, database_url: str, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    harness = JobsHarness(job_settings(database_url, stub, PAYPLAN_AWAY_SIGNALS=["status", "presence"], PAYPLAN_FALLBACK_APPROVERS=["UFALLBACK"]))
    harness.add_account("SMALL", ["120.00", "310.55"], START.date())
    stub.set_user("UMANAGER", status_text="Out of office")
    harness.open_request()

    lines = run_job(harness.context, "missing-authority")

    assert "Out of office" in lines[0]
    harness.close()


def test_no_delegate_reported_in_thread(harness: JobsHarness, stub: SlackStub) -> None:
    stub.set_user("UMANAGER", deleted=True)
    request_id = harness.open_request()

    lines = run_job(harness.context, "missing-authority")

    assert "no available approver and no delegate" in lines[0]
    assert any("no delegate or fallback approver is configured" in text for text in thread_texts(stub))
    with harness.runtime.session_factory() as session:
        assert session.scalars(select(StepDelegation)).all() == []
    assert steps_of(harness, request_id)[0].status == "pending"


def test_requester_never_delegate(engine, database_url: str, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    harness = JobsHarness(job_settings(database_url, stub, PAYPLAN_FALLBACK_APPROVERS=["UREQUESTER", "UFALLBACK"]))
    harness.add_account("SMALL", ["120.00", "310.55"], START.date())
    stub.set_user("UMANAGER", deleted=True)
    request_id = harness.open_request()

    run_job(harness.context, "missing-authority")

    assert delegation_audit(harness, request_id).after["delegate"] == "UFALLBACK"
    harness.close()


def test_others_cannot_decide_delegated_step(harness: JobsHarness, stub: SlackStub) -> None:
    handle_away_command(harness.runtime.workflow, user_id="UMANAGER", text="away 2026-03-01 2026-03-06 delegate <@UDANA>")
    request_id = harness.open_request()
    run_job(harness.context, "missing-authority")
    step = steps_of(harness, request_id)[0]

    with pytest.raises(PermissionDenied):
        harness.runtime.workflow.decide(actor="USTRANGER", step_id=step.id, decision="approve")


def test_absence_over_is_available(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    handle_away_command(harness.runtime.workflow, user_id="UMANAGER", text="away 2026-03-02 2026-03-02")
    traveller.move_to(START + timedelta(days=1))
    harness.open_request()

    assert run_job(harness.context, "missing-authority") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("away", "Use `/payplan away"),
        ("away 2026-03-10", "Use `/payplan away"),
        ("away tomorrow 2026-03-10", "is not a date"),
        ("away 2026-03-10 2026-03-09", "before it starts"),
        ("away 2026-02-01 2026-02-09", "before today"),
        ("away 2026-03-10 2026-03-12 delegate dana", "is not `delegate @user`"),
        ("away 2026-03-10 2026-03-12 delegate <@UMANAGER>", "cannot delegate to yourself"),
        ("away 2026-03-10 2026-03-12 delegate <@UNOBODY>", "is not an approver of collections_manager or a higher tier"),
    ],
)
def test_away_command_rejects_bad_input(harness: JobsHarness, text: str, expected: str) -> None:
    reply = handle_away_command(harness.runtime.workflow, user_id="UMANAGER", text=text)

    assert expected in reply
    with harness.runtime.session_factory() as session:
        assert session.scalars(select(Absence)).all() == []


def dispatch(harness: JobsHarness, body: str) -> BoltResponse:
    signed = slack_payloads.sign(body, "jobs-secret")
    headers = {"content-type": ["application/x-www-form-urlencoded"], **{name: [value] for name, value in signed.items()}}
    assert harness.runtime.slack_app is not None
    return harness.runtime.slack_app.dispatch(BoltRequest(body=body, headers=headers))


def test_away_slash_command_records(harness: JobsHarness) -> None:
    body = slack_payloads.slash_command_body(text="away 2026-03-02 2026-03-04 delegate <@UDANA|dana>", user_id="UMANAGER")

    response = dispatch(harness, body)

    assert response.status == 200
    assert "Recorded: you are away from 2026-03-02 to 2026-03-04" in response.body
    with harness.runtime.session_factory() as session:
        absence = session.scalars(select(Absence)).one()
    assert (absence.user_id, absence.delegate) == ("UMANAGER", "UDANA")


def test_resend_button_reopens_agreement(harness: JobsHarness, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    from tests.bot.jobs.test_activation_negotiation import approve_all, request_status

    request_id = harness.open_request()
    approve_all(harness, request_id)
    traveller.move_to(START + timedelta(days=15))
    run_job(harness.context, "agreement-activation")
    with harness.runtime.session_factory() as session:
        agreement_id = session.scalars(select(Agreement.id)).one()
    click = slack_payloads.block_actions_payload(RESEND_ACTION, str(agreement_id), user_id="UREQUESTER", channel_id=CHANNEL, message_ts="1.0")

    response = dispatch(harness, slack_payloads.interaction_body(click))

    assert response.status == 200
    assert request_status(harness, request_id) == "sent_to_customer"
    assert any("resent the agreement" in text for text in thread_texts(stub))


def test_unconfigured_tier_goes_to_fallback(engine, database_url: str, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    approvers = {"finance_controller": ["UCONTROLLER"]}
    harness = JobsHarness(job_settings(database_url, stub, PAYPLAN_APPROVERS=approvers, PAYPLAN_FALLBACK_APPROVERS=["UFALLBACK"]))
    harness.add_account("SMALL", ["120.00", "310.55"], START.date())
    request_id = harness.open_request()

    lines = run_job(harness.context, "missing-authority")

    assert "no approver is configured" in lines[0]
    event = delegation_audit(harness, request_id)
    assert event.before["approvers"] == []
    assert event.after["delegate"] == "UFALLBACK"
    harness.close()


def test_away_command_rejects_non_approver(harness: JobsHarness) -> None:
    reply = handle_away_command(harness.runtime.workflow, user_id="URANDOM", text="away 2026-03-10 2026-03-12")

    assert "not an approver of any tier" in reply
    with harness.runtime.session_factory() as session:
        assert session.scalars(select(Absence)).all() == []


def test_away_delegate_must_not_be_lower_tier(harness: JobsHarness) -> None:
    reply = handle_away_command(harness.runtime.workflow, user_id="UCONTROLLER", text="away 2026-03-10 2026-03-12 delegate <@UMANAGER>")

    assert "is not an approver of finance_controller or a higher tier" in reply
