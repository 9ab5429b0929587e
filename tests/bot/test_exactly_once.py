"""Concurrent clicks, Slack retries and signatures at the real HTTP endpoint, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot import slack_payloads
from bot.ids import Action, Callback
from storage.models import ApprovalStep, AuditEvent, PlanRequest
from tests.bot.live_app import ACCOUNT_ID, CHANNEL, REQUESTER, LiveApp, live_app

MANAGER = "U00MANAGER1"
SECOND_MANAGER = "U00MANAGER2"
APPROVERS = {"collections_manager": [MANAGER, SECOND_MANAGER], "finance_controller": ["U00CONTROL1"]}


@pytest.fixture
def app(database_url: str) -> Iterator[LiveApp]:
    with live_app(database_url, APPROVERS) as running:
        yield running


def _submission(view_id: str = "V0000000001") -> str:
    state = slack_payloads.request_modal_state(
        account_id=ACCOUNT_ID,
        reason_category="cash_flow",
        reason_text="Their biggest customer pays late this quarter.",
        down_payment="43.05",
        installments=4,
        first_due_date="2013-07-15",
    )
    payload = slack_payloads.view_submission_payload(Callback.REQUEST_MODAL, state, user_id=REQUESTER, view_id=view_id)
    return slack_payloads.interaction_body(payload)


def _click(step_id: int, user: str) -> str:
    payload = slack_payloads.block_actions_payload(Action.APPROVE, str(step_id), user_id=user, channel_id=CHANNEL)
    return slack_payloads.interaction_body(payload)


def _open_request(app: LiveApp) -> int:
    assert app.post_slack(_submission()).status_code == 200
    app.wait_until(lambda: app.count(ApprovalStep, ApprovalStep.status == "pending") == 1)
    with app.runtime.session_factory() as session:
        return session.scalar(select(ApprovalStep.id).where(ApprovalStep.status == "pending"))


def _decisions(app: LiveApp) -> int:
    return app.count(AuditEvent, AuditEvent.action.in_(["step.approved", "step.rejected"]))


def test_view_submission_retries_open_one_request(app: LiveApp) -> None:
    body = _submission()
    retries = [(body, {}), (body, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}), (body, {"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"})]

    responses = app.post_all(retries)

    assert [response.status_code for response in responses] == [200, 200, 200]
    app.wait_until(lambda: app.count(ApprovalStep) == 1)
    assert app.count(PlanRequest) == 1
    assert app.count(AuditEvent, AuditEvent.action == "request.created") == 1
    roots = [call for call in app.stub.calls("chat.postMessage") if "thread_ts" not in call.args]
    assert len(roots) == 1


def test_double_click_decides_once(app: LiveApp) -> None:
    step_id = _open_request(app)

    responses = app.post_all([(_click(step_id, MANAGER), {}), (_click(step_id, MANAGER), {})])

    assert [response.status_code for response in responses] == [200, 200]
    app.wait_until(lambda: len(app.stub.calls("chat.postEphemeral")) == 1)
    assert _decisions(app) == 1
    [note] = app.stub.calls("chat.postEphemeral")
    assert "already decided" in note.args["text"]


def test_two_approvers_at_once_decide_once(app: LiveApp) -> None:
    step_id = _open_request(app)

    app.post_all([(_click(step_id, MANAGER), {}), (_click(step_id, SECOND_MANAGER), {})])

    app.wait_until(lambda: len(app.stub.calls("chat.postEphemeral")) == 1)
    assert _decisions(app) == 1
    with app.runtime.session_factory() as session:
        step = session.get(ApprovalStep, step_id)
        assert step.status == "approved"
        loser = ({MANAGER, SECOND_MANAGER} - {step.decided_by}).pop()
    [note] = app.stub.calls("chat.postEphemeral")
    assert note.args["user"] == loser


def test_click_retry_decides_once(app: LiveApp) -> None:
    step_id = _open_request(app)
    body = _click(step_id, MANAGER)

    app.post_all([(body, {}), (body, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})])

    app.wait_until(lambda: _decisions(app) == 1 and len(app.stub.calls("chat.postEphemeral")) == 1)
    assert app.count(PlanRequest, PlanRequest.status == "sent_to_customer") == 1
    assert app.count(AuditEvent, AuditEvent.action == "status.sent_to_customer") == 1


def test_many_concurrent_clicks_decide_once(app: LiveApp) -> None:
    step_id = _open_request(app)
    clicks = [(_click(step_id, MANAGER if n % 2 else SECOND_MANAGER), {}) for n in range(8)]

    responses = app.post_all(clicks)

    assert {response.status_code for response in responses} == {200}
    app.wait_until(lambda: len(app.stub.calls("chat.postEphemeral")) == 7)
    assert _decisions(app) == 1


@pytest.mark.parametrize("kind", ["click", "submission"])
def test_stale_timestamp_rejected(app: LiveApp, kind: str) -> None:
    body = _click(1, MANAGER) if kind == "click" else _submission()
    six_minutes_ago = int(time.time()) - 6 * 60

    response = app.post_slack(body, timestamp=six_minutes_ago)

    assert response.status_code == 401
    assert app.count(PlanRequest) == 0
    assert app.stub.calls("chat.postEphemeral") == []


@pytest.mark.parametrize("kind", ["click", "submission", "command"])
def test_forged_signature_rejected(app: LiveApp, kind: str) -> None:
    body = {"click": _click(1, MANAGER), "submission": _submission(), "command": slack_payloads.slash_command_body()}[kind]
    forged = slack_payloads.sign(body, "not-the-secret")

    response = app.post_slack(body, headers=forged)

    assert response.status_code == 401
    assert app.count(PlanRequest) == 0
    assert app.stub.calls("views.open") == []
    assert app.stub.calls("chat.postEphemeral") == []
