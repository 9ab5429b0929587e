"""From approval to completion and to default: agreement, payments, monitoring and reinstatement."""

from __future__ import annotations

import io

from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agents.summary import Summarizer
from bot.agreement_expiry import run_agreement_expiry
from bot.agreement_terms import hash_terms
from bot.clock import FixedClock
from bot.config import load_policy
from bot.customer_response import refuse_agreement
from bot.errors import AlreadyDecided, IntegrityMismatch, InvalidInput
from bot.links import LinkSigner
from bot.monitoring import run_plan_monitoring
from bot.payments import PaymentInput, import_payments, record_payment
from bot.workflow import RequestInput, Workflow
from storage.models import (
    Account,
    Agreement,
    AgreementDocument,
    AgreementResponse,
    AuditEvent,
    Installment,
    Invoice,
    InvoiceSettlement,
    PaymentAllocation,
    PlanRequest,
    PlanState,
    UnmatchedPayment,
)
from policy.facts import compute_facts
from storage.repository import invoice_history
from tests.factories import add_past_due_account

AS_OF = date(2013, 6, 14)
REQUESTER = "UREQUESTER"
# The payment files are imported after the payments they list were made.
IMPORTED_AT = datetime(2013, 7, 16, 9, 0, tzinfo=timezone.utc)
APPROVERS = {"collections_manager": ["UMANAGER"], "finance_controller": ["UCONTROLLER"], "revenue_operations_lead": ["UREVOPS"], "legal_compliance": ["ULEGAL"]}


class RecordingThread:
    def __init__(self) -> None:
        self.posts: list[tuple[int, str, bool]] = []
        self.uploads: list[tuple[int, int]] = []

    def agreement_sent(self, request_id: int, agreement_id: int) -> None:
        self.uploads.append((request_id, agreement_id))

    def post(self, request_id: int, text: str, *, notify_requester: bool = False) -> None:
        self.posts.append((request_id, text, notify_requester))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2013, 6, 14, 15, 0, tzinfo=timezone.utc))


@pytest.fixture
def thread() -> RecordingThread:
    return RecordingThread()


@pytest.fixture
def workflow(session_factory: sessionmaker[Session], clock: FixedClock, thread: RecordingThread) -> Workflow:
    with session_factory.begin() as session:
        add_past_due_account(session, "SMALL", AS_OF, ["120.00", "310.55"])
    workflow = Workflow(
        session_factory=session_factory,
        policy=load_policy(None),
        summarizer=Summarizer(api_key=None),
        approvers=APPROVERS,
        clock=clock,
        timezone="UTC",
        link_signer=LinkSigner("secret", "https://payplan.test"),
    )
    workflow.thread_notifier = thread
    return workflow


def approve(workflow: Workflow, request_id: int) -> str:
    """Approve every pending step of the current revision; return the agreement token."""
    with workflow.session_factory() as session:
        request = session.get(PlanRequest, request_id)
        revision = request.revisions[-1]
        step_ids = [step.id for step in revision.steps]
    outcome = None
    for step_id in step_ids:
        outcome = workflow.decide(actor="UMANAGER", step_id=step_id, decision="approve")
    assert outcome is not None and outcome.agreement_url is not None
    return outcome.agreement_url.rsplit("/", 1)[1]


def open_and_accept(workflow: Workflow, down: str = "0.00", installments: int = 3) -> tuple[int, str]:
    request_id = workflow.open_request(
        actor=REQUESTER, data=RequestInput("SMALL", "cash_flow", "Late receivable.", Decimal(down), installments, date(2013, 7, 15))
    )
    token = approve(workflow, request_id)
    workflow.accept_agreement(token=token, ip="203.0.113.7", user_agent="Browser/1.0", typed_name="Dana  Smith", consent=True)
    return request_id, token


def pay(workflow: Workflow, reference: str, amount: str, on: date, account: str = "SMALL"):
    with workflow.session_factory.begin() as session:
        return record_payment(session, PaymentInput(reference, account, on, Decimal(amount)), source="test", now=workflow.clock.now())


def sweep(workflow: Workflow, thread: RecordingThread, on: date) -> list[str]:
    return run_plan_monitoring(workflow.session_factory, thread, workflow.policy, datetime(on.year, on.month, on.day, 6, 0, tzinfo=timezone.utc))


