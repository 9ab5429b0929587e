"""User-facing text and number formatting for Slack and the customer page."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from policy.schedule import minor_unit

HELP = (
    "*payplan* opens and approves payment plan requests.\n"
    "• `/payplan` opens a new request\n"
    "• `/payplan status PP-00012` shows a request's status, terms and approval steps\n"
    "• `/payplan list [mine|pending|stalled]` lists your open requests (the default), all requests pending approval, "
    "or those with no change for more than 2 days\n"
    "• `/payplan history PP-00012` lists every recorded event of a request, oldest first\n"
    "• `/payplan help` shows this message\n"
    "Request ids may also be given as plain numbers, such as `12`."
)

STATUS_LABELS = {
    "requested": "Requested",
    "assessed": "Assessed",
    "ineligible": "Ineligible",
    "pending_approval": "Pending approval",
    "waiting_on_requester": "Waiting on requester",
    "changes_requested": "Changes requested",
    "approved": "Approved",
    "rejected": "Rejected",
    "sent_to_customer": "Sent to customer",
    "declined": "Declined by customer",
    "expired": "Agreement expired",
    "active": "Active",
    "completed": "Completed",
    "defaulted": "Defaulted",
    "withdrawn": "Withdrawn",
}

STATUS_EMOJI = {
    "ineligible": ":no_entry:",
    "pending_approval": ":hourglass_flowing_sand:",
    "waiting_on_requester": ":hourglass:",
    "changes_requested": ":leftwards_arrow_with_hook:",
    "withdrawn": ":wastebasket:",
    "rejected": ":x:",
    "sent_to_customer": ":email:",
    "active": ":white_check_mark:",
}


def money(amount: Decimal | str, currency: str) -> str:
    """Format an amount with thousands separators and the currency's decimal places (JPY 0, USD 2, KWD 3)."""
    value = Decimal(amount)
    places = -minor_unit(currency).as_tuple().exponent  # type: ignore[operator]
    return f"{currency} {value:,.{places}f}"


def day(value: date | str) -> str:
    """Format a date unambiguously for an international team, e.g. 5 Mar 2013."""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return f"{value.day} {value:%b %Y}"


def escape_mrkdwn(text: str) -> str:
    """Escape user or model text for Slack mrkdwn.

    Slack reads ``<...>`` as mentions and links, so an unescaped ``<!channel>``
    in a rejection reason would notify the whole channel.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Slack user ids (U...) and Enterprise Grid user ids (W...).
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def actor_mention(actor: str) -> str:
    """Format who acted: a mention for a Slack user id, escaped plain text for a system name such as system:webhook."""
    if SLACK_USER_ID.fullmatch(actor):
        return f"<@{actor}>"
    return escape_mrkdwn(actor)


def request_label(request_id: int) -> str:
    return f"PP-{request_id:05d}"


def status_text(status: str) -> str:
    return f"{STATUS_EMOJI.get(status, ':page_facing_up:')} {STATUS_LABELS.get(status, status)}"


UNEXPECTED_ERROR = "Something went wrong and nothing was changed. Quote reference {reference} to your administrator."
