"""payplan sync's engine: incremental, resumable, and a rerun changes nothing."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from storage.connectors.base import MappingError
from storage.connectors.csv_file import CsvConnector
from storage.connectors.mapping import parse_connectors
from storage.connectors.salesforce import SalesforceConnector
from storage.connectors.sync import SyncAlreadyRunning, _lock_source, read_watermark, sync_source
from storage.models import Account, Invoice, Payment, SyncWatermark
from tests.storage.connectors.conftest import LOGIN_URL, SF_API, recorded_response, soql_router

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
PAGES = {"Invoice__c": "query_invoices.json", "Payment__c": "query_payments.json"}


def _mock_salesforce(payments: dict | None = None, invoices: dict | None = None) -> respx.Route:
    respx.post(f"{LOGIN_URL}/services/oauth2/token").mock(return_value=recorded_response("salesforce", "token.json"))
    respx.get(f"{SF_API}/query/01gTESTQUERY00001-2").mock(return_value=recorded_response("salesforce", "query_accounts_page2.json"))

    def answer(request: httpx.Request) -> httpx.Response:
        if " FROM Account" in request.url.params["q"]:
            return recorded_response("salesforce", "query_accounts_page1.json")
        if payments is not None and " FROM Payment__c" in request.url.params["q"]:
            return httpx.Response(200, json=payments)
        if invoices is not None and " FROM Invoice__c" in request.url.params["q"]:
            return httpx.Response(200, json=invoices)
        return soql_router(PAGES)(request)

    return respx.get(f"{SF_API}/query").mock(side_effect=answer)


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_sync_twice_changes_nothing_second_time(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    progress: list[tuple[str, int]] = []
    with respx.mock:
        query = _mock_salesforce()
        first = sync_source(session_factory, salesforce, now=NOW, on_progress=lambda kind, done: progress.append((kind, done)))
        second = sync_source(session_factory, salesforce, now=NOW)

    assert first.added == {"accounts": 3, "invoices": 3, "payments": 1}
    assert first.errors == []
    assert second.changed == 0
    assert second.unchanged == 7
    assert ("accounts", 3) in progress
    assert ("payments", 1) in progress

    # The second run requests only records changed since the first run's latest one of each type.
    watermark = datetime(2026, 12, 1, 7, 45, tzinfo=timezone.utc)
    assert first.watermark == watermark
    second_queries = {call.request.url.params["q"].split(" FROM ")[1].split()[0]: call.request.url.params["q"] for call in query.calls[3:]}
    assert "LastModifiedDate >= 2026-11-30T08:05:30Z" in second_queries["Account"]
    assert "LastModifiedDate >= 2026-12-01T07:45:00Z" in second_queries["Invoice__c"]
    assert "LastModifiedDate >= 2026-12-01T07:45:00Z" in second_queries["Payment__c"]

    with session_factory() as session:
        assert _count(session, Account) == 3
        assert _count(session, Invoice) == 3
        assert _count(session, Payment) == 1
        assert read_watermark(session, "salesforce", "accounts") == datetime(2026, 11, 30, 8, 5, 30, tzinfo=timezone.utc)
        assert read_watermark(session, "salesforce", "invoices") == watermark
        assert read_watermark(session, "salesforce", "payments") == watermark
        account = session.get(Account, "001TEST0000000001AA")
        assert account.source == "salesforce"
        assert account.name == "Northwind Traders"
        invoice = session.scalar(select(Invoice).where(Invoice.invoice_number == "INV-1001"))
        assert invoice.amount == Decimal("1250.50")
        payment = session.scalar(select(Payment))
        assert (payment.source, payment.external_id, payment.amount) == ("salesforce", "a0BTEST000000001AA", Decimal("99.99"))


def test_sync_updates_changed_invoice(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    with respx.mock:
        _mock_salesforce()
        sync_source(session_factory, salesforce, now=NOW)
    with session_factory.begin() as session:
        invoice = session.scalar(select(Invoice).where(Invoice.invoice_number == "INV-1001"))
        invoice.amount = Decimal("1.00")

    with respx.mock:
        _mock_salesforce()
        report = sync_source(session_factory, salesforce, now=NOW, since=datetime(2026, 1, 1, tzinfo=timezone.utc))

    assert report.updated["invoices"] == 1
    assert report.since == datetime(2026, 1, 1, tzinfo=timezone.utc)
    with session_factory() as session:
        assert session.scalar(select(Invoice.amount).where(Invoice.invoice_number == "INV-1001")) == Decimal("1250.50")


def test_sync_skips_bad_record_and_reports(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    bad = recorded_response("salesforce", "query_payments.json").json()
    bad["records"][0]["Amount__c"] = "12.345"
    with respx.mock:
        _mock_salesforce(payments=bad)
        report = sync_source(session_factory, salesforce, now=NOW)

    assert report.added["payments"] == 0
    assert report.added["invoices"] == 3
    assert len(report.errors) == 1
    assert "a0BTEST000000001AA: amount 12.345 has more than 2 decimal places" in report.errors[0]


def test_bad_record_keeps_later_records(
    session_factory: sessionmaker[Session], salesforce: SalesforceConnector, caplog: pytest.LogCaptureFixture
) -> None:
    invoices = recorded_response("salesforce", "query_invoices.json").json()
    invoices["records"][0]["Due_Date__c"] = "next week"
    with respx.mock, caplog.at_level(logging.INFO, logger="storage.connectors.sync"):
        _mock_salesforce(invoices=invoices)
        report = sync_source(session_factory, salesforce, now=NOW)

    # The report carries the skipped record, so the log does not repeat it as a warning.
    skipped = [record for record in caplog.records if "skipped one of the invoices" in record.getMessage()]
    assert [record.levelno for record in skipped] == [logging.INFO]

    assert report.added["invoices"] == 2
    assert len(report.errors) == 1
    assert "a0ATEST000000001AA" in report.errors[0]
    with session_factory() as session:
        numbers = set(session.scalars(select(Invoice.invoice_number)))
        assert numbers == {"INV-1002", "INV-1003"}
        assert read_watermark(session, "salesforce", "invoices") == datetime(2026, 12, 1, 7, 45, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "since, expected",
    [
        # Reading from after the stored watermark skips records, so the watermark stays.
        (datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc), datetime(2026, 11, 20, tzinfo=timezone.utc)),
        # Reading from before it covers everything after it, so it moves to the latest record read.
        (datetime(2026, 11, 1, tzinfo=timezone.utc), datetime(2026, 12, 1, 7, 45, tzinfo=timezone.utc)),
    ],
)
def test_since_moves_watermark_only_over_read(
    session_factory: sessionmaker[Session], salesforce: SalesforceConnector, since: datetime, expected: datetime
) -> None:
    stored = datetime(2026, 11, 20, tzinfo=timezone.utc)
    with session_factory.begin() as session:
        session.add(SyncWatermark(source="salesforce", object_type="invoices", last_modified=stored, synced_at=stored))

    with respx.mock:
        _mock_salesforce()
        sync_source(session_factory, salesforce, now=NOW, since=since)

    with session_factory() as session:
        assert read_watermark(session, "salesforce", "invoices") == expected


def test_since_without_watermark_stores_none(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    with respx.mock:
        _mock_salesforce()
        report = sync_source(session_factory, salesforce, now=NOW, since=datetime(2026, 11, 29, tzinfo=timezone.utc))

    assert report.watermark is None
    with session_factory() as session:
        assert _count(session, SyncWatermark) == 0


def test_invoice_number_of_other_source_kept(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    with session_factory.begin() as session:
        session.add(Account(id="CSV-ACCOUNT-1", name="From the CSV export", source="csv"))
        session.flush()
        session.add(
            Invoice(
                invoice_number="INV-1001",
                account_id="CSV-ACCOUNT-1",
                invoice_date=datetime(2026, 1, 5).date(),
                due_date=datetime(2026, 2, 4).date(),
                amount=Decimal("75.00"),
                disputed=False,
            )
        )

    with respx.mock:
        _mock_salesforce()
        report = sync_source(session_factory, salesforce, now=NOW)

    assert report.added["invoices"] == 2
    assert any("number INV-1001, which is already stored for account CSV-ACCOUNT-1 from source 'csv'" in error for error in report.errors)
    with session_factory() as session:
        invoice = session.scalar(select(Invoice).where(Invoice.invoice_number == "INV-1001"))
        assert (invoice.account_id, invoice.amount) == ("CSV-ACCOUNT-1", Decimal("75.00"))


def test_parallel_sync_rejected(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    with session_factory.begin() as holder:
        # A running sync holds the source's lock until its transaction ends.
        _lock_source(holder, "salesforce")
        with respx.mock:
            _mock_salesforce()
            with pytest.raises(SyncAlreadyRunning) as caught:
                sync_source(session_factory, salesforce, now=NOW)

    assert "another sync of source 'salesforce' is running" in str(caught.value)
    with respx.mock:
        _mock_salesforce()
        report = sync_source(session_factory, salesforce, now=NOW)
    assert report.added["invoices"] == 3


def test_failed_sync_keeps_watermark(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    with respx.mock:
        respx.post(f"{LOGIN_URL}/services/oauth2/token").mock(return_value=recorded_response("salesforce", "token.json"))
        respx.get(f"{SF_API}/query").mock(return_value=httpx.Response(400, json=[{"message": "bad", "errorCode": "MALFORMED_QUERY"}]))
        with pytest.raises(Exception, match="MALFORMED_QUERY"):
            sync_source(session_factory, salesforce, now=NOW)

    with session_factory() as session:
        assert _count(session, SyncWatermark) == 0
        assert _count(session, Account) == 0


def test_csv_source_sync_twice(session_factory: sessionmaker[Session], example_csv: Path) -> None:
    connector = CsvConnector("csv", example_csv, session_factory)

    first = sync_source(session_factory, connector, now=NOW)
    second = sync_source(session_factory, connector, now=NOW)

    assert first.added["invoices"] > 0
    assert second.changed == 0
    assert second.unchanged == first.added["invoices"]


def test_example_connectors_file_valid(connectors_file) -> None:
    assert set(connectors_file.sources) == {"salesforce", "netsuite", "csv"}


def test_missing_mapping_field_named() -> None:
    document = {
        "sources": {
            "crm": {
                "kind": "salesforce",
                "account": {"object": "Account", "fields": {"id": "Id", "name": "Name", "last_modified": "LastModifiedDate"}},
                "invoice": {"object": "Invoice__c", "fields": {"id": "Id"}},
                "payment": {"object": "Payment__c", "fields": {"id": "Id", "account": "A", "paid_on": "P", "amount": "M", "last_modified": "L"}},
            }
        }
    }

    with pytest.raises(MappingError) as caught:
        parse_connectors(document)

    assert "sources.crm.invoice.fields.due_date is missing" in str(caught.value)
    assert "sources.crm.invoice.fields.settled_date is missing" in str(caught.value)


def test_mapping_rejects_non_identifier() -> None:
    document = {
        "sources": {
            "erp": {
                "kind": "netsuite",
                "account": {"object": "customer", "fields": {"id": "id", "name": "companyname; DROP", "last_modified": "x"}},
                "invoice": {"object": "t", "fields": {f: f for f in ("id", "account", "number", "invoice_date", "due_date", "amount", "settled_date", "last_modified")}},
                "payment": {"object": "t", "fields": {f: f for f in ("id", "account", "paid_on", "amount", "last_modified")}},
            }
        }
    }

    with pytest.raises(MappingError) as caught:
        parse_connectors(document)

    assert "sources.erp.account.fields.name" in str(caught.value)
    assert "is not a field or object name" in str(caught.value)
