"""Approver user groups, per-approver limits and the audit of refused decisions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from bot import slack_payloads
from bot.clock import FixedClock
from bot.ids import Action, Callback
from bot.permissions import ApproverDirectory
from bot.slack_stub import SlackStub
from storage.models import ApprovalStep, AuditEvent, PlanRequest
from tests.bot.live_app import ACCOUNT_ID, CHANNEL, REQUESTER, LiveApp, live_app

GROUP = "S0MANAGERS"
GROUP_MEMBER = "U00GROUPMEMBER"
CAPPED = "U00CAPPED"
NOW = datetime(2013, 6, 14, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def stub() -> Iterator[SlackStub]:
    with SlackStub() as running:
        yield running


def test_group_members_cached_for_ttl(stub: SlackStub) -> None:
    stub.set_usergroup(GROUP, [GROUP_MEMBER])
    clock = FixedClock(NOW)
    directory = ApproverDirectory({"collections_manager": [GROUP]}, client=WebClient(base_url=stub.base_url), clock=clock, ttl=timedelta(minutes=5))

    assert directory.is_approver("collections_manager", GROUP_MEMBER)
    stub.set_usergroup(GROUP, ["U00NEWMEMBER"])
    assert directory.is_approver("collections_manager", GROUP_MEMBER)
    assert len(stub.calls("usergroups.users.list")) == 1

    clock.set(NOW + timedelta(minutes=6))
    assert directory.is_approver("collections_manager", "U00NEWMEMBER")
    assert not directory.is_approver("collections_manager", GROUP_MEMBER)
    assert len(stub.calls("usergroups.users.list")) == 2


def test_group_lookup_failure_keeps_cache(stub: SlackStub) -> None:
    stub.set_usergroup(GROUP, [GROUP_MEMBER])
    clock = FixedClock(NOW)
    directory = ApproverDirectory({"collections_manager": [GROUP]}, client=WebClient(base_url=stub.base_url), clock=clock, ttl=timedelta(seconds=1))
    assert directory.is_approver("collections_manager", GROUP_MEMBER)

    clock.set(NOW + timedelta(minutes=1))
    stub.fail_next("usergroups.users.list", error="ratelimited")

    assert directory.is_approver("collections_manager", GROUP_MEMBER)


def test_unknown_group_matches_nobody(stub: SlackStub) -> None:
    directory = ApproverDirectory({"collections_manager": ["S0UNKNOWN"]}, client=WebClient(base_url=stub.base_url), clock=FixedClock(NOW), ttl=timedelta(minutes=5))

    assert not directory.is_approver("collections_manager", GROUP_MEMBER)


@pytest.fixture
def app(database_url: str) -> Iterator[LiveApp]:
    approvers = {"collections_manager": [GROUP, CAPPED, REQUESTER]}
    with live_app(database_url, approvers, PAYPLAN_APPROVER_LIMITS={CAPPED: "100.00"}) as running:
        running.stub.set_usergroup(GROUP, [GROUP_MEMBER])
        yield running


def _open(app: LiveApp) -> int:
    state = slack_payloads.request_modal_state(
        account_id=ACCOUNT_ID, reason_category="cash_flow", reason_text="Late payer.", down_payment="43.05", installments=4, first_due_date="2013-07-15"
    )
    payload = slack_payloads.view_submission_payload(Callback.REQUEST_MODAL, state, user_id=REQUESTER)
    assert app.post_slack(slack_payloads.interaction_body(payload)).status_code == 200
    app.wait_until(lambda: app.count(ApprovalStep) == 1)
    with app.runtime.session_factory() as session:
        return session.scalar(select(ApprovalStep.id))


def _click(app: LiveApp, step_id: int, user: str) -> None:
    payload = slack_payloads.block_actions_payload(Action.APPROVE, str(step_id), user_id=user, channel_id=CHANNEL)
    assert app.post_slack(slack_payloads.interaction_body(payload)).status_code == 200


def _denials(app: LiveApp) -> list[AuditEvent]:
    with app.runtime.session_factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "decision.denied")))


def test_limit_caps_approval(app: LiveApp) -> None:
    step_id = _open(app)

    _click(app, step_id, CAPPED)

    app.wait_until(lambda: len(app.stub.calls("chat.postEphemeral")) == 1)
    [note] = app.stub.calls("chat.postEphemeral")
    assert note.args["user"] == CAPPED
    assert "approval limit is USD 100.00" in note.args["text"]
    assert "USD 430.55" in note.args["text"]
    [denial] = _denials(app)
    assert denial.actor == CAPPED
    assert denial.after["attempted"] == "approve"
    assert "approval limit" in denial.after["reason"]
    assert app.count(ApprovalStep, ApprovalStep.status == "pending") == 1


def test_group_member_approves(app: LiveApp) -> None:
    step_id = _open(app)

    _click(app, step_id, GROUP_MEMBER)

    app.wait_until(lambda: app.count(PlanRequest, PlanRequest.status == "sent_to_customer") == 1)
    with app.runtime.session_factory() as session:
        assert session.get(ApprovalStep, step_id).decided_by == GROUP_MEMBER
    assert _denials(app) == []
    approval_post = [call for call in app.stub.calls("chat.postMessage") if "Approval needed" in call.args.get("text", "")]
    assert f"<!subteam^{GROUP}>" in str(approval_post[0].args["blocks"])


def test_outsider_denied_and_audited(app: LiveApp) -> None:
    step_id = _open(app)

    _click(app, step_id, "U00OUTSIDER")

    app.wait_until(lambda: len(app.stub.calls("chat.postEphemeral")) == 1)
    [denial] = _denials(app)
    assert denial.actor == "U00OUTSIDER"
    assert "Collections manager" in denial.after["reason"]
    assert app.count(AuditEvent, AuditEvent.action.like("step.approved")) == 0


def test_requester_in_tier_cannot_approve(app: LiveApp) -> None:
    step_id = _open(app)

    _click(app, step_id, REQUESTER)

    app.wait_until(lambda: len(app.stub.calls("chat.postEphemeral")) == 1)
    assert "You opened" in app.stub.calls("chat.postEphemeral")[0].args["text"]
    [denial] = _denials(app)
    assert denial.actor == REQUESTER
    assert app.count(ApprovalStep, ApprovalStep.status == "pending") == 1


def test_limit_does_not_stop_rejection(app: LiveApp) -> None:
    step_id = _open(app)
    outcome = app.runtime.workflow.decide(actor=CAPPED, step_id=step_id, decision="reject", comment="Customer already defaulted twice.")

    assert outcome.request_status == "rejected"
    assert _denials(app) == []
    assert app.runtime.workflow.approver_limits == {CAPPED: Decimal("100.00")}
