"""Balance refresh for the request modal: live when the source responds in time, stored and marked stale otherwise."""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone
from decimal import Decimal

import httpx
import respx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.connectors.refresh import BalanceRefresher
from storage.connectors.salesforce import SalesforceConnector
from storage.models import Account, Invoice, SyncWatermark
from tests.storage.connectors.conftest import LOGIN_URL, SF_API, recorded_response

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
LAST_SYNC = datetime(2026, 12, 4, 6, 0, tzinfo=timezone.utc)
ACCOUNT = "001TEST0000000001AA"


def _stored_account(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        session.add(Account(id=ACCOUNT, name="Northwind Traders", source="salesforce"))
        session.add(
            Invoice(
                invoice_number="INV-1001",
                account_id=ACCOUNT,
                invoice_date=date(2026, 9, 1),
                due_date=date(2026, 10, 1),
                amount=Decimal("1000.00"),
                disputed=False,
            )
        )
        session.add(SyncWatermark(source="salesforce", object_type="invoices", last_modified=LAST_SYNC, synced_at=LAST_SYNC))


def test_live_balance_from_source(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    _stored_account(session_factory)
    refresher = BalanceRefresher(session_factory, {"salesforce": salesforce}, lambda: NOW)
    with respx.mock:
        respx.post(f"{LOGIN_URL}/services/oauth2/token").mock(return_value=recorded_response("salesforce", "token.json"))
        respx.get(f"{SF_API}/query").mock(return_value=recorded_response("salesforce", "query_open_invoices.json"))

        balance, as_of, stale = refresher.refresh_account_balance(ACCOUNT, timeout=2.0)

    refresher.close()
    assert balance == Decimal("1561.05")
    assert as_of == NOW
    assert stale is False
    with session_factory() as session:
        stored = session.scalar(select(Invoice.amount).where(Invoice.invoice_number == "INV-1001"))
        assert stored == Decimal("1250.50")


def test_slow_source_gives_stale_balance(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    _stored_account(session_factory)
    refresher = BalanceRefresher(session_factory, {"salesforce": salesforce}, lambda: NOW)
    release = threading.Event()

    def slow(request: httpx.Request) -> httpx.Response:
        release.wait(5)
        return recorded_response("salesforce", "query_open_invoices.json")

    with respx.mock:
        respx.post(f"{LOGIN_URL}/services/oauth2/token").mock(return_value=recorded_response("salesforce", "token.json"))
        respx.get(f"{SF_API}/query").mock(side_effect=slow)

        snapshot = refresher.refresh_account_balance(ACCOUNT, timeout=0.2)
        release.set()
        refresher.close()

    assert snapshot.balance == Decimal("1000.00")
    assert snapshot.as_of == LAST_SYNC
    assert snapshot.stale is True


def test_failing_source_gives_stale_balance(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    _stored_account(session_factory)
    refresher = BalanceRefresher(session_factory, {"salesforce": salesforce}, lambda: NOW)
    with respx.mock:
        respx.post(f"{LOGIN_URL}/services/oauth2/token").mock(return_value=recorded_response("salesforce", "token_invalid_client.json", status=400))

        snapshot = refresher.refresh_account_balance(ACCOUNT, timeout=2.0)

    refresher.close()
    assert snapshot == (Decimal("1000.00"), LAST_SYNC, True)


def test_account_without_live_source(session_factory: sessionmaker[Session]) -> None:
    with session_factory.begin() as session:
        session.add(Account(id="0379-NEVHP", source="csv"))
    refresher = BalanceRefresher(session_factory, {}, lambda: NOW)

    snapshot = refresher.refresh_account_balance("0379-NEVHP", timeout=1.0)

    refresher.close()
    assert snapshot == (Decimal("0.00"), None, True)
