"""Messages that jobs send: direct messages and replies in a request's thread."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient

from storage.models import PlanRequest

logger = logging.getLogger(__name__)


def open_dm(client: WebClient, user_id: str) -> str:
    """Return the id of the direct message channel with ``user_id`` (conversations.open)."""
    response = client.conversations_open(users=user_id)
    return response["channel"]["id"]


def send_dm(client: WebClient, user_id: str, text: str, blocks: list[dict[str, Any]] | None = None) -> str:
    """Send a direct message to ``user_id`` and return the DM channel id."""
    channel = open_dm(client, user_id)
    client.chat_postMessage(channel=channel, text=text, blocks=blocks)
    return channel


def post_in_thread(client: WebClient, request: PlanRequest, text: str, blocks: list[dict[str, Any]] | None = None) -> bool:
    """Reply in the request's thread; return False, with a warning, when the request has no Slack message."""
    if not request.slack_channel or not request.slack_ts:
        logger.warning("request %s has no Slack thread; message %r not posted there", request.id, text[:60])
        return False
    client.chat_postMessage(channel=request.slack_channel, thread_ts=request.slack_ts, text=text, blocks=blocks)
    return True


def mentions(user_ids: list[str]) -> str:
    return ", ".join(f"<@{user}>" for user in user_ids) or "nobody"
