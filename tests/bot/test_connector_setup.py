"""Connectors built from settings at start: the runtime's connectors and balance refresher."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config import Settings
from bot.connector_setup import load_connectors
from bot.runtime import build_runtime
from storage.connectors.base import MappingError
from storage.connectors.csv_file import CsvConnector
from storage.db import make_engine, make_session_factory
from tests.conftest import EXAMPLE_CSV


def _settings(tmp_path: Path, connectors: str, **extra: object) -> Settings:
    path = tmp_path / "connectors.yaml"
    path.write_text(connectors, encoding="utf-8")
    return Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'payplan.db'}", PAYPLAN_CONNECTORS_FILE=path, PAYPLAN_PORTAL_SECRET="portal-secret", **extra)


def test_runtime_builds_connectors_and_refresher(tmp_path: Path) -> None:
    settings = _settings(tmp_path, f"sources:\n  export:\n    kind: csv\n    path: {EXAMPLE_CSV}\n")

    runtime = build_runtime(settings, with_slack=False)

    assert isinstance(runtime.connectors["export"], CsvConnector)
    assert runtime.balance_refresher is not None
    runtime.balance_refresher.close()
    runtime.close()


def test_runtime_without_connectors_file(tmp_path: Path) -> None:
    runtime = build_runtime(Settings(DATABASE_URL=f"sqlite:///{tmp_path / 'payplan.db'}", PAYPLAN_PORTAL_SECRET="portal-secret"), with_slack=False)

    assert runtime.connectors == {}
    assert runtime.balance_refresher is None
    runtime.close()


def test_jwt_flow_needs_key_and_username(tmp_path: Path) -> None:
    mapping = (Path(__file__).resolve().parents[2] / "examples" / "connectors.yaml").read_text(encoding="utf-8")
    settings = _settings(
        tmp_path,
        mapping,
        SALESFORCE_CLIENT_ID="3MVG9TESTCLIENTID",
        SALESFORCE_AUTH_FLOW="jwt_bearer",
        NETSUITE_ACCOUNT_ID="1234567",
        NETSUITE_CONSUMER_KEY="key",
        NETSUITE_CONSUMER_SECRET="secret",
        NETSUITE_TOKEN_ID="token",
        NETSUITE_TOKEN_SECRET="token-secret",
    )
    session_factory = make_session_factory(make_engine(settings.database_url))

    with pytest.raises(MappingError) as caught:
        load_connectors(settings, session_factory)

    assert "SALESFORCE_USERNAME is required by the jwt_bearer flow" in str(caught.value)
    assert "SALESFORCE_PRIVATE_KEY_FILE is required by the jwt_bearer flow" in str(caught.value)


def test_unreadable_private_key_named(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        f"sources:\n  export:\n    kind: csv\n    path: {EXAMPLE_CSV}\n",
        SALESFORCE_CLIENT_ID="3MVG9TESTCLIENTID",
        SALESFORCE_PRIVATE_KEY_FILE=tmp_path / "missing.pem",
    )
    session_factory = make_session_factory(make_engine(settings.database_url))

    with pytest.raises(MappingError) as caught:
        load_connectors(settings, session_factory)

    assert "cannot read SALESFORCE_PRIVATE_KEY_FILE" in str(caught.value)


def test_secrets_hidden_in_settings_repr(tmp_path: Path) -> None:
    settings = Settings(SALESFORCE_CLIENT_SECRET="sf-secret", NETSUITE_TOKEN_SECRET="ns-secret", PAYPLAN_REQUESTS_WEBHOOK_SECRET="wh-secret")

    shown = repr(settings)

    assert "sf-secret" not in shown
    assert "ns-secret" not in shown
    assert "wh-secret" not in shown


@pytest.mark.parametrize(
    "base_url, expected",
    [(None, "https://1234567-sb1.suitetalk.api.netsuite.com"), ("http://127.0.0.1:8081/", "http://127.0.0.1:8081")],
)
def test_netsuite_base_url_setting(tmp_path: Path, base_url: str | None, expected: str) -> None:
    extra = {"NETSUITE_BASE_URL": base_url} if base_url else {}
    settings = _settings(
        tmp_path,
        "sources:\n  erp:\n    kind: netsuite\n" + _netsuite_mapping(),
        NETSUITE_ACCOUNT_ID="1234567_SB1",
        NETSUITE_CONSUMER_KEY="key",
        NETSUITE_CONSUMER_SECRET="secret",
        NETSUITE_TOKEN_ID="token",
        NETSUITE_TOKEN_SECRET="token-secret",
        **extra,
    )
    session_factory = make_session_factory(make_engine(settings.database_url))

    connectors = load_connectors(settings, session_factory)

    assert connectors["erp"].client.credentials.rest_base_url == expected


def _netsuite_mapping() -> str:
    document = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples" / "connectors.yaml").read_text(encoding="utf-8"))
    body = yaml.safe_dump(document["sources"]["netsuite"])
    return "".join(f"    {line}\n" for line in body.splitlines() if not line.startswith("kind:"))
