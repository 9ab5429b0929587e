"""Salesforce: SOQL queries over the REST API, OAuth 2.0 client credentials or JWT bearer flow.

Token requests go to ``{login_url}/services/oauth2/token``. The client
credentials flow sends the connected app's consumer key and secret; the JWT
bearer flow sends an RS256-signed assertion (issuer: consumer key, subject:
the integration user's username, audience: the login URL) that expires
three minutes after it is made. The token response contains the ``instance_url`` that
every later call goes to.

Queries go to ``/services/data/vXX.X/query`` and are followed through
``nextRecordsUrl`` until ``done`` is true. A 401 (INVALID_SESSION_ID) gets a
new token once; a 429, or a 403 with REQUEST_LIMIT_EXCEEDED, is retried with
back-off (see :mod:`storage.connectors.http`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import httpx
import jwt
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
from storage.connectors.mapping import SalesforceSource
from storage.connectors.records import RecordError, convert_each, to_account, to_contact, to_invoice, to_payment

logger = logging.getLogger(__name__)

JWT_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME = timedelta(minutes=3)
TOKEN_PATH = "/services/oauth2/token"


@dataclass(frozen=True)
class SalesforceCredentials:
    # https://login.salesforce.com, https://test.salesforce.com or the org's My Domain URL.
    login_url: str
    client_id: str
    auth_flow: Literal["client_credentials", "jwt_bearer"]
    client_secret: SecretStr | None = None
    # The integration user for the JWT bearer flow.
    username: str | None = None
    # PEM text of the private key whose certificate is uploaded to the connected app.
    private_key: SecretStr | None = None

    def problems(self) -> list[str]:
        """Return what is missing for the chosen flow, by setting name."""
        missing = []
        if self.auth_flow == "client_credentials" and self.client_secret is None:
            missing.append("SALESFORCE_CLIENT_SECRET is required by the client_credentials flow")
        if self.auth_flow == "jwt_bearer":
            if not self.username:
                missing.append("SALESFORCE_USERNAME is required by the jwt_bearer flow")
            if self.private_key is None:
                missing.append("SALESFORCE_PRIVATE_KEY_FILE is required by the jwt_bearer flow")
        return missing


class SalesforceClient(SourceHttpClient):
    def __init__(
        self,
        credentials: SalesforceCredentials,
        *,
        api_version: str,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source_label = "Salesforce"
        self.credentials = credentials
        self.api_version = api_version
        self.now = now
        self.access_token: str | None = None
        self.instance_url: str | None = None

    # Authentication

    def refresh(self) -> None:
        """Request a new access token with the configured flow."""
        credentials = self.credentials
        if credentials.auth_flow == "jwt_bearer":
            assert credentials.private_key is not None
            issued = self.now()
            claims = {
                "iss": credentials.client_id,
                "sub": credentials.username,
                "aud": credentials.login_url.rstrip("/"),
                "exp": int((issued + JWT_LIFETIME).timestamp()),
            }
            assertion = jwt.encode(claims, credentials.private_key.get_secret_value(), algorithm="RS256")
            form = {"grant_type": JWT_GRANT_TYPE, "assertion": assertion}
        else:
            assert credentials.client_secret is not None
            form = {
                "grant_type": "client_credentials",
                "client_id": credentials.client_id,
                "client_secret": credentials.client_secret.get_secret_value(),
            }

        url = credentials.login_url.rstrip("/") + TOKEN_PATH
        response = self._post_token_request(url, form)
        if response.status_code != 200:
            raise ConnectorError(
                f"Salesforce refused the {credentials.auth_flow} token request with {response.status_code} "
                f"({_oauth_error(response)}); check the connected app and SALESFORCE_* settings"
            )
        self.access_token, self.instance_url = _token_fields(response, url)
        logger.info("Salesforce token issued by the %s flow for %s", credentials.auth_flow, self.instance_url)

    def _post_token_request(self, url: str, form: dict[str, str]) -> httpx.Response:
        """POST the token request, retrying network errors and timeouts like other calls."""
        deadline = self.clock() + self.retry.total_timeout
        attempt = 0
        while True:
            try:
                return self.http.post(url, data=form)
            except httpx.TransportError as error:
                if attempt >= self.retry.max_retries:
                    raise ConnectorUnavailable(
                        f"Salesforce token request to {url} failed {attempt + 1} times: {error!r}; check SALESFORCE_LOGIN_URL "
                        "and the network, then run again"
                    ) from error
                attempt += 1
                self._wait(None, attempt, f"token request to {url} failed: {error!r}", deadline)

    def resolve_url(self, url: str) -> str:
        if self.access_token is None:
            self.refresh()
        if url.startswith("/"):
            return f"{self.instance_url}{url}"
        return url

    def authenticate(self, request: httpx.Request) -> None:
        request.headers["Authorization"] = f"Bearer {self.access_token}"

    def is_rate_limited(self, response: httpx.Response) -> bool:
        if response.status_code == 429:
            return True
        return response.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in _error_codes(response)

    # Calls

    def query(self, soql: str, *, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Run a SOQL query and yield every record, following ``nextRecordsUrl`` to the end."""
        page = self.send_json("GET", f"/services/data/v{self.api_version}/query", params={"q": soql}, timeout=timeout)
        while True:
            yield from page["records"]
            if page.get("done", True):
                return
            next_url = page.get("nextRecordsUrl")
            if not next_url:
                raise ConnectorError("Salesforce returned done=false without a nextRecordsUrl; the query cannot be continued")
            page = self.send_json("GET", next_url, timeout=timeout)

    def describe_fields(self, object_name: str) -> set[str]:
        body = self.send_json("GET", f"/services/data/v{self.api_version}/sobjects/{object_name}/describe")
        return {field["name"] for field in body["fields"]}

    def update_record(self, object_name: str, record_id: str, values: Mapping[str, Any]) -> None:
        self.send(
            "PATCH",
            f"/services/data/v{self.api_version}/sobjects/{object_name}/{record_id}",
            json=dict(values),
        )


