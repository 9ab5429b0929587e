"""Negotiation: revisions, change requests, escalation, withdrawal and policy exceptions.

:class:`NegotiationMixin` adds these operations to ``bot.workflow.Workflow``.
They follow the workflow's rules: every status change goes through
``_set_status`` (a checked, conditional UPDATE) and is audited in the same
transaction, and approvals belong to one revision, so a new revision starts
its route from the first step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from agents.summary import SummaryInput
from bot.errors import AlreadyDecided, InvalidInput, NotFound, PermissionDenied
from bot.messages import actor_mention, request_label
from bot.policy_inputs import account_profile
from policy.config import Policy
from policy.engine import Assessment as PolicyAssessment
from policy.engine import Terms, assess, route_for, validate_terms
from policy.facts import AccountFacts, compute_facts
from policy.lifecycle import PLAN_STATUSES, Status
from storage.audit import to_json_safe
from storage.models import ApprovalStep, Assessment, AuditEvent, PlanRequest, RequesterWait, TermRevision
from storage.repository import invoice_history

if TYPE_CHECKING:
    from bot.workflow import DecisionOutcome, Workflow

logger = logging.getLogger(__name__)

FREQUENCIES = ("weekly", "biweekly", "monthly")
# Statuses in which the requester may revise the terms.
REVISABLE_STATUSES = frozenset(
    {Status.PENDING_APPROVAL, Status.CHANGES_REQUESTED, Status.WAITING_ON_REQUESTER, Status.INELIGIBLE}
)
# The lifecycle also allows withdrawing an approved request, but an agreement
# link may then be out, so the requester withdraws only before approval.
WITHDRAWABLE_STATUSES = REVISABLE_STATUSES | {Status.REQUESTED, Status.ASSESSED}
SYSTEM_ACTOR_PREFIX = "system:"


@dataclass(frozen=True)
class ProposedTerms:
    """Terms typed into a revision or change-request modal; the balance stays the request's."""

    down_payment: Decimal
    installment_count: int
    frequency: str
    first_due_date: date

    def to_dict(self) -> dict[str, Any]:
        return {
            "down_payment": str(self.down_payment),
            "installment_count": self.installment_count,
            "frequency": self.frequency,
            "first_due_date": self.first_due_date.isoformat(),
        }


def counter_proposal(policy: Policy, revision: TermRevision, *, as_of: date) -> ProposedTerms:
    """Return the terms to prefill when an approver requests changes.

    NOTE: the policy engine does not compute a counter-proposal yet, so this
    clips the current terms to the policy's standard limits (installment count
    and first-due window). When the engine's ``Assessment.counter_proposal``
    exists, return that here; this is the only caller that needs to change.
    """
    latest_first_due = as_of + timedelta(days=policy.schedule.max_first_due_days)
    return ProposedTerms(
        down_payment=revision.down_payment,
        installment_count=min(revision.installment_count, policy.schedule.max_installments),
        frequency=revision.frequency,
        first_due_date=min(revision.first_due_date, latest_first_due),
    )