def status_of(workflow: Workflow, request_id: int) -> tuple[str, str]:
    with workflow.session_factory() as session:
        request = session.get(PlanRequest, request_id)
        return request.status, request.account.status


def actions(workflow: Workflow, request_id: int) -> list[str]:
    with workflow.session_factory() as session:
        return list(session.scalars(select(AuditEvent.action).where(AuditEvent.request_id == request_id).order_by(AuditEvent.id)))


def test_agreement_document_states_terms(workflow: Workflow, thread: RecordingThread) -> None:
    request_id = workflow.open_request(
        actor=REQUESTER, data=RequestInput("SMALL", "cash_flow", "Late receivable.", Decimal("30.55"), 4, date(2013, 7, 15))
    )
    approve(workflow, request_id)

    with workflow.session_factory() as session:
        agreement = session.scalar(select(Agreement).where(Agreement.request_id == request_id))
        document = session.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == agreement.id))
        text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(document.pdf)).pages)
    assert agreement.terms_hash == document.terms_hash == hash_terms(document.terms)
    assert [row["invoice_number"] for row in document.terms["invoices"]] == ["SMALL-0005", "SMALL-0004"]
    assert document.terms["conditions"]["grace_days"] == 5
    for expected in ("USD 430.55", "SMALL-0004", "Down payment", "USD 30.55", "Installment 4", "No interest", "5 days", "USD 25.00",
                     "notice of default", "30 days", "How to pay", "PP-", "b2b-2026.2", agreement.terms_hash):
        assert expected in text.replace("\n", " "), expected
    assert thread.uploads == [(request_id, agreement.id)]


def test_acceptance_records_evidence(workflow: Workflow) -> None:
    request_id, _ = open_and_accept(workflow)

    with workflow.session_factory() as session:
        response = session.scalar(select(AgreementResponse))
        agreement = session.scalar(select(Agreement))
    assert response.decision == "accepted"
    assert response.typed_name == "Dana Smith"
    assert response.consent is True
    assert response.ip == "203.0.113.7"
    assert response.user_agent == "Browser/1.0"
    assert response.terms_hash == agreement.terms_hash
    assert status_of(workflow, request_id) == ("active", "scheduled_repayment")


def test_acceptance_needs_name_and_consent(workflow: Workflow) -> None:
    request_id = workflow.open_request(
        actor=REQUESTER, data=RequestInput("SMALL", "cash_flow", "Late receivable.", Decimal("0"), 3, date(2013, 7, 15))
    )
    token = approve(workflow, request_id)

    with pytest.raises(InvalidInput) as caught:
        workflow.accept_agreement(token=token, ip=None, user_agent=None, typed_name="  ", consent=False)

    assert set(caught.value.field_errors) == {"typed_name", "consent"}
    assert status_of(workflow, request_id)[0] == "sent_to_customer"


def test_tampered_document_stops_acceptance(workflow: Workflow) -> None:
    request_id = workflow.open_request(
        actor=REQUESTER, data=RequestInput("SMALL", "cash_flow", "Late receivable.", Decimal("0"), 3, date(2013, 7, 15))
    )
    token = approve(workflow, request_id)
    with workflow.session_factory.begin() as session:
        document = session.scalar(select(AgreementDocument))
        document.terms = {**document.terms, "conditions": {**document.terms["conditions"], "late_fee": "0.00"}}

    with pytest.raises(IntegrityMismatch, match="nothing changed"):
        workflow.accept_agreement(token=token, ip=None, user_agent=None, typed_name="Dana Smith", consent=True)

    assert status_of(workflow, request_id)[0] == "sent_to_customer"
    with workflow.session_factory() as session:
        assert session.scalar(select(Installment.id)) is None


def test_payments_oldest_first_with_credit(workflow: Workflow) -> None:
    request_id, _ = open_and_accept(workflow)

    assert pay(workflow, "P-1", "100.00", date(2013, 7, 10)).outcome == "applied"
    assert pay(workflow, "P-1", "100.00", date(2013, 7, 10)).outcome == "duplicate"
    pay(workflow, "P-2", "400.00", date(2013, 7, 20))

    with workflow.session_factory() as session:
        items = session.scalars(select(Installment).order_by(Installment.sequence)).all()
        state = session.get(PlanState, request_id)
        kinds = session.scalars(select(PaymentAllocation.kind).order_by(PaymentAllocation.id)).all()
    assert [item.amount for item in items] == [Decimal("143.52"), Decimal("143.52"), Decimal("143.51")]
    assert [item.status for item in items] == ["paid", "paid", "paid"]
    assert state.credit == Decimal("69.45")
    assert kinds == ["installment", "installment", "installment", "installment", "credit"]


