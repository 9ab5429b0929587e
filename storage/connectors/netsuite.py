"""NetSuite: SuiteQL over SuiteTalk REST with token-based authentication (OAuth 1.0a, HMAC-SHA256).

Every call carries an ``Authorization: OAuth`` header signed with the
integration record's consumer key and secret and an access token's id and
secret, with ``realm`` set to the account id (upper case, ``_SB1`` for a
sandbox). oauthlib builds the signature; the realm is not part of the
signature base string (RFC 5849, section 3.4.1.3.1). NetSuite no longer
accepts HMAC-SHA1 (since 2023.1).

Queries are POSTed to ``/services/rest/query/v1/suiteql`` with ``limit`` and
``offset`` in the URL and ``Prefer: transient``, and read page by page until
``hasMore`` is false. Token-based access tokens do not expire, so a 401 is
retried once with a fresh nonce and timestamp (a clock or nonce problem)
before it is reported as bad credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, Client
from pydantic import SecretStr

from storage.connectors.base import (
    ConnectorError,
    ConnectorUnavailable,
    MappingError,
    PlanStatusUpdate,
    SourceAccount,
    SourceContact,
    SourceInvoice,
    SourcePayment,
)
from storage.connectors.http import SourceHttpClient
from storage.connectors.mapping import NetSuiteSource
from storage.connectors.records import RecordError, convert_each, to_account, to_contact, to_invoice, to_payment

logger = logging.getLogger(__name__)

SUITEQL_PATH = "/services/rest/query/v1/suiteql"
RECORD_PATH = "/services/rest/record/v1"
DATE_FIELDS = {"invoice_date", "due_date", "settled_date", "paid_on"}
DATETIME_FIELDS = {"last_modified"}
# Column aliases get a prefix, because some logical names (number) are reserved words in SuiteQL.
ALIAS_PREFIX = "pp_"


@dataclass(frozen=True)
class NetSuiteCredentials:
    # The account id as NetSuite shows it, for example 1234567 or 1234567_SB1.
    account_id: str
    consumer_key: str
    consumer_secret: SecretStr
    token_id: str
    token_secret: SecretStr
    # Override of https://{account}.suitetalk.api.netsuite.com, for a proxy.
    base_url: str | None = None

    @property
    def realm(self) -> str:
        return self.account_id.upper().replace("-", "_")

    @property
    def rest_base_url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        host = self.account_id.lower().replace("_", "-")
        return f"https://{host}.suitetalk.api.netsuite.com"


class NetSuiteClient(SourceHttpClient):
    def __init__(self, credentials: NetSuiteCredentials, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.source_label = "NetSuite"
        self.credentials = credentials

    def oauth_client(self, **overrides: Any) -> Client:
        credentials = self.credentials
        return Client(
            credentials.consumer_key,
            client_secret=credentials.consumer_secret.get_secret_value(),
            resource_owner_key=credentials.token_id,
            resource_owner_secret=credentials.token_secret.get_secret_value(),
            signature_method=SIGNATURE_HMAC_SHA256,
            realm=credentials.realm,
            **overrides,
        )

    def resolve_url(self, url: str) -> str:
        if url.startswith("/"):
            return self.credentials.rest_base_url + url
        return url

    def authenticate(self, request: httpx.Request) -> None:
        # The JSON body is not signed: RFC 5849 signs only form-encoded bodies.
        _, headers, _ = self.oauth_client().sign(str(request.url), http_method=request.method)
        request.headers["Authorization"] = headers["Authorization"]

    def refresh(self) -> None:
        # Each attempt is signed with a new nonce and timestamp in authenticate().
        logger.info("NetSuite returned 401; signing the call again with a new nonce")

    def suiteql(self, query: str, *, page_size: int, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Run a SuiteQL query and yield every row, page by page until ``hasMore`` is false."""
        offset = 0
        while True:
            page = self.send_json(
                "POST",
                SUITEQL_PATH,
                params={"limit": page_size, "offset": offset},
                json={"q": query},
                headers={"Prefer": "transient"},
                timeout=timeout,
            )
            items = page.get("items", [])
            yield from items
            if not page.get("hasMore"):
                return
            if not items:
                raise ConnectorError(f"NetSuite returned hasMore=true with no rows at offset {offset}; the query cannot be continued")
            offset += len(items)

    def update_record(self, record_type: str, record_id: str, values: dict[str, Any]) -> None:
        self.send("PATCH", f"{RECORD_PATH}/{record_type}/{record_id}", json=values)


