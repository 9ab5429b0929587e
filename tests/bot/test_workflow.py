"""Workflow service: lifecycle, permissions, exactly-once decisions and acceptance."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from agents.summary import Summarizer
from bot.clock import FixedClock
from bot.config import load_policy
from bot.errors import AgreementLinkError, AlreadyDecided, IntegrityMismatch, InvalidInput, OpenRequestExists, PermissionDenied
from bot.links import LinkSigner
from bot.workflow import RequestInput, Workflow
from storage.models import ApprovalStep, AuditEvent, Installment, PlanRequest, TermRevision
from tests.factories import add_past_due_account

AS_OF = date(2013, 6, 14)
REQUESTER = "UREQUESTER"
APPROVERS = {
    "collections_manager": ["UMANAGER", REQUESTER],
    "finance_controller": ["UCONTROLLER"],
    "revenue_operations_lead": ["UREVOPS"],
    "legal_compliance": ["ULEGAL", "UREVOPS"],
}


class RecordingNotifier:
    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []

    def request_opened(self, request_id: int) -> None:
        self.events.append(("opened", request_id))

    def step_decided(self, request_id: int, step_id: int) -> None:
        self.events.append(("decided", request_id))

    def plan_activated(self, request_id: int) -> None:
        self.events.append(("activated", request_id))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2013, 6, 14, 15, 0, tzinfo=timezone.utc))


@pytest.fixture
def workflow(session_factory: sessionmaker[Session], clock: FixedClock) -> Workflow:
    with session_factory.begin() as session:
        add_past_due_account(session, "SMALL", AS_OF, ["120.00", "310.55"])
        add_past_due_account(session, "LARGE", AS_OF, ["70000.00", "50000.00"])
        add_past_due_account(session, "SETTLED", AS_OF, [])
    return Workflow(
        session_factory=session_factory,
        policy=load_policy(None),
        summarizer=Summarizer(api_key=None),
        approvers=APPROVERS,
        clock=clock,
        timezone="UTC",
        link_signer=LinkSigner("secret", "https://payplan.test"),
        agreement_link_days=14,
        notifier=RecordingNotifier(),
    )


def request_input(account_id: str = "SMALL", installments: int = 4, down: str = "0.00") -> RequestInput:
    return RequestInput(account_id, "cash_flow", "Late receivable of their own.", Decimal(down), installments, date(2013, 7, 15))


def load_request(workflow: Workflow, request_id: int) -> PlanRequest:
    with workflow.session_factory() as session:
        request = session.get(PlanRequest, request_id)
        assert request is not None
        return request


def steps_of(workflow: Workflow, request_id: int) -> list[ApprovalStep]:
    with workflow.session_factory() as session:
        query = (
            select(ApprovalStep)
            .join(TermRevision, ApprovalStep.revision_id == TermRevision.id)
            .where(TermRevision.request_id == request_id)
            .order_by(ApprovalStep.sequence)
        )
        return list(session.scalars(query))


def audit_actions(workflow: Workflow, request_id: int) -> list[str]:
    with workflow.session_factory() as session:
        query = select(AuditEvent.action).where(AuditEvent.request_id == request_id).order_by(AuditEvent.id)
        return list(session.scalars(query))


def test_open_request_assesses_and_routes(workflow: Workflow) -> None:
    request_id = workflow.open_request(actor=REQUESTER, data=request_input())

    request = load_request(workflow, request_id)
    assert request.status == "pending_approval"
    assert request.as_of == AS_OF
    assert [(s.tier, s.status) for s in steps_of(workflow, request_id)] == [("collections_manager", "pending")]
    assert audit_actions(workflow, request_id) == ["request.created", "status.assessed", "status.pending_approval"]
    assert workflow.notifier.events == [("opened", request_id)]


def test_audit_events_have_before_after(workflow: Workflow) -> None:
    request_id = workflow.open_request(actor=REQUESTER, data=request_input())

    with workflow.session_factory() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.request_id == request_id).order_by(AuditEvent.id)).all()
    assert events[0].actor == REQUESTER
    assert events[0].after["balance"] == "430.55"
    assert events[1].before == {"status": "requested"}
    assert events[1].after["status"] == "assessed"
    assert events[1].after["policy_version"] == "b2b-2026.2"
    assert events[2].actor == "system:policy"
    assert all(event.occurred_at.tzinfo is not None for event in events)


def test_same_key_opens_one_request(workflow: Workflow) -> None:
    first = workflow.open_request(actor=REQUESTER, data=request_input(), idempotency_key="V123")
    second = workflow.open_request(actor=REQUESTER, data=request_input(), idempotency_key="V123")

    assert first == second
    with workflow.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PlanRequest)) == 1


@pytest.mark.parametrize(
    "data, field",
    [
        (request_input(account_id="NOPE"), "account"),
        (request_input(account_id="SETTLED"), "account"),
        (request_input(installments=0), "installments"),
        (request_input(down="430.55"), "down_payment"),
    ],
)
def test_invalid_request_stores_nothing(workflow: Workflow, data: RequestInput, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        workflow.open_request(actor=REQUESTER, data=data)

    assert field in caught.value.field_errors
    with workflow.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PlanRequest)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_second_open_request_rejected(workflow: Workflow) -> None:
    first = workflow.open_request(actor=REQUESTER, data=request_input())

    with pytest.raises(OpenRequestExists) as caught:
        workflow.open_request(actor=REQUESTER, data=request_input())

    assert caught.value.request_id == first
    assert f"already has open request {first}" in caught.value.field_errors["account"]
    with workflow.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PlanRequest)) == 1


def test_concurrent_open_request_rejected(workflow: Workflow) -> None:
    """A request stored by another opener after the check is caught by the database's unique index."""
    concurrent: list[int] = []

    def open_concurrently(session: Session) -> None:
        with workflow.session_factory.begin() as other:
            request = PlanRequest(
                account_id=request_input().account_id,
                requested_by="U00OTHER001",
                status="pending_approval",
                as_of=workflow.today(),
                reason_category="cash_flow",
                current_revision=1,
                created_at=workflow.clock.now(),
                updated_at=workflow.clock.now(),
            )
            other.add(request)
            other.flush()
            concurrent.append(request.id)

    with pytest.raises(OpenRequestExists) as caught:
        workflow.open_request(actor=REQUESTER, data=request_input(), before_store=open_concurrently)

    assert caught.value.request_id == concurrent[0]
    with workflow.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(PlanRequest)) == 1


