"""The audit trail of a whole plan, and the `payplan audit` and `payplan report` commands."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from bot.cli import app
from bot.workflow import Workflow
from storage.audit import compute_event_hash, verify_chain
from storage.history import request_history
from storage.models import Agreement, AuditEvent
from tests.bot.test_workflow import REQUESTER, approved_token, clock, workflow  # noqa: F401 (fixtures)
from tests.storage.test_audit_chain import disable_append_only_triggers

runner = CliRunner()


@pytest.fixture
def accepted_plan(workflow: Workflow, database_url: str, monkeypatch: pytest.MonkeyPatch) -> int:  # noqa: F811
    """Take one request through approval and acceptance; point DATABASE_URL at its database."""
    request_id, token = approved_token(workflow)
    workflow.accept_agreement(token=token, ip="192.0.2.10", user_agent="pytest", typed_name="Dana Smith", consent=True)
    monkeypatch.setenv("DATABASE_URL", database_url)
    return request_id


def test_plan_events_carry_request_and_revision(workflow: Workflow, accepted_plan: int) -> None:  # noqa: F811
    with workflow.session_factory() as session:
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.sequence)).all()
        report = verify_chain(session)

    assert len(events) == 9
    assert [(event.request_id, event.revision) for event in events] == [(accepted_plan, 1)] * 9
    assert report.ok
    assert report.checked == 9


def test_history_tells_whole_chain(workflow: Workflow, accepted_plan: int) -> None:  # noqa: F811
    with workflow.session_factory() as session:
        entries = request_history(session, accepted_plan)
        agreement = session.scalars(select(Agreement).where(Agreement.request_id == accepted_plan)).one()

    document_hash = agreement.terms_hash
    assert [entry.line() for entry in entries] == [
        f"#1 2013-06-14 15:00 UTC [rev 1] {REQUESTER} requested a plan for account SMALL: balance 430.55, "
        "down payment 43.05, 4 installments from 2013-07-15, reason cash_flow",
        "#2 2013-06-14 15:00 UTC [rev 1] policy b2b-2026.2 assessed the terms: eligible, risk grade A, flags none, "
        "route collections_manager; summary by offline, prompt version 2",
        "#3 2013-06-14 15:00 UTC [rev 1] system:policy sent the request for approval: collections_manager",
        "#4 2013-06-14 15:00 UTC [rev 1] UMANAGER approved step 1 (collections_manager)",
        "#5 2013-06-14 15:00 UTC [rev 1] UMANAGER approved the request: every step is signed",
        f"#6 2013-06-14 15:00 UTC [rev 1] agreement {agreement.id} sent to the customer, document hash {document_hash}, "
        "link valid until 2013-06-28T15:00:00+00:00",
        f"#7 2013-06-14 15:00 UTC [rev 1] the customer accepted the agreement with document hash {document_hash} from 192.0.2.10",
        # The down payment and four installments.
        "#8 2013-06-14 15:00 UTC [rev 1] the plan became active with 5 installments",
        "#9 2013-06-14 15:00 UTC [rev 1] the account moved from collections to scheduled_repayment",
    ]


def test_history_of_unknown_request_is_empty(workflow: Workflow) -> None:  # noqa: F811
    with workflow.session_factory() as session:
        assert request_history(session, 999) == []


def test_audit_verify_intact(accepted_plan: int) -> None:
    result = runner.invoke(app, ["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert "Audit chain verified: 9 events" in result.output


def test_audit_verify_names_changed_event(accepted_plan: int, engine: Engine) -> None:
    with engine.begin() as connection:
        disable_append_only_triggers(connection)
        connection.execute(update(AuditEvent.__table__).where(AuditEvent.__table__.c.id == 4).values(actor="UOTHER"))

    result = runner.invoke(app, ["audit", "verify"])

    assert result.exit_code == 1
    assert "Audit chain broken at event 4 (content_changed)" in result.output
    assert "3 events before it verified" in result.output


def test_audit_export_jsonl_for_one_request(accepted_plan: int, tmp_path: Path) -> None:
    output = tmp_path / "events.jsonl"

    result = runner.invoke(app, ["audit", "export", "--request", str(accepted_plan), "--output", str(output)])

    assert result.exit_code == 0, result.output
    assert "Wrote 9 events" in result.output
    records = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [record["sequence"] for record in records] == list(range(1, 10))
    assert records[0]["previous_hash"] == "0" * 64
    for record in records:
        assert record["request_id"] == accepted_plan
        # An auditor can recompute each hash from the exported row alone.
        row = SimpleNamespace(**{**record, "occurred_at": datetime.fromisoformat(record["occurred_at"])})
        assert compute_event_hash(row) == record["hash"]


def test_audit_export_csv_to_stdout(accepted_plan: int) -> None:
    result = runner.invoke(app, ["audit", "export", "--format", "csv"])

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 9
    assert rows[0]["action"] == "request.created"
    assert json.loads(rows[0]["after"])["balance"] == "430.55"
    assert rows[8]["actor_kind"] == "customer"


def test_audit_export_unknown_request_exit_1(accepted_plan: int) -> None:
    result = runner.invoke(app, ["audit", "export", "--request", "999"])

    assert result.exit_code == 1
    assert "Request 999 has no audit events" in result.output


def test_audit_history_command(accepted_plan: int) -> None:
    result = runner.invoke(app, ["audit", "history", str(accepted_plan)])

    assert result.exit_code == 0, result.output
    assert "UMANAGER approved step 1 (collections_manager)" in result.output
    assert result.output.count("\n") == 9


def test_report_json(accepted_plan: int) -> None:
    result = runner.invoke(app, ["report", "--from", "2013-06-14", "--to", "2013-06-30", "--format", "json"])

    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["requests"] == 1
    assert figures["outcomes"] == {"active": 1}
    assert figures["default_rate_by_grade"] == {"A": {"numerator": 0, "denominator": 1, "percent": "0.0"}}
    # The down payment of 43.05 is due on 14 June and nothing is paid yet.
    assert figures["recovery"] == {"numerator": "0.00", "denominator": "43.05", "percent": "0.0"}


def test_report_table_and_csv(accepted_plan: int) -> None:
    table = runner.invoke(app, ["report", "--to", "2013-06-30"])
    comma_separated = runner.invoke(app, ["report", "--to", "2013-06-30", "--format", "csv"])

    assert table.exit_code == 0, table.output
    assert "recovery rate %" in table.output
    assert comma_separated.exit_code == 0, comma_separated.output
    rows = list(csv.DictReader(io.StringIO(comma_separated.stdout)))
    assert {"figure": "requests by status", "group": "active", "value": "1", "basis": ""} in rows


def test_report_bad_range_exit_2(accepted_plan: int) -> None:
    result = runner.invoke(app, ["report", "--from", "2013-07-01", "--to", "2013-06-01"])

    assert result.exit_code == 2
    assert "swap them" in result.output
