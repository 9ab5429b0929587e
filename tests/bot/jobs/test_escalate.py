"""Workflow.escalate: the pending step is escalated and the next tier gets a pending step."""

from __future__ import annotations

import pytest

from bot.errors import AlreadyDecided, InvalidInput
from storage.models import ApprovalStep
from tests.bot.jobs.conftest import JobsHarness
from tests.bot.jobs.test_sla import steps_of


def test_escalate_opens_next_tier(harness: JobsHarness) -> None:
    request_id = harness.open_request()
    step = steps_of(harness, request_id)[0]

    outcome = harness.runtime.workflow.escalate(actor="UMANAGER", step_id=step.id, reason="Needs a controller's view.")

    assert outcome.decision == "escalate"
    assert outcome.request_status == "pending_approval"
    assert [(s.tier, s.status, s.comment) for s in steps_of(harness, request_id)] == [
        ("collections_manager", "escalated", "Needs a controller's view."),
        ("finance_controller", "pending", None),
    ]


def test_escalate_keeps_later_steps(harness: JobsHarness) -> None:
    request_id = harness.open_request()
    first = steps_of(harness, request_id)[0]
    with harness.runtime.session_factory.begin() as session:
        session.add(ApprovalStep(revision_id=first.revision_id, sequence=2, tier="legal_compliance", status="waiting"))

    harness.runtime.workflow.escalate(actor="system:sla", step_id=first.id, reason="No decision within the SLA.")

    assert [(s.sequence, s.tier, s.status) for s in steps_of(harness, request_id)] == [
        (1, "collections_manager", "escalated"),
        (2, "finance_controller", "pending"),
        (3, "legal_compliance", "waiting"),
    ]


def test_same_tier_escalation_in_session(harness: JobsHarness) -> None:
    request_id = harness.open_request()
    first = steps_of(harness, request_id)[0]

    with harness.runtime.session_factory.begin() as session:
        outcome = harness.runtime.workflow.escalate_in_session(session, actor="system:sla", step_id=first.id, reason="Backups decide.", same_tier=True)

    assert outcome.decision == "escalate"
    assert [(s.tier, s.status) for s in steps_of(harness, request_id)] == [("collections_manager", "escalated"), ("collections_manager", "pending")]


def test_escalate_from_top_tier_rejected(harness: JobsHarness) -> None:
    harness.add_account("HUGE", ["150000.00", "30000.00"], harness.runtime.workflow.today())
    request_id = harness.open_request("HUGE", installments=12)
    before = steps_of(harness, request_id)
    assert [(s.tier, s.status) for s in before] == [("revenue_operations_lead", "pending"), ("legal_compliance", "waiting")]

    with pytest.raises(InvalidInput, match="highest approval tier"):
        harness.runtime.workflow.escalate(actor="UREVOPS", step_id=before[0].id, reason="Too large for me.")


def test_escalate_twice_rejected(harness: JobsHarness) -> None:
    request_id = harness.open_request()
    step = steps_of(harness, request_id)[0]
    harness.runtime.workflow.escalate(actor="UMANAGER", step_id=step.id, reason="First.")

    with pytest.raises(AlreadyDecided):
        harness.runtime.workflow.escalate(actor="UMANAGER", step_id=step.id, reason="Second.")


def test_escalate_needs_reason(harness: JobsHarness) -> None:
    request_id = harness.open_request()
    step = steps_of(harness, request_id)[0]

    with pytest.raises(InvalidInput, match="needs a reason"):
        harness.runtime.workflow.escalate(actor="UMANAGER", step_id=step.id, reason="  ")