class NegotiationMixin:
    """Operations that change a request's terms or route; mixed into ``Workflow``."""

    # Revisions

    def check_revision(
        self: Workflow, *, actor: str, request_id: int, terms: ProposedTerms, expected_revision: int
    ) -> tuple[AccountFacts, Terms, int]:
        """Check a revision before anything is stored; return the facts, the full terms and the other open plans.

        Raises PermissionDenied unless ``actor`` opened the request,
        AlreadyDecided when ``expected_revision`` is no longer current or the
        request is closed, and InvalidInput naming each bad field.
        """
        if terms.frequency not in FREQUENCIES:
            raise InvalidInput("The revision has invalid fields.", {"frequency": f"frequency {terms.frequency!r} is not one of {', '.join(FREQUENCIES)}"})
        as_of = self.today()
        with self.session_factory() as session:
            request = _load_request(session, request_id)
            if actor != request.requested_by:
                raise PermissionDenied(f"Only {actor_mention(request.requested_by)}, who opened {request_label(request.id)}, can revise its terms.")
            _check_current(request, expected_revision)
            if request.status not in REVISABLE_STATUSES:
                raise AlreadyDecided(f"{request_label(request.id)} is {request.status.replace('_', ' ')}, so its terms can no longer be revised.")
            facts = compute_facts(request.account_id, invoice_history(session, request.account_id), as_of)
            new_terms = Terms(facts.open_balance, terms.down_payment, terms.installment_count, terms.first_due_date, terms.frequency)
            problems = validate_terms(new_terms, policy=self.policy, as_of=as_of)
            if problems:
                raise InvalidInput("The revision has invalid fields.", {problem.field: problem.message for problem in problems})
            return facts, new_terms, _other_open_plans(session, request)

    def revise(self: Workflow, *, actor: str, request_id: int, terms: ProposedTerms, expected_revision: int) -> int:
        """Store ``terms`` as a new revision, assess and route it; return the new revision number.

        Only the requester may revise. ``expected_revision`` is the revision
        the requester was looking at, so a stale modal changes nothing.
        """
        facts, new_terms, other_plans = self.check_revision(actor=actor, request_id=request_id, terms=terms, expected_revision=expected_revision)
        as_of = facts.as_of
        with self.session_factory() as session:
            request = _load_request(session, request_id)
            reason_category, reason_text = request.reason_category, request.reason_text
            profile = account_profile(session, request.account_id, as_of)

        result = assess(self.policy, facts, new_terms, as_of=as_of, open_plan_count=other_plans, account=profile, reason=reason_category)
        # The model call is slow, so it runs before the transaction opens.
        summary = self.summarizer.summarize(
            SummaryInput(
                facts=facts,
                reason_category=reason_category,
                reason_text=reason_text,
                balance=new_terms.balance,
                down_payment=new_terms.down_payment,
                installment_count=new_terms.installment_count,
                first_due_date=new_terms.first_due_date,
                eligible=result.eligible,
                flags=[{"code": flag.code, "message": flag.message} for flag in result.flags],
                risk_grade=result.risk_grade,
                route=list(result.route),
            )
        )

        now = self.clock.now()
        with self.session_factory.begin() as session:
            request = _load_request(session, request_id)
            claimed = session.execute(
                update(PlanRequest)
                .where(PlanRequest.id == request.id, PlanRequest.current_revision == expected_revision)
                .values(current_revision=expected_revision + 1, updated_at=now)
            )
            if claimed.rowcount != 1:
                raise AlreadyDecided(f"{request_label(request.id)} was revised by someone else while you edited it; reload it and try again.")
            old_revision = next(rev for rev in request.revisions if rev.number == expected_revision)
            self._supersede_open_steps(session, request, old_revision)
            self._end_requester_wait(session, request, actor)
            session.refresh(request)

            revision = TermRevision(
                request_id=request.id,
                number=expected_revision + 1,
                balance=new_terms.balance,
                down_payment=new_terms.down_payment,
                installment_count=new_terms.installment_count,
                frequency=terms.frequency,
                first_due_date=new_terms.first_due_date,
                created_by=actor,
                created_at=now,
            )
            session.add(revision)
            session.flush()
            before = {"revision": expected_revision, **_terms_snapshot(old_revision)}
            self._audit(session, actor, "revision.created", request, before, {"revision": revision.number, **_terms_snapshot(revision)})
            self._store_assessment(session, request, revision, result, facts.to_dict(), summary.to_dict())
            number = revision.number

        logger.info("request %s revised to revision %s by %s", request_id, number, actor)
        self._notify("revision_opened", request_id)
        return number

    def _store_assessment(
        self: Workflow,
        session: Session,
        request: PlanRequest,
        revision: TermRevision,
        result: PolicyAssessment,
        facts: dict[str, Any],
        summary: dict[str, Any],
    ) -> None:
        """Store the assessment of ``revision`` and route it: pending approval or ineligible."""
        session.add(
            Assessment(
                revision_id=revision.id,
                policy_version=result.policy_version,
                eligible=result.eligible,
                risk_grade=result.risk_grade,
                route=list(result.route),
                flags=[flag.to_dict() for flag in result.flags],
                risk_factors=[factor.to_dict() for factor in result.risk_factors],
                facts=facts,
                schedule=[payment.to_dict() for payment in result.schedule],
                summary=summary,
                created_at=self.clock.now(),
                details=result.details(),
            )
        )
        self._set_status(session, request, Status.ASSESSED, "system:policy", {
            "policy_version": result.policy_version,
            "eligible": result.eligible,
            "risk_grade": result.risk_grade,
            "route": result.route,
            "flags": [flag.code for flag in result.flags],
            "summary_source": summary.get("source"),
            "prompt_version": summary.get("prompt_version"),
        })
        if not result.eligible:
            self._set_status(session, request, Status.INELIGIBLE, "system:policy", {})
            return
        self._open_route(session, request, revision, list(result.route))

    def _open_route(self: Workflow, session: Session, request: PlanRequest, revision: TermRevision, route: list[str]) -> None:
        for sequence, tier in enumerate(route, start=1):
            status = "pending" if sequence == 1 else "waiting"
            session.add(ApprovalStep(revision_id=revision.id, sequence=sequence, tier=tier, status=status))
        self._set_status(session, request, Status.PENDING_APPROVAL, "system:policy", {"route": route})

    # Approver actions other than approve and reject

    def request_changes(self: Workflow, *, actor: str, step_id: int, comment: str, proposal: ProposedTerms | None = None) -> DecisionOutcome:
        """Send the request back to its requester with a comment and, optionally, proposed terms."""
        from bot.workflow import DecisionOutcome

        if not comment.strip():
            raise InvalidInput("A change request needs a comment.", {"comment": "Say what the requester should change."})
        with self.session_factory.begin() as session:
            step, revision, request = self._load_step_for_decision(session, step_id, actor)
            self._claim_step(session, step, request, actor, "changes_requested", comment)
            self._supersede_open_steps(session, request, revision)
            details = {"comment": comment, "proposal": proposal.to_dict() if proposal else None}
            self._set_status(session, request, Status.CHANGES_REQUESTED, actor, details)
            request_id, status = request.id, request.status

        logger.info("request %s step %s: changes requested by %s", request_id, step_id, actor)
        self._notify("step_decided", request_id, step_id)
        return DecisionOutcome(request_id, step_id, "request_changes", status, None)

    def escalate(self: Workflow, *, actor: str, step_id: int, reason: str) -> DecisionOutcome:
        """Hand a pending step to the next tier of the policy.

        The step becomes ``escalated`` and a pending step for the next tier
        takes its place in the route; later steps keep their order. ``actor``
        is an approver of the step's tier, or ``system:<job>`` for a
        scheduled escalation, which skips the approver check.
        """
        from bot.workflow import DecisionOutcome

        if not reason.strip():
            raise InvalidInput("An escalation needs a reason.", {"comment": "Say why the next tier should decide."})
        with self.session_factory.begin() as session:
            if actor.startswith(SYSTEM_ACTOR_PREFIX):
                step, revision, request = _load_pending_step(session, step_id)
            else:
                step, revision, request = self._load_step_for_decision(session, step_id, actor)
            next_tier = _next_tier(self.policy, step.tier, request)
            self._claim_step(session, step, request, actor, "escalated", reason)

            # Make room right after the escalated step, moving the last step first
            # so that (revision, sequence) stays unique at every flush.
            for later in sorted((s for s in revision.steps if s.sequence > step.sequence), key=lambda s: -s.sequence):
                later.sequence += 1
                session.flush()
            new_step = ApprovalStep(revision_id=revision.id, sequence=step.sequence + 1, tier=next_tier, status="pending")
            session.add(new_step)
            session.flush()
            self._audit(
                session,
                actor,
                "step.pending",
                request,
                {"step": step.sequence, "tier": step.tier, "status": "escalated"},
                {"step": new_step.sequence, "tier": next_tier, "status": "pending", "reason": reason},
            )
            request.updated_at = self.clock.now()
            request_id, status = request.id, request.status

        logger.info("request %s step %s escalated to %s by %s", request_id, step_id, next_tier, actor)
        self._notify("step_decided", request_id, step_id)
        return DecisionOutcome(request_id, step_id, "escalate", status, None)

    def next_tier_of(self: Workflow, step: ApprovalStep) -> str:
        """Return the tier an escalation of ``step`` goes to; raise InvalidInput at the top tier."""
        return _next_tier(self.policy, step.tier, step.revision.request)

    def _claim_step(self: Workflow, session: Session, step: ApprovalStep, request: PlanRequest, actor: str, new_status: str, comment: str) -> None:
        """Move a pending step to ``new_status`` unless another click did first, and audit it."""
        claimed = session.execute(
            update(ApprovalStep)
            .where(ApprovalStep.id == step.id, ApprovalStep.status == "pending")
            .values(status=new_status, decided_by=actor, decided_at=self.clock.now(), comment=comment or None)
        )
        if claimed.rowcount != 1:
            raise AlreadyDecided(f"{self.policy.tier(step.tier).label} approval of {request_label(request.id)} was already decided.")
        session.refresh(step)
        self._audit(
            session,
            actor,
            f"step.{new_status}",
            request,
            {"step": step.sequence, "tier": step.tier, "status": "pending"},
            {"step": step.sequence, "tier": step.tier, "status": new_status, "comment": comment},
        )

    # Requester actions

    def withdraw(self: Workflow, *, actor: str, request_id: int, reason: str = "") -> None:
        """Withdraw an open request; only its requester may."""
        with self.session_factory.begin() as session:
            request = _load_request(session, request_id)
            if actor != request.requested_by:
                raise PermissionDenied(f"Only {actor_mention(request.requested_by)}, who opened {request_label(request.id)}, can withdraw it.")
            if request.status not in WITHDRAWABLE_STATUSES:
                raise AlreadyDecided(f"{request_label(request.id)} is {request.status.replace('_', ' ')}, so it can no longer be withdrawn.")
            revision = next(rev for rev in request.revisions if rev.number == request.current_revision)
            self._supersede_open_steps(session, request, revision)
            self._end_requester_wait(session, request, actor)
            self._set_status(session, request, Status.WITHDRAWN, actor, {"reason": reason})
        logger.info("request %s withdrawn by %s", request_id, actor)
        self._notify("request_changed", request_id)

    # Policy exceptions

    def grant_exception(self: Workflow, *, actor: str, request_id: int, reason: str) -> list[str]:
        """Let a top-tier approver send an ineligible request through its route; return the route.

        The exception and its reason are audited as ``request.exception_granted``.
        """
        if not reason.strip():
            raise InvalidInput("A policy exception needs a reason.", {"comment": "Say why the policy should not apply."})
        with self.session_factory.begin() as session:
            request = _load_request(session, request_id)
            self._check_exception_allowed(request, actor)
            revision = next(rev for rev in request.revisions if rev.number == request.current_revision)
            assessment = revision.assessment
            assert assessment is not None
            terms = Terms(revision.balance, revision.down_payment, revision.installment_count, revision.first_due_date)
            route = route_for(self.policy, terms)
            blocking = [flag["code"] for flag in assessment.flags if flag["blocking"]]
            self._audit(session, actor, "request.exception_granted", request, {"eligible": False, "blocking_flags": blocking}, {
                "reason": reason,
                "route": route,
            })
            self._open_route(session, request, revision, route)
        logger.info("request %s granted a policy exception by %s", request_id, actor)
        self._notify("exception_granted", request_id)
        return route

    def authorize_exception(self: Workflow, *, actor: str, request_id: int) -> None:
        """Check that ``actor`` may grant an exception on the request now, without granting it."""
        with self.session_factory() as session:
            self._check_exception_allowed(_load_request(session, request_id), actor)

    def _check_exception_allowed(self: Workflow, request: PlanRequest, actor: str) -> None:
        top_tier = self.policy.tiers[-1]
        if not self._is_tier_approver(top_tier.name, actor):
            raise PermissionDenied(f"Only a {top_tier.label} approver can grant a policy exception on {request_label(request.id)}.")
        if actor == request.requested_by:
            raise PermissionDenied(f"You opened {request_label(request.id)}, so you cannot grant it an exception.")
        if request.status != Status.INELIGIBLE:
            raise AlreadyDecided(f"{request_label(request.id)} is {request.status.replace('_', ' ')}, not ineligible, so it needs no exception.")

    # Helpers

    def _end_requester_wait(self: Workflow, session: Session, request: PlanRequest, actor: str) -> None:
        wait = session.scalar(select(RequesterWait).where(RequesterWait.request_id == request.id, RequesterWait.ended_at.is_(None)))
        if wait is None:
            return
        wait.ended_at = self.clock.now()
        self._audit(session, actor, "wait.ended", request, {"waiting_since": wait.started_at}, {"ended_at": wait.ended_at})

    def _notify(self: Workflow, event: str, *args: Any) -> None:
        """Call the notifier's ``event`` method if it has one; older notifiers lack the newer events."""
        handler = getattr(self.notifier, event, None) if self.notifier else None
        if handler is not None:
            handler(*args)


