"""Counter-proposal, request ids, acknowledgements and the waiting clock, without Slack."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from bot.commands import parse_request_id
from bot.errors import InvalidInput
from bot.negotiation import counter_proposal
from bot.review import required_acknowledgements, waiting_time
from storage.models import Assessment, RequesterWait, TermRevision

AS_OF = date(2013, 6, 14)


def revision(installments: int, first_due: date) -> TermRevision:
    return TermRevision(
        number=1, balance=Decimal("900.00"), down_payment=Decimal("90.00"), installment_count=installments, frequency="weekly", first_due_date=first_due
    )


def test_counter_proposal_from_engine() -> None:
    current = revision(36, AS_OF + timedelta(days=200))
    engine_counter = {
        "balance": "900.00",
        "down_payment": "135.00",
        "installments": 8,
        "frequency": "monthly",
        "first_due": (AS_OF + timedelta(days=30)).isoformat(),
        "apr": "0",
    }
    current.assessment = Assessment(details={"currency": "USD", "counter_proposal": engine_counter})

    proposal = counter_proposal(current)

    assert proposal.down_payment == Decimal("135.00")
    assert proposal.installment_count == 8
    assert proposal.frequency == "monthly"
    assert proposal.first_due_date == AS_OF + timedelta(days=30)


@pytest.mark.parametrize("details", [{"currency": "USD", "counter_proposal": None}, None])
def test_counter_proposal_falls_back_to_current(details: dict[str, object] | None) -> None:
    current = revision(36, AS_OF + timedelta(days=200))
    current.assessment = Assessment(details=details)

    proposal = counter_proposal(current)

    assert proposal.down_payment == Decimal("90.00")
    assert proposal.installment_count == 36
    assert proposal.frequency == "weekly"
    assert proposal.first_due_date == AS_OF + timedelta(days=200)


def test_counter_proposal_without_assessment() -> None:
    proposal = counter_proposal(revision(4, AS_OF + timedelta(days=20)))

    assert proposal.installment_count == 4
    assert proposal.first_due_date == AS_OF + timedelta(days=20)


@pytest.mark.parametrize("text, expected", [("PP-00012", 12), ("pp-12", 12), ("12", 12), ("#7", 7), (" PP00003 ", 3)])
def test_request_id_forms(text: str, expected: int) -> None:
    assert parse_request_id(text) == expected


@pytest.mark.parametrize("text", ["PP-", "0", "twelve", "12a", "-4", "PP-1234567890"])
def test_bad_request_ids_rejected(text: str) -> None:
    with pytest.raises(InvalidInput, match="is not a request id"):
        parse_request_id(text)


def test_acknowledgements_skip_routing_flags() -> None:
    assessment = Assessment(
        summary={"summary": {"signals": [{"kind": "bankruptcy", "quote": "filed for chapter 11"}]}},
        flags=[
            {"code": "installments_above_max", "message": "more installments", "limit": "24", "actual": "30", "blocking": False},
            {"code": "legal_review_required", "message": "legal", "limit": "1", "actual": "2", "blocking": False},
            {"code": "balance_below_min", "message": "small", "limit": "100", "actual": "40", "blocking": True},
        ],
    )

    keys = [item.key for item in required_acknowledgements(assessment)]

    assert keys == ["signal:0:bankruptcy", "flag:installments_above_max"]


def test_waiting_time_counts_open_wait_to_now() -> None:
    start = datetime(2013, 6, 1, tzinfo=timezone.utc)
    waits = [
        RequesterWait(started_at=datetime(2013, 5, 31, tzinfo=timezone.utc), ended_at=datetime(2013, 6, 2, tzinfo=timezone.utc)),
        RequesterWait(started_at=datetime(2013, 6, 5, tzinfo=timezone.utc), ended_at=None),
    ]

    total = waiting_time(waits, start=start, now=datetime(2013, 6, 5, 12, tzinfo=timezone.utc))

    assert total == timedelta(days=1, hours=12)
