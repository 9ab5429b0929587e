"""Build the configured connectors from settings: the connectors file plus credential variables."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from storage.connectors.base import Connector, MappingError
from storage.connectors.mapping import load_connectors_file
from storage.connectors.netsuite import NetSuiteCredentials
from storage.connectors.registry import build_connectors
from storage.connectors.salesforce import SalesforceCredentials


def load_connectors(settings: Settings, session_factory: sessionmaker[Session], **client_options: Any) -> dict[str, Connector]:
    """Return the connectors named in PAYPLAN_CONNECTORS_FILE, or none when it is unset.

    Raises MappingError naming each invalid mapping field or missing credential setting.
    """
    if settings.connectors_file is None:
        return {}
    config = load_connectors_file(settings.connectors_file)
    return build_connectors(
        config,
        session_factory=session_factory,
        salesforce=salesforce_credentials(settings),
        netsuite=netsuite_credentials(settings),
        **client_options,
    )


def salesforce_credentials(settings: Settings) -> SalesforceCredentials | None:
    if not settings.salesforce_client_id:
        return None
    private_key = None
    if settings.salesforce_private_key_file is not None:
        try:
            private_key = SecretStr(settings.salesforce_private_key_file.read_text(encoding="utf-8"))
        except OSError as error:
            raise MappingError(
                f"cannot read SALESFORCE_PRIVATE_KEY_FILE {settings.salesforce_private_key_file}: {error.strerror}"
            ) from None
    return SalesforceCredentials(
        login_url=settings.salesforce_login_url,
        client_id=settings.salesforce_client_id,
        auth_flow=settings.salesforce_auth_flow,
        client_secret=settings.salesforce_client_secret,
        username=settings.salesforce_username,
        private_key=private_key,
    )


def netsuite_credentials(settings: Settings) -> NetSuiteCredentials | None:
    values = (
        settings.netsuite_account_id,
        settings.netsuite_consumer_key,
        settings.netsuite_consumer_secret,
        settings.netsuite_token_id,
        settings.netsuite_token_secret,
    )
    if not all(values):
        return None
    assert settings.netsuite_consumer_secret is not None
    assert settings.netsuite_token_secret is not None
    return NetSuiteCredentials(
        account_id=settings.netsuite_account_id or "",
        consumer_key=settings.netsuite_consumer_key or "",
        consumer_secret=settings.netsuite_consumer_secret,
        token_id=settings.netsuite_token_id or "",
        token_secret=settings.netsuite_token_secret,
        base_url=settings.netsuite_base_url,
    )
