"""``payplan sync``: copy changed accounts, invoices and payments from a source into the database.

A sync reads each object type (accounts, invoices, payments) changed since
that type's watermark (or ``since``). It upserts the records by their source
id (accounts by id, invoices by number, payments by source and id) and
stores the latest last-modified time it read as the type's new watermark.
All of this is one transaction, so a sync that fails part way stores
nothing and moves no watermark, and it can simply be run again. A record that cannot be converted
or stored is skipped and reported, and the records after it are still read
and stored.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage.connectors.base import ConnectorError, IncrementalSource, SourceAccount, SourceInvoice, SourcePayment
from storage.connectors.csv_file import CsvConnector
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
    # The watermark of each object type after the run; None while nothing with a last-modified time was read.
    watermarks: dict[str, datetime | None] = field(default_factory=dict)

    @property
    def watermark(self) -> datetime | None:
        """The latest of the object types' watermarks."""
        known = [moment for moment in self.watermarks.values() if moment is not None]
        return max(known) if known else None

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


OBJECT_TYPES = ("accounts", "invoices", "payments")


def read_watermark(session: Session, source: str, object_type: str) -> datetime | None:
    row = session.get(SyncWatermark, (source, object_type))
    return row.last_modified if row else None


def sync_source(
    session_factory: sessionmaker[Session],
    connector: IncrementalSource | CsvConnector,
    *,
    now: datetime,
    since: datetime | None = None,
    on_progress: ProgressCallback | None = None,
) -> SyncReport:
    """Sync one source; ``since`` sets where this run starts reading, see :func:`next_watermark`."""
    if isinstance(connector, CsvConnector):
        return _load_csv(session_factory, connector, on_progress)

    report = SyncReport(source=connector.name)
    report.since = since
    with session_factory.begin() as session:
        _lock_source(session, connector.name)
        upsert = RecordUpserter(session, connector, report)
        readers = {
            "accounts": (connector.changed_accounts, upsert.account),
            "invoices": (connector.changed_invoices, upsert.invoice),
            "payments": (connector.changed_payments, upsert.payment),
        }
        for kind in OBJECT_TYPES:
            read, store = readers[kind]
            stored = read_watermark(session, connector.name, kind)
            start = since if since is not None else stored
            latest: datetime | None = None
            done = 0
            for record in read(start):
                done += 1
                if isinstance(record, ValueError):
                    report.errors.append(f"{kind}: {record}")
                    # INFO, not WARNING: the report returns every skipped record and
                    # payplan sync prints it, so Python's last-resort handler must not
                    # print it a second time.
                    logger.info("sync %s: skipped one of the %s: %s", report.source, kind, record)
                else:
                    store(record)
                    if record.last_modified is not None and (latest is None or record.last_modified > latest):
                        latest = record.last_modified
                if on_progress is not None:
                    on_progress(kind, done)
            session.flush()

            watermark = next_watermark(stored, since, latest)
            report.watermarks[kind] = watermark
            if watermark is not None and (watermark != stored or since is None):
                _store_watermark(session, connector.name, kind, watermark, now)

    logger.info("sync %s", report.summary())
    return report


class SyncAlreadyRunning(ConnectorError):
    """Another ``payplan sync`` of the same source holds its lock."""


def _lock_source(session: Session, source: str) -> None:
    """Take the source's sync lock for this transaction, or raise SyncAlreadyRunning.

    PostgreSQL has a transaction-scoped advisory lock per source. SQLite has
    one write lock per database, taken here by an early write, so there a
    sync of any source waits for the busy timeout and then fails.
    """
    message = f"another sync of source {source!r} is running; try again when it has finished"
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"payplan sync {source}".encode()).digest()[:8], "big", signed=True)
        if not session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}):
            raise SyncAlreadyRunning(message)
        return
    try:
        session.execute(text("UPDATE sync_watermarks SET synced_at = synced_at WHERE source = :source"), {"source": source})
    except OperationalError as error:
        if "locked" in str(error.orig):
            raise SyncAlreadyRunning(message) from None
        raise


def next_watermark(stored: datetime | None, since: datetime | None, latest: datetime | None) -> datetime | None:
    """Return the watermark after a run that read from ``since`` (or ``stored``) up to ``latest``.

    The watermark only moves forward, and only over records the run read:
    a run without ``since`` reads everything after the stored watermark, so
    it may move it to ``latest``. A run with ``since`` at or before the stored
    watermark covers the same range and more, so it may too. A run with
    ``since`` after the stored watermark (or with none stored) skipped the
    records before ``since``, so it leaves the stored watermark as it was.
    """
    covers_stored = since is None or (stored is not None and since <= stored)
    if not covers_stored or latest is None:
        return stored
    if stored is None or latest > stored:
        return latest
    return stored


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
        # Invoice numbers are unique across all sources, so a number stored
        # from another source belongs to a different invoice and is not overwritten.
        owner = invoice.account.source
        if owner != self.connector.name:
            self.report.errors.append(
                f"invoices: invoice {record.external_id} has number {record.number}, which is already stored for "
                f"account {invoice.account_id} from source {owner!r}; skipped, rename one of the invoices"
            )
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


def _store_watermark(session: Session, source: str, object_type: str, last_modified: datetime, now: datetime) -> None:
    row = session.get(SyncWatermark, (source, object_type))
    if row is None:
        session.add(SyncWatermark(source=source, object_type=object_type, last_modified=last_modified, synced_at=now))
        return
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
