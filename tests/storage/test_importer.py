"""CSV import of accounts, invoices and payments."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from storage.importer import ImportFileError, ImportReport, RowError, import_invoices
from storage.models import Account, Invoice, Payment

HEADER = (
    "countryCode,customerID,PaperlessDate,invoiceNumber,InvoiceDate,DueDate,"
    "InvoiceAmount,Disputed,SettledDate,PaperlessBill,DaysToSettle,DaysLate"
)


def csv_row(
    *,
    customer: str = "GOOD-1",
    number: str = "0000000001",
    invoice_date: str = "1/2/2013",
    due_date: str = "2/1/2013",
    amount: str = "55.94",
    disputed: str = "No",
    settled: str = "1/15/2013",
    country: str = "391",
) -> str:
    return f"{country},{customer},4/6/2013,{number},{invoice_date},{due_date},{amount},{disputed},{settled},Paper,13,0"


def write_csv(directory: Path, lines: list[str], name: str = "invoices.csv") -> Path:
    path = directory / name
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    return path


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# The real example file


def test_example_file_loads_every_row(session: Session, example_csv: Path, database_url: str) -> None:
    progress: list[tuple[int, int]] = []

    started = time.perf_counter()
    report = import_invoices(session, example_csv, on_progress=lambda done, total: progress.append((done, total)))
    session.commit()
    elapsed = time.perf_counter() - started

    assert report.errors == []
    assert report.rows_read == 2466
    assert report.invoices_added == 2466
    assert report.accounts_added == 100
    # Every invoice in the file is settled, so each gets a payment.
    assert report.payments_added == 2466
    assert report.unchanged == 0
    assert count(session, Invoice) == 2466
    assert count(session, Account) == 100
    assert count(session, Payment) == 2466
    if database_url.startswith("sqlite"):
        assert elapsed < 5, f"import took {elapsed:.2f} s"

    assert len(progress) > 10
    assert progress[-1] == (2466, 2466)
    assert all(total == 2466 for _, total in progress)
    done_counts = [done for done, _ in progress]
    assert done_counts == sorted(set(done_counts))


def test_example_file_values(session: Session, example_csv: Path) -> None:
    import_invoices(session, example_csv)
    session.commit()

    amounts = session.scalars(select(Invoice.amount)).all()
    assert sum(amounts, Decimal("0")) == Decimal("147703.18")
    assert all(isinstance(amount, Decimal) for amount in amounts)
    assert session.scalar(select(func.count()).where(Invoice.disputed.is_(True))) == 561

    # First data line: 391,0379-NEVHP,4/6/2013,0000611365,1/2/2013,2/1/2013,55.94,No,1/15/2013,Paper,13,0
    invoice = session.scalars(select(Invoice).where(Invoice.invoice_number == "0000611365")).one()
    assert invoice.account_id == "0379-NEVHP"
    assert invoice.invoice_date == date(2013, 1, 2)
    assert invoice.due_date == date(2013, 2, 1)
    assert invoice.amount == Decimal("55.94")
    assert invoice.disputed is False
    assert invoice.settled_date == date(2013, 1, 15)
    assert invoice.paperless_bill == "Paper"

    account = session.get(Account, "0379-NEVHP")
    assert account is not None
    assert account.country_code == "391"
    assert account.paperless_date == date(2013, 4, 6)


def test_example_file_payments_match_invoices(session: Session, example_csv: Path) -> None:
    import_invoices(session, example_csv)
    session.commit()

    pairs = session.execute(select(Payment, Invoice).join(Invoice, Payment.invoice_id == Invoice.id)).all()
    assert len(pairs) == 2466
    for payment, invoice in pairs:
        assert payment.amount == invoice.amount, invoice.invoice_number
        assert payment.paid_on == invoice.settled_date, invoice.invoice_number
        assert payment.account_id == invoice.account_id, invoice.invoice_number
        assert payment.source == "import", invoice.invoice_number


def test_second_import_changes_nothing(session_factory: sessionmaker[Session], example_csv: Path) -> None:
    with session_factory() as session:
        import_invoices(session, example_csv)
        session.commit()

    with session_factory() as session:
        report = import_invoices(session, example_csv)
        session.commit()

        assert report.errors == []
        assert report.unchanged == 2466
        assert report.invoices_added == 0
        assert report.accounts_added == 0
        assert report.payments_added == 0
        assert count(session, Invoice) == 2466
        assert count(session, Account) == 100
        assert count(session, Payment) == 2466


# Rejected rows

BAD_FILE_LINES = [
    HEADER,  # line 1
    csv_row(),  # line 2: good, settled
    csv_row(customer="", number="0000000003"),
    csv_row(customer="BAD-4", number=""),
    csv_row(customer="BAD-5", number="0000000005", invoice_date="2013-01-02"),
    csv_row(customer="BAD-6", number="0000000006", amount="12.5x"),
    csv_row(customer="BAD-7", number="0000000007", amount="-5.00"),
    csv_row(customer="BAD-8", number="0000000008", amount="10.005"),
    csv_row(customer="BAD-9", number="0000000009", invoice_date="3/1/2013", due_date="2/1/2013", settled=""),
    csv_row(customer="BAD-10", number="0000000010", settled="12/31/2012"),
    csv_row(customer="BAD-11", number="0000000011", disputed="Maybe"),
    csv_row(customer="GOOD-2", number="0000000012", settled=""),  # line 12: good, open
    csv_row(amount="56.00"),  # line 13: invoice of line 2 with another amount
    csv_row(),  # line 14: exact repeat of line 2
    "391,BAD-15,4/6/2013",
    "",  # line 16: blank, ignored
    csv_row(customer="BAD-17", number="0000000017", due_date="2/30/2013"),
    csv_row(number="0000000018", disputed="Yes", settled="3/1/2013"),  # line 18: good
]

# Line, column, value as written, and a phrase the message must contain.
EXPECTED_ERRORS = [
    (3, "customerID", "", "customerID is missing"),
    (4, "invoiceNumber", "", "invoiceNumber is missing"),
    (5, "InvoiceDate", "2013-01-02", "expected M/D/YYYY"),
    (6, "InvoiceAmount", "12.5x", "not a valid amount"),
    (7, "InvoiceAmount", "-5.00", "is negative"),
    (8, "InvoiceAmount", "10.005", "more than 2 decimal places"),
    (9, "DueDate", "2/1/2013", "before InvoiceDate"),
    (10, "SettledDate", "12/31/2012", "before InvoiceDate"),
    (11, "Disputed", "Maybe", "not Yes or No"),
    (13, "InvoiceAmount", "56.00", "appears on line 2 with InvoiceAmount 55.94"),
    (15, None, None, "row has 3 fields but the header has 12"),
    (17, "DueDate", "2/30/2013", "not a valid date"),
]


def import_bad_file(session: Session, tmp_path: Path) -> ImportReport:
    report = import_invoices(session, write_csv(tmp_path, BAD_FILE_LINES))
    session.commit()
    return report


def test_bad_rows_reported(session: Session, tmp_path: Path) -> None:
    report = import_bad_file(session, tmp_path)

    assert [error.row for error in report.errors] == [row for row, _, _, _ in EXPECTED_ERRORS]
    for error, (row, column, value, phrase) in zip(report.errors, EXPECTED_ERRORS):
        assert error.column == column, f"line {row}"
        assert error.value == value, f"line {row}"
        assert phrase in error.message, f"line {row}: {error.message}"


def test_bad_rows_skipped_good_rows_counted(session: Session, tmp_path: Path) -> None:
    report = import_bad_file(session, tmp_path)

    assert report.rows_read == 16
    assert report.skipped == 12
    assert report.invoices_added == 3
    assert report.accounts_added == 2
    assert report.payments_added == 2
    assert report.unchanged == 1


def test_bad_rows_good_rows_stored(session: Session, tmp_path: Path) -> None:
    import_bad_file(session, tmp_path)

    invoices = {invoice.invoice_number: invoice for invoice in session.scalars(select(Invoice))}
    assert sorted(invoices) == ["0000000001", "0000000012", "0000000018"]
    assert invoices["0000000001"].amount == Decimal("55.94")
    assert invoices["0000000012"].settled_date is None
    assert invoices["0000000018"].disputed is True
    assert sorted(session.scalars(select(Account.id))) == ["GOOD-1", "GOOD-2"]
    paid = session.scalars(select(Invoice.invoice_number).join(Payment, Payment.invoice_id == Invoice.id))
    assert sorted(paid) == ["0000000001", "0000000018"]


def test_row_with_several_errors_counted_once(session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path, [HEADER, csv_row(invoice_date="1/2/13", amount="abc", disputed="")])

    report = import_invoices(session, path)

    assert [(error.row, error.column) for error in report.errors] == [
        (2, "InvoiceDate"),
        (2, "InvoiceAmount"),
        (2, "Disputed"),
    ]
    assert report.skipped == 1
    assert report.invoices_added == 0


def test_changed_invoice_reported_as_conflict(session: Session, tmp_path: Path) -> None:
    import_invoices(session, write_csv(tmp_path, [HEADER, csv_row()], "first.csv"))
    session.commit()

    changed = write_csv(tmp_path, [HEADER, csv_row(settled="1/20/2013", disputed="Yes")], "second.csv")
    report = import_invoices(session, changed)
    session.commit()

    assert [(error.row, error.column, error.value) for error in report.errors] == [
        (2, "Disputed", "Yes"),
        (2, "SettledDate", "1/20/2013"),
    ]
    assert "is already stored with SettledDate 1/15/2013" in report.errors[1].message
    assert report.unchanged == 0
    stored = session.scalars(select(Invoice)).one()
    assert stored.settled_date == date(2013, 1, 15)
    assert stored.disputed is False


def test_account_details_conflict_reported(session: Session, tmp_path: Path) -> None:
    lines = [HEADER, csv_row(), csv_row(number="0000000002", country="406")]

    report = import_invoices(session, write_csv(tmp_path, lines))

    assert [(error.row, error.column, error.value) for error in report.errors] == [(3, "countryCode", "406")]
    assert "has countryCode 391" in report.errors[0].message
    assert report.invoices_added == 1


# Rejected files


def test_missing_columns_raise_and_write_nothing(session: Session, tmp_path: Path) -> None:
    header = "countryCode,customerID,PaperlessDate,invoiceNumber,InvoiceDate,DueDate,SettledDate,PaperlessBill"
    path = write_csv(tmp_path, [header, "391,GOOD-1,4/6/2013,0000000001,1/2/2013,2/1/2013,1/15/2013,Paper"])

    with pytest.raises(ImportFileError) as excinfo:
        import_invoices(session, path)
    session.commit()

    assert "missing required columns: InvoiceAmount, Disputed" in str(excinfo.value)
    assert count(session, Account) == 0
    assert count(session, Invoice) == 0


def test_empty_file_raises(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")

    with pytest.raises(ImportFileError, match="is empty"):
        import_invoices(session, path)


def test_non_utf8_file_raises(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\r\n" + csv_row(customer="CAF\xc9")).encode("latin-1"))

    with pytest.raises(ImportFileError, match="not UTF-8 text .*save the file as UTF-8"):
        import_invoices(session, path)


def test_byte_order_mark_and_lf_accepted(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeff" + HEADER + "\n" + csv_row() + "\n").encode())

    report = import_invoices(session, path)

    assert report.errors == []
    assert report.invoices_added == 1


def test_row_error_text_names_line_and_column() -> None:
    error = RowError(row=7, column="InvoiceAmount", value="-5.00", message="InvoiceAmount -5.00 is negative")

    assert str(error) == "line 7, column InvoiceAmount: InvoiceAmount -5.00 is negative"


def test_values_beyond_column_limits_rejected(session: Session, tmp_path: Path) -> None:
    lines = [
        HEADER,
        csv_row(customer="C" * 65),
        csv_row(number="0000000003", amount="100000000000000000.00"),
    ]

    report = import_invoices(session, write_csv(tmp_path, lines))

    assert [(error.row, error.column) for error in report.errors] == [(2, "customerID"), (3, "InvoiceAmount")]
    assert "at most 64 are allowed" in report.errors[0].message
    assert "is too large" in report.errors[1].message
    assert report.invoices_added == 0


def test_duplicate_column_raises(session: Session, tmp_path: Path) -> None:
    path = write_csv(tmp_path, [HEADER + ",DueDate", csv_row() + ",2/1/2013"])

    with pytest.raises(ImportFileError, match="duplicate columns: DueDate"):
        import_invoices(session, path)
