"""Thread messages for plans, posted to the local Slack stand-in over HTTP."""

from __future__ import annotations

from datetime import date, datetime, timezone

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.plan_notices import SlackThreadNotifier
from bot.slack_stub import SlackStub
from storage.models import PlanRequest
from tests.factories import add_past_due_account

TOKEN = "xoxb-test-token"


def add_request(session_factory: sessionmaker[Session], *, thread: bool) -> int:
    now = datetime(2013, 6, 14, 15, 0, tzinfo=timezone.utc)
    with session_factory.begin() as session:
        add_past_due_account(session, "SMALL", date(2013, 6, 14), ["120.00"])
        request = PlanRequest(
            account_id="SMALL", requested_by="UREQUESTER", status="active", as_of=date(2013, 6, 14), reason_category="cash_flow",
            slack_channel="C0CHAN" if thread else None, slack_ts="1700000000.000100" if thread else None, created_at=now, updated_at=now,
        )
        session.add(request)
        session.flush()
        return request.id


def test_post_reaches_thread_and_manager(session_factory: sessionmaker[Session]) -> None:
    request_id = add_request(session_factory, thread=True)
    with SlackStub(expected_token=TOKEN) as stub:
        notifier = SlackThreadNotifier(client=WebClient(token=TOKEN, base_url=stub.base_url), session_factory=session_factory)

        notifier.post(request_id, "Installment 1 is late.", notify_requester=True)

        thread_reply, direct = stub.calls("chat.postMessage")
    assert thread_reply.args["channel"] == "C0CHAN"
    assert thread_reply.args["thread_ts"] == "1700000000.000100"
    assert thread_reply.args["text"] == "Installment 1 is late."
    assert direct.args["channel"] == "UREQUESTER"
    assert "thread_ts" not in direct.args


def test_post_without_thread_still_tells_manager(session_factory: sessionmaker[Session]) -> None:
    request_id = add_request(session_factory, thread=False)
    with SlackStub(expected_token=TOKEN) as stub:
        notifier = SlackThreadNotifier(client=WebClient(token=TOKEN, base_url=stub.base_url), session_factory=session_factory)

        notifier.post(request_id, "Plan completed.", notify_requester=True)

        [direct] = stub.calls("chat.postMessage")
    assert direct.args["channel"] == "UREQUESTER"
