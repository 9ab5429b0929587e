"""The payplan command line: import, serve's settings check and the demo."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli import app
from bot.demo import choose_episodes
from storage.db import make_engine, make_session_factory
from storage.models import Installment, Invoice, PlanRequest, TermRevision
from storage.repository import PastDueEpisode

runner = CliRunner()
HEADER = "countryCode,customerID,PaperlessDate,invoiceNumber,InvoiceDate,DueDate,InvoiceAmount,Disputed,SettledDate,PaperlessBill,DaysToSettle,DaysLate\n"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "PAYPLAN_SLACK_CHANNEL", "PAYPLAN_APPROVERS", "PAYPLAN_PORTAL_SECRET", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def test_import_reports_bad_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv_path = tmp_path / "invoices.csv"
    csv_path.write_text(
        HEADER
        + "391,0379-NEVHP,4/6/2013,0000000001,1/2/2013,2/1/2013,55.94,No,1/15/2013,Paper,13,0\n"
        + "391,0379-NEVHP,4/6/2013,0000000002,1/2/2013,2/1/2013,-3.00,No,1/15/2013,Paper,13,0\n"
        + "391,0379-NEVHP,4/6/2013,0000000003,13/45/2013,2/1/2013,10.00,No,1/15/2013,Paper,13,0\n"
    )
    database = tmp_path / "cli.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")

    first = runner.invoke(app, ["import", "invoices", str(csv_path)])
    second = runner.invoke(app, ["import", "invoices", str(csv_path)])

    assert first.exit_code == 1, first.output
    assert "row 3, column InvoiceAmount, value '-3.00'" in first.output
    assert "row 4, column InvoiceDate, value '13/45/2013'" in first.output
    assert "Added: 1 invoices" in first.output
    assert "Rows skipped: 2" in first.output
    assert "Already present: 1" in second.output
    with make_session_factory(make_engine(f"sqlite:///{database}"))() as session:
        assert session.scalar(select(func.count()).select_from(Invoice)) == 1


def test_import_missing_file_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["import", "invoices", str(tmp_path / "absent.csv")])

    assert result.exit_code == 2
    assert "File not found" in result.output


@pytest.mark.parametrize(
    "url, shown",
    [
        ("nonsense", "DATABASE_URL 'nonsense' is not a database URL"),
        ("sqlite:////nonexistent/dir/x.db", "The folder /nonexistent/dir of the SQLite database in DATABASE_URL does not exist"),
        ("postgresql+psycopg://u@127.0.0.1:9/db", "The database at DATABASE_URL (postgresql+psycopg://u@127.0.0.1:9/db) failed"),
    ],
)
def test_db_upgrade_bad_url_exit_2(monkeypatch: pytest.MonkeyPatch, url: str, shown: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)

    result = runner.invoke(app, ["db", "upgrade"])

    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert shown in result.output


def test_import_bad_url_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    csv_path = tmp_path / "invoices.csv"
    csv_path.write_text(HEADER)
    monkeypatch.setenv("DATABASE_URL", "nonsense")

    result = runner.invoke(app, ["import", "invoices", str(csv_path)])

    assert result.exit_code == 2, result.output
    assert "is not a database URL" in result.output


@pytest.mark.parametrize(
    "arguments, missing",
    [
        (["serve"], ["SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "PAYPLAN_SLACK_CHANNEL", "PAYPLAN_APPROVERS", "PAYPLAN_PORTAL_SECRET"]),
        (["serve", "--http"], ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PAYPLAN_SLACK_CHANNEL", "PAYPLAN_APPROVERS", "PAYPLAN_PORTAL_SECRET"]),
    ],
)
def test_serve_names_missing_settings(arguments: list[str], missing: list[str]) -> None:
    result = runner.invoke(app, arguments)

    assert result.exit_code == 2
    for name in missing:
        assert f"{name} is not set" in result.output
    assert "README.md" in result.output


def test_serve_rejects_unknown_tier(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
    monkeypatch.setenv("PAYPLAN_SLACK_CHANNEL", "C1")
    monkeypatch.setenv("PAYPLAN_PORTAL_SECRET", "portal")
    monkeypatch.setenv("PAYPLAN_APPROVERS", '{"collection_manager": ["U1"]}')

    result = runner.invoke(app, ["serve", "--http"])

    assert result.exit_code == 2
    assert "collection_manager" in result.output


@pytest.mark.parametrize(
    "name, value, shown",
    [
        ("PAYPLAN_APPROVERS", "not json", "PAYPLAN_APPROVERS"),
        ("PAYPLAN_APPROVERS", '{"collections_manager": "U1"}', "PAYPLAN_APPROVERS.collections_manager"),
        ("PAYPLAN_TIMEZONE", "Mars/Base", "Mars/Base"),
        ("PAYPLAN_AGREEMENT_LINK_DAYS", "-3", "PAYPLAN_AGREEMENT_LINK_DAYS"),
        ("PAYPLAN_HOLIDAY_COUNTRY", "XX", "PAYPLAN_HOLIDAY_COUNTRY 'XX'"),
    ],
)
def test_serve_invalid_setting_exit_2(monkeypatch: pytest.MonkeyPatch, name: str, value: str, shown: str) -> None:
    monkeypatch.setenv(name, value)

    result = runner.invoke(app, ["serve", "--http"])

    assert result.exit_code == 2
    assert "Invalid setting" in result.output
    assert shown in result.output


def test_choose_episodes_spreads_balances() -> None:
    from datetime import date
    from decimal import Decimal

    episodes = [PastDueEpisode(f"A{n:02d}", date(2013, 1, 1), Decimal(n), Decimal(n)) for n in range(1, 101)]

    chosen = choose_episodes(episodes, 5)

    assert [e.account_id for e in chosen] == ["A01", "A25", "A50", "A75", "A100"]


def test_demo_covers_every_outcome(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"

    result = runner.invoke(app, ["demo", "--db", str(database)])

    assert result.exit_code == 0, result.output
    assert "Slack messages posted" in result.output
    with make_session_factory(make_engine(f"sqlite:///{database}"))() as session:
        statuses = session.scalars(select(PlanRequest.status)).all()
        assert len(statuses) >= 20
        assert "ineligible" in statuses
        assert "rejected" in statuses
        assert "completed" in statuses
        assert statuses.count("defaulted") == 1
        late = session.scalars(select(Installment).where(Installment.late_on.is_not(None))).all()
        assert len({item.request_id for item in late}) > 1
        assert "Monitoring changes" in result.output
        routes = [revision.assessment.route for revision in session.scalars(select(TermRevision))]
        assert any(route and route[0] != "collections_manager" for route in routes)
        for request in session.scalars(select(PlanRequest).where(PlanRequest.status.in_(["completed", "defaulted"]))):
            amounts = session.scalars(select(Installment.amount).where(Installment.request_id == request.id)).all()
            assert sum(amounts) == request.revisions[0].balance


def test_jobs_list_unknown_holiday_subdivision_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYPLAN_HOLIDAY_COUNTRY", "US")
    monkeypatch.setenv("PAYPLAN_HOLIDAY_SUBDIVISION", "ZZ")

    result = runner.invoke(app, ["jobs", "list"])

    assert result.exit_code == 2
    assert "PAYPLAN_HOLIDAY_SUBDIVISION 'ZZ'" in result.output
