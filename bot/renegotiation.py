"""New terms for an existing request: a new revision, assessed and routed again.

Used after the customer declines or asks for changes, when the link
expired, to renegotiate an active plan, and to reinstate a defaulted one.
The new revision's balance is what is still owed on the plan in force (late
fees included), or the previous revision's balance when no plan was in force
yet. Approvals of earlier revisions never carry over. An active plan's
agreement stays in force until the customer accepts the new one.
"""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from bot.errors import InvalidInput, NotFound, PermissionDenied
from bot.messages import actor_mention, request_label
from bot.plan_ledger import agreement_in_force, outstanding_balance
from bot.policy_inputs import account_profile
from policy.engine import Terms, assess, validate_terms
from policy.facts import compute_facts
from policy.lifecycle import PLAN_STATUSES, Status
from storage.audit import to_json_safe
from storage.models import PlanRequest, TermRevision
from storage.repository import invoice_history

if TYPE_CHECKING:
    from bot.workflow import Workflow

logger = logging.getLogger(__name__)

REOPENABLE = (Status.SENT_TO_CUSTOMER, Status.CHANGES_REQUESTED, Status.DECLINED, Status.EXPIRED, Status.ACTIVE, Status.DEFAULTED)


def reopen_request(
    workflow: Workflow, *, actor: str, request_id: int, down_payment: Decimal, installment_count: int, first_due_date: date, note: str
) -> int:
    """Create, assess and route a new revision of ``request_id``; return its number."""
    as_of = workflow.today()
    with workflow.session_factory() as session:
        request = session.get(PlanRequest, request_id)
        if request is None:
            raise NotFound(f"Request {request_id} was not found.")
        _check_actor(workflow, request, actor)
        if request.status not in REOPENABLE:
            allowed = ", ".join(status.value for status in REOPENABLE)
            raise InvalidInput(f"{request_label(request.id)} is {request.status}; new terms can be opened only when it is {allowed}.")
        current = next(rev for rev in request.revisions if rev.number == request.current_revision)
        in_force = agreement_in_force(session, request.id) is not None or request.status == Status.DEFAULTED
        balance = outstanding_balance(session, request.id) if in_force else current.balance
        facts = compute_facts(request.account_id, invoice_history(session, request.account_id), as_of)
        # The plan being renegotiated is not its own history: its default would otherwise block its reinstatement.
        profile = account_profile(session, request.account_id, as_of, exclude_request_id=request.id)
        reason_category = request.reason_category
        other_plans = session.scalar(
            select(func.count()).select_from(PlanRequest).where(
                PlanRequest.account_id == request.account_id,
                PlanRequest.id != request.id,
                PlanRequest.status.in_([status.value for status in PLAN_STATUSES]),
            )
        ) or 0

    terms = Terms(balance, down_payment, installment_count, first_due_date)
    problems = {problem.field: problem.message for problem in validate_terms(terms, policy=workflow.policy, as_of=as_of)}
    if problems:
        raise InvalidInput("The new terms have invalid fields.", problems)
    result = assess(workflow.policy, facts, terms, as_of=as_of, open_plan_count=other_plans, account=profile, reason=reason_category)

    now = workflow.clock.now()
    with workflow.session_factory.begin() as session:
        request = session.get(PlanRequest, request_id)
        assert request is not None
        previous_status = request.status
        if previous_status != Status.CHANGES_REQUESTED:
            workflow._set_status(session, request, Status.CHANGES_REQUESTED, actor, {"note": note})
        number = request.current_revision + 1
        revision = TermRevision(
            request_id=request.id,
            number=number,
            balance=terms.balance,
            down_payment=terms.down_payment,
            installment_count=terms.installment_count,
            frequency="monthly",
            first_due_date=terms.first_due_date,
            created_by=actor,
            created_at=now,
        )
        session.add(revision)
        request.current_revision = number
        session.flush()
        workflow._audit(session, actor, "revision.created", request, {"revision": number - 1, "status": previous_status}, to_json_safe({
            "revision": number,
            "balance": terms.balance,
            "down_payment": terms.down_payment,
            "installment_count": terms.installment_count,
            "first_due_date": terms.first_due_date,
            "note": note,
        }))
        summary = {"source": "renegotiation", "summary": {"headline": "New terms for an existing request"}, "note": note}
        workflow._store_assessment(session, request, revision, result, facts.to_dict(), summary)

    logger.info("request %s revision %s opened by %s (was %s)", request_id, number, actor, previous_status)
    if workflow.thread_notifier:
        workflow.thread_notifier.post(
            request_id,
            f":memo: Revision {number} of {request_label(request_id)} opened by {actor_mention(actor)}: {terms.installment_count} installments "
            f"from {terms.first_due_date.isoformat()} on a balance of {terms.balance}. It needs approval again"
            + (" (the current agreement stays in force until the customer accepts the new one)." if previous_status == Status.ACTIVE else "."),
        )
    # Posts the new revision's assessment and approval buttons in the thread.
    workflow._notify("revision_opened", request_id)
    return number


def _check_actor(workflow: Workflow, request: PlanRequest, actor: str) -> None:
    """Allow the account manager who opened the request, or any configured approver."""
    approvers = {user for users in workflow.approvers.values() for user in users}
    if actor != request.requested_by and actor not in approvers:
        raise PermissionDenied(f"Only the account manager who opened {request_label(request.id)} or an approver can open new terms for it.")
