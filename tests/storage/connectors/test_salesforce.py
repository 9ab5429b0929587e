"""Salesforce connector against recorded response shapes: auth, pagination, mapping, errors, rate limits."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from storage.connectors.base import ConnectorError, ConnectorUnavailable, MappingError, PlanStatusUpdate
from storage.connectors.salesforce import SalesforceClient, SalesforceConnector, SalesforceCredentials
from tests.storage.connectors.conftest import INSTANCE_URL, LOGIN_URL, SF_API, recorded_response, soql_router

TOKEN_URL = f"{LOGIN_URL}/services/oauth2/token"
QUERY_URL = f"{SF_API}/query"


def test_client_credentials_token_request(salesforce: SalesforceConnector) -> None:
    with respx.mock:
        token = respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        query = respx.get(QUERY_URL).mock(return_value=recorded_response("salesforce", "query_empty.json"))

        salesforce.fetch_contacts("001TEST0000000001AA")

    form = parse_qs(token.calls.last.request.content.decode())
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["3MVG9TESTCLIENTID"],
        "client_secret": ["test-client-secret"],
    }
    assert query.calls.last.request.headers["Authorization"] == "Bearer 00DTESTORG000001!AQ0AQFakeAccessTokenForTestsOnly"
    assert str(query.calls.last.request.url).startswith(INSTANCE_URL)


def test_jwt_bearer_assertion_signed(connectors_file, sleeps) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    credentials = SalesforceCredentials(
        login_url=LOGIN_URL,
        client_id="3MVG9TESTCLIENTID",
        auth_flow="jwt_bearer",
        username="integration@example.com",
        private_key=SecretStr(pem),
    )
    issued = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
    client = SalesforceClient(credentials, api_version="62.0", now=lambda: issued, sleep=sleeps)

    with respx.mock:
        token = respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        client.refresh()

    form = parse_qs(token.calls.last.request.content.decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = jwt.decode(
        form["assertion"][0],
        key.public_key(),
        algorithms=["RS256"],
        audience=LOGIN_URL,
        options={"verify_exp": False},
    )
    assert claims == {
        "iss": "3MVG9TESTCLIENTID",
        "sub": "integration@example.com",
        "aud": LOGIN_URL,
        "exp": int(issued.timestamp()) + 180,
    }


def test_token_refusal_names_error(salesforce: SalesforceConnector) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token_invalid_client.json", status=400))
        with pytest.raises(ConnectorError) as caught:
            salesforce.fetch_contacts("001TEST0000000001AA")

    assert "invalid_client" in str(caught.value)
    assert "test-client-secret" not in str(caught.value)


@pytest.mark.parametrize(
    "response, problem",
    [
        (httpx.Response(200, text="<html>Maintenance</html>", headers={"content-type": "text/html"}), "is not JSON (text/html)"),
        (httpx.Response(200, json={"token_type": "Bearer"}), "has no access_token or instance_url"),
        (httpx.Response(200, json=["token"]), "is not a JSON object"),
    ],
)
def test_unusable_token_response_named(salesforce: SalesforceConnector, response: httpx.Response, problem: str) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=response)
        with pytest.raises(ConnectorError) as caught:
            salesforce.fetch_contacts("001TEST0000000001AA")

    assert f"Salesforce token response from {TOKEN_URL} {problem}" in str(caught.value)


def test_token_network_error_retried(salesforce: SalesforceConnector, sleeps) -> None:
    with respx.mock:
        token = respx.post(TOKEN_URL).mock(side_effect=[httpx.ConnectError("connection refused"), recorded_response("salesforce", "token.json")])
        respx.get(QUERY_URL).mock(return_value=recorded_response("salesforce", "query_open_invoices.json"))

        invoices = salesforce.fetch_open_invoices("001TEST0000000001AA")

    assert len(invoices) == 2
    assert token.call_count == 2
    assert sleeps == [1.0]


def test_pagination_followed_to_end(salesforce: SalesforceConnector) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        respx.get(QUERY_URL).mock(return_value=recorded_response("salesforce", "query_accounts_page1.json"))
        more = respx.get(f"{SF_API}/query/01gTESTQUERY00001-2").mock(
            return_value=recorded_response("salesforce", "query_accounts_page2.json")
        )

        accounts = list(salesforce.changed_accounts(None))

    assert [account.external_id for account in accounts] == ["001TEST0000000001AA", "001TEST0000000002AA", "001TEST0000000003AA"]
    assert more.call_count == 1
    assert accounts[2].last_modified == datetime(2026, 11, 30, 8, 5, 30, tzinfo=timezone.utc)
    assert accounts[1].country_code == "GB"


def test_mapping_applied_to_invoices(salesforce: SalesforceConnector) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        query = respx.get(QUERY_URL).mock(return_value=recorded_response("salesforce", "query_invoices.json"))

        invoices = list(salesforce.changed_invoices(datetime(2026, 11, 1, tzinfo=timezone.utc)))

    soql = query.calls.last.request.url.params["q"]
    assert soql == (
        "SELECT Id, Account__c, Name, Invoice_Date__c, Due_Date__c, Amount__c, Paid_Date__c, LastModifiedDate, "
        "Disputed__c FROM Invoice__c WHERE (LastModifiedDate >= 2026-11-01T00:00:00Z) ORDER BY LastModifiedDate ASC"
    )
    first = invoices[0]
    assert first.number == "INV-1001"
    assert first.amount == Decimal("1250.50")
    assert first.due_date == date(2026, 10, 1)
    assert first.settled_date is None
    assert invoices[1].disputed is True
    assert invoices[2].settled_date == date(2026, 9, 20)


def test_open_invoices_query_escapes_id(salesforce: SalesforceConnector) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        query = respx.get(QUERY_URL).mock(return_value=recorded_response("salesforce", "query_open_invoices.json"))

        invoices = salesforce.fetch_open_invoices("001' OR Name != '")

    assert "Account__c = '001\\' OR Name != \\''" in query.calls.last.request.url.params["q"]
    assert "Paid_Date__c = null" in query.calls.last.request.url.params["q"]
    assert sum(invoice.amount for invoice in invoices) == Decimal("1561.05")


def test_expired_session_refreshed_once(salesforce: SalesforceConnector) -> None:
    with respx.mock:
        token = respx.post(TOKEN_URL).mock(
            side_effect=[recorded_response("salesforce", "token.json"), recorded_response("salesforce", "token_refreshed.json")]
        )
        query = respx.get(QUERY_URL).mock(
            side_effect=[
                recorded_response("salesforce", "error_invalid_session.json", status=401),
                recorded_response("salesforce", "query_open_invoices.json"),
            ]
        )

        invoices = salesforce.fetch_open_invoices("001TEST0000000001AA")

    assert len(invoices) == 2
    assert token.call_count == 2
    assert query.calls.last.request.headers["Authorization"] == "Bearer 00DTESTORG000001!AQ0AQSecondFakeAccessToken"


class FakeClock:
    """A monotonic clock that tests advance by hand, and a sleep that advances it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_slow_body_stops_at_total_limit(salesforce: SalesforceConnector) -> None:
    clock = FakeClock()
    salesforce.client.clock = clock
    sent: list[bytes] = []

    def drip():
        # Each chunk arrives within the read timeout, 50 s after the previous one.
        for chunk in (b'{"totalSize": 0, ', b'"done": true, ', b'"records": [', b"]}"):
            clock.now += 50
            sent.append(chunk)
            yield chunk

    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        respx.get(QUERY_URL).mock(return_value=httpx.Response(200, content=drip(), headers={"content-type": "application/json"}))
        with pytest.raises(ConnectorUnavailable) as caught:
            salesforce.fetch_open_invoices("001TEST0000000001AA")

    assert "still sending the response" in str(caught.value)
    assert "after 120 s in total" in str(caught.value)
    assert len(sent) == 3


