"""``payplan audit`` and ``payplan report`` turn bad input, settings and rows into messages, not tracebacks."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from bot.cli import app
from bot.workflow import Workflow
from storage.audit import record_event
from tests.bot.test_audit_cli import accepted_plan  # noqa: F401 (fixture)
from tests.bot.test_workflow import clock, workflow  # noqa: F401 (fixtures)
from tests.storage.test_audit_chain import disable_append_only_triggers

runner = CliRunner()
OLD_CONTENT = "an earlier export\n"


@pytest.fixture
def existing_output(tmp_path: Path) -> Path:
    output = tmp_path / "events.jsonl"
    output.write_text(OLD_CONTENT, encoding="utf-8")
    return output


def test_export_unknown_request_keeps_file(accepted_plan: int, existing_output: Path) -> None:  # noqa: F811
    result = runner.invoke(app, ["audit", "export", "--request", "999", "--output", str(existing_output)])

    assert result.exit_code == 1
    assert "Request 999 has no audit events" in result.output
    assert "Wrote" not in result.output
    assert existing_output.read_text(encoding="utf-8") == OLD_CONTENT
    assert list(existing_output.parent.glob(".events.jsonl.*")) == []


def test_export_database_error_keeps_file(tmp_path: Path, existing_output: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sqlite3.connect(tmp_path / "empty.db").close()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")

    result = runner.invoke(app, ["audit", "export", "--output", str(existing_output)])

    assert result.exit_code == 2
    assert "no such table: audit_events" in result.output
    assert "run `payplan db upgrade`" in result.output
    assert "Wrote" not in result.output
    assert existing_output.read_text(encoding="utf-8") == OLD_CONTENT


def test_export_bad_request_id_keeps_file(existing_output: Path) -> None:
    result = runner.invoke(app, ["audit", "export", "--request", "PP-x", "--output", str(existing_output)])

    assert result.exit_code == 2
    assert "'PP-x' is not a request id" in result.output
    assert existing_output.read_text(encoding="utf-8") == OLD_CONTENT


def test_export_to_missing_directory(accepted_plan: int, tmp_path: Path) -> None:  # noqa: F811
    result = runner.invoke(app, ["audit", "export", "--output", str(tmp_path / "missing" / "events.jsonl")])

    assert result.exit_code == 2
    assert f"The directory {tmp_path / 'missing'} for" in result.output
    assert "does not exist" in result.output


def test_export_to_directory(accepted_plan: int, tmp_path: Path) -> None:  # noqa: F811
    result = runner.invoke(app, ["audit", "export", "--output", str(tmp_path)])

    assert result.exit_code == 2
    assert f"{tmp_path} is a directory" in result.output


def test_export_accepts_request_label(accepted_plan: int) -> None:  # noqa: F811
    result = runner.invoke(app, ["audit", "export", "--request", f"PP-{accepted_plan:05d}"])

    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 9


def break_event_time(engine: Engine) -> None:
    with engine.begin() as connection:
        disable_append_only_triggers(connection)
        connection.execute(text("UPDATE audit_events SET occurred_at = 'yesterday' WHERE id = 4"))


@pytest.mark.parametrize("command", [["audit", "export"], ["audit", "history", "1"]])
def test_unreadable_event_named(accepted_plan: int, engine: Engine, command: list[str]) -> None:  # noqa: F811
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's timestamp column cannot hold the text")
    break_event_time(engine)

    result = runner.invoke(app, command)

    assert result.exit_code == 1
    assert "audit event 4 is unreadable: its occurred_at 'yesterday' is not a date and time" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_verify_reports_unreadable_event(accepted_plan: int, engine: Engine) -> None:  # noqa: F811
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's timestamp column cannot hold the text")
    break_event_time(engine)

    result = runner.invoke(app, ["audit", "verify"])

    assert result.exit_code == 1
    assert "Audit chain broken at event 4 (content_changed)" in result.output


def test_history_accepts_request_label(accepted_plan: int) -> None:  # noqa: F811
    result = runner.invoke(app, ["audit", "history", f"PP-{accepted_plan:05d}"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("#1 ")


def test_history_rejects_bad_request_id() -> None:
    result = runner.invoke(app, ["audit", "history", "PP-abc"])

    assert result.exit_code == 2
    assert "'PP-abc' is not a request id" in result.output


def test_history_multiline_comment_one_line(
    accepted_plan: int, workflow: Workflow  # noqa: F811
) -> None:
    with workflow.session_factory.begin() as session:
        record_event(session, actor="UMANAGER", action="step.rejected", at=datetime(2013, 6, 15, tzinfo=timezone.utc),
                     request_id=accepted_plan, revision=1, before={}, after={"step": 1, "tier": "collections_manager",
                                                                              "comment": "first line\nsecond line\r\nthird"})

    result = runner.invoke(app, ["audit", "history", str(accepted_plan)])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 10
    assert lines[-1] == "#10 2013-06-15 00:00 UTC [rev 1] UMANAGER rejected step 1 (collections_manager): first line⏎second line⏎third"


def test_missing_sqlite_file_not_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "missing.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")

    result = runner.invoke(app, ["audit", "verify"])

    assert result.exit_code == 2
    assert f"The SQLite database {path} in DATABASE_URL does not exist. Run `payplan db upgrade`" in result.output
    assert not path.exists()


def test_sqlite_path_is_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}")

    result = runner.invoke(app, ["audit", "verify"])

    assert result.exit_code == 2
    assert f"DATABASE_URL names {tmp_path}, which is a directory" in result.output


@pytest.mark.parametrize("url", ["bogus", "nosuchdriver://host/db"])
def test_invalid_database_url(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", url)

    result = runner.invoke(app, ["audit", "verify"])

    assert result.exit_code == 2
    assert "DATABASE_URL" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_report_unknown_timezone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYPLAN_TIMEZONE", "Mars/Base")

    result = runner.invoke(app, ["report"])

    assert result.exit_code == 2
    assert "Invalid setting: PAYPLAN_TIMEZONE='Mars/Base'" in result.output


def test_report_widest_range(accepted_plan: int) -> None:  # noqa: F811
    result = runner.invoke(app, ["report", "--from", "0001-01-01", "--to", "9999-12-31", "--format", "json"])

    assert result.exit_code == 0, result.output
    assert '"requests": 1' in result.stdout


@pytest.mark.parametrize(("option", "value"), [("--from", "2013-02-30"), ("--to", "2013-13-01"), ("--from", "today")])
def test_report_invalid_date(option: str, value: str) -> None:
    result = runner.invoke(app, ["report", option, value])

    assert result.exit_code == 2
    assert f"{option} {value} is not a valid date" in result.output


def test_report_other_error_not_date_range(accepted_plan: int, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    def fail(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug elsewhere")

    monkeypatch.setattr("storage.reporting.compute_report", fail)

    result = runner.invoke(app, ["report", "--to", "2013-06-30"])

    assert isinstance(result.exception, ValueError)
    assert "Invalid date range" not in result.output


def test_report_help_is_plain_command() -> None:
    result = runner.invoke(app, ["report", "--help"])

    assert result.exit_code == 0
    assert "COMMAND" not in result.output
    assert "--from" in result.output
