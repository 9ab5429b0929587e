"""Building the Bolt app logs nothing a user has to act on."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest
from slack_sdk import WebClient

from bot.slack_app import build_slack_app
from bot.slack_stub import SlackStub


def test_no_unused_token_warning_with_token_in_environment(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-environment")
    stub = SlackStub(expected_token="xoxb-from-settings").start()
    client = WebClient(token="xoxb-from-settings", base_url=stub.base_url)

    try:
        with caplog.at_level(logging.WARNING):
            app = build_slack_app(workflow=cast(Any, None), client=client, signing_secret="secret")
    finally:
        stub.stop()

    assert app.client is client
    assert not [record for record in caplog.records if "will be unused" in record.getMessage()]