def test_unknown_account_payment_kept(workflow: Workflow) -> None:
    result = pay(workflow, "P-9", "50.00", date(2013, 7, 10), account="NOBODY")

    assert result.outcome == "unmatched"
    with workflow.session_factory() as session:
        kept = session.scalar(select(UnmatchedPayment))
    assert kept.reference == "P-9"
    assert kept.amount == Decimal("50.00")
    assert "not known" in kept.reason


def test_plan_paid_in_full_completes(workflow: Workflow, thread: RecordingThread) -> None:
    request_id, _ = open_and_accept(workflow)
    pay(workflow, "P-1", "143.52", date(2013, 7, 15))
    pay(workflow, "P-2", "143.52", date(2013, 8, 14))
    assert sweep(workflow, thread, date(2013, 8, 30)) == []
    pay(workflow, "P-3", "143.51", date(2013, 9, 15))

    assert sweep(workflow, thread, date(2013, 9, 15)) == [f"PP-{request_id:05d}: completed; every installment paid"]
    assert status_of(workflow, request_id) == ("completed", "current")
    assert "plan.completed" in actions(workflow, request_id)
    assert any("paid in full" in text for _, text, _ in thread.posts)
    assert sweep(workflow, thread, date(2013, 9, 16)) == []


def test_missed_payments_default_then_reinstate(workflow: Workflow, thread: RecordingThread, clock: FixedClock) -> None:
    request_id, _ = open_and_accept(workflow)

    assert sweep(workflow, thread, date(2013, 7, 20)) == []
    late = sweep(workflow, thread, date(2013, 7, 21))
    assert late == [f"PP-{request_id:05d}: installment 1 due 2013-07-15 is late; 168.52 outstanding"]
    assert sweep(workflow, thread, date(2013, 7, 21)) == []
    notice = sweep(workflow, thread, date(2013, 8, 21))
    assert notice[1].endswith("notice of default sent; 2 installments late, cure by 2013-09-20")
    assert sweep(workflow, thread, date(2013, 9, 20)) == []
    defaulted = sweep(workflow, thread, date(2013, 9, 21))
    assert any("defaulted" in line for line in defaulted)
    assert status_of(workflow, request_id) == ("defaulted", "collections")
    assert all(notify for _, text, notify in thread.posts if "late" in text)
    for action in ("installment.late", "plan.default_notice", "status.defaulted", "plan.defaulted"):
        assert action in actions(workflow, request_id)

    # Reinstatement: new terms on what is owed, approved again, accepted again.
    clock.set(datetime(2013, 9, 25, 12, 0, tzinfo=timezone.utc))
    number = workflow.reopen_for_changes(
        actor=REQUESTER, request_id=request_id, down_payment=Decimal("0"), installment_count=4, first_due_date=date(2013, 10, 25), note="Reinstate"
    )
    assert number == 2
    with workflow.session_factory() as session:
        revision = session.get(PlanRequest, request_id).revisions[-1]
    assert revision.balance == Decimal("505.55")
    token = approve(workflow, request_id)
    workflow.accept_agreement(token=token, ip=None, user_agent=None, typed_name="Dana Smith", consent=True)
    assert status_of(workflow, request_id) == ("active", "scheduled_repayment")
    with workflow.session_factory() as session:
        statuses = session.scalars(select(Agreement.status).order_by(Agreement.id)).all()
        first_revision = session.get(PlanRequest, request_id).revisions[0]
        old = session.scalars(select(Installment.status).where(Installment.revision_id == first_revision.id)).all()
    assert statuses == ["superseded", "accepted"]
    assert set(old) == {"superseded"}


def test_cured_plan_continues(workflow: Workflow, thread: RecordingThread) -> None:
    request_id, _ = open_and_accept(workflow)
    sweep(workflow, thread, date(2013, 7, 21))
    sweep(workflow, thread, date(2013, 8, 21))

    pay(workflow, "P-CURE", "337.04", date(2013, 9, 1))
    cured = sweep(workflow, thread, date(2013, 9, 2))

    assert cured == [f"PP-{request_id:05d}: late installments paid; the plan continues"]
    assert status_of(workflow, request_id)[0] == "active"
    assert sweep(workflow, thread, date(2013, 9, 20)) == []


