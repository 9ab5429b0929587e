"""Convert source rows, keyed by payplan's field names, into connector records.

Both APIs return JSON: Salesforce numbers and booleans, NetSuite mostly
strings ("T"/"F" for booleans). Each converter accepts either form and raises
RecordError naming the record and field when a value cannot be used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from dateutil.parser import isoparse

from storage.connectors.base import SourceAccount, SourceContact, SourceInvoice, SourcePayment

CENT = Decimal("0.01")
TRUE_VALUES = {"true", "t", "yes", "y", "1"}
FALSE_VALUES = {"false", "f", "no", "n", "0", ""}


class RecordError(ValueError):
    """One source record has a value payplan cannot store; the record is skipped and reported."""


Record = TypeVar("Record")


def convert_each(rows: Iterable[Mapping[str, Any]], convert: Callable[[Mapping[str, Any]], Record]) -> Iterator[Record | RecordError]:
    """Convert rows one by one, yielding the RecordError of a row that cannot be used in its place.

    The error is yielded, not raised, because an exception would end the
    generator and lose every later row of the query.
    """
    for row in rows:
        try:
            yield convert(row)
        except RecordError as error:
            yield error


def to_account(row: Mapping[str, Any]) -> SourceAccount:
    record_id = _required_text(row, "id", "account")
    return SourceAccount(
        external_id=record_id,
        name=_text(row.get("name")),
        country_code=_text(row.get("country_code")),
        last_modified=_datetime(row, "last_modified", record_id),
    )


def to_invoice(row: Mapping[str, Any]) -> SourceInvoice:
    record_id = _required_text(row, "id", "invoice")
    return SourceInvoice(
        external_id=record_id,
        account_id=_required_text(row, "account", f"invoice {record_id}"),
        number=_required_text(row, "number", f"invoice {record_id}"),
        invoice_date=_required_date(row, "invoice_date", record_id),
        due_date=_required_date(row, "due_date", record_id),
        amount=_amount(row, "amount", record_id),
        disputed=_boolean(row, "disputed", record_id),
        settled_date=_date(row, "settled_date", record_id),
        last_modified=_datetime(row, "last_modified", record_id),
    )


def to_payment(row: Mapping[str, Any]) -> SourcePayment:
    record_id = _required_text(row, "id", "payment")
    return SourcePayment(
        external_id=record_id,
        account_id=_required_text(row, "account", f"payment {record_id}"),
        paid_on=_required_date(row, "paid_on", record_id),
        amount=_amount(row, "amount", record_id),
        last_modified=_datetime(row, "last_modified", record_id),
    )


def to_contact(row: Mapping[str, Any]) -> SourceContact:
    record_id = _required_text(row, "id", "contact")
    return SourceContact(
        external_id=record_id,
        account_id=_required_text(row, "account", f"contact {record_id}"),
        name=_text(row.get("name")),
        email=_text(row.get("email")),
        phone=_text(row.get("phone")),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _required_text(row: Mapping[str, Any], key: str, what: str) -> str:
    value = _text(row.get(key))
    if value is None:
        raise RecordError(f"{what} has no {key}")
    return value


def _date(row: Mapping[str, Any], key: str, record_id: str) -> date | None:
    value = _text(row.get(key))
    if value is None:
        return None
    try:
        # A datetime value (some orgs use a DateTime field) keeps its UTC date.
        return date.fromisoformat(value) if len(value) == 10 else _as_utc(isoparse(value)).date()
    except ValueError:
        raise RecordError(f"record {record_id}: {key} {value!r} is not an ISO 8601 date") from None


def _required_date(row: Mapping[str, Any], key: str, record_id: str) -> date:
    value = _date(row, key, record_id)
    if value is None:
        raise RecordError(f"record {record_id}: {key} is empty")
    return value


def _datetime(row: Mapping[str, Any], key: str, record_id: str) -> datetime | None:
    value = _text(row.get(key))
    if value is None:
        return None
    try:
        return _as_utc(isoparse(value))
    except ValueError:
        raise RecordError(f"record {record_id}: {key} {value!r} is not an ISO 8601 time") from None


def _as_utc(moment: datetime) -> datetime:
    # A time without an offset is read as UTC; NetSuite's query selects it in UTC.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _amount(row: Mapping[str, Any], key: str, record_id: str) -> Decimal:
    value = row.get(key)
    if isinstance(value, float):
        raise RecordError(f"record {record_id}: {key} was parsed as a float; parse the response with exact decimals")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, AttributeError):
        raise RecordError(f"record {record_id}: {key} {value!r} is not an amount") from None
    if not amount.is_finite():
        raise RecordError(f"record {record_id}: {key} {value!r} is not an amount")
    if amount != amount.quantize(CENT):
        raise RecordError(f"record {record_id}: {key} {value} has more than 2 decimal places")
    return amount.quantize(CENT)


def _boolean(row: Mapping[str, Any], key: str, record_id: str) -> bool:
    value = row.get(key)
    if isinstance(value, bool):
        return value
    text = "" if value is None else str(value).strip().lower()
    if text in TRUE_VALUES:
        return True
    if text in FALSE_VALUES:
        return False
    raise RecordError(f"record {record_id}: {key} {value!r} is not true or false")
