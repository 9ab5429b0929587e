"""The CSV export as a connector: the existing importer loads the file, and reads come from the database.

A CSV export has no last-modified times, so ``payplan sync`` loads the whole
file every time; the importer leaves stored invoices unchanged, so a rerun
adds nothing. Nothing can be written back to a file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.connectors.base import (
    ConnectorError,
    PlanStatusUpdate,
    SourceAccount,
    SourceContact,
    SourceInvoice,
    SourcePayment,
)
from storage.importer import ImportReport, import_invoices
from storage.models import Account, Invoice, Payment


class CsvConnector:
    supports_write_back = False

    def __init__(self, name: str, path: Path, session_factory: sessionmaker[Session]) -> None:
        self.name = name
        self.path = path
        self.session_factory = session_factory

    def check_mapping(self) -> None:
        """Raise ConnectorError naming the source and path when the file is missing or not a file."""
        if not self.path.is_file():
            raise ConnectorError(
                f"CSV source {self.name!r}: file {self.path} does not exist; correct its path in the connectors file "
                "(a relative path is read from the connectors file's folder)"
            )

    def load(self, session: Session, on_progress: Callable[[int, int], None] | None = None) -> ImportReport:
        """Import the file into ``session``; the caller commits."""
        return import_invoices(session, self.path, on_progress=on_progress)

    def fetch_account(self, account_id: str, *, timeout: float | None = None) -> SourceAccount | None:
        with self.session_factory() as session:
            account = session.get(Account, account_id)
            if account is None:
                return None
            return SourceAccount(account.id, account.name, account.country_code, None)

    def fetch_open_invoices(self, account_id: str, *, timeout: float | None = None) -> list[SourceInvoice]:
        query = select(Invoice).where(Invoice.account_id == account_id, Invoice.settled_date.is_(None)).order_by(Invoice.invoice_date)
        with self.session_factory() as session:
            return [
                SourceInvoice(
                    external_id=invoice.invoice_number,
                    account_id=invoice.account_id,
                    number=invoice.invoice_number,
                    invoice_date=invoice.invoice_date,
                    due_date=invoice.due_date,
                    amount=invoice.amount,
                    disputed=invoice.disputed,
                    settled_date=None,
                    last_modified=None,
                )
                for invoice in session.scalars(query)
            ]

    def fetch_payments(self, account_id: str, *, timeout: float | None = None) -> list[SourcePayment]:
        query = select(Payment).where(Payment.account_id == account_id).order_by(Payment.paid_on)
        with self.session_factory() as session:
            return [
                SourcePayment(str(payment.id), payment.account_id, payment.paid_on, payment.amount, None)
                for payment in session.scalars(query)
            ]

    def fetch_contacts(self, account_id: str, *, timeout: float | None = None) -> list[SourceContact]:
        # The export has no contact columns.
        return []

    def write_plan_status(self, update: PlanStatusUpdate) -> None:
        raise ConnectorError(f"CSV source {self.name!r} is a file; plan status cannot be written back to it")
