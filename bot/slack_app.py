"""Bolt listeners: parse the payload, call the workflow, acknowledge Slack.

Each listener acknowledges within Slack's three seconds, and slow work (the
summary, posting the thread) runs after ``ack()``. In HTTP mode Bolt sends
the acknowledgement as soon as ``ack()`` is called and finishes the listener
in a worker thread.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient

from bot import blocks
from bot.background import SlowWork
from bot.errors import InvalidInput, PayplanError
from bot.ids import FIELD_BLOCKS, Action, Block, Callback
from bot.jobs.listeners import register_job_listeners
from bot.commands import run_command
from bot.listeners import register_flow_listeners
from bot.messages import UNEXPECTED_ERROR
from bot.negotiation import FREQUENCIES
from bot.workflow import RequestInput, Workflow
from storage.connectors.refresh import BalanceRefresher
from storage.repository import search_accounts

logger = logging.getLogger(__name__)

FIRST_DUE_DEFAULT_DAYS = 30
# ASCII digits only, with optional thousands separators and up to two decimals.
AMOUNT_PATTERN = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,12})(?:\.[0-9]{1,2})?")
INSTALLMENT_COUNT_PATTERN = re.compile(r"[0-9]{1,3}")


_BOLT_LOGGER = logging.getLogger("slack_bolt.App")


def _drop_unused_token_warning(record: logging.LogRecord) -> bool:
    return record.getMessage() != warning_client_prioritized_and_token_skipped()


def build_slack_app(
    *,
    workflow: Workflow,
    client: WebClient,
    signing_secret: str,
    process_before_response: bool = False,
    listener_executor: Executor | None = None,
    slow_work: SlowWork | None = None,
    balance_refresher: BalanceRefresher | None = None,
) -> App:
    """Create the Bolt app with every payplan listener registered.

    Listeners run in ``listener_executor``. Work that may wait on the
    language model goes to ``slow_work`` after the ack, or runs in the
    listener when it is None. ``balance_refresher`` gives the request modal
    the account's live balance; without it the modal shows the stored one.
    """
    # Bolt reads SLACK_BOT_TOKEN from the environment even when given a
    # client, and then warns on every start that the token is unused.
    _BOLT_LOGGER.addFilter(_drop_unused_token_warning)
    app = App(
        client=client,
        signing_secret=signing_secret,
        process_before_response=process_before_response,
        listener_executor=listener_executor,
    )

    def run_after_ack(description: str, work: Callable[[], object]) -> None:
        if slow_work is None:
            work()
        else:
            slow_work.submit(description, work)

    @app.command("/payplan")
    def handle_payplan_command(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        text = (body.get("text") or "").strip()
        if text.lower() not in ("", "new"):
            # Text subcommands read the database and reply within the ack, ephemerally.
            ack(text=run_command(workflow, body["user_id"], text))
            return
        ack()
        first_due = workflow.today() + timedelta(days=FIRST_DUE_DEFAULT_DAYS)
        client.views_open(trigger_id=body["trigger_id"], view=blocks.request_modal(first_due_default=first_due))

    @app.options(Action.ACCOUNT)
    def handle_account_options(ack: Ack, payload: dict[str, Any]) -> None:
        with workflow.session_factory() as session:
            accounts = search_accounts(session, payload.get("value", ""), limit=50)
        ack(options=[{"text": {"type": "plain_text", "text": account.id}, "value": account.id} for account in accounts])

    @app.view(Callback.REQUEST_MODAL)
    def handle_request_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user_id = body["user"]["id"]
        try:
            data = parse_request_view(view)
            workflow.check_request(data)
        except InvalidInput as error:
            ack(response_action="errors", errors=_block_errors(error))
            return
        ack()
        run_after_ack(
            f"opening a request from view {view['id']}",
            lambda: run_reporting_errors(client, user_id, lambda: workflow.open_request(actor=user_id, data=data, idempotency_key=view["id"])),
        )

    @app.action(Action.REJECT)
    def handle_reject_click(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id, step_id = body["user"]["id"], int(body["actions"][0]["value"])
        try:
            request_id = workflow.authorize_decision(actor=user_id, step_id=step_id)
        except PayplanError as error:
            tell_user(client, body, error.user_message)
            return
        client.views_open(trigger_id=body["trigger_id"], view=blocks.reject_modal(step_id=step_id, request_id=request_id))

    @app.view(Callback.REJECT_MODAL)
    def handle_reject_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user_id = body["user"]["id"]
        reason = (view_value(view, Block.REJECT_REASON, Action.REJECT_REASON) or "").strip()
        if not reason:
            ack(response_action="errors", errors={Block.REJECT_REASON: "Enter the reason for the rejection."})
            return
        ack()
        run_reporting_errors(
            client,
            user_id,
            lambda: workflow.decide(actor=user_id, step_id=int(view["private_metadata"]), decision="reject", comment=reason),
        )

    register_flow_listeners(app, workflow, balance_refresher=balance_refresher)
    register_job_listeners(app, workflow)

    @app.error
    def handle_unexpected_error(error: Exception, body: dict[str, Any]) -> None:
        reference = uuid.uuid4().hex[:8]
        logger.exception("unhandled error %s in Slack listener for %s", reference, body.get("type"), exc_info=error)

    return app


def parse_request_view(view: dict[str, Any]) -> RequestInput:
    """Read the request modal's fields; raise InvalidInput naming each unreadable one."""
    errors: dict[str, str] = {}
    account = view_value(view, Block.ACCOUNT, Action.ACCOUNT)
    if not account:
        errors["account"] = "Choose an account."
    category = view_value(view, Block.REASON_CATEGORY, Action.REASON_CATEGORY)
    if not category:
        errors["reason_category"] = "Choose a reason."

    down_text = (view_value(view, Block.DOWN_PAYMENT, Action.DOWN_PAYMENT) or "0").strip()
    down_payment = parse_amount(down_text)
    if down_text.startswith("-"):
        errors["down_payment"] = f"Down payment {down_text} is negative. Enter 0 or more."
    elif down_payment is None:
        errors["down_payment"] = f"{down_text!r} is not an amount. Enter a number such as 1,250.00, without a currency sign."

    count_text = (view_value(view, Block.INSTALLMENTS, Action.INSTALLMENTS) or "").strip()
    count = int(count_text) if INSTALLMENT_COUNT_PATTERN.fullmatch(count_text) else None
    if count is None or count < 1:
        errors["installments"] = f"{count_text!r} is not a valid number of installments. Enter a whole number from 1 to 999."

    frequency = view_value(view, Block.FREQUENCY, Action.FREQUENCY)
    if frequency not in FREQUENCIES:
        errors["frequency"] = f"Choose how often the customer pays: {', '.join(FREQUENCIES)}."

    due_text = view_value(view, Block.FIRST_DUE_DATE, Action.FIRST_DUE_DATE)
    try:
        first_due = date.fromisoformat(due_text or "")
    except ValueError:
        errors["first_due_date"] = "Pick the date the first installment is due."

    if errors:
        raise InvalidInput("The request has invalid fields.", errors)
    return RequestInput(
        account_id=account or "",
        reason_category=category or "",
        reason_text=(view_value(view, Block.REASON_TEXT, Action.REASON_TEXT) or "").strip(),
        down_payment=down_payment or Decimal("0.00"),
        installment_count=count or 0,
        first_due_date=first_due,
        frequency=frequency or "monthly",
        notes=(view_value(view, Block.NOTES, Action.NOTES) or "").strip(),
    )