def test_requester_cannot_approve_own(workflow: Workflow) -> None:
    request_id = workflow.open_request(actor=REQUESTER, data=request_input())
    [step] = steps_of(workflow, request_id)

    with pytest.raises(PermissionDenied, match="You opened"):
        workflow.decide(actor=REQUESTER, step_id=step.id, decision="approve")

    assert steps_of(workflow, request_id)[0].status == "pending"


def test_outsider_cannot_decide(workflow: Workflow) -> None:
    request_id = workflow.open_request(actor=REQUESTER, data=request_input())
    [step] = steps_of(workflow, request_id)

    with pytest.raises(PermissionDenied, match="Collections manager"):
        workflow.decide(actor="UCONTROLLER", step_id=step.id, decision="approve")
    with pytest.raises(PermissionDenied):
        workflow.authorize_decision(actor="USTRANGER", step_id=step.id)

    assert load_request(workflow, request_id).status == "pending_approval"


def test_large_balance_needs_two_steps(workflow: Workflow) -> None:
    request_id = workflow.open_request(actor=REQUESTER, data=request_input(account_id="LARGE", installments=10))
    first, second = steps_of(workflow, request_id)
    assert (first.tier, first.status) == ("revenue_operations_lead", "pending")
    assert (second.tier, second.status) == ("legal_compliance", "waiting")

    with pytest.raises(AlreadyDecided):
        workflow.decide(actor="ULEGAL", step_id=second.id, decision="approve")
    outcome = workflow.decide(actor="UREVOPS", step_id=first.id, decision="approve")
    assert outcome.request_status == "pending_approval"
    assert outcome.agreement_url is None
    assert audit_actions(workflow, request_id)[-2:] == ["step.approved", "step.pending"]

    outcome = workflow.decide(actor="ULEGAL", step_id=second.id, decision="approve")
    assert outcome.request_status == "sent_to_customer"
    assert outcome.agreement_url is not None
    assert outcome.agreement_url.startswith("https://payplan.test/agreements/")


def test_one_person_one_signoff(workflow: Workflow) -> None:
    request_id = workflow.open_request(actor=REQUESTER, data=request_input(account_id="LARGE", installments=10))
    first, second = steps_of(workflow, request_id)
    workflow.decide(actor="UREVOPS", step_id=first.id, decision="approve")

    with pytest.raises(PermissionDenied, match="different approver"):
        workflow.decide(actor="UREVOPS", step_id=second.id, decision="approve")

    assert steps_of(workflow, request_id)[1].status == "pending"


