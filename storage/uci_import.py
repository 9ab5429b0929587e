"""Import the UCI "Default of Credit Card Clients" data set as consumer accounts.

Each of the 30,000 rows is one card holder at a Taiwanese bank with six
monthly statements (April to September 2005). The mapping, and the
assumptions it makes where the data set says nothing:

- Account ``UCI-<ID>`` (ID zero-padded to 5 digits), segment ``consumer``,
  currency ``TWD``, standing ``open``.
- Each statement with a positive ``BILL_AMTn`` becomes an invoice
  ``UCI-<ID>-2005-<MM>`` dated the last day of its month and due
  ``DUE_DAYS`` (20) days later. ``BILL_AMT1`` is September, ``BILL_AMT6``
  April. Zero and negative statements (no spending, or a credit balance)
  are not invoices.
- How a statement was repaid is read from the repayment status of the
  following month (``PAY_0`` is September, ``PAY_2`` August, … ``PAY_6``
  April): -2 (no spending), -1 (paid in full) and 0 (revolving credit, the
  minimum paid) count as paid on the due date; k from 1 to 8 counts as paid
  30·k days after the due date. A settlement date after ``AS_OF`` is set to
  ``AS_OF``, because a statement still unpaid then is carried in the
  September statement's balance.
- The September statement has no following month in the data, so it is the
  open balance at ``AS_OF`` (2005-10-31), 11 days past due.
- Each positive ``PAY_AMTn`` becomes a payment on the last day of its month,
  not matched to an invoice.

An account that is already stored is left as it is and counted as
unchanged, so importing the file twice changes nothing.
"""

from __future__ import annotations

import calendar
import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from storage.models import Account, Invoice, Payment

SOURCE = "uci-credit"
CURRENCY = "TWD"
AS_OF = date(2005, 10, 31)
DUE_DAYS = 20
DAYS_PER_MONTH_LATE = 30
# Month of BILL_AMTn and PAY_AMTn for n = 1..6, and the status column of the same month.
MONTHS = {1: 9, 2: 8, 3: 7, 4: 6, 5: 5, 6: 4}
STATUS_COLUMNS = {9: "PAY_0", 8: "PAY_2", 7: "PAY_3", 6: "PAY_4", 5: "PAY_5", 4: "PAY_6"}
REQUIRED_COLUMNS = ("ID", *STATUS_COLUMNS.values(), *(f"BILL_AMT{n}" for n in MONTHS), *(f"PAY_AMT{n}" for n in MONTHS))
BATCH_SIZE = 1000


class UciFileError(Exception):
    """The file cannot be imported as a whole; nothing was written."""


@dataclass
class UciImportReport:
    rows_read: int = 0
    accounts_added: int = 0
    invoices_added: int = 0
    payments_added: int = 0
    unchanged: int = 0
    # (line number, column, value, message)
    errors: list[tuple[int, str, str, str]] = field(default_factory=list)


def statement_date(month: int) -> date:
    return date(2005, month, calendar.monthrange(2005, month)[1])


def settled_on(due: date, status: int) -> date:
    """Return the settlement date of a statement repaid with the following month's ``status``."""
    settled = due + timedelta(days=DAYS_PER_MONTH_LATE * max(0, status))
    return min(settled, AS_OF)


def import_uci_credit(session: Session, path: Path, *, on_progress: Callable[[int, int], None] | None = None) -> UciImportReport:
    """Load the file at ``path`` into ``session``; the caller commits."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError) as error:
        raise UciFileError(f"cannot read {path}: {error}") from None
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise UciFileError(f"{path} is missing the columns {', '.join(missing)}; is it the UCI credit card clients CSV?")

    report = UciImportReport()
    existing = set(session.scalars(select(Account.id).where(Account.source == SOURCE)))
    accounts: list[dict[str, object]] = []
    invoices: list[dict[str, object]] = []
    payments: list[dict[str, object]] = []
    for line, row in enumerate(rows, start=2):
        report.rows_read += 1
        parsed = _parse_row(row, line, report)
        if parsed is None:
            continue
        client_id, values = parsed
        account_id = f"UCI-{client_id:05d}"
        if account_id in existing:
            report.unchanged += 1
            continue
        existing.add(account_id)
        accounts.append({"id": account_id, "segment": "consumer", "currency": CURRENCY, "standing": "open", "source": SOURCE, "status": "collections"})
        invoices.extend(_invoices(account_id, values))
        payments.extend(_payments(account_id, values))
        if len(accounts) >= BATCH_SIZE:
            _flush(session, accounts, invoices, payments, report)
        if on_progress and report.rows_read % BATCH_SIZE == 0:
            on_progress(report.rows_read, len(rows))
    _flush(session, accounts, invoices, payments, report)
    if on_progress:
        on_progress(report.rows_read, len(rows))
    return report


def _parse_row(row: dict[str, str], line: int, report: UciImportReport) -> tuple[int, dict[str, int]] | None:
    values = {}
    for column in REQUIRED_COLUMNS:
        text = (row.get(column) or "").strip()
        try:
            values[column] = int(text)
        except ValueError:
            report.errors.append((line, column, text, "not a whole number; the file's values are integers"))
            return None
    for column in STATUS_COLUMNS.values():
        if not -2 <= values[column] <= 8:
            report.errors.append((line, column, str(values[column]), "repayment status must be from -2 to 8"))
            return None
    return values["ID"], values


def _invoices(account_id: str, values: dict[str, int]) -> list[dict[str, object]]:
    invoices = []
    for n, month in MONTHS.items():
        amount = values[f"BILL_AMT{n}"]
        if amount <= 0:
            continue
        issued = statement_date(month)
        due = issued + timedelta(days=DUE_DAYS)
        next_status = STATUS_COLUMNS.get(month + 1)
        settled = None if next_status is None else settled_on(due, values[next_status])
        invoices.append(
            {
                "invoice_number": f"{account_id}-2005-{month:02d}",
                "account_id": account_id,
                "invoice_date": issued,
                "due_date": due,
                "amount": Decimal(amount),
                "disputed": False,
                "settled_date": settled,
            }
        )
    return invoices


def _payments(account_id: str, values: dict[str, int]) -> list[dict[str, object]]:
    return [
        {"account_id": account_id, "paid_on": statement_date(month), "amount": Decimal(values[f"PAY_AMT{n}"]), "source": SOURCE}
        for n, month in MONTHS.items()
        if values[f"PAY_AMT{n}"] > 0
    ]


def _flush(session: Session, accounts: list, invoices: list, payments: list, report: UciImportReport) -> None:
    if accounts:
        session.execute(insert(Account), accounts)
    if invoices:
        session.execute(insert(Invoice), invoices)
    if payments:
        session.execute(insert(Payment), payments)
    report.accounts_added += len(accounts)
    report.invoices_added += len(invoices)
    report.payments_added += len(payments)
    accounts.clear()
    invoices.clear()
    payments.clear()
