"""payplan sync on the command line: sources, --since, mapping and settings errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import respx
from typer.testing import CliRunner

from bot.cli import app
from tests.conftest import EXAMPLE_CSV
from tests.storage.connectors.conftest import EXAMPLE_CONNECTORS, LOGIN_URL, SF_API, recorded_response

runner = CliRunner()


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SALESFORCE_CLIENT_ID", "NETSUITE_ACCOUNT_ID", "NETSUITE_CONSUMER_KEY", "PAYPLAN_CONNECTORS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'sync.db'}")
    return tmp_path


def _csv_only(tmp_path: Path) -> Path:
    path = tmp_path / "connectors.yaml"
    path.write_text(f"sources:\n  export:\n    kind: csv\n    path: {EXAMPLE_CSV}\n", encoding="utf-8")
    return path


def test_sync_csv_twice(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYPLAN_CONNECTORS_FILE", str(_csv_only(environment)))

    first = runner.invoke(app, ["sync"])
    second = runner.invoke(app, ["sync", "--source", "export"])

    assert first.exit_code == 0, first.output
    assert "export: added 0 accounts" not in first.output
    assert second.exit_code == 0, second.output
    assert "added 0 accounts, 0 invoices, 0 payments; updated 0 accounts, 0 invoices, 0 payments" in second.output


def test_sync_checks_mapping_first(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYPLAN_CONNECTORS_FILE", str(EXAMPLE_CONNECTORS))
    monkeypatch.setenv("SALESFORCE_CLIENT_ID", "3MVG9TESTCLIENTID")
    monkeypatch.setenv("SALESFORCE_CLIENT_SECRET", "test-client-secret")
    for name in ("ACCOUNT_ID", "CONSUMER_KEY", "CONSUMER_SECRET", "TOKEN_ID", "TOKEN_SECRET"):
        monkeypatch.setenv(f"NETSUITE_{name}", f"test-{name.lower()}")
    describe = {"Account": "account", "Invoice__c": "invoice", "Payment__c": "payment", "Contact": "contact"}

    with respx.mock:
        respx.post(f"{LOGIN_URL}/services/oauth2/token").mock(return_value=recorded_response("salesforce", "token.json"))
        for name, fixture in describe.items():
            respx.get(f"{SF_API}/sobjects/{name}/describe").mock(return_value=recorded_response("salesforce", f"describe_{fixture}.json"))
        query = respx.get(f"{SF_API}/query").mock(return_value=recorded_response("salesforce", "query_empty.json"))

        result = runner.invoke(app, ["sync", "--source", "salesforce", "--since", "2026-12-01T00:00:00"])

    # The recorded invoice description lacks Due_Date__c, so nothing is read.
    assert result.exit_code == 2
    assert "Invoice__c.Due_Date__c (mapped as invoice.fields.due_date)" in result.output
    assert query.call_count == 0


def test_sync_reports_missing_credentials(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYPLAN_CONNECTORS_FILE", str(EXAMPLE_CONNECTORS))

    result = runner.invoke(app, ["sync"])

    assert result.exit_code == 2
    assert "source 'salesforce' is a Salesforce org, but SALESFORCE_CLIENT_ID is not set" in result.output
    assert "source 'netsuite' is a NetSuite account" in result.output


def test_sync_rejects_unknown_source(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYPLAN_CONNECTORS_FILE", str(_csv_only(environment)))

    result = runner.invoke(app, ["sync", "--source", "crm"])

    assert result.exit_code == 2
    assert "Unknown source 'crm'; the connectors file names export." in result.output


def test_sync_rejects_bad_since(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYPLAN_CONNECTORS_FILE", str(_csv_only(environment)))

    result = runner.invoke(app, ["sync", "--since", "last tuesday"])

    assert result.exit_code == 2
    assert "--since 'last tuesday' is not an ISO 8601 time" in result.output


def test_sync_needs_connectors_file(environment: Path) -> None:
    result = runner.invoke(app, ["sync"])

    assert result.exit_code == 2
    assert "PAYPLAN_CONNECTORS_FILE is not set" in result.output