def _load_request(session: Session, request_id: int) -> PlanRequest:
    request = session.get(PlanRequest, request_id)
    if request is None:
        raise NotFound(f"Request {request_label(request_id)} was not found.")
    return request


def _load_pending_step(session: Session, step_id: int) -> tuple[ApprovalStep, TermRevision, PlanRequest]:
    step = session.get(ApprovalStep, step_id)
    if step is None:
        raise NotFound(f"Approval step {step_id} was not found.")
    revision = step.revision
    request = revision.request
    if revision.number != request.current_revision or step.status != "pending":
        raise AlreadyDecided(f"Approval step {step_id} of {request_label(request.id)} is no longer pending: {step.status}.")
    return step, revision, request


def _check_current(request: PlanRequest, expected_revision: int) -> None:
    if expected_revision != request.current_revision:
        raise AlreadyDecided(
            f"This form is for revision {expected_revision} of {request_label(request.id)}, "
            f"which was superseded by revision {request.current_revision}. Nothing was changed."
        )


def _next_tier(policy: Policy, tier: str, request: PlanRequest) -> str:
    names = [t.name for t in policy.tiers]
    if tier not in names or names.index(tier) + 1 >= len(names):
        raise InvalidInput(
            f"{policy.tier(tier).label} is the highest approval tier, so {request_label(request.id)} cannot be escalated. Approve or reject it."
        )
    return names[names.index(tier) + 1]


