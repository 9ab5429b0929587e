"""payplan sync on the command line: sources, --since, mapping and settings errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx
import yaml
from typer.testing import CliRunner

from bot import connector_setup
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


def test_sync_names_missing_csv(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    connectors = environment / "connectors.yaml"
    connectors.write_text("sources:\n  export:\n    kind: csv\n    path: exports/missing.csv\n", encoding="utf-8")
    monkeypatch.setenv("PAYPLAN_CONNECTORS_FILE", str(connectors))

    result = runner.invoke(app, ["sync"])

    assert result.exit_code == 2
    assert "CSV source 'export'" in result.output
    assert str(environment / "exports" / "missing.csv") in result.output


def test_sync_reads_csv_relative_to_file(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = environment / "config"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "export.csv").write_bytes(EXAMPLE_CSV.read_bytes())
    (folder / "connectors.yaml").write_text("sources:\n  export:\n    kind: csv\n    path: data/export.csv\n", encoding="utf-8")
    monkeypatch.setenv("PAYPLAN_CONNECTORS_FILE", str(folder / "connectors.yaml"))

    result = runner.invoke(app, ["sync"])

    assert result.exit_code == 0, result.output
    assert "export: added" in result.output


def test_sync_unreachable_source_exits_1(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = yaml.safe_load(EXAMPLE_CONNECTORS.read_text(encoding="utf-8"))
    sources = {"salesforce": document["sources"]["salesforce"], "export": {"kind": "csv", "path": str(EXAMPLE_CSV)}}
    connectors = environment / "connectors.yaml"
    connectors.write_text(yaml.safe_dump({"sources": sources}), encoding="utf-8")
    monkeypatch.setenv("PAYPLAN_CONNECTORS_FILE", str(connectors))
    monkeypatch.setenv("SALESFORCE_CLIENT_ID", "3MVG9TESTCLIENTID")
    monkeypatch.setenv("SALESFORCE_CLIENT_SECRET", "test-client-secret")
    # The retries' waits are skipped, so the test does not sleep through them.
    load = connector_setup.load_connectors
    monkeypatch.setattr(connector_setup, "load_connectors", lambda *args: load(*args, sleep=lambda seconds: None))

    with respx.mock:
        token = respx.post(f"{LOGIN_URL}/services/oauth2/token").mock(side_effect=httpx.ConnectError("connection refused"))
        result = runner.invoke(app, ["sync"])

    assert result.exit_code == 1, result.output
    assert "salesforce: sync failed, nothing stored" in result.output
    assert "failed 5 times" in result.output
    assert token.call_count == 5
    assert "export: added" in result.output


def test_sync_without_sources_says_so(environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    connectors = environment / "connectors.yaml"
    connectors.write_text("sources: {}\n", encoding="utf-8")
    monkeypatch.setenv("PAYPLAN_CONNECTORS_FILE", str(connectors))

    result = runner.invoke(app, ["sync"])

    assert result.exit_code == 0
    assert "names no sources; nothing to sync" in result.output


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
