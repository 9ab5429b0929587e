"""The connector interface and the records connectors return.

A connector reads accounts, invoices, payments and contacts from one source
system and, where the source allows it, writes a plan's state back to the
account's record there. Record ids are the source's own ids; amounts are
Decimal, dates are dates, and last-modified times are aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable


class ConnectorError(Exception):
    """A source system call failed; the message names the source and what to check."""


class ConnectorUnavailable(ConnectorError):
    """The source timed out, or kept failing after the bounded retries."""


class MappingError(ConnectorError):
    """The object and field mapping is invalid or names fields the source does not have."""


@dataclass(frozen=True)
class SourceAccount:
    external_id: str
    name: str | None
    country_code: str | None
    last_modified: datetime | None


@dataclass(frozen=True)
class SourceInvoice:
    external_id: str
    account_id: str
    number: str
    invoice_date: date
    due_date: date
    amount: Decimal
    disputed: bool
    # None while the invoice is open.
    settled_date: date | None
    last_modified: datetime | None


@dataclass(frozen=True)
class SourcePayment:
    external_id: str
    account_id: str
    paid_on: date
    amount: Decimal
    last_modified: datetime | None


@dataclass(frozen=True)
class SourceContact:
    external_id: str
    account_id: str
    name: str | None
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class PlanStatusUpdate:
    """A plan's state as written to the account's record in the source."""

    account_id: str
    request_id: int
    status: str
    revision: int
    # Installments as {"sequence", "due_date", "amount"} with ISO dates and decimal strings.
    schedule: list[dict[str, Any]] = field(default_factory=list)
    # The approval outcome in words, for example "approved by collections_manager U012AB3CD".
    outcome: str = ""


@runtime_checkable
class Connector(Protocol):
    """Read access to one source system, and write-back where ``supports_write_back`` is true."""

    name: str
    supports_write_back: bool

    def fetch_account(self, account_id: str) -> SourceAccount | None: ...

    def fetch_open_invoices(self, account_id: str) -> list[SourceInvoice]: ...

    def fetch_payments(self, account_id: str) -> list[SourcePayment]: ...

    def fetch_contacts(self, account_id: str) -> list[SourceContact]: ...

    def write_plan_status(self, update: PlanStatusUpdate) -> None: ...


@runtime_checkable
class IncrementalSource(Connector, Protocol):
    """A connector that lists records changed since a last-modified time, for ``payplan sync``.

    ``since=None`` lists every record. Records modified exactly at ``since``
    are listed again, so a record saved in the same second as the previous
    sync's last record is not missed; storing it again changes nothing. A
    record that cannot be converted is yielded as its RecordError (a
    ValueError), so the records after it are still read.
    """

    def check_mapping(self) -> None: ...

    def changed_accounts(self, since: datetime | None) -> Iterator[SourceAccount | ValueError]: ...

    def changed_invoices(self, since: datetime | None) -> Iterator[SourceInvoice | ValueError]: ...

    def changed_payments(self, since: datetime | None) -> Iterator[SourcePayment | ValueError]: ...
