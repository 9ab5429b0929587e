"""Build signed Slack HTTP requests (slash commands and interactions).

The offline demo and the tests use these to drive the Bolt listeners exactly
as Slack would.

The bodies and payloads follow the shape Slack sends, with fake ids: team
T00FAKETEAM, users U00FAKEUSER1 and U00FAKEUSER2, channel C00FAKECHAN1.
Pass a SlackStub's ``response_url`` as ``response_url`` to record what a
listener sends with ``respond()``. The default response URLs use the
reserved ".invalid" domain, which never resolves.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

from bot.slack_stub import STUB_APP_ID, STUB_BOT_ID, STUB_BOT_USER_ID

FAKE_TEAM_ID = "T00FAKETEAM"
FAKE_TEAM_DOMAIN = "fake-team"
FAKE_USER_ID = "U00FAKEUSER1"
FAKE_OTHER_USER_ID = "U00FAKEUSER2"
FAKE_CHANNEL_ID = "C00FAKECHAN1"
FAKE_CHANNEL_NAME = "fake-channel"
# The app and its bot user are the identity that SlackStub's auth.test reports.
FAKE_APP_ID = STUB_APP_ID
# Legacy verification token that Slack still includes in slash command and interaction bodies.
FAKE_VERIFICATION_TOKEN = "fakeverificationtoken"
FAKE_TRIGGER_ID = "1700000000.100000000.0123456789abcdef0123456789abcdef"

FAKE_COMMAND_RESPONSE_URL = f"https://hooks.slack.invalid/commands/{FAKE_TEAM_ID}/1/fake"
FAKE_ACTION_RESPONSE_URL = f"https://hooks.slack.invalid/actions/{FAKE_TEAM_ID}/1/fake"


def sign(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Return the X-Slack-Request-Timestamp and X-Slack-Signature headers for ``body``.

    The signature is "v0=" plus the hex HMAC-SHA256 of "v0:{timestamp}:{body}"
    keyed with the signing secret. ``timestamp`` defaults to now, in Unix
    seconds. slack_sdk's SignatureVerifier rejects timestamps more than
    5 minutes away from its clock.
    """
    if timestamp is None:
        timestamp = int(time.time())
    base_string = f"v0:{timestamp}:{body}".encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), base_string, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
    }


def slash_command_body(
    command: str = "/payplan",
    text: str = "",
    user_id: str = FAKE_USER_ID,
    channel_id: str = FAKE_CHANNEL_ID,
    trigger_id: str = FAKE_TRIGGER_ID,
    team_id: str = FAKE_TEAM_ID,
    response_url: str = FAKE_COMMAND_RESPONSE_URL,
    user_name: str | None = None,
    channel_name: str = FAKE_CHANNEL_NAME,
) -> str:
    """Build the application/x-www-form-urlencoded body of a slash command request.

    ``user_name`` defaults to a name derived from ``user_id``.
    """
    fields = {
        "token": FAKE_VERIFICATION_TOKEN,
        "team_id": team_id,
        "team_domain": FAKE_TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name if user_name is not None else _user_name(user_id),
        "command": command,
        "text": text,
        "api_app_id": FAKE_APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }
    return urlencode(fields)


def interaction_body(payload: dict[str, Any]) -> str:
    """Build the form body Slack posts for an interaction: one ``payload`` field of JSON."""
    return urlencode({"payload": json.dumps(payload)})


def block_actions_payload(
    action_id: str,
    value: str,
    user_id: str = FAKE_USER_ID,
    channel_id: str = FAKE_CHANNEL_ID,
    message_ts: str = "1700000000.000100",
    block_id: str = "actions",
    trigger_id: str = FAKE_TRIGGER_ID,
    response_url: str = FAKE_ACTION_RESPONSE_URL,
    message_blocks: list[dict[str, Any]] | None = None,
    message_text: str = "",
) -> dict[str, Any]:
    """Build the payload of a button click on a message posted by the app.

    ``message_blocks`` and ``message_text`` are the content of the clicked
    message as Slack echoes it back to the app.
    """
    action_ts = f"{message_ts.split('.')[0]}.900000"
    return {
        "type": "block_actions",
        "user": _user(user_id),
        "api_app_id": FAKE_APP_ID,
        "token": FAKE_VERIFICATION_TOKEN,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "team": _team(),
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": FAKE_CHANNEL_NAME},
        "message": {
            "type": "message",
            "user": STUB_BOT_USER_ID,
            "bot_id": STUB_BOT_ID,
            "app_id": FAKE_APP_ID,
            "team": FAKE_TEAM_ID,
            "text": message_text,
            "ts": message_ts,
            "blocks": message_blocks if message_blocks is not None else [],
        },
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "action_ts": action_ts,
            }
        ],
    }


def view_submission_payload(
    callback_id: str,
    state_values: dict[str, Any],
    user_id: str = FAKE_USER_ID,
    private_metadata: str = "",
    view_id: str = "V0000000001",
    trigger_id: str = FAKE_TRIGGER_ID,
) -> dict[str, Any]:
    """Build the payload of a modal submission.

    ``state_values`` has Slack's shape, keyed by block_id and then action_id,
    for example ``{"amount": {"amount_input": {"type": "plain_text_input",
    "value": "120.00"}}}``.
    """
    return {
        "type": "view_submission",
        "team": _team(),
        "user": _user(user_id),
        "api_app_id": FAKE_APP_ID,
        "token": FAKE_VERIFICATION_TOKEN,
        "trigger_id": trigger_id,
        "view": {
            "id": view_id,
            "team_id": FAKE_TEAM_ID,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "title": {"type": "plain_text", "text": "payplan", "emoji": True},
            "submit": {"type": "plain_text", "text": "Submit", "emoji": True},
            "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
            "blocks": [],
            "state": {"values": state_values},
            "hash": "1700000000.abcdef01",
            "clear_on_close": False,
            "notify_on_close": False,
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": FAKE_APP_ID,
            "external_id": "",
            "app_installed_team_id": FAKE_TEAM_ID,
            "bot_id": STUB_BOT_ID,
        },
        "response_urls": [],
        "enterprise": None,
        "is_enterprise_install": False,
    }


