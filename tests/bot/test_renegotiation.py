"""New terms for an existing plan: the account history the engine receives, and the thread post."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from sqlalchemy import select

from bot.workflow import Workflow
from storage.models import Assessment, PlanRequest
from tests.bot.test_plan_lifecycle import REQUESTER, RecordingThread, clock, open_and_accept, thread, workflow  # noqa: F401

__all__ = ["clock", "thread", "workflow"]


def latest_assessment(workflow: Workflow, request_id: int) -> Assessment:
    with workflow.session_factory() as session:
        request = session.get(PlanRequest, request_id)
        revision = request.revisions[-1]
        assessment = session.scalars(select(Assessment).where(Assessment.revision_id == revision.id)).one()
        session.expunge(assessment)
        return assessment


def reopen(workflow: Workflow, request_id: int, actor: str = REQUESTER) -> int:
    return workflow.reopen_for_changes(
        actor=actor, request_id=request_id, down_payment=Decimal("0"), installment_count=4, first_due_date=date(2013, 7, 20), note="New terms"
    )


def blocking_codes(assessment: Assessment) -> list[str]:
    return [flag["code"] for flag in assessment.flags if flag["blocking"]]


def test_renegotiation_sees_other_default(workflow: Workflow) -> None:
    request_id, _ = open_and_accept(workflow)
    with workflow.session_factory.begin() as session:
        session.add(PlanRequest(
            account_id="SMALL", requested_by=REQUESTER, status="defaulted", as_of=date(2013, 1, 2), reason_category="cash_flow",
            created_at=datetime(2013, 1, 2, tzinfo=timezone.utc), updated_at=datetime(2013, 5, 1, tzinfo=timezone.utc),
        ))

    reopen(workflow, request_id)

    assert blocking_codes(latest_assessment(workflow, request_id)) == ["prior_default_in_lookback"]


def test_renegotiation_ignores_own_history(workflow: Workflow) -> None:
    request_id, _ = open_and_accept(workflow)
    with workflow.session_factory.begin() as session:
        request = session.get(PlanRequest, request_id)
        assert request is not None
        request.status = "defaulted"

    reopen(workflow, request_id)

    assessment = latest_assessment(workflow, request_id)
    assert blocking_codes(assessment) == []
    assert assessment.eligible


def test_renegotiation_post_names_actor(workflow: Workflow, thread: RecordingThread) -> None:
    request_id, _ = open_and_accept(workflow)
    with workflow.session_factory.begin() as session:
        session.get(PlanRequest, request_id).requested_by = "system:webhook"

    number = reopen(workflow, request_id, actor="system:webhook")

    [post] = [text for _, text, _ in thread.posts if text.startswith(f":memo: Revision {number}")]
    assert "opened by system:webhook:" in post
    assert "<@system:webhook>" not in post
