"""``payplan demo`` drives the scheduler jobs with its clock."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from bot.cli import app
from storage.db import make_engine, make_session_factory
from storage.models import JobMark


def test_demo_shows_nudge_escalation_digest(tmp_path: Path) -> None:
    database = tmp_path / "demo.db"

    result = CliRunner().invoke(app, ["demo", "--db", str(database)])

    assert result.exit_code == 0, result.output
    assert "approval-sla: nudged" in result.output
    assert "approval-sla: escalated" in result.output
    assert "digest: sent the" in result.output
    engine = make_engine(f"sqlite:///{database}")
    with make_session_factory(engine)() as session:
        jobs = set(session.scalars(select(JobMark.job)).all())
    engine.dispose()
    assert {"sla.nudge", "sla.escalate", "digest"} <= jobs
