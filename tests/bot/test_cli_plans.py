"""``payplan payments import`` and ``payplan plans monitor`` from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app
from storage.db import make_engine, make_session_factory
from storage.models import UnmatchedPayment

runner = CliRunner()


@pytest.fixture(autouse=True)
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SLACK_BOT_TOKEN", "PAYPLAN_APPROVERS", "PAYPLAN_PORTAL_SECRET", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    return path


def test_payments_import_reports_rows(tmp_path: Path, database: Path) -> None:
    csv_path = tmp_path / "payments.csv"
    csv_path.write_text("reference,account_id,paid_on,amount\nR-1,GHOST,2013-07-15,20.00\nR-2,GHOST,2013-07-15,-1\n", encoding="utf-8")

    first = runner.invoke(app, ["payments", "import", str(csv_path)])
    second = runner.invoke(app, ["payments", "import", str(csv_path)])

    assert first.exit_code == 1, first.output
    assert "row 3, column amount, value '-1': amount -1 is negative; a payment must be more than zero" in first.output
    assert "payment R-1: kept as unmatched: account 'GHOST' is not known" in first.output
    assert "Unmatched (kept): 1" in first.output
    assert "Already recorded: 1" in second.output
    with make_session_factory(make_engine(f"sqlite:///{database}"))() as session:
        assert session.scalars(select(UnmatchedPayment.reference)).all() == ["R-1"]


def test_payments_import_missing_column(tmp_path: Path) -> None:
    csv_path = tmp_path / "payments.csv"
    csv_path.write_text("reference,account_id,amount\nR-1,A,1.00\n", encoding="utf-8")

    result = runner.invoke(app, ["payments", "import", str(csv_path)])

    assert result.exit_code == 2
    assert "missing required columns: paid_on" in result.output
    assert "it has reference, account_id, amount" in result.output


def test_plans_monitor_runs(database: Path) -> None:
    runner.invoke(app, ["db", "upgrade"])

    result = runner.invoke(app, ["plans", "monitor", "--on", "2013-07-21"])

    assert result.exit_code == 0, result.output
    assert "Plan monitoring at 2013-07-21T00:00:00+00:00: 0 changes." in result.output


def test_plans_revise_needs_portal_secret() -> None:
    result = runner.invoke(app, ["plans", "revise", "1", "--actor", "U1", "--installments", "3", "--first-due", "2013-08-01"])

    assert result.exit_code == 2
    assert "PAYPLAN_PORTAL_SECRET is not set" in result.output


def test_plans_revise_takes_the_slack_request_id(database: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYPLAN_PORTAL_SECRET", "portal-secret")
    runner.invoke(app, ["db", "upgrade"])

    shown = runner.invoke(app, ["plans", "revise", "PP-00042", "--actor", "U1", "--installments", "3", "--first-due", "2013-08-01"])
    garbled = runner.invoke(app, ["plans", "revise", "PP-4x", "--actor", "U1", "--installments", "3", "--first-due", "2013-08-01"])

    assert shown.exit_code == 1, shown.output
    assert "Request 42 was not found." in shown.output
    assert garbled.exit_code == 2
    assert "PP-4x is not a request id" in garbled.output
