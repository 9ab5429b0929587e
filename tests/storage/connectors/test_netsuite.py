"""NetSuite connector against recorded SuiteQL shapes: TBA signatures, paging, errors and rate limits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import parse_qsl, quote, unquote

import httpx
import pytest
import respx

from storage.connectors.base import ConnectorError, ConnectorUnavailable, MappingError, PlanStatusUpdate
from storage.connectors.netsuite import NetSuiteClient, NetSuiteConnector
from tests.storage.connectors.conftest import NS_BASE, recorded_response

SUITEQL_URL = f"{NS_BASE}/services/rest/query/v1/suiteql"


def _header_params(header: str) -> dict[str, str]:
    assert header.startswith("OAuth ")
    pairs = [part.strip().split("=", 1) for part in header[len("OAuth "):].split(",")]
    return {name: unquote(value.strip('"')) for name, value in pairs}


def _rfc5849_signature(method: str, url: str, oauth: dict[str, str], consumer_secret: str, token_secret: str) -> str:
    """Compute an HMAC-SHA256 signature from RFC 5849 section 3.4, independently of oauthlib."""
    base_url, _, query = url.partition("?")
    params = [(name, value) for name, value in oauth.items() if name not in ("realm", "oauth_signature")]
    params += parse_qsl(query)
    encoded = sorted((quote(name, safe="~"), quote(value, safe="~")) for name, value in params)
    normalized = "&".join(f"{name}={value}" for name, value in encoded)
    base_string = "&".join(quote(part, safe="~") for part in (method.upper(), base_url.lower(), normalized))
    key = f"{quote(consumer_secret, safe='~')}&{quote(token_secret, safe='~')}"
    return base64.b64encode(hmac.new(key.encode(), base_string.encode(), hashlib.sha256).digest()).decode()


def test_signature_matches_rfc5849_vector(netsuite_credentials) -> None:
    client = NetSuiteClient(netsuite_credentials)
    url = f"{SUITEQL_URL}?limit=2&offset=0"

    _, headers, _ = client.oauth_client(nonce="fjaLirsIcCGVZWzBX0pg", timestamp="1508242306").sign(url, http_method="POST")

    params = _header_params(headers["Authorization"])
    assert params["realm"] == "1234567_SB1"
    assert params["oauth_signature_method"] == "HMAC-SHA256"
    assert params["oauth_token"] == "test-token-id"
    expected = _rfc5849_signature("POST", url, params, "test-consumer-secret", "test-token-secret")
    assert params["oauth_signature"] == expected


def test_suiteql_pages_followed_by_offset(netsuite: NetSuiteConnector) -> None:
    with respx.mock:
        route = respx.post(SUITEQL_URL).mock(
            side_effect=[
                recorded_response("netsuite", "suiteql_customers_page1.json"),
                recorded_response("netsuite", "suiteql_customers_page2.json"),
            ]
        )

        accounts = list(netsuite.changed_accounts(datetime(2026, 11, 1, tzinfo=timezone.utc)))

    assert [account.external_id for account in accounts] == ["107", "108", "109"]
    assert [call.request.url.params["offset"] for call in route.calls] == ["0", "2"]
    assert all(call.request.url.params["limit"] == "2" for call in route.calls)
    first = route.calls[0].request
    assert first.headers["Prefer"] == "transient"
    assert _header_params(first.headers["Authorization"])["realm"] == "1234567_SB1"
    query = json.loads(first.content)["q"]
    assert query == (
        "SELECT id AS pp_id, companyname AS pp_name, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS pp_last_modified "
        "FROM customer WHERE (lastmodifieddate >= TO_DATE('2026-11-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS')) "
        "ORDER BY lastmodifieddate, id ASC"
    )
    assert accounts[2].last_modified == datetime(2026, 11, 30, 8, 5, 30, tzinfo=timezone.utc)


def test_invoice_strings_converted(netsuite: NetSuiteConnector) -> None:
    with respx.mock:
        route = respx.post(SUITEQL_URL).mock(return_value=recorded_response("netsuite", "suiteql_invoices.json"))

        invoices = list(netsuite.changed_invoices(None))

    assert "(type = 'CustInvc')" in json.loads(route.calls.last.request.content)["q"]
    assert invoices[0].amount == Decimal("1250.50")
    assert invoices[0].settled_date is None
    assert invoices[0].disputed is False
    assert invoices[1].account_id == "108"


def test_open_invoices_escape_quote(netsuite: NetSuiteConnector) -> None:
    with respx.mock:
        route = respx.post(SUITEQL_URL).mock(return_value=recorded_response("netsuite", "suiteql_open_invoices.json"))

        invoices = netsuite.fetch_open_invoices("107' OR 'a'='a")

    query = json.loads(route.calls.last.request.content)["q"]
    assert "entity = '107'' OR ''a''=''a'" in query
    assert "closedate IS NULL" in query
    assert [invoice.number for invoice in invoices] == ["INV5001"]


def test_unauthorized_signed_again_once(netsuite: NetSuiteConnector) -> None:
    with respx.mock:
        route = respx.post(SUITEQL_URL).mock(
            side_effect=[
                recorded_response("netsuite", "error_unauthorized.json", status=401),
                recorded_response("netsuite", "suiteql_open_invoices.json"),
            ]
        )

        invoices = netsuite.fetch_open_invoices("107")

    assert len(invoices) == 1
    nonces = [_header_params(call.request.headers["Authorization"])["oauth_nonce"] for call in route.calls]
    assert len(set(nonces)) == 2


def test_unauthorized_twice_raises(netsuite: NetSuiteConnector) -> None:
    with respx.mock:
        route = respx.post(SUITEQL_URL).mock(return_value=recorded_response("netsuite", "error_unauthorized.json", status=401))

        with pytest.raises(ConnectorError) as caught:
            netsuite.fetch_open_invoices("107")

    assert route.call_count == 2
    assert "check the connector's credentials" in str(caught.value)
    assert "test-token-secret" not in str(caught.value)


def test_concurrency_limit_honours_retry_after(netsuite: NetSuiteConnector, sleeps) -> None:
    with respx.mock:
        respx.post(SUITEQL_URL).mock(
            side_effect=[
                recorded_response("netsuite", "error_concurrency_limit.json", status=429, headers={"Retry-After": "5"}),
                recorded_response("netsuite", "suiteql_payments.json"),
            ]
        )

        payments = netsuite.fetch_payments("108")

    assert sleeps == [5.0]
    assert payments[0].amount == Decimal("99.99")


def test_server_errors_bounded(netsuite: NetSuiteConnector, sleeps) -> None:
    with respx.mock:
        route = respx.post(SUITEQL_URL).mock(return_value=httpx.Response(503))

        with pytest.raises(ConnectorUnavailable):
            netsuite.fetch_payments("108")

    assert route.call_count == 5
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


def test_has_more_without_rows_raises(netsuite: NetSuiteConnector) -> None:
    broken = {"links": [], "count": 0, "hasMore": True, "items": [], "offset": 0, "totalResults": 5}
    with respx.mock:
        respx.post(SUITEQL_URL).mock(return_value=httpx.Response(200, json=broken))

        with pytest.raises(ConnectorError) as caught:
            list(netsuite.changed_accounts(None))

    assert "hasMore=true with no rows" in str(caught.value)


def test_write_plan_status_patches_customer(netsuite: NetSuiteConnector) -> None:
    update = PlanStatusUpdate(
        account_id="107",
        request_id=3,
        status="active",
        revision=1,
        schedule=[{"sequence": 0, "due_date": "2027-01-01", "amount": "100.00"}, {"sequence": 1, "due_date": "2027-02-01", "amount": "150.00"}],
        outcome="collections_manager approved by U012AB3CD",
    )
    with respx.mock:
        patch = respx.patch(f"{NS_BASE}/services/rest/record/v1/customer/107").mock(return_value=httpx.Response(204))

        netsuite.write_plan_status(update)

    assert json.loads(patch.calls.last.request.content) == {
        "custentity_payplan_status": "active",
        "custentity_payplan_schedule": "2027-01-01 100.00; 2027-02-01 150.00",
        "custentity_payplan_outcome": "collections_manager approved by U012AB3CD",
    }
    assert patch.calls.last.request.headers["Authorization"].startswith("OAuth ")


def test_check_mapping_names_unknown_field(netsuite: NetSuiteConnector) -> None:
    unknown = {
        "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
        "title": "Bad Request",
        "status": 400,
        "o:errorDetails": [{"detail": "Invalid search query. Detailed unprocessed description follows. Search error occurred: Field 'duedate' for record 'transaction' was not found.", "o:errorCode": "INVALID_PARAMETER"}],
    }
    with respx.mock:
        respx.post(SUITEQL_URL).mock(
            side_effect=[recorded_response("netsuite", "suiteql_customers_page2.json"), httpx.Response(400, json=unknown)]
        )

        with pytest.raises(MappingError) as caught:
            netsuite.check_mapping()

    assert "the invoice mapping does not match the account" in str(caught.value)
    assert "Field 'duedate' for record 'transaction' was not found" in str(caught.value)