def parse_amount(text: str) -> Decimal | None:
    """Parse a typed amount such as ``1,250.50``; return None for anything else.

    Commas are accepted only as thousands separators, so a decimal comma
    ("12,5") is rejected instead of being read as 125.
    """
    if AMOUNT_PATTERN.fullmatch(text) is None:
        return None
    return Decimal(text.replace(",", "")).quantize(Decimal("0.01"))


def view_value(view: dict[str, Any], block_id: str, action_id: str) -> str | None:
    element = view.get("state", {}).get("values", {}).get(block_id, {}).get(action_id)
    if not element:
        return None
    if element.get("selected_option"):
        return element["selected_option"]["value"]
    if "selected_date" in element:
        return element["selected_date"]
    return element.get("value")


def _block_errors(error: InvalidInput) -> dict[str, str]:
    return {FIELD_BLOCKS.get(field, Block.ACCOUNT): message for field, message in error.field_errors.items()}


def tell_user(client: WebClient, body: dict[str, Any], text: str) -> None:
    channel = (body.get("channel") or {}).get("id") or body["user"]["id"]
    client.chat_postEphemeral(channel=channel, user=body["user"]["id"], text=text)


def run_reporting_errors(client: WebClient, user_id: str, action: Any) -> None:
    """Run work that follows an ack; tell the user by direct message when it fails."""
    try:
        action()
    except PayplanError as error:
        client.chat_postMessage(channel=user_id, text=error.user_message)
    except Exception:
        reference = uuid.uuid4().hex[:8]
        logger.exception("error %s after acknowledging a submission from %s", reference, user_id)
        client.chat_postMessage(channel=user_id, text=UNEXPECTED_ERROR.format(reference=reference))