def _team() -> dict[str, str]:
    return {"id": FAKE_TEAM_ID, "domain": FAKE_TEAM_DOMAIN}


def _user(user_id: str) -> dict[str, str]:
    name = _user_name(user_id)
    return {"id": user_id, "username": name, "name": name, "team_id": FAKE_TEAM_ID}


def _user_name(user_id: str) -> str:
    return f"user.{user_id.lower()}"


def request_modal_state(
    *,
    account_id: str,
    reason_category: str,
    reason_text: str,
    down_payment: str,
    installments: int | str,
    first_due_date: str,
    frequency: str = "monthly",
    notes: str = "",
) -> dict[str, Any]:
    """Build the ``state.values`` Slack sends when the request modal is submitted."""
    from bot.ids import Action, Block

    return {
        Block.ACCOUNT: {Action.ACCOUNT: {"type": "external_select", "selected_option": {"text": {"type": "plain_text", "text": account_id}, "value": account_id}}},
        Block.REASON_CATEGORY: {
            Action.REASON_CATEGORY: {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": reason_category}, "value": reason_category}}
        },
        Block.REASON_TEXT: {Action.REASON_TEXT: {"type": "plain_text_input", "value": reason_text}},
        Block.DOWN_PAYMENT: {Action.DOWN_PAYMENT: {"type": "plain_text_input", "value": down_payment}},
        Block.INSTALLMENTS: {Action.INSTALLMENTS: {"type": "number_input", "value": str(installments)}},
        Block.FIRST_DUE_DATE: {Action.FIRST_DUE_DATE: {"type": "datepicker", "selected_date": first_due_date}},
        Block.FREQUENCY: {Action.FREQUENCY: {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": frequency}, "value": frequency}}},
        Block.NOTES: {Action.NOTES: {"type": "plain_text_input", "value": notes}},
    }


def reject_modal_state(reason: str) -> dict[str, Any]:
    """Build the ``state.values`` of a submitted rejection modal."""
    from bot.ids import Action, Block

    return {Block.REJECT_REASON: {Action.REJECT_REASON: {"type": "plain_text_input", "value": reason}}}


def comment_modal_state(comment: str) -> dict[str, Any]:
    """Build the ``state.values`` of a modal whose only input is the comment (escalate, withdraw, exception, ask)."""
    from bot.ids import Action, Block

    return {Block.COMMENT: {Action.COMMENT: {"type": "plain_text_input", "value": comment}}}


def terms_modal_state(*, down_payment: str, installments: int | str, frequency: str, first_due_date: str) -> dict[str, Any]:
    """Build the ``state.values`` of the terms inputs of a revision or change-request modal."""
    from bot.ids import Action, Block

    return {
        Block.DOWN_PAYMENT: {Action.DOWN_PAYMENT: {"type": "plain_text_input", "value": down_payment}},
        Block.INSTALLMENTS: {Action.INSTALLMENTS: {"type": "number_input", "value": str(installments)}},
        Block.FREQUENCY: {Action.FREQUENCY: {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": frequency}, "value": frequency}}},
        Block.FIRST_DUE_DATE: {Action.FIRST_DUE_DATE: {"type": "datepicker", "selected_date": first_due_date}},
    }


def changes_modal_state(comment: str, terms: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the ``state.values`` of a change request; ``terms`` (from :func:`terms_modal_state`) ticks the proposal box."""
    from bot.ids import Action, Block

    selected = [{"text": {"type": "plain_text", "text": "propose"}, "value": "propose"}] if terms else []
    return {
        **comment_modal_state(comment),
        Block.PROPOSE: {Action.PROPOSE: {"type": "checkboxes", "selected_options": selected}},
        **(terms or {}),
    }


def acknowledge_state(keys: list[str]) -> dict[str, Any]:
    """Build the ``state.values`` of the approval modal with the acknowledgements ``keys`` ticked."""
    from bot.ids import Action, Block

    options = [{"text": {"type": "plain_text", "text": key}, "value": key} for key in keys]
    return {Block.ACKNOWLEDGE: {Action.ACKNOWLEDGE: {"type": "checkboxes", "selected_options": options}}}


def grade_modal_state(grade: str, reason: str = "") -> dict[str, Any]:
    """Build the ``state.values`` of the credit analyst's grade review."""
    from bot.ids import Action, Block

    return {
        Block.GRADE: {Action.GRADE: {"type": "static_select", "selected_option": {"text": {"type": "plain_text", "text": grade}, "value": grade}}},
        **comment_modal_state(reason),
    }


def event_body(event: dict[str, Any], event_id: str = "Ev00000001") -> str:
    """Build the JSON body of an Events API callback carrying ``event``; send it as application/json."""
    return json.dumps(
        {
            "token": FAKE_VERIFICATION_TOKEN,
            "team_id": FAKE_TEAM_ID,
            "api_app_id": FAKE_APP_ID,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1700000000,
        }
    )