def test_retries_stop_at_total_limit(salesforce: SalesforceConnector) -> None:
    clock = FakeClock()
    salesforce.client.clock = clock
    salesforce.client.sleep = clock.sleep

    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        query = respx.get(QUERY_URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "50"}))
        with pytest.raises(ConnectorUnavailable) as caught:
            salesforce.fetch_open_invoices("001TEST0000000001AA")

    assert "would pass the call's total limit" in str(caught.value)
    assert clock.slept == [50.0, 50.0]
    assert query.call_count == 3


def test_second_expired_session_raises(salesforce: SalesforceConnector) -> None:
    with respx.mock:
        token = respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        respx.get(QUERY_URL).mock(return_value=recorded_response("salesforce", "error_invalid_session.json", status=401))

        with pytest.raises(ConnectorError) as caught:
            salesforce.fetch_open_invoices("001TEST0000000001AA")

    assert token.call_count == 2
    assert "again after re-authenticating" in str(caught.value)


def test_request_limit_backs_off_with_retry_after(salesforce: SalesforceConnector, sleeps) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        respx.get(QUERY_URL).mock(
            side_effect=[
                recorded_response("salesforce", "error_request_limit.json", status=403, headers={"Retry-After": "7"}),
                httpx.Response(429),
                recorded_response("salesforce", "query_open_invoices.json"),
            ]
        )

        invoices = salesforce.fetch_open_invoices("001TEST0000000001AA")

    assert len(invoices) == 2
    # 7 s from Retry-After, then the exponential default for the second retry.
    assert sleeps == [7.0, 2.0]


