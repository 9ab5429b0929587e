"""A live balance for the request modal, with a bounded wait and an honest "as of" time.

:meth:`BalanceRefresher.refresh_account_balance` asks the account's source
for its open invoices and waits at most ``timeout`` seconds. On time, the
invoices are stored and the balance is the source's, as of now. When the
source is slow, down or not a live system (a CSV export), the balance is
computed from the stored invoices and ``as_of`` is the time of the source's
last successful sync, or None when it was never synced, with ``stale`` set.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from storage.connectors.base import Connector, ConnectorError, SourceInvoice
from storage.connectors.csv_file import CsvConnector
from storage.connectors.records import RecordError
from storage.connectors.sync import SyncReport, RecordUpserter
from storage.models import Account, Invoice, SyncWatermark

logger = logging.getLogger(__name__)

ZERO = Decimal("0.00")


class BalanceSnapshot(NamedTuple):
    balance: Decimal
    # When the balance was read from the source; None when it never was.
    as_of: datetime | None
    # True when the balance comes from stored data because the source did not respond in time.
    stale: bool


class BalanceRefresher:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        connectors: Mapping[str, Connector],
        now: Callable[[], datetime],
        *,
        max_workers: int = 4,
    ) -> None:
        self.session_factory = session_factory
        self.connectors = connectors
        self.now = now
        self.executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="balance-refresh")

    def refresh_account_balance(self, account_id: str, *, timeout: float) -> BalanceSnapshot:
        """Return the account's open balance, from its source if it responds within ``timeout`` seconds."""
        with self.session_factory() as session:
            account = session.get(Account, account_id)
            source = account.source if account else None
        connector = self.connectors.get(source) if source else None
        if connector is None or isinstance(connector, CsvConnector):
            return self._stored(account_id, source)

        future = self.executor.submit(connector.fetch_open_invoices, account_id, timeout=timeout)
        try:
            invoices = future.result(timeout=timeout)
        except FutureTimeout:
            logger.warning("balance refresh of account %s: %s timed out after %.1f s; showing stored balance", account_id, source, timeout)
            return self._stored(account_id, source)
        except (ConnectorError, RecordError) as error:
            logger.warning("balance refresh of account %s from %s failed: %s; showing stored balance", account_id, source, error)
            return self._stored(account_id, source)

        self._store(connector, invoices)
        balance = sum((invoice.amount for invoice in invoices), ZERO)
        return BalanceSnapshot(balance, self.now(), False)

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    def _store(self, connector: Connector, invoices: list[SourceInvoice]) -> None:
        report = SyncReport(source=connector.name)
        with self.session_factory.begin() as session:
            upsert = RecordUpserter(session, connector, report)
            for invoice in invoices:
                upsert.invoice(invoice)

    def _stored(self, account_id: str, source: str | None) -> BalanceSnapshot:
        with self.session_factory() as session:
            balance = session.scalar(
                select(func.coalesce(func.sum(Invoice.amount), 0)).where(
                    Invoice.account_id == account_id, Invoice.settled_date.is_(None)
                )
            )
            # The balance is the sum of open invoices, so it is as fresh as the last invoice sync.
            watermark = session.get(SyncWatermark, (source, "invoices")) if source else None
            as_of = watermark.synced_at if watermark else None
        return BalanceSnapshot(Decimal(balance or 0).quantize(ZERO), as_of, True)
