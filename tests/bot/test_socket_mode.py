"""Socket Mode wiring: the handler `payplan serve` builds talks to SLACK_API_URL and reaches the same listeners."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.clock import FixedClock
from bot.config import Settings
from bot.ids import Callback
from bot.runtime import Runtime, build_runtime
from bot.slack_stub import SlackStub
from storage.db import upgrade_database

APP_TOKEN = "xapp-test-token"
BOT_TOKEN = "xoxb-test-token"


@pytest.fixture
def socket_runtime(tmp_path) -> Iterator[tuple[Runtime, SlackStub]]:  # noqa: ANN001
    url = f"sqlite:///{tmp_path / 'socket.db'}"
    upgrade_database(url)
    with SlackStub() as stub:
        settings = Settings(
            DATABASE_URL=url,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_APP_TOKEN=APP_TOKEN,
            SLACK_API_URL=stub.base_url,
            PAYPLAN_SLACK_CHANNEL="C0SOCKET",
            PAYPLAN_APPROVERS={"collections_manager": ["U0MANAGER"]},
            PAYPLAN_PORTAL_SECRET="portal-secret",
        )
        runtime = build_runtime(settings, clock=FixedClock(datetime(2013, 6, 14, 15, 0, tzinfo=timezone.utc)))
        yield runtime, stub
        runtime.close()


def test_handler_asks_stub_for_websocket_url(socket_runtime: tuple[Runtime, SlackStub]) -> None:
    runtime, stub = socket_runtime
    stub.set_response("apps.connections.open", {"ok": True, "url": "ws://127.0.0.1:9/link"})
    handler = SocketModeHandler(runtime.slack_app, APP_TOKEN)

    url = handler.client.issue_new_wss_url()

    assert url == "ws://127.0.0.1:9/link"
    [call] = stub.calls("apps.connections.open")
    assert call.token == APP_TOKEN


def test_slash_command_over_socket_mode(socket_runtime: tuple[Runtime, SlackStub]) -> None:
    runtime, stub = socket_runtime
    handler = SocketModeHandler(runtime.slack_app, APP_TOKEN)
    sent: list[SocketModeResponse] = []
    handler.client.send_socket_mode_response = sent.append  # type: ignore[method-assign]
    payload = {"command": "/payplan", "text": "", "user_id": "U0REQUESTER", "trigger_id": "trigger-1", "team_id": "T0STUB", "channel_id": "C0SOCKET"}

    handler.handle(handler.client, SocketModeRequest(type="slash_commands", envelope_id="envelope-1", payload=payload))

    [response] = sent
    assert response.envelope_id == "envelope-1"
    [call] = stub.wait_for("views.open")
    assert call.args["view"]["callback_id"] == Callback.REQUEST_MODAL
    assert call.token == BOT_TOKEN