def test_rejection_needs_reason(workflow: Workflow) -> None:
    request_id = workflow.open_request(actor=REQUESTER, data=request_input())
    [step] = steps_of(workflow, request_id)

    with pytest.raises(InvalidInput):
        workflow.decide(actor="UMANAGER", step_id=step.id, decision="reject", comment="  ")

    outcome = workflow.decide(actor="UMANAGER", step_id=step.id, decision="reject", comment="History too weak")
    assert outcome.request_status == "rejected"
    with pytest.raises(AlreadyDecided):
        workflow.decide(actor="UMANAGER", step_id=step.id, decision="approve")
    assert "status.rejected" in audit_actions(workflow, request_id)


def test_rejection_supersedes_waiting_steps(workflow: Workflow) -> None:
    request_id = workflow.open_request(actor=REQUESTER, data=request_input(account_id="LARGE", installments=10))
    first, second = steps_of(workflow, request_id)

    workflow.decide(actor="UREVOPS", step_id=first.id, decision="reject", comment="Too large")

    assert [s.status for s in steps_of(workflow, request_id)] == ["rejected", "superseded"]
    assert audit_actions(workflow, request_id)[-3:] == ["step.rejected", "step.superseded", "status.rejected"]


def test_concurrent_clicks_decide_once(workflow: Workflow) -> None:
    request_id = workflow.open_request(actor=REQUESTER, data=request_input())
    [step] = steps_of(workflow, request_id)
    results: list[str] = []
    barrier = threading.Barrier(4)

    def click() -> None:
        barrier.wait()
        try:
            workflow.decide(actor="UMANAGER", step_id=step.id, decision="approve")
            results.append("decided")
        except AlreadyDecided:
            results.append("already")

    threads = [threading.Thread(target=click) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(results) == ["already"] * 3 + ["decided"]
    assert audit_actions(workflow, request_id).count("step.approved") == 1
    assert audit_actions(workflow, request_id).count("status.sent_to_customer") == 1


def approved_token(workflow: Workflow) -> tuple[int, str]:
    request_id = workflow.open_request(actor=REQUESTER, data=request_input(down="43.05"))
    [step] = steps_of(workflow, request_id)
    outcome = workflow.decide(actor="UMANAGER", step_id=step.id, decision="approve")
    assert outcome.agreement_url is not None
    return request_id, outcome.agreement_url.rsplit("/", 1)[1]


def test_acceptance_activates_plan(workflow: Workflow) -> None:
    request_id, token = approved_token(workflow)

    assert workflow.accept_agreement(token=token, ip="127.0.0.1", user_agent="pytest", typed_name="Dana Smith", consent=True) == request_id
    assert workflow.accept_agreement(token=token, ip="127.0.0.1", user_agent="pytest", typed_name="Dana Smith", consent=True) == request_id

    assert load_request(workflow, request_id).status == "active"
    with workflow.session_factory() as session:
        amounts = session.scalars(select(Installment.amount).where(Installment.request_id == request_id)).all()
    assert len(amounts) == 5
    assert sum(amounts) == Decimal("430.55")
    assert audit_actions(workflow, request_id).count("agreement.accepted") == 1
    assert workflow.notifier.events.count(("activated", request_id)) == 1


def test_expired_link_changes_nothing(workflow: Workflow, clock: FixedClock) -> None:
    request_id, token = approved_token(workflow)
    clock.set(clock.now() + timedelta(days=15))

    with pytest.raises(AgreementLinkError, match="expired"):
        workflow.accept_agreement(token=token, ip=None, user_agent=None, typed_name="Dana Smith", consent=True)

    assert load_request(workflow, request_id).status == "sent_to_customer"


def test_tampered_token_rejected(workflow: Workflow) -> None:
    _, token = approved_token(workflow)

    with pytest.raises(AgreementLinkError, match="not valid"):
        workflow.load_agreement(token[:-3] + "abc")


def test_changed_terms_block_acceptance(workflow: Workflow) -> None:
    request_id, token = approved_token(workflow)
    with workflow.session_factory.begin() as session:
        revision = session.scalar(select(TermRevision).where(TermRevision.request_id == request_id))
        revision.down_payment = Decimal("10.00")

    with pytest.raises(IntegrityMismatch):
        workflow.accept_agreement(token=token, ip=None, user_agent=None, typed_name="Dana Smith", consent=True)

    assert load_request(workflow, request_id).status == "sent_to_customer"