class NetSuiteConnector:
    """Reads the mapped records of one NetSuite account and writes plan state to its customer records."""

    def __init__(self, name: str, mapping: NetSuiteSource, client: NetSuiteClient) -> None:
        self.name = name
        self.mapping = mapping
        self.client = client
        self.supports_write_back = mapping.plan_status is not None

    def check_mapping(self) -> None:
        """Check the mapping against the account by running each query for one row.

        A field that does not exist fails the query with a 400 that names it.
        """
        for role, mapped in (("account", self.mapping.account), ("invoice", self.mapping.invoice), ("payment", self.mapping.payment)):
            try:
                next(iter(self.client.suiteql(self._query(mapped, None), page_size=1)), None)
            except ConnectorUnavailable:
                raise
            except ConnectorError as error:
                raise MappingError(f"NetSuite source {self.name!r}: the {role} mapping does not match the account: {error}") from None

    def changed_accounts(self, since: datetime | None) -> Iterator[SourceAccount | RecordError]:
        return convert_each(self._rows(self.mapping.account, self._since(self.mapping.account, since)), to_account)

    def changed_invoices(self, since: datetime | None) -> Iterator[SourceInvoice | RecordError]:
        return convert_each(self._rows(self.mapping.invoice, self._since(self.mapping.invoice, since)), to_invoice)

    def changed_payments(self, since: datetime | None) -> Iterator[SourcePayment | RecordError]:
        return convert_each(self._rows(self.mapping.payment, self._since(self.mapping.payment, since)), to_payment)

    def fetch_account(self, account_id: str, *, timeout: float | None = None) -> SourceAccount | None:
        condition = f"{self.mapping.account.fields.id} = {suiteql_string(account_id)}"
        rows = list(self._rows(self.mapping.account, condition, timeout=timeout))
        return to_account(rows[0]) if rows else None

    def fetch_open_invoices(self, account_id: str, *, timeout: float | None = None) -> list[SourceInvoice]:
        fields = self.mapping.invoice.fields
        condition = f"{fields.account} = {suiteql_string(account_id)} AND {fields.settled_date} IS NULL"
        return [to_invoice(row) for row in self._rows(self.mapping.invoice, condition, timeout=timeout)]

    def fetch_payments(self, account_id: str, *, timeout: float | None = None) -> list[SourcePayment]:
        condition = f"{self.mapping.payment.fields.account} = {suiteql_string(account_id)}"
        return [to_payment(row) for row in self._rows(self.mapping.payment, condition, timeout=timeout)]

    def fetch_contacts(self, account_id: str, *, timeout: float | None = None) -> list[SourceContact]:
        if self.mapping.contact is None:
            return []
        condition = f"{self.mapping.contact.fields.account} = {suiteql_string(account_id)}"
        return [to_contact(row) for row in self._rows(self.mapping.contact, condition, timeout=timeout)]

    def write_plan_status(self, update: PlanStatusUpdate) -> None:
        target = self.mapping.plan_status
        if target is None:
            raise ConnectorError(f"NetSuite source {self.name!r} has no plan_status mapping, so nothing is written back")
        values: dict[str, Any] = {target.fields.status: update.status}
        if target.fields.schedule:
            values[target.fields.schedule] = "; ".join(
                f"{item['due_date']} {item['amount']}" for item in update.schedule
            )
        if target.fields.outcome:
            values[target.fields.outcome] = update.outcome
        self.client.update_record(target.object, update.account_id, values)

    def _since(self, mapped: Any, since: datetime | None) -> str | None:
        if since is None:
            return None
        moment = since.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        return f"{mapped.fields.last_modified} >= TO_DATE('{moment}', 'YYYY-MM-DD HH24:MI:SS')"

    def _query(self, mapped: Any, condition: str | None) -> str:
        fields = mapped.fields.model_dump(exclude_none=True)
        columns = [f"{_select_expression(logical, name)} AS {ALIAS_PREFIX}{logical}" for logical, name in fields.items()]
        conditions = [part for part in (condition, getattr(mapped, "where", None)) if part]
        query = f"SELECT {', '.join(columns)} FROM {mapped.object}"
        if conditions:
            query += " WHERE " + " AND ".join(f"({part})" for part in conditions)
        # Paging needs a unique, stable order, or rows can repeat or go missing between pages.
        order = [fields["last_modified"]] if "last_modified" in fields else []
        return query + f" ORDER BY {', '.join(order + [fields['id']])} ASC"

    def _rows(self, mapped: Any, condition: str | None, *, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        page_size = self.mapping.page_size
        for item in self.client.suiteql(self._query(mapped, condition), page_size=page_size, timeout=timeout):
            yield {key[len(ALIAS_PREFIX):]: value for key, value in item.items() if key.startswith(ALIAS_PREFIX)}


def _select_expression(logical: str, field_name: str) -> str:
    # NetSuite formats dates by the user's preferences unless a format is given.
    # NOTE: TO_CHAR gives times in the token user's time zone; set that user's
    # time zone to UTC in NetSuite, or last-modified times are offset by it.
    if logical in DATE_FIELDS:
        return f"TO_CHAR({field_name}, 'YYYY-MM-DD')"
    if logical in DATETIME_FIELDS:
        return f"TO_CHAR({field_name}, 'YYYY-MM-DD\"T\"HH24:MI:SS')"
    return field_name


def suiteql_string(value: str) -> str:
    """Quote ``value`` as a SuiteQL string literal."""
    return "'" + value.replace("'", "''") + "'"
