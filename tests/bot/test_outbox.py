"""Slack failures keep the request and decision, queue the message and tell the user; the sweep sends it later."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot import slack_payloads
from bot.ids import Action, Callback
from bot.outbox import deliver_outbox
from storage.models import ApprovalStep, PlanRequest, SlackOutboxMessage
from tests.bot.live_app import ACCOUNT_ID, CHANNEL, REQUESTER, LiveApp, live_app

MANAGER = "U00MANAGER1"
NOW = datetime(2013, 6, 14, 15, 0, tzinfo=timezone.utc)


@pytest.fixture
def app(database_url: str) -> Iterator[LiveApp]:
    with live_app(database_url, {"collections_manager": [MANAGER]}) as running:
        yield running


def _submit(app: LiveApp) -> None:
    state = slack_payloads.request_modal_state(
        account_id=ACCOUNT_ID, reason_category="cash_flow", reason_text="Late payer.", down_payment="43.05", installments=4, first_due_date="2013-07-15"
    )
    payload = slack_payloads.view_submission_payload(Callback.REQUEST_MODAL, state, user_id=REQUESTER)
    assert app.post_slack(slack_payloads.interaction_body(payload)).status_code == 200
    app.wait_until(lambda: app.count(PlanRequest) == 1)


def _outbox(app: LiveApp) -> list[SlackOutboxMessage]:
    with app.runtime.session_factory() as session:
        return list(session.scalars(select(SlackOutboxMessage).order_by(SlackOutboxMessage.id)))


def _direct_messages(app: LiveApp, user: str) -> list[str]:
    return [call.args["text"] for call in app.stub.calls("chat.postMessage") if call.args["channel"] == user]


def _deliver(app: LiveApp, now: datetime) -> list[str]:
    assert app.runtime.slack_client is not None
    return deliver_outbox(app.runtime.session_factory, app.runtime.slack_client, now)


def test_not_in_channel_keeps_request_and_queues(app: LiveApp) -> None:
    app.stub.fail_next("chat.postMessage", error="not_in_channel")

    _submit(app)

    with app.runtime.session_factory() as session:
        request = session.scalar(select(PlanRequest))
        assert request.status == "pending_approval"
        assert request.slack_ts is None
    assert [message.kind for message in _outbox(app)] == ["root", "reply", "reply", "reply", "step"]
    assert _outbox(app)[0].last_error == "not_in_channel"
    [note] = _direct_messages(app, REQUESTER)
    assert f"/invite @payplan` in <#{CHANNEL}>" in note
    assert "PP-00001 is saved" in note


def test_sweep_delivers_in_order_once(app: LiveApp) -> None:
    app.stub.fail_next("chat.postMessage", error="not_in_channel")
    _submit(app)
    app.stub.clear()

    too_early = _deliver(app, NOW + timedelta(seconds=10))
    lines = _deliver(app, NOW + timedelta(seconds=31))
    again = _deliver(app, NOW + timedelta(minutes=5))

    assert too_early == []
    assert len(lines) == 5
    assert again == []
    posts = app.stub.calls("chat.postMessage")
    with app.runtime.session_factory() as session:
        root_ts = session.scalar(select(PlanRequest)).slack_ts
        assert root_ts is not None
        assert session.scalar(select(ApprovalStep)).slack_ts is not None
    assert "thread_ts" not in posts[0].args
    assert {call.args["thread_ts"] for call in posts[1:]} == {root_ts}
    assert {message.status for message in _outbox(app)} == {"sent"}


def test_ratelimited_update_honours_retry_after(app: LiveApp) -> None:
    _submit(app)
    with app.runtime.session_factory() as session:
        step_id = session.scalar(select(ApprovalStep.id))
    app.stub.fail_next("chat.update", error="ratelimited", retry_after=120)

    payload = slack_payloads.block_actions_payload(Action.APPROVE, str(step_id), user_id=MANAGER, channel_id=CHANNEL)
    app.post_slack(slack_payloads.interaction_body(payload))
    app.wait_until(lambda: len(_outbox(app)) >= 1 and len(_direct_messages(app, MANAGER)) == 1)

    assert app.count(PlanRequest, PlanRequest.status == "sent_to_customer") == 1
    first = _outbox(app)[0]
    assert first.kind == "update_step"
    assert first.next_attempt_at == NOW + timedelta(seconds=120)
    assert "in 120 seconds" in _direct_messages(app, MANAGER)[0]
    # The later updates of the same request wait behind the failed one.
    assert [message.kind for message in _outbox(app)] == ["update_step", "reply", "update_root"]
    assert _deliver(app, NOW + timedelta(seconds=60)) == []
    assert len(_deliver(app, NOW + timedelta(seconds=121))) == 3


def test_network_error_backs_off(app: LiveApp) -> None:
    # slack_sdk retries a failed connection once, so two drops reach the publisher.
    app.stub.drop_next("chat.postMessage", count=2)
    _submit(app)
    assert _outbox(app)[0].last_error == "network_error"
    assert "could not be reached" in _direct_messages(app, REQUESTER)[0]

    app.stub.drop_next("chat.postMessage", count=2)
    [line] = _deliver(app, NOW + timedelta(seconds=30))

    root = _outbox(app)[0]
    assert "not sent (network_error)" in line
    assert root.attempts == 2
    assert root.next_attempt_at == NOW + timedelta(seconds=30 + 60)
    assert len(_deliver(app, NOW + timedelta(seconds=90))) == 5


def test_channel_not_found_names_setting(app: LiveApp) -> None:
    app.stub.fail_next("chat.postMessage", error="channel_not_found")

    _submit(app)

    assert app.count(PlanRequest) == 1
    assert "PAYPLAN_SLACK_CHANNEL" in _direct_messages(app, REQUESTER)[0]
    assert _outbox(app)[0].last_error == "channel_not_found"