def test_renegotiation_keeps_old_plan_until_accepted(workflow: Workflow) -> None:
    request_id, _ = open_and_accept(workflow)
    pay(workflow, "P-1", "143.52", date(2013, 7, 10))

    workflow.reopen_for_changes(actor=REQUESTER, request_id=request_id, down_payment=Decimal("0"), installment_count=5, first_due_date=date(2013, 7, 20))

    with workflow.session_factory() as session:
        assert session.scalar(select(Agreement.status).order_by(Agreement.id)) == "accepted"
        assert session.get(PlanRequest, request_id).revisions[-1].balance == Decimal("287.03")
    assert pay(workflow, "P-2", "10.00", date(2013, 7, 12)).outcome == "applied"
    token = approve(workflow, request_id)
    workflow.accept_agreement(token=token, ip=None, user_agent=None, typed_name="Dana Smith", consent=True)
    with workflow.session_factory() as session:
        assert session.scalars(select(Agreement.status).order_by(Agreement.id)).all() == ["superseded", "accepted"]


def test_decline_goes_back_to_thread(workflow: Workflow, thread: RecordingThread) -> None:
    request_id = workflow.open_request(
        actor=REQUESTER, data=RequestInput("SMALL", "cash_flow", "Late receivable.", Decimal("0"), 3, date(2013, 7, 15))
    )
    token = approve(workflow, request_id)

    refuse_agreement(workflow, token=token, decision="declined", message="Too fast <!channel>", ip="198.51.100.1", user_agent="UA")
    refuse_agreement(workflow, token=token, decision="declined", message="Too fast", ip="198.51.100.1", user_agent="UA")

    assert status_of(workflow, request_id)[0] == "declined"
    [(_, text, notify)] = thread.posts
    assert "declined" in text
    assert "&lt;!channel&gt;" in text
    assert "Next step" in text
    assert notify is True
    with pytest.raises(AlreadyDecided):
        workflow.accept_agreement(token=token, ip=None, user_agent=None, typed_name="Dana Smith", consent=True)


def test_payments_csv_reports_bad_rows(workflow: Workflow, tmp_path: Path) -> None:
    open_and_accept(workflow)
    path = tmp_path / "payments.csv"
    path.write_text(
        "reference,account_id,paid_on,amount\n"
        "R-1,SMALL,2013-07-15,143.52\n"
        "R-2,SMALL,15/07/2013,10.00\n"
        "R-3,GHOST,2013-07-15,1e3\n"
        "R-4,GHOST,2013-07-15,20.00\n"
        "R-1,SMALL,2013-07-15,143.52\n",
        encoding="utf-8",
    )

    with workflow.session_factory.begin() as session:
        report = import_payments(session, path, now=IMPORTED_AT)

    assert [(error.row, error.column) for error in report.errors] == [(3, "paid_on"), (4, "amount"), (6, "reference")]
    assert [result.outcome for result in report.results] == ["applied", "unmatched"]
    with workflow.session_factory.begin() as session:
        again = import_payments(session, tmp_path / "payments.csv", now=IMPORTED_AT)
    assert [result.outcome for result in again.results] == ["duplicate", "duplicate"]


@pytest.mark.parametrize("down", ["100", "100.0", "100.00"])
def test_revised_down_payment_activates_however_written(workflow: Workflow, down: str) -> None:
    request_id, _ = open_and_accept(workflow)
    workflow.reopen_for_changes(
        actor=REQUESTER, request_id=request_id, down_payment=Decimal(down), installment_count=3, first_due_date=date(2013, 7, 20)
    )
    token = approve(workflow, request_id)

    workflow.accept_agreement(token=token, ip=None, user_agent=None, typed_name="Dana Smith", consent=True)

    with workflow.session_factory() as session:
        document = session.scalars(select(AgreementDocument).order_by(AgreementDocument.id)).all()[-1]
    assert document.terms["down_payment"] == "100.00"
    assert document.terms["schedule"][0] == {"sequence": 0, "due_date": document.terms["schedule"][0]["due_date"], "amount": "100.00"}
    assert status_of(workflow, request_id) == ("active", "scheduled_repayment")


