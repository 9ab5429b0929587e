"""End to end over real HTTP: signed Slack requests in, Web API calls out to a local stub."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from bot import slack_payloads
from bot.clock import FixedClock
from bot.config import Settings
from bot.ids import Action, Block, Callback
from bot.runtime import Runtime, build_runtime
from bot.server import build_asgi_app
from bot.slack_stub import SlackStub
from storage.models import Account, Agreement, ApprovalStep, AuditEvent, Installment, PlanRequest
from tests.factories import add_past_due_account

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
CHANNEL = "C00FAKECHAN1"
REQUESTER = "U00FAKEUSER1"
MANAGER = "U00MANAGER1"
OUTSIDER = "U00FAKEUSER2"
AS_OF = date(2013, 6, 14)


class RunningApp:
    def __init__(self, base_url: str, runtime: Runtime, stub: SlackStub) -> None:
        self.base_url = base_url
        self.runtime = runtime
        self.stub = stub
        self.http = httpx.Client(base_url=base_url, timeout=10)

    def post_slack(self, body: str, *, signed: bool = True, secret: str = SIGNING_SECRET) -> httpx.Response:
        headers = {"content-type": "application/x-www-form-urlencoded"}
        if signed:
            headers.update(slack_payloads.sign(body, secret))
        return self.http.post("/slack/events", content=body, headers=headers)

    def count(self, model: type) -> int:
        with self.runtime.session_factory() as session:
            return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def running_app(database_url: str) -> Iterator[RunningApp]:
    from storage.db import upgrade_database

    upgrade_database(database_url)
    with SlackStub(expected_token=BOT_TOKEN) as stub:
        settings = Settings(
            DATABASE_URL=database_url,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=stub.base_url,
            PAYPLAN_SLACK_CHANNEL=CHANNEL,
            PAYPLAN_APPROVERS={"collections_manager": [MANAGER], "finance_controller": ["U00CONTROL1"]},
            OPENAI_API_KEY=None,
            PAYPLAN_PORTAL_SECRET="portal-secret",
            PAYPLAN_PUBLIC_URL="http://127.0.0.1:9",
        )
        clock = FixedClock(datetime(2013, 6, 14, 15, 0, tzinfo=timezone.utc))
        runtime = build_runtime(settings, clock=clock)
        with runtime.session_factory.begin() as session:
            add_past_due_account(session, "0379-NEVHP", AS_OF, ["120.00", "310.55"])

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(build_asgi_app(slack_app=runtime.slack_app, workflow=runtime.workflow, signing_secret=SIGNING_SECRET), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            thread.join(0.01)
        try:
            yield RunningApp(f"http://127.0.0.1:{port}", runtime, stub)
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()
            runtime.close()


def _request_state(down_payment: str = "43.05", installments: int = 4, first_due: str = "2013-07-15") -> dict:
    return slack_payloads.request_modal_state(
        account_id="0379-NEVHP",
        reason_category="cash_flow",
        reason_text="Their biggest customer pays late this quarter.",
        down_payment=down_payment,
        installments=installments,
        first_due_date=first_due,
    )


def _submit(app: RunningApp, state: dict, view_id: str = "V0000000001") -> httpx.Response:
    payload = slack_payloads.view_submission_payload(Callback.REQUEST_MODAL, state, user_id=REQUESTER, view_id=view_id)
    return app.post_slack(slack_payloads.interaction_body(payload))


def _click(app: RunningApp, action: str, step_id: int, user: str) -> httpx.Response:
    payload = slack_payloads.block_actions_payload(action, str(step_id), user_id=user, channel_id=CHANNEL)
    return app.post_slack(slack_payloads.interaction_body(payload))


def _pending_step(app: RunningApp) -> ApprovalStep:
    with app.runtime.session_factory() as session:
        step = session.scalar(select(ApprovalStep).where(ApprovalStep.status == "pending"))
        assert step is not None
        return step


def test_slash_command_opens_modal(running_app: RunningApp) -> None:
    response = running_app.post_slack(slack_payloads.slash_command_body(text="", user_id=REQUESTER))

    assert response.status_code == 200
    [call] = running_app.stub.wait_for("views.open")
    assert call.args["view"]["callback_id"] == Callback.REQUEST_MODAL
    assert call.token == BOT_TOKEN


def test_unknown_subcommand_gets_help(running_app: RunningApp) -> None:
    response = running_app.post_slack(slack_payloads.slash_command_body(text="frobnicate"))

    assert response.status_code == 200
    assert "/payplan" in response.text
    assert running_app.stub.calls("views.open") == []


@pytest.mark.parametrize("signed, secret", [(False, SIGNING_SECRET), (True, "wrong-secret")])
def test_bad_signature_rejected(running_app: RunningApp, signed: bool, secret: str) -> None:
    response = running_app.post_slack(
        slack_payloads.interaction_body(
            slack_payloads.view_submission_payload(Callback.REQUEST_MODAL, _request_state(), user_id=REQUESTER)
        ),
        signed=signed,
        secret=secret,
    )

    assert response.status_code == 401
    assert running_app.count(PlanRequest) == 0
    assert running_app.stub.calls("chat.postMessage") == []


@pytest.mark.parametrize(
    "state, block",
    [
        (_request_state(down_payment="abc"), Block.DOWN_PAYMENT),
        (_request_state(down_payment="-5"), Block.DOWN_PAYMENT),
        (_request_state(down_payment="430.55"), Block.DOWN_PAYMENT),
        (_request_state(installments=0), Block.INSTALLMENTS),
        (_request_state(first_due="2013-06-01"), Block.FIRST_DUE_DATE),
    ],
)
def test_invalid_submission_field_errors(running_app: RunningApp, state: dict, block: str) -> None:
    response = _submit(running_app, state)

    assert response.status_code == 200
    body = response.json()
    assert body["response_action"] == "errors"
    assert block in body["errors"]
    assert running_app.count(PlanRequest) == 0


def test_request_to_active_plan(running_app: RunningApp) -> None:
    app, stub = running_app, running_app.stub

    assert _submit(app, _request_state()).status_code == 200
    stub.wait_for("chat.postMessage", count=5)
    root = stub.calls("chat.postMessage")[0]
    assert root.args["channel"] == CHANNEL
    assert "thread_ts" not in root.args
    thread = stub.calls("chat.postMessage")[1:5]
    assert all(call.args["thread_ts"] for call in thread)
    approval = thread[-1]
    assert f"<@{MANAGER}>" in str(approval.args["blocks"])

    with app.runtime.session_factory() as session:
        request = session.scalar(select(PlanRequest))
        assert request is not None
        assert request.status == "pending_approval"
        assert request.revisions[0].balance == Decimal("430.55")
        assert request.revisions[0].assessment.route == ["collections_manager"]

    # Someone who is not an approver of the tier is refused, and nothing changes.
    step = _pending_step(app)
    assert _click(app, Action.APPROVE, step.id, OUTSIDER).status_code == 200
    [refusal] = stub.wait_for("chat.postEphemeral")
    assert refusal.args["user"] == OUTSIDER
    assert "Collections manager" in refusal.args["text"]
    assert _pending_step(app).id == step.id

    # The approver approves; a second click is refused as already decided.
    assert _click(app, Action.APPROVE, step.id, MANAGER).status_code == 200
    stub.wait_for("chat.postMessage", count=6)
    assert _click(app, Action.APPROVE, step.id, MANAGER).status_code == 200
    stub.wait_for("chat.postEphemeral", count=2)
    assert "already decided" in stub.calls("chat.postEphemeral")[1].args["text"]

    link_message = stub.calls("chat.postMessage")[5]
    match = re.search(r"/agreements/([A-Za-z0-9_.\-]+)", link_message.args["text"])
    assert match, link_message.args["text"]
    token = match.group(1)
    updates = stub.wait_for("chat.update", count=2)
    assert any("Sent to customer" in call.args["text"] for call in updates)

    # The customer reads and accepts the agreement.
    page = app.http.get(f"/agreements/{token}")
    assert page.status_code == 200
    assert "USD 96.88" in page.text  # (430.55 - 43.05) / 4 = 96.875, rounded half up
    tampered = app.http.get(f"/agreements/{token[:-2]}xx")
    assert tampered.status_code == 410
    form_token = re.search(r'name="form_token" value="([0-9a-f]+)"', page.text).group(1)
    forged = app.http.post(f"/agreements/{token}", data={"form_token": "0" * 64})
    assert forged.status_code == 403
    signature = {"form_token": form_token, "action": "accept", "typed_name": "Dana Smith", "consent": "yes"}
    accepted = app.http.post(f"/agreements/{token}", data=signature)
    assert accepted.status_code == 200
    again = app.http.post(f"/agreements/{token}", data=signature)
    assert again.status_code == 200

    stub.wait_for("chat.postMessage", count=7)
    assert "accepted" in stub.calls("chat.postMessage")[6].args["text"]
    # The agreement PDF went to the thread through Slack's two-step upload.
    [upload] = stub.calls("files.completeUploadExternal")
    assert upload.args["thread_ts"] == link_message.args["thread_ts"]
    assert stub.calls("upload")[0].raw_body.startswith(b"%PDF")
    with app.runtime.session_factory() as session:
        request = session.scalar(select(PlanRequest))
        assert request.status == "active"
        installments = session.scalars(select(Installment).order_by(Installment.sequence)).all()
        assert [item.amount for item in installments] == [Decimal(v) for v in ("43.05", "96.88", "96.88", "96.88", "96.86")]
        assert sum(item.amount for item in installments) == Decimal("430.55")
        assert session.get(Account, "0379-NEVHP").status == "scheduled_repayment"
        agreement = session.scalar(select(Agreement))
        assert agreement.status == "accepted"
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        assert actions.count("step.approved") == 1
        assert actions.count("agreement.accepted") == 1
        assert "status.active" in actions
