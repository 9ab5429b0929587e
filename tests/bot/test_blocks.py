"""Block Kit builders and modal parsing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot import blocks, slack_payloads
from bot.errors import InvalidInput
from bot.messages import actor_mention, escape_mrkdwn, money
from bot.slack_app import parse_amount, parse_request_view
from storage.models import ApprovalStep, PlanRequest


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1,250.50", Decimal("1250.50")),
        ("1250.5", Decimal("1250.50")),
        ("0", Decimal("0.00")),
        ("12,5", None),
        ("1,2345", None),
        ("1e3", None),
        ("1e309", None),
        ("NaN", None),
        ("١٠٠", None),
        ("-5", None),
        ("12.345", None),
        ("$12", None),
        ("9" * 30, None),
    ],
)
def test_parse_amount(text: str, expected: Decimal | None) -> None:
    assert parse_amount(text) == expected


@pytest.mark.parametrize(
    "down, installments, field",
    [
        ("12,5", "3", "down_payment"),
        ("-5", "3", "down_payment"),
        ("1e309", "3", "down_payment"),
        ("10", "²", "installments"),
        ("10", "0", "installments"),
        ("10", "1000", "installments"),
    ],
)
def test_request_view_field_errors(down: str, installments: str, field: str) -> None:
    state = slack_payloads.request_modal_state(
        account_id="A1", reason_category="other", reason_text="", down_payment=down, installments=installments, first_due_date="2013-07-01"
    )
    view = slack_payloads.view_submission_payload("payplan_request", state)["view"]

    with pytest.raises(InvalidInput) as caught:
        parse_request_view(view)

    assert list(caught.value.field_errors) == [field]


def test_mrkdwn_escaped_in_comment() -> None:
    step = ApprovalStep(id=1, sequence=1, tier="collections_manager", status="rejected", decided_by="U1", comment="No <!channel> & <@U2>")
    request = PlanRequest(id=7, account_id="A1")

    text, message_blocks = blocks.approval_message(step, request, tier_label="Collections manager", approvers=["U1"])

    rendered = str(blocks.as_dicts(message_blocks))
    assert "<!channel>" not in rendered
    assert "&lt;!channel&gt; &amp; &lt;@U2&gt;" in rendered
    assert escape_mrkdwn("a<b>&c") == "a&lt;b&gt;&amp;c"


@pytest.mark.parametrize(
    "actor, expected",
    [
        ("U012AB3CD", "<@U012AB3CD>"),
        ("W012AB3CD", "<@W012AB3CD>"),
        ("system:webhook", "system:webhook"),
        ("U999> <!channel", "U999&gt; &lt;!channel"),
        ("u012ab3cd", "u012ab3cd"),
    ],
)
def test_actor_mention_only_for_user_ids(actor: str, expected: str) -> None:
    assert actor_mention(actor) == expected


def test_money_formats_exactly() -> None:
    assert money(Decimal("1234567.05"), "USD") == "USD 1,234,567.05"
    assert money("0.10", "EUR") == "EUR 0.10"