def test_down_payment_falls_due_on_acceptance(workflow: Workflow, thread: RecordingThread, clock: FixedClock) -> None:
    request_id = workflow.open_request(
        actor=REQUESTER, data=RequestInput("SMALL", "cash_flow", "Late receivable.", Decimal("100.00"), 3, date(2013, 7, 15))
    )
    token = approve(workflow, request_id)
    clock.set(datetime(2013, 6, 25, 9, 0, tzinfo=timezone.utc))
    workflow.accept_agreement(token=token, ip=None, user_agent=None, typed_name="Dana Smith", consent=True)

    with workflow.session_factory() as session:
        down = session.scalar(select(Installment).where(Installment.request_id == request_id, Installment.sequence == 0))
        document = session.scalar(select(AgreementDocument))
        text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(document.pdf)).pages)
    assert down.due_date == date(2013, 6, 25)
    assert "is due on the day you accept these terms" in text
    assert sweep(workflow, thread, date(2013, 6, 30)) == []
    assert sweep(workflow, thread, date(2013, 7, 1)) == [f"PP-{request_id:05d}: the down payment due 2013-06-25 is late; 125.00 outstanding"]


def test_no_installment_is_late_before_the_plan_is_active(workflow: Workflow, thread: RecordingThread, clock: FixedClock) -> None:
    workflow.agreement_link_days = 60
    request_id = workflow.open_request(
        actor=REQUESTER, data=RequestInput("SMALL", "cash_flow", "Late receivable.", Decimal("0"), 3, date(2013, 7, 15))
    )
    token = approve(workflow, request_id)
    clock.set(datetime(2013, 7, 18, 9, 0, tzinfo=timezone.utc))
    workflow.accept_agreement(token=token, ip=None, user_agent=None, typed_name="Dana Smith", consent=True)

    assert sweep(workflow, thread, date(2013, 7, 21)) == []
    assert sweep(workflow, thread, date(2013, 7, 23)) == []
    assert sweep(workflow, thread, date(2013, 7, 24)) == [f"PP-{request_id:05d}: installment 1 due 2013-07-15 is late; 168.52 outstanding"]


def test_completed_plan_settles_its_invoices(workflow: Workflow, thread: RecordingThread) -> None:
    request_id, _ = open_and_accept(workflow)
    pay(workflow, "P-ALL", "430.55", date(2013, 7, 15))

    sweep(workflow, thread, date(2013, 7, 16))

    with workflow.session_factory() as session:
        invoices = session.scalars(select(Invoice).where(Invoice.amount.in_([Decimal("120.00"), Decimal("310.55")]))).all()
        settlements = session.scalars(select(InvoiceSettlement)).all()
        facts = compute_facts("SMALL", invoice_history(session, "SMALL"), date(2013, 7, 16))
    assert {invoice.settled_date for invoice in invoices} == {date(2013, 7, 16)}
    assert {(item.invoice_id, item.request_id) for item in settlements} == {(invoice.id, request_id) for invoice in invoices}
    assert facts.open_balance == Decimal("0.00")
    assert "invoices.settled_by_plan" in actions(workflow, request_id)


def test_active_plan_blocks_a_second_plan_on_its_invoices(workflow: Workflow) -> None:
    open_and_accept(workflow)

    second = workflow.open_request(
        actor=REQUESTER, data=RequestInput("SMALL", "cash_flow", "Same debt again.", Decimal("0"), 3, date(2013, 7, 15))
    )

    with workflow.session_factory() as session:
        flags = session.get(PlanRequest, second).revisions[-1].assessment.flags
    assert any(flag["code"] == "open_plan_exists" and flag["blocking"] for flag in flags)


