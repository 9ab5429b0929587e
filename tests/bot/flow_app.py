"""A payplan HTTP server on loopback with a Slack stub, for the thread workflow tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import select

from bot import slack_payloads
from bot.clock import FixedClock
from bot.config import Settings
from bot.ids import Callback
from bot.runtime import Runtime, build_runtime
from bot.server import build_asgi_app
from bot.slack_stub import RecordedCall, SlackStub
from storage.db import upgrade_database
from storage.models import ApprovalStep, PlanRequest, TermRevision
from tests.factories import add_past_due_account

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
CHANNEL = "C00FAKECHAN1"
REQUESTER = "U00FAKEUSER1"
MANAGER = "U00MANAGER1"
CONTROLLER = "U00CONTROL1"
REVOPS = "U00REVOPS01"
ANALYST = "U00ANALYST1"
OUTSIDER = "U00FAKEUSER2"
AS_OF = date(2013, 6, 14)
APPROVERS = {
    "credit_analyst": [ANALYST],
    "collections_manager": [MANAGER],
    "finance_controller": [CONTROLLER],
    "revenue_operations_lead": [REVOPS],
}


class FlowApp:
    """The running server, its Slack stub, and helpers that act as Slack users would."""

    def __init__(self, base_url: str, runtime: Runtime, stub: SlackStub, clock: FixedClock) -> None:
        self.runtime = runtime
        self.stub = stub
        self.clock = clock
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self._views = 0

    def post(self, body: str, content_type: str = "application/x-www-form-urlencoded") -> httpx.Response:
        headers = {"content-type": content_type, **slack_payloads.sign(body, SIGNING_SECRET)}
        response = self.http.post("/slack/events", content=body, headers=headers)
        assert response.status_code == 200, response.text
        return response

    def command(self, text: str, user: str = REQUESTER) -> str:
        return self.post(slack_payloads.slash_command_body(text=text, user_id=user)).text

    def click(self, action: str, value: int | str, user: str) -> httpx.Response:
        payload = slack_payloads.block_actions_payload(action, str(value), user_id=user, channel_id=CHANNEL)
        return self.post(slack_payloads.interaction_body(payload))

    def submit(self, callback: str, state: dict[str, Any], user: str, metadata: str = "") -> httpx.Response:
        self._views += 1
        payload = slack_payloads.view_submission_payload(callback, state, user_id=user, private_metadata=metadata, view_id=f"VFLOW{self._views:05d}")
        return self.post(slack_payloads.interaction_body(payload))

    def event(self, event: dict[str, Any], event_id: str) -> httpx.Response:
        return self.post(slack_payloads.event_body(event, event_id), content_type="application/json")

    def open_request(self, account: str = "SMALL", reason: str = "Their biggest customer pays late this quarter.", installments: int = 4) -> int:
        state = slack_payloads.request_modal_state(
            account_id=account,
            reason_category="cash_flow",
            reason_text=reason,
            down_payment="0.00",
            installments=installments,
            first_due_date="2013-07-15",
        )
        response = self.submit(Callback.REQUEST_MODAL, state, REQUESTER)
        assert response.text in ("", "null"), response.text
        self.wait_until(lambda: self.latest_request() is not None and self.latest_request().slack_ts is not None)
        request = self.latest_request()
        assert request is not None
        return request.id

    def latest_request(self) -> PlanRequest | None:
        with self.runtime.session_factory() as session:
            return session.scalar(select(PlanRequest).order_by(PlanRequest.id.desc()).limit(1))

    def request(self, request_id: int) -> PlanRequest:
        with self.runtime.session_factory() as session:
            request = session.get(PlanRequest, request_id)
            assert request is not None
            return request

    def steps(self, request_id: int) -> list[ApprovalStep]:
        with self.runtime.session_factory() as session:
            query = (
                select(ApprovalStep)
                .join(TermRevision, ApprovalStep.revision_id == TermRevision.id)
                .where(TermRevision.request_id == request_id)
                .order_by(TermRevision.number, ApprovalStep.sequence)
            )
            return list(session.scalars(query))

    def pending_step(self, request_id: int) -> ApprovalStep:
        [step] = [step for step in self.steps(request_id) if step.status == "pending"]
        return step

    def wait_until(self, condition: Any, timeout: float = 10) -> None:
        """Wait for work that Bolt runs after the acknowledgement, by waiting on the stub's calls."""
        deadline = threading.Event()
        for _ in range(int(timeout / 0.05)):
            if condition():
                return
            deadline.wait(0.05)
        raise AssertionError("condition not met after the listener finished")

    def calls_after(self, method: str, start: int) -> list[RecordedCall]:
        return self.stub.calls(method)[start:]


def write_policy(path: Path) -> Path:
    """Write the default policy with a credit analyst tier first, for small balances.

    The default policy's own credit analyst review step has the same name,
    so it is left out here.
    """
    from importlib import resources

    import yaml

    document = yaml.safe_load(resources.files("policy").joinpath("default_policy.yaml").read_text(encoding="utf-8"))
    document.pop("detailed_assessment", None)
    document["tiers"].insert(0, {"name": "credit_analyst", "label": "Credit analyst", "max_balance": "300.00", "max_installments": 3})
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def serve_flow_app(database_url: str, policy_path: Path | None = None) -> Iterator[FlowApp]:
    upgrade_database(database_url)
    with SlackStub(expected_token=BOT_TOKEN) as stub:
        settings = Settings(
            DATABASE_URL=database_url,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=stub.base_url,
            PAYPLAN_SLACK_CHANNEL=CHANNEL,
            PAYPLAN_APPROVERS=APPROVERS,
            OPENAI_API_KEY=None,
            PAYPLAN_PORTAL_SECRET="portal-secret",
            PAYPLAN_PUBLIC_URL="http://127.0.0.1:9",
            PAYPLAN_POLICY=policy_path,
        )
        clock = FixedClock(datetime(2013, 6, 14, 15, 0, tzinfo=timezone.utc))
        runtime = build_runtime(settings, clock=clock)
        with runtime.session_factory.begin() as session:
            add_past_due_account(session, "SMALL", AS_OF, ["120.00", "310.55"])
            add_past_due_account(session, "TINY", AS_OF, ["40.00"])
            add_past_due_account(session, "MID", AS_OF, ["150.00", "50.00"])

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(build_asgi_app(slack_app=runtime.slack_app, workflow=runtime.workflow), log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            thread.join(0.01)
        try:
            yield FlowApp(f"http://127.0.0.1:{port}", runtime, stub, clock)
        finally:
            server.should_exit = True
            thread.join(10)
            sock.close()
            runtime.close()
