"""Plain factory functions for test data, with explicit values."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from storage.models import Account, Invoice


def add_account(
    session: Session,
    account_id: str,
    invoices: list[tuple[date, str, date | None, bool]],
) -> Account:
    """Add an account with net-30 invoices given as (invoice date, amount, settled date, disputed)."""
    account = Account(id=account_id, country_code="391", status="collections")
    session.add(account)
    for index, (issued, amount, settled, disputed) in enumerate(invoices):
        session.add(
            Invoice(
                invoice_number=f"{account_id}-{index:04d}",
                account_id=account_id,
                invoice_date=issued,
                due_date=issued + timedelta(days=30),
                amount=Decimal(amount),
                disputed=disputed,
                settled_date=settled,
            )
        )
    return account


def add_past_due_account(session: Session, account_id: str, as_of: date, open_amounts: list[str]) -> Account:
    """Add an account with a clean paid history and ``open_amounts`` past due at ``as_of``."""
    history = [(as_of - timedelta(days=200 + 30 * n), "100.00", as_of - timedelta(days=175 + 30 * n), False) for n in range(4)]
    open_items = [(as_of - timedelta(days=45 + n), amount, None, False) for n, amount in enumerate(open_amounts)]
    return add_account(session, account_id, history + open_items)
