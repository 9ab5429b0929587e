"""Slack size limits and mrkdwn escaping: long content is split, never lost or rejected."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FixedClock
from bot.config import load_policy
from bot.messages import escape_mrkdwn
from bot.publisher import SlackPublisher
from bot.slack_limits import (
    MESSAGE_BLOCKS_MAX,
    MODAL_BLOCKS_MAX,
    OPTION_TEXT_MAX,
    SECTION_TEXT_MAX,
    VIEW_TITLE_MAX,
    fit_message,
    fit_modal,
    option,
    split_text,
)
from bot.slack_stub import SlackStub
from storage.models import ApprovalStep, Assessment, PlanRequest, TermRevision
from tests.factories import add_past_due_account

NOW = datetime(2013, 6, 14, 15, 0, tzinfo=timezone.utc)
HOSTILE = "<!here> ping <@U0BOSS> see <http://evil.example|your bank> & *bold*"


def test_split_text_keeps_every_line() -> None:
    lines = [f"Installment {n}: USD 1,234.56 due {n} Jul 2013" for n in range(1, 121)]

    pieces = split_text("\n".join(lines))

    assert len(pieces) > 1
    assert all(len(piece) <= SECTION_TEXT_MAX for piece in pieces)
    assert "\n".join(pieces).split("\n") == lines


def test_split_text_never_cuts_entity() -> None:
    text = "a" * 2998 + "&amp;" + "b" * 10

    pieces = split_text(text)

    assert pieces[0] == "a" * 2998
    assert pieces[1].startswith("&amp;")


def test_split_text_never_cuts_mention() -> None:
    text = "x " * 1495 + "<@U0APPROVER1> done"

    pieces = split_text(text)

    assert all(len(piece) <= SECTION_TEXT_MAX for piece in pieces)
    assert any(piece.startswith("<@U0APPROVER1>") for piece in pieces)


def test_fit_message_spreads_blocks() -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"flag {n}"}} for n in range(120)]

    messages = fit_message("Flags", blocks)

    assert [len(part) for _, part in messages] == [50, 50, 20]
    assert [block for _, part in messages for block in part] == blocks
    assert messages[1][0] == "Flags (part 2 of 3)"


def test_fit_modal_limits() -> None:
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Payment plan request for a very long account"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"line {n}"}} for n in range(130)],
    }

    fitted = fit_modal(view)

    assert len(fitted["title"]["text"]) == VIEW_TITLE_MAX
    assert len(fitted["blocks"]) == MODAL_BLOCKS_MAX
    assert "31 more blocks are not shown" in fitted["blocks"][-1]["elements"][0]["text"]
    assert len(view["blocks"]) == 130


def test_option_text_shortened() -> None:
    built = option("A" * 100, "ACC-1")

    assert len(built["text"]["text"]) == OPTION_TEXT_MAX
    assert built["text"]["text"].endswith("…")
    with pytest.raises(ValueError, match="150"):
        option("x", "v" * 151)


@pytest.mark.parametrize(
    "raw, escaped",
    [
        ("<!here>", "&lt;!here&gt;"),
        ("<@U0BOSS>", "&lt;@U0BOSS&gt;"),
        ("<http://x|disguised>", "&lt;http://x|disguised&gt;"),
        ("R&D", "R&amp;D"),
        # Slack has no escape for *; it can only bold text, never notify or link.
        ("*urgent*", "*urgent*"),
    ],
)
def test_escape_mrkdwn_cases(raw: str, escaped: str) -> None:
    assert escape_mrkdwn(raw) == escaped


def _store_long_request(session_factory: sessionmaker[Session]) -> int:
    schedule = [
        {"sequence": n, "amount": "100.00", "due_date": (date(2013, 7, 15) + timedelta(days=30 * n)).isoformat()} for n in range(1, 121)
    ]
    flags = [
        {"code": f"flag_{n}", "message": f"Flag number {n} with a long explanation of the deviation " + "x" * 40, "blocking": False, "limit": "1", "actual": "2"}
        for n in range(60)
    ]
    with session_factory.begin() as session:
        add_past_due_account(session, "LONG-1", date(2013, 6, 14), ["12000.00"])
        request = PlanRequest(account_id="LONG-1", requested_by="UREQ", status="pending_approval", as_of=date(2013, 6, 14),
                              reason_category="hardship", reason_text=HOSTILE, created_at=NOW, updated_at=NOW)
        session.add(request)
        session.flush()
        revision = TermRevision(request_id=request.id, number=1, balance=Decimal("12000.00"), down_payment=Decimal("0.00"),
                                installment_count=120, first_due_date=date(2013, 7, 15), created_by="UREQ", created_at=NOW)
        session.add(revision)
        session.flush()
        session.add(Assessment(
            revision_id=revision.id, policy_version="test", eligible=True, risk_grade="C", route=["collections_manager"],
            flags=flags, risk_factors=[{"name": "on_time_share", "value": "0.5"}], facts={}, schedule=schedule,
            summary={"source": "offline", "summary": {"headline": HOSTILE, "narrative": HOSTILE * 60,
                                                        "signals": [{"kind": "hardship", "quote": HOSTILE}]}},
            created_at=NOW,
        ))
        session.add(ApprovalStep(revision_id=revision.id, sequence=1, tier="collections_manager", status="pending"))
        return request.id


def test_long_request_posts_within_limits(session_factory: sessionmaker[Session]) -> None:
    request_id = _store_long_request(session_factory)
    with SlackStub() as stub:
        publisher = SlackPublisher(
            client=WebClient(token="xoxb-test", base_url=stub.base_url),
            channel="C0LONG",
            session_factory=session_factory,
            policy=load_policy(None),
            approvers={"collections_manager": ["S0MANAGERS", "U0MANAGER"]},
            agreement_url=lambda agreement: "http://127.0.0.1:9/agreement",
            clock=FixedClock(NOW),
        )

        publisher.request_opened(request_id)

        posts = stub.calls("chat.postMessage")
    everything = json.dumps([call.args["blocks"] for call in posts])
    for call in posts:
        assert len(call.args["blocks"]) <= MESSAGE_BLOCKS_MAX
        for block in call.args["blocks"]:
            assert len(block.get("text", {}).get("text", "")) <= SECTION_TEXT_MAX
    for n in range(1, 121):
        assert f"Installment {n}:" in everything
    for n in range(60):
        assert f"Flag number {n} " in everything
    assert "<!here>" not in everything
    assert "<@U0BOSS>" not in everything
    assert "<http://evil.example" not in everything
    assert "<!subteam^S0MANAGERS> <@U0MANAGER>" in everything
