"""Build the configured connectors from the connectors file and the credential settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from storage.connectors.base import Connector, MappingError
from storage.connectors.csv_file import CsvConnector
from storage.connectors.mapping import ConnectorsFile, CsvSource, NetSuiteSource, SalesforceSource
from storage.connectors.netsuite import NetSuiteClient, NetSuiteConnector, NetSuiteCredentials
from storage.connectors.salesforce import SalesforceClient, SalesforceConnector, SalesforceCredentials


def build_connectors(
    config: ConnectorsFile,
    *,
    session_factory: sessionmaker[Session],
    salesforce: SalesforceCredentials | None,
    netsuite: NetSuiteCredentials | None,
    **client_options: Any,
) -> dict[str, Connector]:
    """Create one connector per source; raise MappingError naming every missing credential setting.

    ``client_options`` go to each HTTP client, for example ``sleep`` in tests.
    """
    problems: list[str] = []
    connectors: dict[str, Connector] = {}
    for name, source in config.sources.items():
        if isinstance(source, CsvSource):
            connectors[name] = CsvConnector(name, source.path, session_factory)
        elif isinstance(source, SalesforceSource):
            if salesforce is None:
                problems.append(f"source {name!r} is a Salesforce org, but SALESFORCE_CLIENT_ID is not set")
                continue
            problems += [f"source {name!r}: {problem}" for problem in salesforce.problems()]
            client = SalesforceClient(salesforce, api_version=source.api_version, **client_options)
            connectors[name] = SalesforceConnector(name, source, client)
        elif isinstance(source, NetSuiteSource):
            if netsuite is None:
                problems.append(
                    f"source {name!r} is a NetSuite account, but NETSUITE_ACCOUNT_ID, NETSUITE_CONSUMER_KEY, "
                    "NETSUITE_CONSUMER_SECRET, NETSUITE_TOKEN_ID and NETSUITE_TOKEN_SECRET are not all set"
                )
                continue
            connectors[name] = NetSuiteConnector(name, source, NetSuiteClient(netsuite, **client_options))
    if problems:
        raise MappingError("connector settings are incomplete:\n" + "\n".join(f"- {problem}" for problem in problems))
    return connectors