def _other_open_plans(session: Session, request: PlanRequest) -> int:
    query = select(func.count()).select_from(PlanRequest).where(
        PlanRequest.account_id == request.account_id,
        PlanRequest.id != request.id,
        PlanRequest.status.in_([status.value for status in PLAN_STATUSES]),
    )
    return session.scalar(query) or 0


def _terms_snapshot(revision: TermRevision) -> dict[str, Any]:
    return to_json_safe({
        "balance": revision.balance,
        "down_payment": revision.down_payment,
        "installment_count": revision.installment_count,
        "frequency": revision.frequency,
        "first_due_date": revision.first_due_date,
    })


@dataclass(frozen=True)
class ChangeRequest:
    """The latest request for changes on a revision: who asked, why, and the terms they proposed."""

    actor: str
    comment: str
    proposal: ProposedTerms | None


def latest_change_request(session: Session, request: PlanRequest) -> ChangeRequest | None:
    """Return the change request made on the current revision, if any, from the audit trail."""
    event = session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.request_id == request.id,
            AuditEvent.action == f"status.{Status.CHANGES_REQUESTED.value}",
            AuditEvent.revision == request.current_revision,
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    if event is None:
        return None
    raw = event.after.get("proposal")
    proposal = None
    if raw:
        proposal = ProposedTerms(
            down_payment=Decimal(raw["down_payment"]),
            installment_count=int(raw["installment_count"]),
            frequency=raw["frequency"],
            first_due_date=date.fromisoformat(raw["first_due_date"]),
        )
    return ChangeRequest(event.actor, str(event.after.get("comment", "")), proposal)


def current_terms(revision: TermRevision) -> ProposedTerms:
    return ProposedTerms(revision.down_payment, revision.installment_count, revision.frequency, revision.first_due_date)