def test_rate_limit_retries_bounded(salesforce: SalesforceConnector, sleeps) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        query = respx.get(QUERY_URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "3600"}))

        with pytest.raises(ConnectorUnavailable):
            salesforce.fetch_open_invoices("001TEST0000000001AA")

    assert query.call_count == 5
    assert sleeps == [60.0, 60.0, 60.0, 60.0]


def test_other_forbidden_not_retried(salesforce: SalesforceConnector) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        query = respx.get(QUERY_URL).mock(
            return_value=httpx.Response(403, json=[{"message": "Insufficient access", "errorCode": "INSUFFICIENT_ACCESS"}])
        )

        with pytest.raises(ConnectorError) as caught:
            salesforce.fetch_open_invoices("001TEST0000000001AA")

    assert query.call_count == 1
    assert "INSUFFICIENT_ACCESS" in str(caught.value)


def test_timeout_raises_unavailable(salesforce: SalesforceConnector) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        respx.get(QUERY_URL).mock(side_effect=httpx.ReadTimeout("read timed out"))

        with pytest.raises(ConnectorUnavailable) as caught:
            salesforce.fetch_open_invoices("001TEST0000000001AA", timeout=0.5)

    assert "timed out on GET /services/data/v62.0/query" in str(caught.value)


def test_check_mapping_names_absent_field(salesforce: SalesforceConnector) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        for name, fixture in (("Account", "account"), ("Invoice__c", "invoice"), ("Payment__c", "payment"), ("Contact", "contact")):
            respx.get(f"{SF_API}/sobjects/{name}/describe").mock(
                return_value=recorded_response("salesforce", f"describe_{fixture}.json")
            )

        with pytest.raises(MappingError) as caught:
            salesforce.check_mapping()

    assert "Invoice__c.Due_Date__c (mapped as invoice.fields.due_date)" in str(caught.value)
    assert str(caught.value).count("(mapped as") == 1


def test_write_plan_status_patches_account(salesforce: SalesforceConnector) -> None:
    update = PlanStatusUpdate(
        account_id="001TEST0000000001AA",
        request_id=12,
        status="approved",
        revision=1,
        schedule=[{"sequence": 1, "due_date": "2027-01-15", "amount": "250.00"}],
        outcome="collections_manager approved by U012AB3CD",
    )
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        patch = respx.patch(f"{SF_API}/sobjects/Account/001TEST0000000001AA").mock(return_value=httpx.Response(204))

        salesforce.write_plan_status(update)

    assert json.loads(patch.calls.last.request.content) == {
        "Payment_Plan_Status__c": "approved",
        "Payment_Plan_Schedule__c": '[{"sequence":1,"due_date":"2027-01-15","amount":"250.00"}]',
        "Payment_Plan_Outcome__c": "collections_manager approved by U012AB3CD",
    }


def test_query_router_by_object(salesforce: SalesforceConnector) -> None:
    with respx.mock:
        respx.post(TOKEN_URL).mock(return_value=recorded_response("salesforce", "token.json"))
        respx.get(QUERY_URL).mock(side_effect=soql_router({"Payment__c": "query_payments.json"}))

        payments = salesforce.fetch_payments("001TEST0000000002AA")

    assert [(payment.external_id, payment.amount) for payment in payments] == [("a0BTEST000000001AA", Decimal("99.99"))]