def test_overlapping_imports_report_duplicates(workflow: Workflow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A second import that checked its references before the first one
    # committed reports them as already recorded instead of failing.
    from bot import payments

    open_and_accept(workflow)
    path = tmp_path / "payments.csv"
    path.write_text("reference,account_id,paid_on,amount\nR-1,SMALL,2013-07-15,143.52\nR-2,GHOST,2013-07-15,20.00\n", encoding="utf-8")
    with workflow.session_factory.begin() as session:
        import_payments(session, path, now=IMPORTED_AT)
    real_check = payments._already_recorded
    blind = ["R-1", "R-2"]
    monkeypatch.setattr(payments, "_already_recorded", lambda session, ref: None if ref in blind and not blind.remove(ref) else real_check(session, ref))

    with workflow.session_factory.begin() as session:
        again = import_payments(session, path, now=IMPORTED_AT)

    assert [result.outcome for result in again.results] == ["duplicate", "duplicate"]
    with workflow.session_factory() as session:
        assert session.scalars(select(PaymentAllocation.amount)).all() == [Decimal("143.52")]


def test_on_time_payment_after_the_sweep_pays_no_late_fee(workflow: Workflow, thread: RecordingThread) -> None:
    request_id, _ = open_and_accept(workflow)
    sweep(workflow, thread, date(2013, 7, 21))

    pay(workflow, "P-ON-TIME", "143.52", date(2013, 7, 20))

    with workflow.session_factory() as session:
        first = session.scalar(select(Installment).where(Installment.request_id == request_id, Installment.sequence == 1))
        credit = session.get(PlanState, request_id).credit
    assert (first.status, first.late_fee, first.late_on) == ("paid", Decimal("0.00"), None)
    assert credit == Decimal("0.00")
    assert "installment.late_reversed" in actions(workflow, request_id)
    assert sweep(workflow, thread, date(2013, 7, 22)) == []


def test_late_payment_after_the_sweep_pays_the_late_fee(workflow: Workflow, thread: RecordingThread) -> None:
    request_id, _ = open_and_accept(workflow)
    sweep(workflow, thread, date(2013, 7, 21))

    pay(workflow, "P-LATE", "143.52", date(2013, 7, 21))

    with workflow.session_factory() as session:
        first = session.scalar(select(Installment).where(Installment.request_id == request_id, Installment.sequence == 1))
    assert (first.status, first.late_fee, first.late_fee_paid) == ("late", Decimal("25.00"), Decimal("25.00"))
    assert "installment.late_reversed" not in actions(workflow, request_id)


def test_payment_detail_names_installments_by_number(workflow: Workflow, thread: RecordingThread) -> None:
    request_id, _ = open_and_accept(workflow, down="100.00")
    sweep(workflow, thread, date(2013, 6, 20))

    result = pay(workflow, "P-1", "150.00", date(2013, 6, 20))

    assert result.detail == f"PP-{request_id:05d}: 25.00 to the late fee of the down payment, 100.00 to the down payment, 25.00 to installment 1"


def test_unanswered_agreement_expires(workflow: Workflow, thread: RecordingThread) -> None:
    request_id = workflow.open_request(
        actor=REQUESTER, data=RequestInput("SMALL", "cash_flow", "Late receivable.", Decimal("0"), 3, date(2013, 7, 15))
    )
    token = approve(workflow, request_id)

    assert run_agreement_expiry(workflow.session_factory, thread, datetime(2013, 6, 28, 14, 0, tzinfo=timezone.utc)) == []
    expired = run_agreement_expiry(workflow.session_factory, thread, datetime(2013, 6, 28, 15, 0, tzinfo=timezone.utc))

    assert expired == [f"PP-{request_id:05d}: the agreement expired unanswered; the request is expired"]
    assert status_of(workflow, request_id)[0] == "expired"
    assert "agreement.expired" in actions(workflow, request_id)
    assert any("before its link expired" in text for _, text, _ in thread.posts)
    assert run_agreement_expiry(workflow.session_factory, thread, datetime(2013, 6, 29, tzinfo=timezone.utc)) == []
    with pytest.raises(AlreadyDecided):
        workflow.accept_agreement(token=token, ip=None, user_agent=None, typed_name="Dana Smith", consent=True)


def test_unanswered_renegotiation_expires_and_the_plan_continues(workflow: Workflow, thread: RecordingThread, clock: FixedClock) -> None:
    request_id, _ = open_and_accept(workflow)
    workflow.reopen_for_changes(actor=REQUESTER, request_id=request_id, down_payment=Decimal("0"), installment_count=5, first_due_date=date(2013, 7, 20))
    approve(workflow, request_id)

    expired = run_agreement_expiry(workflow.session_factory, thread, datetime(2013, 7, 1, tzinfo=timezone.utc))

    assert expired == [f"PP-{request_id:05d}: the new agreement expired unanswered; the agreement in force continues"]
    assert status_of(workflow, request_id) == ("active", "scheduled_repayment")
    assert pay(workflow, "P-1", "143.52", date(2013, 7, 1)).outcome == "applied"
