"""The App Home's lists, built from the database without Slack."""

from __future__ import annotations

import json

from sqlalchemy import update

from bot.home import home_view
from bot.workflow import Workflow
from storage.models import ApprovalStep
from tests.bot.test_workflow import APPROVERS, REQUESTER, clock, request_input, steps_of, workflow  # noqa: F401

__all__ = ["clock", "workflow"]


def test_home_shows_decision_without_time(workflow: Workflow) -> None:
    request_id = workflow.open_request(actor=REQUESTER, data=request_input())
    [step] = steps_of(workflow, request_id)
    manager = APPROVERS[step.tier][0]
    with workflow.session_factory.begin() as session:
        session.execute(update(ApprovalStep).where(ApprovalStep.id == step.id).values(status="escalated", decided_by=manager, decided_at=None))

    view = json.dumps(home_view(workflow, REQUESTER).to_dict())

    assert f"escalated by <@{manager}>" in view
    assert " on None" not in view


def test_home_dates_decisions(workflow: Workflow) -> None:
    request_id = workflow.open_request(actor=REQUESTER, data=request_input())
    [step] = steps_of(workflow, request_id)

    workflow.decide(actor=APPROVERS[step.tier][0], step_id=step.id, decision="approve")

    view = json.dumps(home_view(workflow, REQUESTER).to_dict())
    assert "approved by" in view
    assert " on 2013-06-14" in view
