"""Recorded response bodies and connectors built on them; every HTTP call goes through respx."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from storage.connectors.mapping import ConnectorsFile, load_connectors_file
from storage.connectors.netsuite import NetSuiteClient, NetSuiteConnector, NetSuiteCredentials
from storage.connectors.salesforce import SalesforceClient, SalesforceConnector, SalesforceCredentials

DATA = Path(__file__).resolve().parent / "data"
EXAMPLE_CONNECTORS = Path(__file__).resolve().parents[3] / "examples" / "connectors.yaml"
LOGIN_URL = "https://login.salesforce.com"
INSTANCE_URL = "https://example-org.my.salesforce.com"
SF_API = f"{INSTANCE_URL}/services/data/v62.0"
NS_BASE = "https://1234567-sb1.suitetalk.api.netsuite.com"


def recorded(system: str, name: str) -> Any:
    return json.loads((DATA / system / name).read_text(encoding="utf-8"))


def recorded_response(system: str, name: str, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=recorded(system, name), headers=headers)


class Sleeps(list):
    """Records the waits a client asks for instead of sleeping."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def connectors_file() -> ConnectorsFile:
    return load_connectors_file(EXAMPLE_CONNECTORS)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def salesforce_credentials() -> SalesforceCredentials:
    return SalesforceCredentials(
        login_url=LOGIN_URL,
        client_id="3MVG9TESTCLIENTID",
        auth_flow="client_credentials",
        client_secret=SecretStr("test-client-secret"),
    )


@pytest.fixture
def salesforce(connectors_file: ConnectorsFile, salesforce_credentials: SalesforceCredentials, sleeps: Sleeps) -> SalesforceConnector:
    mapping = connectors_file.sources["salesforce"]
    client = SalesforceClient(salesforce_credentials, api_version=mapping.api_version, sleep=sleeps)
    return SalesforceConnector("salesforce", mapping, client)


@pytest.fixture
def netsuite_credentials() -> NetSuiteCredentials:
    return NetSuiteCredentials(
        account_id="1234567_SB1",
        consumer_key="test-consumer-key",
        consumer_secret=SecretStr("test-consumer-secret"),
        token_id="test-token-id",
        token_secret=SecretStr("test-token-secret"),
    )


@pytest.fixture
def netsuite(connectors_file: ConnectorsFile, netsuite_credentials: NetSuiteCredentials, sleeps: Sleeps) -> NetSuiteConnector:
    mapping = connectors_file.sources["netsuite"].model_copy(update={"page_size": 2})
    return NetSuiteConnector("netsuite", mapping, NetSuiteClient(netsuite_credentials, sleep=sleeps))


def soql_router(pages: dict[str, str]):
    """Return a respx side effect that returns the recorded result for the object a SOQL query reads.

    ``pages`` maps an object name (``FROM Account``) to a fixture file name.
    """

    def answer(request: httpx.Request) -> httpx.Response:
        soql = request.url.params["q"]
        for object_name, fixture in pages.items():
            if f" FROM {object_name}" in soql:
                return recorded_response("salesforce", fixture)
        return recorded_response("salesforce", "query_empty.json")

    return answer
