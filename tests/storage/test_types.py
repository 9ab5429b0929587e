"""Money and UTCDateTime columns on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from storage.models import Account, AuditEvent, Invoice


def add_invoice(session: Session, amount: object) -> Invoice:
    session.add(Account(id="ACC-1"))
    invoice = Invoice(
        invoice_number="0000000001",
        account_id="ACC-1",
        invoice_date=date(2013, 1, 2),
        due_date=date(2013, 2, 1),
        amount=amount,
    )
    session.add(invoice)
    return invoice


def test_money_sum_round_trips_exactly(session: Session) -> None:
    add_invoice(session, Decimal("0.10") + Decimal("0.20"))
    session.commit()

    stored = session.scalars(select(Invoice.amount)).one()
    assert stored == Decimal("0.30")
    assert str(stored) == "0.30"
    assert session.execute(text("SELECT amount FROM invoices")).scalar_one() == 30


def test_money_reads_back_two_places(session: Session) -> None:
    add_invoice(session, Decimal("55.9"))
    session.commit()

    assert str(session.scalars(select(Invoice.amount)).one()) == "55.90"


def test_money_largest_amount_round_trips(session: Session) -> None:
    largest = Decimal(2**63 - 1).scaleb(-2)
    add_invoice(session, largest)
    session.commit()

    assert session.scalars(select(Invoice.amount)).one() == largest


def test_money_sub_cent_raises(session: Session) -> None:
    add_invoice(session, Decimal("0.001"))

    with pytest.raises(StatementError) as excinfo:
        session.flush()
    assert isinstance(excinfo.value.orig, ValueError)
    assert "more than 2 decimal places" in str(excinfo.value.orig)


def test_money_float_raises(session: Session) -> None:
    add_invoice(session, 0.3)

    with pytest.raises(StatementError) as excinfo:
        session.flush()
    assert isinstance(excinfo.value.orig, TypeError)
    assert "must be a Decimal" in str(excinfo.value.orig)


def test_utc_datetime_round_trips_as_utc(session: Session) -> None:
    new_york_winter = timezone(timedelta(hours=-5))
    at = datetime(2013, 3, 1, 9, 30, 15, 123456, tzinfo=new_york_winter)
    session.add(AuditEvent(occurred_at=at, actor="U1", action="test", before={}, after={}))
    session.commit()

    stored = session.scalars(select(AuditEvent.occurred_at)).one()
    assert stored == at
    assert stored.tzinfo == timezone.utc
    assert stored.hour == 14


def test_utc_datetime_naive_raises(session: Session) -> None:
    session.add(AuditEvent(occurred_at=datetime(2013, 3, 1, 9, 30), actor="U1", action="test"))

    with pytest.raises(StatementError) as excinfo:
        session.flush()
    assert isinstance(excinfo.value.orig, ValueError)
    assert "naive datetime" in str(excinfo.value.orig)
