"""Refused Request changes and Escalate submissions are audited like refused approvals."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.errors import PermissionDenied
from bot.workflow import Workflow
from storage.models import AuditEvent
from tests.bot.test_workflow import REQUESTER, clock, load_request, request_input, steps_of, workflow  # noqa: F401

__all__ = ["clock", "workflow"]

OUTSIDER = "UOUTSIDER"


def denials(workflow: Workflow) -> list[AuditEvent]:
    with workflow.session_factory() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "decision.denied")))


@pytest.mark.parametrize("attempted", ["request_changes", "escalate"])
def test_outsider_action_denied_and_audited(workflow: Workflow, attempted: str) -> None:
    request_id = workflow.open_request(actor=REQUESTER, data=request_input())
    [step] = steps_of(workflow, request_id)

    with pytest.raises(PermissionDenied):
        if attempted == "request_changes":
            workflow.request_changes(actor=OUTSIDER, step_id=step.id, comment="Shorter plan, please.")
        else:
            workflow.escalate(actor=OUTSIDER, step_id=step.id, reason="Too large for me.")

    [denial] = denials(workflow)
    assert denial.actor == OUTSIDER
    assert denial.request_id == request_id
    assert denial.after["attempted"] == attempted
    assert "Collections manager" in denial.after["reason"]
    assert [other.status for other in steps_of(workflow, request_id)] == ["pending"]
    assert load_request(workflow, request_id).status == "pending_approval"
