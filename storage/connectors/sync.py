"""``payplan sync``: copy changed accounts, invoices and payments from a source into the database.

A sync reads records changed since the source's watermark (or ``since``),
upserts them by their source id (accounts by id, invoices by number,
payments by source and id), and stores the latest last-modified time it saw
as the new watermark, all in one transaction: a sync that fails part way
stores nothing and moves no watermark, so it can simply be run again. A
record that cannot be stored is skipped and reported, and the others are
still stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.connectors.base import IncrementalSource, SourceAccount, SourceInvoice, SourcePayment
from storage.connectors.csv_file import CsvConnector
from storage.connectors.records import RecordError
from storage.models import Account, Invoice, Payment, SyncWatermark

logger = logging.getLogger(__name__)

# on_progress(kind, records_done); kind is "accounts", "invoices" or "payments".
ProgressCallback = Callable[[str, int], None]


@dataclass
class SyncReport:
    source: str
    added: dict[str, int] = field(default_factory=lambda: {"accounts": 0, "invoices": 0, "payments": 0})
    updated: dict[str, int] = field(default_factory=lambda: {"accounts": 0, "invoices": 0, "payments": 0})
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)
    since: datetime | None = None
    watermark: datetime | None = None

    @property
    def changed(self) -> int:
        return sum(self.added.values()) + sum(self.updated.values())

    def summary(self) -> str:
        added = ", ".join(f"{count} {kind}" for kind, count in self.added.items())
        updated = ", ".join(f"{count} {kind}" for kind, count in self.updated.items())
        watermark = self.watermark.isoformat() if self.watermark else "none"
        return (
            f"{self.source}: added {added}; updated {updated}; unchanged {self.unchanged}; "
            f"skipped {len(self.errors)}; watermark {watermark}"
        )


def read_watermark(session: Session, source: str) -> datetime | None:
    row = session.get(SyncWatermark, source)
    return row.last_modified if row else None


def sync_source(
    session_factory: sessionmaker[Session],
    connector: IncrementalSource | CsvConnector,
    *,
    now: datetime,
    since: datetime | None = None,
    on_progress: ProgressCallback | None = None,
) -> SyncReport:
    """Sync one source; ``since`` overrides the stored watermark for this run."""
    if isinstance(connector, CsvConnector):
        return _load_csv(session_factory, connector, on_progress)

    report = SyncReport(source=connector.name)
    with session_factory.begin() as session:
        start = since if since is not None else read_watermark(session, connector.name)
        report.since = start
        latest = start
        upsert = RecordUpserter(session, connector, report)

        for kind, records, store in (
            ("accounts", connector.changed_accounts(start), upsert.account),
            ("invoices", connector.changed_invoices(start), upsert.invoice),
            ("payments", connector.changed_payments(start), upsert.payment),
        ):
            done = 0
            for record in _checked(records, report):
                store(record)
                if record.last_modified is not None and (latest is None or record.last_modified > latest):
                    latest = record.last_modified
                done += 1
                if on_progress is not None:
                    on_progress(kind, done)
            session.flush()

        report.watermark = latest
        if latest is not None:
            _store_watermark(session, connector.name, latest, now)

    logger.info("sync %s", report.summary())
    return report


def _checked(records: Iterable[object], report: SyncReport) -> Iterable[object]:
    """Yield the records that convert, and report each that does not."""
    iterator = iter(records)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            return
        except RecordError as error:
            report.errors.append(str(error))
            logger.warning("sync %s: skipped a record: %s", report.source, error)
            continue
        yield record


class RecordUpserter:
    def __init__(self, session: Session, connector: IncrementalSource, report: SyncReport) -> None:
        self.session = session
        self.connector = connector
        self.report = report

    def account(self, record: SourceAccount) -> None:
        account = self.session.get(Account, record.external_id)
        if account is None:
            self.session.add(Account(id=record.external_id, name=record.name, country_code=record.country_code, source=self.connector.name))
            self.report.added["accounts"] += 1
            return
        self._apply(account, "accounts", {"name": record.name, "country_code": record.country_code, "source": self.connector.name})

    def invoice(self, record: SourceInvoice) -> None:
        if not self._ensure_account(record.account_id, f"invoice {record.external_id}"):
            return
        invoice = self.session.scalar(select(Invoice).where(Invoice.invoice_number == record.number))
        values = {
            "account_id": record.account_id,
            "invoice_date": record.invoice_date,
            "due_date": record.due_date,
            "amount": record.amount,
            "disputed": record.disputed,
            "settled_date": record.settled_date,
        }
        if invoice is None:
            self.session.add(Invoice(invoice_number=record.number, **values))
            self.report.added["invoices"] += 1
            return
        self._apply(invoice, "invoices", values)

    def payment(self, record: SourcePayment) -> None:
        if not self._ensure_account(record.account_id, f"payment {record.external_id}"):
            return
        payment = self.session.scalar(
            select(Payment).where(Payment.source == self.connector.name, Payment.external_id == record.external_id)
        )
        values = {"account_id": record.account_id, "paid_on": record.paid_on, "amount": record.amount}
        if payment is None:
            # NOTE: connector payments are linked to the account only; matching
            # them to invoices or installments is left to the payment matcher.
            self.session.add(Payment(source=self.connector.name, external_id=record.external_id, **values))
            self.report.added["payments"] += 1
            return
        self._apply(payment, "payments", values)

    def _apply(self, row: object, kind: str, values: dict[str, object]) -> None:
        changed = False
        for name, value in values.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed = True
        if changed:
            self.report.updated[kind] += 1
        else:
            self.report.unchanged += 1

    def _ensure_account(self, account_id: str, what: str) -> bool:
        """Make sure the account exists, fetching it from the source when it was not changed since the watermark."""
        if self.session.get(Account, account_id) is not None:
            return True
        account = self.connector.fetch_account(account_id)
        if account is None:
            self.report.errors.append(f"{what} refers to account {account_id}, which the source does not return")
            return False
        self.account(account)
        self.session.flush()
        return True


def _store_watermark(session: Session, source: str, last_modified: datetime, now: datetime) -> None:
    row = session.get(SyncWatermark, source)
    if row is None:
        session.add(SyncWatermark(source=source, last_modified=last_modified, synced_at=now))
        return
    if row.last_modified != last_modified:
        row.last_modified = last_modified
    row.synced_at = now


def _load_csv(session_factory: sessionmaker[Session], connector: CsvConnector, on_progress: ProgressCallback | None) -> SyncReport:
    report = SyncReport(source=connector.name)

    def progress(done: int, total: int) -> None:
        if on_progress is not None:
            on_progress("invoices", done)

    with session_factory.begin() as session:
        result = connector.load(session, progress)
    report.added = {"accounts": result.accounts_added, "invoices": result.invoices_added, "payments": result.payments_added}
    report.unchanged = result.unchanged
    report.errors = [str(error) for error in result.errors]
    logger.info("sync %s", report.summary())
    return report
