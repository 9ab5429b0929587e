"""Import accounts, invoices and payments from an accounts receivable CSV file.

The file has the columns of IBM's accounts receivable sample (see
``examples/data/README.md``)::

    countryCode,customerID,PaperlessDate,invoiceNumber,InvoiceDate,DueDate,
    InvoiceAmount,Disputed,SettledDate,PaperlessBill,DaysToSettle,DaysLate

Dates are ``M/D/YYYY``, amounts are decimal numbers with at most two decimal
places, ``Disputed`` is ``Yes`` or ``No``, and a blank ``SettledDate`` means
the invoice is still open. ``DaysToSettle`` and ``DaysLate`` follow from the
dates, so the importer does not read them.

Rows with invalid values are skipped and reported. Valid rows still load. An
invoice number that is already stored is never overwritten: the row counts
as unchanged when its values match the stored invoice and is reported as a
conflict when they differ, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import Account, Invoice, Payment

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = (
    "customerID",
    "invoiceNumber",
    "InvoiceDate",
    "DueDate",
    "InvoiceAmount",
    "Disputed",
    "SettledDate",
)
# Read when present. A file without them loads with these fields left empty.
OPTIONAL_COLUMNS = ("countryCode", "PaperlessDate", "PaperlessBill")

PAYMENT_SOURCE = "import"

CENT = Decimal("0.01")
# Money is stored as a signed 64-bit count of cents.
MAX_AMOUNT = Decimal(2**63 - 1).scaleb(-2)

# Lengths of the String columns the values go into.
MAX_LENGTHS = {"customerID": 64, "invoiceNumber": 64, "countryCode": 16, "PaperlessBill": 32}

# Bind parameters per IN (...) query, well under SQLite's limit.
LOOKUP_BATCH_SIZE = 500

DATE_PATTERN = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
# [0-9], not \d, so digits of other scripts are rejected as in the Slack form.
AMOUNT_PATTERN = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
DISPUTED_VALUES = {"yes": True, "no": False}


class ImportFileError(Exception):
    """The file as a whole cannot be imported, so no row was read into the session."""


@dataclass(frozen=True)
class RowError:
    """A problem with one value in one row of the file."""

    # Physical line number in the file, counting the header as line 1.
    row: int
    # CSV column name, or None when the problem concerns the whole row.
    column: str | None
    # The value as written in the file.
    value: str | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.row}" if self.column is None else f"line {self.row}, column {self.column}"
        return f"{where}: {self.message}"


@dataclass
class ImportReport:
    """Counts of what one import added, left unchanged and rejected."""

    rows_read: int = 0
    accounts_added: int = 0
    invoices_added: int = 0
    payments_added: int = 0
    # Rows whose invoice number was already stored, or appeared earlier in
    # the file, with the same values.
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        """Number of rows not imported because of at least one error."""
        return len({error.row for error in self.errors})


@dataclass(frozen=True)
class _InvoiceRow:
    line: int
    customer_id: str
    country_code: str | None
    paperless_date: date | None
    invoice_number: str
    invoice_date: date
    due_date: date
    amount: Decimal
    disputed: bool
    settled_date: date | None
    paperless_bill: str | None


def import_invoices(
    session: Session,
    path: Path,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Add the accounts, invoices and payments in the CSV file at ``path`` to ``session``.

    Each new account gets an :class:`Account`, each new invoice an
    :class:`Invoice`, and each new settled invoice a :class:`Payment` of its
    full amount on its settled date. The function flushes but does not
    commit: the caller commits, or rolls back to discard the import.

    ``on_progress(done_rows, total_rows)`` is called about every 1% of the
    rows and once at the end.

    Raises :class:`ImportFileError` when the file is empty, is not UTF-8
    text, cannot be parsed as CSV or lacks a required column. The session is
    left untouched in that case.
    """
    path = Path(path)
    header, records = read_records(path)
    positions = column_positions(path, header)
    total = len(records)
    report = ImportReport(rows_read=total)

    batch = _ImportBatch(
        accounts=_load_accounts(session, {_raw_value(fields, positions, "customerID") for _, fields in records}),
        invoices=_load_invoices(session, {_raw_value(fields, positions, "invoiceNumber") for _, fields in records}),
        compared_columns=[name for name in _INVOICE_FIELDS if name in positions],
    )
    progress_interval = max(1, total // 100)

    for done, (line, fields) in enumerate(records, start=1):
        row, errors = _parse_row(line, fields, header, positions)
        if row is not None:
            errors = batch.add(row)
        report.errors.extend(errors)
        if on_progress is not None and done % progress_interval == 0 and done < total:
            on_progress(done, total)

    session.add_all(batch.new_accounts)
    session.add_all(batch.new_invoices)
    # The flush assigns the invoice ids that the payments refer to.
    session.flush()
    payments = [_payment_for(invoice) for invoice in batch.new_invoices if invoice.settled_date is not None]
    session.add_all(payments)
    session.flush()

    report.accounts_added = len(batch.new_accounts)
    report.invoices_added = len(batch.new_invoices)
    report.payments_added = len(payments)
    report.unchanged = batch.unchanged
    if on_progress is not None:
        on_progress(total, total)

    logger.info(
        "Imported %s: %d rows read, %d accounts, %d invoices and %d payments added, %d unchanged, %d skipped",
        path,
        report.rows_read,
        report.accounts_added,
        report.invoices_added,
        report.payments_added,
        report.unchanged,
        report.skipped,
    )
    return report


# Reading the file


def read_records(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Read the header and the non-blank rows, each with the line it starts on."""
    records: list[tuple[int, list[str]]] = []
    try:
        # utf-8-sig drops the byte order mark that spreadsheet exports add.
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise ImportFileError(f"{path} is empty; expected a header line naming the columns")
            next_line = reader.line_num + 1
            for fields in reader:
                # A quoted field can span lines, so a row starts on the line
                # after the end of the previous one.
                line = next_line
                next_line = reader.line_num + 1
                if any(value.strip() for value in fields):
                    records.append((line, fields))
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"{path} is not UTF-8 text (byte {exc.start} cannot be decoded); save the file as UTF-8 CSV and import it again"
        ) from exc
    except csv.Error as exc:
        raise ImportFileError(f"{path} line {reader.line_num} is not valid CSV: {exc}") from exc
    return [name.strip() for name in header], records


def column_positions(
    path: Path, header: list[str], required: tuple[str, ...] = REQUIRED_COLUMNS, optional: tuple[str, ...] = OPTIONAL_COLUMNS
) -> dict[str, int]:
    """Map each known column name to its position in the header; raise ImportFileError for a missing or repeated one."""
    known = required + optional
    duplicates = sorted({name for name in header if name in known and header.count(name) > 1})
    if duplicates:
        raise ImportFileError(f"{path} has duplicate columns: {', '.join(duplicates)}; each column may appear once")

    missing = [name for name in required if name not in header]
    if missing:
        raise ImportFileError(
            f"{path} is missing required columns: {', '.join(missing)}. "
            f"The header must contain {', '.join(required)}; it has {', '.join(header) if any(header) else 'no column names'}."
        )
    return {name: header.index(name) for name in known if name in header}


def _raw_value(fields: list[str], positions: dict[str, int], column: str) -> str:
    position = positions[column]
    return fields[position].strip() if position < len(fields) else ""


# Checking one row


def _parse_row(
    line: int, fields: list[str], header: list[str], positions: dict[str, int]
) -> tuple[_InvoiceRow | None, list[RowError]]:
    """Convert one row's values, or return every problem found in it."""
    if len(fields) != len(header):
        message = f"row has {len(fields)} fields but the header has {len(header)}; check for a missing or extra comma"
        return None, [RowError(line, None, None, message)]

    errors: list[RowError] = []

    def string_value(column: str, *, required: bool) -> str | None:
        if column not in positions:
            return None
        value = _raw_value(fields, positions, column)
        if not value:
            if required:
                errors.append(RowError(line, column, value, f"{column} is missing; every invoice needs one"))
            return None
        limit = MAX_LENGTHS.get(column)
        if limit is not None and len(value) > limit:
            message = f"{column} is {len(value)} characters long; at most {limit} are allowed"
            errors.append(RowError(line, column, value, message))
            return None
        return value

    def date_value(column: str, *, required: bool) -> date | None:
        if column not in positions:
            return None
        value = _raw_value(fields, positions, column)
        if not value:
            if required:
                message = f"{column} is missing; expected a date as M/D/YYYY, for example 1/31/2013"
                errors.append(RowError(line, column, value, message))
            return None
        parsed = _parse_date(value)
        if parsed is None:
            message = f"{column} {value!r} is not a valid date; expected M/D/YYYY, for example 1/31/2013"
            errors.append(RowError(line, column, value, message))
        return parsed

    customer_id = string_value("customerID", required=True)
    country_code = string_value("countryCode", required=False)
    invoice_number = string_value("invoiceNumber", required=True)
    paperless_bill = string_value("PaperlessBill", required=False)
    paperless_date = date_value("PaperlessDate", required=False)
    invoice_date = date_value("InvoiceDate", required=True)
    due_date = date_value("DueDate", required=True)
    settled_date = date_value("SettledDate", required=False)

    amount_text = _raw_value(fields, positions, "InvoiceAmount")
    amount, amount_problem = parse_amount(amount_text)
    if amount_problem is not None:
        errors.append(RowError(line, "InvoiceAmount", amount_text, amount_problem))

    disputed_text = _raw_value(fields, positions, "Disputed")
    disputed = DISPUTED_VALUES.get(disputed_text.lower())
    if disputed is None:
        errors.append(RowError(line, "Disputed", disputed_text, f"Disputed {disputed_text!r} is not Yes or No"))

    if invoice_date is not None and due_date is not None and due_date < invoice_date:
        message = (
            f"DueDate {_csv_text(due_date)} is before InvoiceDate {_csv_text(invoice_date)}; "
            "expected a due date on or after it"
        )
        errors.append(RowError(line, "DueDate", _raw_value(fields, positions, "DueDate"), message))
    if invoice_date is not None and settled_date is not None and settled_date < invoice_date:
        message = (
            f"SettledDate {_csv_text(settled_date)} is before InvoiceDate {_csv_text(invoice_date)}; "
            "expected a settled date on or after it, or blank for an open invoice"
        )
        errors.append(RowError(line, "SettledDate", _raw_value(fields, positions, "SettledDate"), message))

    if errors:
        return None, errors

    # Every required value was checked above, so none of these is None here.
    assert customer_id is not None and invoice_number is not None
    assert invoice_date is not None and due_date is not None
    assert amount is not None and disputed is not None
    row = _InvoiceRow(
        line=line,
        customer_id=customer_id,
        country_code=country_code,
        paperless_date=paperless_date,
        invoice_number=invoice_number,
        invoice_date=invoice_date,
        due_date=due_date,
        amount=amount,
        disputed=disputed,
        settled_date=settled_date,
        paperless_bill=paperless_bill,
    )
    return row, []


def _parse_date(value: str) -> date | None:
    match = DATE_PATTERN.fullmatch(value)
    if match is None:
        return None
    month, day_of_month, year = (int(part) for part in match.groups())
    try:
        return date(year, month, day_of_month)
    except ValueError:
        return None


def parse_amount(value: str, column: str = "InvoiceAmount") -> tuple[Decimal | None, str | None]:
    """Return the amount, or None and a message naming ``column`` and saying what is wrong with it."""
    if not value:
        return None, f"{column} is missing; expected a decimal number such as 55.94"
    # The pattern rejects forms that Decimal would accept but an invoice
    # amount never has: exponents, underscores, NaN and Infinity.
    if AMOUNT_PATTERN.fullmatch(value) is None:
        return None, f"{column} {value!r} is not a valid amount; expected a decimal number such as 55.94"
    amount = Decimal(value)
    if amount < 0:
        return None, f"{column} {value} is negative; expected an amount of 0 or more"
    if amount > MAX_AMOUNT:
        return None, f"{column} {value} is too large; the maximum is {MAX_AMOUNT}"
    if amount != amount.quantize(CENT):
        return None, f"{column} {value} has more than 2 decimal places; expected whole cents such as 55.94"
    # abs() turns "-0.00" into 0.00, the only negative-signed amount left.
    return abs(amount.quantize(CENT)), None


# Comparing a row with what is already stored


class _ImportBatch:
    """Accounts and invoices already known, and the ones this import adds."""

    def __init__(self, accounts: dict[str, Account], invoices: dict[str, Invoice], compared_columns: list[str]):
        self.accounts = accounts
        self.invoices = invoices
        self.compared_columns = compared_columns
        self.new_accounts: list[Account] = []
        self.new_invoices: list[Invoice] = []
        self.unchanged = 0
        # Line of the row that added each new invoice, for conflict messages.
        self.added_on_line: dict[str, int] = {}

    def add(self, row: _InvoiceRow) -> list[RowError]:
        """Add the row's invoice and, if new, its account, or return why it was not added."""
        account = self.accounts.get(row.customer_id)
        errors = _account_conflicts(row, account)
        if errors:
            return errors

        invoice = self.invoices.get(row.invoice_number)
        if invoice is not None:
            errors = _invoice_conflicts(
                row, invoice, self.compared_columns, self.added_on_line.get(row.invoice_number)
            )
            if not errors:
                self.unchanged += 1
            return errors

        if account is None:
            account = Account(id=row.customer_id, country_code=row.country_code, paperless_date=row.paperless_date)
            self.accounts[account.id] = account
            self.new_accounts.append(account)
        invoice = _new_invoice(row)
        self.invoices[invoice.invoice_number] = invoice
        self.new_invoices.append(invoice)
        self.added_on_line[invoice.invoice_number] = row.line
        return []

# Invoice attribute behind each CSV column that a re-import compares.
_INVOICE_FIELDS = {
    "customerID": "account_id",
    "InvoiceDate": "invoice_date",
    "DueDate": "due_date",
    "InvoiceAmount": "amount",
    "Disputed": "disputed",
    "SettledDate": "settled_date",
    "PaperlessBill": "paperless_bill",
}

# Row attribute for each compared CSV column, where it differs from the invoice's.
_ROW_FIELDS = {"customerID": "customer_id"}


def _account_conflicts(row: _InvoiceRow, account: Account | None) -> list[RowError]:
    """Return an error for each account detail that disagrees with the account already known.

    A value that is blank on either side is not a conflict, because an
    account created elsewhere may lack it.
    """
    if account is None:
        return []
    errors = []
    pairs = (
        ("countryCode", account.country_code, row.country_code),
        ("PaperlessDate", account.paperless_date, row.paperless_date),
    )
    for column, account_value, row_value in pairs:
        if account_value is not None and row_value is not None and account_value != row_value:
            message = (
                f"customer {row.customer_id} has {column} {_csv_text(account_value)}, but this row has "
                f"{_csv_text(row_value)}; accounts are not overwritten, so correct the file or the account"
            )
            errors.append(RowError(row.line, column, _csv_text(row_value), message))
    return errors


def _invoice_conflicts(
    row: _InvoiceRow, invoice: Invoice, columns: Iterable[str], added_on_line: int | None
) -> list[RowError]:
    """Return an error for each value that differs from the invoice with the same number."""
    if added_on_line is None:
        where = "is already stored"
    else:
        where = f"appears on line {added_on_line}"
    errors = []
    for column in columns:
        invoice_value = getattr(invoice, _INVOICE_FIELDS[column])
        row_value = getattr(row, _ROW_FIELDS.get(column, _INVOICE_FIELDS[column]))
        if invoice_value != row_value:
            message = (
                f"invoice {row.invoice_number} {where} with {column} {_csv_text(invoice_value)}, but this row has "
                f"{_csv_text(row_value)}; invoices are not overwritten, so correct the file or the stored invoice"
            )
            errors.append(RowError(row.line, column, _csv_text(row_value), message))
    return errors


def _csv_text(value: object) -> str:
    """Format a value as the file writes it, so messages quote comparable text."""
    if value is None:
        return "(blank)"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, date):
        return f"{value.month}/{value.day}/{value.year}"
    return str(value)


# Building and loading rows


def _new_invoice(row: _InvoiceRow) -> Invoice:
    return Invoice(
        invoice_number=row.invoice_number,
        account_id=row.customer_id,
        invoice_date=row.invoice_date,
        due_date=row.due_date,
        amount=row.amount,
        disputed=row.disputed,
        settled_date=row.settled_date,
        paperless_bill=row.paperless_bill,
    )


def _payment_for(invoice: Invoice) -> Payment:
    return Payment(
        account_id=invoice.account_id,
        invoice_id=invoice.id,
        paid_on=invoice.settled_date,
        amount=invoice.amount,
        source=PAYMENT_SOURCE,
    )


def _load_invoices(session: Session, numbers: set[str]) -> dict[str, Invoice]:
    invoices: dict[str, Invoice] = {}
    for batch in _batches(sorted(numbers - {""})):
        for invoice in session.scalars(select(Invoice).where(Invoice.invoice_number.in_(batch))):
            invoices[invoice.invoice_number] = invoice
    return invoices


def _load_accounts(session: Session, ids: set[str]) -> dict[str, Account]:
    accounts: dict[str, Account] = {}
    for batch in _batches(sorted(ids - {""})):
        for account in session.scalars(select(Account).where(Account.id.in_(batch))):
            accounts[account.id] = account
    return accounts


def _batches(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), LOOKUP_BATCH_SIZE):
        yield values[start : start + LOOKUP_BATCH_SIZE]
