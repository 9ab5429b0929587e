"""POST /webhooks/requests: signed calls open requests that are assessed and posted like Slack ones."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from bot.clock import FixedClock
from bot.config import Settings
from bot.runtime import Runtime, build_runtime
from bot.server import build_asgi_app
from bot.slack_stub import SlackStub
from bot.webhooks import SIGNATURE_HEADER, signed_headers
from bot.workflow import RequestInput
from storage.db import upgrade_database
from storage.models import PlanRequest, WebhookDelivery
from tests.factories import add_past_due_account

SECRET = "requests-webhook-secret"
BOT_TOKEN = "xoxb-test-token"
CHANNEL = "C00FAKECHAN1"
NOW = datetime(2013, 6, 14, 15, 0, tzinfo=timezone.utc)
ACCOUNT = "0379-NEVHP"


class WebhookApp:
    def __init__(self, client: TestClient, runtime: Runtime, stub: SlackStub) -> None:
        self.client = client
        self.runtime = runtime
        self.stub = stub

    def post(self, body: dict | bytes, *, delivery_id: str = "d-1", secret: str = SECRET):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = signed_headers(secret, raw, delivery_id=delivery_id, now=NOW)
        headers["content-type"] = "application/json"
        return self.client.post("/webhooks/requests", content=raw, headers=headers)

    def requests(self) -> list[PlanRequest]:
        with self.runtime.session_factory() as session:
            return list(session.scalars(select(PlanRequest).order_by(PlanRequest.id)))


@pytest.fixture
def webhook_app(database_url: str) -> Iterator[WebhookApp]:
    upgrade_database(database_url)
    with SlackStub(expected_token=BOT_TOKEN) as stub:
        settings = Settings(
            DATABASE_URL=database_url,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET="signing-secret",
            SLACK_API_URL=stub.base_url,
            PAYPLAN_SLACK_CHANNEL=CHANNEL,
            PAYPLAN_APPROVERS={"collections_manager": ["U00MANAGER1"], "finance_controller": ["U00CONTROL1"]},
            PAYPLAN_PORTAL_SECRET="portal-secret",
            PAYPLAN_REQUESTS_WEBHOOK_SECRET=SECRET,
        )
        runtime = build_runtime(settings, clock=FixedClock(NOW))
        with runtime.session_factory.begin() as session:
            add_past_due_account(session, ACCOUNT, date(2013, 6, 14), ["120.00", "310.55"])
        app = build_asgi_app(slack_app=None, workflow=runtime.workflow, requests_webhook_secret=SECRET)
        try:
            with TestClient(app) as client:
                yield WebhookApp(client, runtime, stub)
        finally:
            runtime.close()


def _body(**overrides: object) -> dict:
    body = {
        "account_id": ACCOUNT,
        "reason_category": "cash_flow",
        "reason_text": "Crossed 60 days past due in billing.",
        "down_payment": "43.05",
        "installment_count": 4,
        "first_due_date": "2013-07-15",
        "requested_by": "system:billing",
    }
    body.update(overrides)
    return body


def test_signed_call_opens_and_posts_request(webhook_app: WebhookApp) -> None:
    response = webhook_app.post(_body())

    assert response.status_code == 201, response.text
    [request] = webhook_app.requests()
    assert response.json() == {"request_id": request.id, "source": "webhook"}
    assert request.source == "webhook"
    assert request.requested_by == "system:billing"
    assert request.status == "pending_approval"
    posts = webhook_app.stub.wait_for("chat.postMessage")
    assert posts[0].args["channel"] == CHANNEL
    assert ACCOUNT in json.dumps(posts[0].args)


def test_bad_signature_rejected(webhook_app: WebhookApp) -> None:
    response = webhook_app.post(_body(), secret="another-secret")

    assert response.status_code == 401
    assert "does not match" in response.json()["error"]
    assert webhook_app.requests() == []
    assert webhook_app.stub.calls("chat.postMessage") == []


def test_unsigned_call_rejected(webhook_app: WebhookApp) -> None:
    response = webhook_app.client.post("/webhooks/requests", json=_body())

    assert response.status_code == 401
    assert SIGNATURE_HEADER in response.json()["error"]
    assert webhook_app.requests() == []


def test_replayed_delivery_rejected(webhook_app: WebhookApp) -> None:
    first = webhook_app.post(_body(), delivery_id="d-replay")
    replay = webhook_app.post(_body(), delivery_id="d-replay")

    assert first.status_code == 201
    assert replay.status_code == 409
    assert "already processed" in replay.json()["error"]
    assert len(webhook_app.requests()) == 1


def test_duplicate_open_request_rejected(webhook_app: WebhookApp) -> None:
    first = webhook_app.post(_body(), delivery_id="d-1")
    second = webhook_app.post(_body(installment_count=6), delivery_id="d-2")

    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["request_id"] == first.json()["request_id"]
    assert f"Account {ACCOUNT} already has open request" in second.json()["error"]
    assert len(webhook_app.requests()) == 1
    # The refused call claimed nothing, so the sender may retry it later with the same id.
    with webhook_app.runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


def test_concurrent_calls_open_one_request(webhook_app: WebhookApp) -> None:
    app = build_asgi_app(slack_app=None, workflow=webhook_app.runtime.workflow, requests_webhook_secret=SECRET)

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://payplan.test") as client:
            calls = []
            for index in range(10):
                raw = json.dumps(_body()).encode()
                headers = signed_headers(SECRET, raw, delivery_id=f"d-concurrent-{index}", now=NOW)
                calls.append(client.post("/webhooks/requests", content=raw, headers=headers))
            return await asyncio.gather(*calls)

    responses = asyncio.run(post_all())

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 9, [response.text for response in responses]
    [opened] = [response.json()["request_id"] for response in responses if response.status_code == 201]
    assert {response.json()["request_id"] for response in responses if response.status_code == 409} == {opened}
    assert [request.id for request in webhook_app.requests()] == [opened]


def test_system_requester_shown_as_text(webhook_app: WebhookApp) -> None:
    body = _body()
    del body["requested_by"]
    response = webhook_app.post(body)

    assert response.status_code == 201, response.text
    posted = json.dumps(webhook_app.stub.wait_for("chat.postMessage")[0].args)
    assert "<@system:webhook>" not in posted
    assert "system:webhook" in posted


def test_requested_by_markup_rejected(webhook_app: WebhookApp) -> None:
    response = webhook_app.post(_body(requested_by="U999> <!channel"))

    assert response.status_code == 422
    assert "requested_by" in response.json()["fields"]
    assert webhook_app.requests() == []


def test_slack_down_still_opens_request(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    upgrade_database(database_url)
    # The runtime starts against the stub, which then stops, as in a Slack outage.
    with SlackStub(expected_token=BOT_TOKEN) as stub:
        settings = Settings(
            DATABASE_URL=database_url,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET="signing-secret",
            SLACK_API_URL=stub.base_url,
            PAYPLAN_SLACK_CHANNEL=CHANNEL,
            PAYPLAN_APPROVERS={"collections_manager": ["U00MANAGER1"], "finance_controller": ["U00CONTROL1"]},
            PAYPLAN_PORTAL_SECRET="portal-secret",
            PAYPLAN_REQUESTS_WEBHOOK_SECRET=SECRET,
        )
        runtime = build_runtime(settings, clock=FixedClock(NOW))
    try:
        with runtime.session_factory.begin() as session:
            add_past_due_account(session, ACCOUNT, date(2013, 6, 14), ["120.00", "310.55"])
        app = build_asgi_app(slack_app=None, workflow=runtime.workflow, requests_webhook_secret=SECRET)
        raw = json.dumps(_body()).encode()
        headers = signed_headers(SECRET, raw, delivery_id="d-outage", now=NOW)
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.post("/webhooks/requests", content=raw, headers=headers)

        assert response.status_code == 201, response.text
        request_id = response.json()["request_id"]
        with runtime.session_factory() as session:
            request = session.get(PlanRequest, request_id)
            assert request.slack_ts is None
            assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
        assert f"request {request_id} is stored but posting it to Slack failed" in caplog.text
    finally:
        runtime.engine.dispose()


def test_oversized_body_rejected_unread(webhook_app: WebhookApp) -> None:
    raw = json.dumps(_body(reason_text="x" * 2_000_000)).encode()
    headers = signed_headers(SECRET, raw, delivery_id="d-big", now=NOW)

    declared = webhook_app.client.post("/webhooks/requests", content=raw, headers=headers)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(raw), 65536):
            yield raw[start : start + 65536]

    # A generator body is sent chunked, without Content-Length.
    streamed = webhook_app.client.post("/webhooks/requests", content=chunks(), headers=headers)

    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert "larger than 1048576 bytes" in streamed.json()["error"]
    assert webhook_app.requests() == []


def test_invalid_fields_named(webhook_app: WebhookApp) -> None:
    response = webhook_app.post(
        _body(down_payment=43.05, installment_count=0, reason_category="bored", first_due_date="soon", colour="red")
    )

    assert response.status_code == 422
    fields = response.json()["fields"]
    assert set(fields) == {"down_payment", "installment_count", "reason_category", "first_due_date", "colour"}
    assert "cash_flow" in fields["reason_category"]
    assert fields["reason_category"].startswith("must be one of")
    assert fields["down_payment"] == 'must be a string'
    assert fields["first_due_date"] == 'must be an ISO date such as "2026-12-20"'
    assert fields["colour"].startswith("is not a known field")
    assert webhook_app.requests() == []


def test_amount_pattern_explained(webhook_app: WebhookApp) -> None:
    response = webhook_app.post(_body(down_payment="43.055"))

    assert response.status_code == 422
    assert response.json()["fields"]["down_payment"] == 'must be a decimal string with at most 2 decimal places, such as "43.05"'


def test_numeric_first_due_date_rejected(webhook_app: WebhookApp) -> None:
    response = webhook_app.post(_body(first_due_date=0))

    assert response.status_code == 422
    assert response.json()["fields"]["first_due_date"] == 'must be an ISO date string such as "2026-12-20"'
    assert webhook_app.requests() == []


def test_deeply_nested_json_rejected(webhook_app: WebhookApp) -> None:
    response = webhook_app.post(b"[" * 100_000 + b"]" * 100_000)

    assert response.status_code == 422
    assert "nested too deeply" in response.json()["error"]


def test_missing_fields_named(webhook_app: WebhookApp) -> None:
    response = webhook_app.post({"account_id": ACCOUNT})

    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"reason_category", "installment_count", "first_due_date"}


def test_invalid_json_rejected(webhook_app: WebhookApp) -> None:
    response = webhook_app.post(b"{not json")

    assert response.status_code == 422
    assert "not valid JSON" in response.json()["error"]


def test_unknown_account_named(webhook_app: WebhookApp) -> None:
    response = webhook_app.post(_body(account_id="NO-SUCH"))

    assert response.status_code == 422
    assert "'NO-SUCH' was not found; import it or run payplan sync first" in response.json()["fields"]["account_id"]
    with webhook_app.runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_terms_rejected_by_policy_named(webhook_app: WebhookApp) -> None:
    response = webhook_app.post(_body(down_payment="430.55"))

    assert response.status_code == 422
    assert "down_payment" in response.json()["fields"]


def test_installments_named_as_in_body(webhook_app: WebhookApp) -> None:
    response = webhook_app.post(_body(installment_count=999))

    assert response.status_code == 422
    assert "installment_count" in response.json()["fields"]
    assert "installments" not in response.json()["fields"]


def test_endpoint_absent_without_secret(webhook_app: WebhookApp) -> None:
    app = build_asgi_app(slack_app=None, workflow=webhook_app.runtime.workflow)

    with TestClient(app) as client:
        response = client.post("/webhooks/requests", json=_body())

    assert response.status_code == 404


def test_workflow_default_source_slack(webhook_app: WebhookApp) -> None:
    data = RequestInput(ACCOUNT, "cash_flow", "", Decimal("43.05"), 4, date(2013, 7, 15))

    webhook_app.runtime.workflow.open_request(actor="U00FAKEUSER1", data=data)

    [request] = webhook_app.requests()
    assert request.source == "slack"