class SalesforceConnector:
    """Reads the mapped objects of one Salesforce org and writes plan state to its accounts."""

    def __init__(self, name: str, mapping: SalesforceSource, client: SalesforceClient) -> None:
        self.name = name
        self.mapping = mapping
        self.client = client
        self.supports_write_back = mapping.plan_status is not None

    def check_mapping(self) -> None:
        """Compare every mapped field with the org's object descriptions; raise MappingError naming each absent one."""
        missing = []
        for role, mapped in self._mapped_objects().items():
            available = self.client.describe_fields(mapped.object)
            for logical, field_name in mapped.fields.model_dump(exclude_none=True).items():
                # Relationship paths (Account__r.Name) are checked by their first step only.
                first = field_name.split(".")[0]
                if "." not in field_name and first not in available:
                    missing.append(f"{mapped.object}.{field_name} (mapped as {role}.fields.{logical})")
        if missing:
            raise MappingError(
                f"Salesforce source {self.name!r} maps fields that the org does not have: {', '.join(missing)}; "
                "correct the connectors file or grant the integration user access to them"
            )

    # Incremental reads

    def changed_accounts(self, since: datetime | None) -> Iterator[SourceAccount | RecordError]:
        return convert_each(self._rows(self.mapping.account, self._since(self.mapping.account, since)), to_account)

    def changed_invoices(self, since: datetime | None) -> Iterator[SourceInvoice | RecordError]:
        return convert_each(self._rows(self.mapping.invoice, self._since(self.mapping.invoice, since)), to_invoice)

    def changed_payments(self, since: datetime | None) -> Iterator[SourcePayment | RecordError]:
        return convert_each(self._rows(self.mapping.payment, self._since(self.mapping.payment, since)), to_payment)

    # Reads for one account

    def fetch_account(self, account_id: str, *, timeout: float | None = None) -> SourceAccount | None:
        condition = f"{self.mapping.account.fields.id} = {soql_string(account_id)}"
        rows = list(self._rows(self.mapping.account, condition, timeout=timeout))
        return to_account(rows[0]) if rows else None

    def fetch_open_invoices(self, account_id: str, *, timeout: float | None = None) -> list[SourceInvoice]:
        fields = self.mapping.invoice.fields
        condition = f"{fields.account} = {soql_string(account_id)} AND {fields.settled_date} = null"
        return [to_invoice(row) for row in self._rows(self.mapping.invoice, condition, timeout=timeout)]

    def fetch_payments(self, account_id: str, *, timeout: float | None = None) -> list[SourcePayment]:
        condition = f"{self.mapping.payment.fields.account} = {soql_string(account_id)}"
        return [to_payment(row) for row in self._rows(self.mapping.payment, condition, timeout=timeout)]

    def fetch_contacts(self, account_id: str, *, timeout: float | None = None) -> list[SourceContact]:
        if self.mapping.contact is None:
            return []
        condition = f"{self.mapping.contact.fields.account} = {soql_string(account_id)}"
        return [to_contact(row) for row in self._rows(self.mapping.contact, condition, timeout=timeout)]

    # Write-back

    def write_plan_status(self, update: PlanStatusUpdate) -> None:
        target = self.mapping.plan_status
        if target is None:
            raise ConnectorError(f"Salesforce source {self.name!r} has no plan_status mapping, so nothing is written back")
        values: dict[str, Any] = {target.fields.status: update.status}
        if target.fields.schedule:
            values[target.fields.schedule] = json.dumps(update.schedule, separators=(",", ":"))
        if target.fields.outcome:
            values[target.fields.outcome] = update.outcome
        self.client.update_record(target.object, update.account_id, values)

    # Helpers

    def _mapped_objects(self) -> dict[str, Any]:
        objects = {"account": self.mapping.account, "invoice": self.mapping.invoice, "payment": self.mapping.payment}
        if self.mapping.contact is not None:
            objects["contact"] = self.mapping.contact
        if self.mapping.plan_status is not None:
            objects["plan_status"] = self.mapping.plan_status
        return objects

    def _since(self, mapped: Any, since: datetime | None) -> str | None:
        if since is None:
            return None
        return f"{mapped.fields.last_modified} >= {soql_datetime(since)}"

    def _rows(self, mapped: Any, condition: str | None, *, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """Query ``mapped``'s fields and yield each record keyed by payplan's field names."""
        fields = mapped.fields.model_dump(exclude_none=True)
        conditions = [part for part in (condition, getattr(mapped, "where", None)) if part]
        soql = f"SELECT {', '.join(dict.fromkeys(fields.values()))} FROM {mapped.object}"
        if conditions:
            soql += " WHERE " + " AND ".join(f"({part})" for part in conditions)
        if "last_modified" in fields:
            soql += f" ORDER BY {fields['last_modified']} ASC"
        for record in self.client.query(soql, timeout=timeout):
            yield {logical: _field_value(record, path) for logical, path in fields.items()}


def soql_string(value: str) -> str:
    """Quote ``value`` as a SOQL string literal."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def soql_datetime(moment: datetime) -> str:
    """Format an aware time as a SOQL dateTime literal in UTC, to the second."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _field_value(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for step in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def _token_fields(response: httpx.Response, url: str) -> tuple[str, str]:
    """Return the access token and instance URL of a token response, or raise ConnectorError saying what is wrong."""
    try:
        body = response.json()
    except ValueError:
        content_type = response.headers.get("content-type", "no content type")
        raise ConnectorError(
            f"Salesforce token response from {url} is not JSON ({content_type}); check SALESFORCE_LOGIN_URL, "
            "which must be the org's login or My Domain URL"
        ) from None
    if not isinstance(body, dict):
        raise ConnectorError(f"Salesforce token response from {url} is not a JSON object; check SALESFORCE_LOGIN_URL")
    missing = [name for name in ("access_token", "instance_url") if not isinstance(body.get(name), str) or not body[name]]
    if missing:
        raise ConnectorError(
            f"Salesforce token response from {url} has no {' or '.join(missing)}; check SALESFORCE_LOGIN_URL and the connected app"
        )
    return body["access_token"], body["instance_url"].rstrip("/")


def _error_codes(response: httpx.Response) -> set[str]:
    try:
        body = response.json()
    except ValueError:
        return set()
    if isinstance(body, list):
        return {str(item.get("errorCode")) for item in body if isinstance(item, dict)}
    return set()


def _oauth_error(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "no JSON body"
    return f"{body.get('error')}: {body.get('error_description')}"
