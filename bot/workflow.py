"""The workflow service: the only writer of request state.

Slack listeners, the CLI, the demo and the customer page all call these
methods with plain arguments. Every status change is checked against
``policy.lifecycle``, applied with a conditional UPDATE so that a double click
or a retried request cannot decide twice, and recorded as an audit event in
the same transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from collections.abc import Callable, Collection
from typing import Any, Literal, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from agents.facts_bundle import PriorPlan
from agents.summary import SummaryInput, SummaryRecord, detect_signals, offline_record
from bot import metrics
from bot.agent_usage import record_run
from bot.summary_jobs import SummaryJobs
from bot.agreement_document import AgreementProfile, build_document, check_terms
from bot.customer_response import check_signature, decided_message, load_agreement_rows, record_response
from bot.plan_ledger import create_installments, supersede_previous_agreement
from bot.renegotiation import reopen_request
from bot.agreement_terms import canonical_terms, hash_terms
from bot.clock import Clock, business_date
from bot.errors import AgreementLinkError, AlreadyDecided, IntegrityMismatch, InvalidInput, NotFound, OpenRequestExists, PermissionDenied
from bot.links import LinkClaims, LinkSigner
from bot.permissions import ApproverDirectory, approval_limit_error
from bot.messages import request_label
from bot.negotiation import FREQUENCIES, NegotiationMixin
from bot.review import ReviewMixin, missing_acknowledgements
from bot.policy_inputs import account_profile
from policy.config import Policy
from policy.engine import Assessment as PolicyAssessment
from policy.engine import Terms, assess, validate_terms
from policy.facts import AccountFacts, compute_facts
from policy.lifecycle import OPEN_STATUSES, PLAN_STATUSES, Status, check_transition
from policy.signals import apply_signals
from storage.audit import record_event, to_json_safe
from storage.models import Account, Agreement, ApprovalStep, Installment, PlanRequest, StepDelegation, TermRevision
from storage.repository import invoice_history

logger = logging.getLogger(__name__)

PENDING_SUMMARY_NOTE = "the language model's summary is being written"
REASON_CATEGORIES = ("hardship", "dispute", "cash_flow", "other")
MAX_REASON_LENGTH = 3000

Decision = Literal["approve", "reject"]


class Summarizer(Protocol):
    def summarize(self, inp: SummaryInput) -> SummaryRecord: ...


class ThreadNotifier(Protocol):
    """Posts agreement and plan events to a request's thread; bot.plan_notices implements it."""

    def agreement_sent(self, request_id: int, agreement_id: int) -> None: ...
    def post(self, request_id: int, text: str, *, notify_requester: bool = False) -> None: ...


class Notifier(Protocol):
    """Receives events after they are committed; the Slack publisher implements it."""

    def request_opened(self, request_id: int) -> None: ...
    def step_decided(self, request_id: int, step_id: int) -> None: ...
    def plan_activated(self, request_id: int) -> None: ...


@dataclass(frozen=True)
class RequestInput:
    account_id: str
    reason_category: str
    reason_text: str
    down_payment: Decimal
    installment_count: int
    first_due_date: date
    # weekly, biweekly or monthly; the policy decides which are allowed.
    frequency: str = "monthly"
    notes: str = ""


@dataclass(frozen=True)
class AgreementTerms:
    """Terms of one agreement, as the customer page shows them and the customer accepts them."""

    agreement_id: int
    status: str
    request_id: int
    account_id: str
    revision: int
    balance: Decimal
    down_payment: Decimal
    installment_count: int
    schedule: list[dict[str, Any]]
    terms_hash: str
    policy_version: str
    # The canonical terms document: parties, invoices, conditions, how to pay.
    document: dict[str, Any] = field(default_factory=dict)
    # True for the agreement in force while newer terms await acceptance.
    newer_terms_proposed: bool = False


@dataclass(frozen=True)
class DecisionOutcome:
    request_id: int
    step_id: int
    decision: Decision | Literal["escalate", "request_changes"]
    request_status: str
    agreement_url: str | None


class Workflow(NegotiationMixin, ReviewMixin):
    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        policy: Policy,
        summarizer: Summarizer,
        approvers: dict[str, list[str]],
        clock: Clock,
        timezone: str,
        link_signer: LinkSigner,
        agreement_link_days: int = 14,
        notifier: Notifier | None = None,
        summary_jobs: SummaryJobs | None = None,
        agreement_profile: AgreementProfile | None = None,
        approver_directory: ApproverDirectory | None = None,
        approver_limits: dict[str, Decimal] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.policy = policy
        self.summarizer = summarizer
        self.approvers = approvers
        self.clock = clock
        self.timezone = timezone
        self.link_signer = link_signer
        self.agreement_link_days = agreement_link_days
        self.notifier = notifier
        # Model summaries run after the request is stored; see bot.summary_jobs.
        self.summary_jobs = summary_jobs or SummaryJobs(
            session_factory=session_factory, summarizer=summarizer, policy=policy, clock=clock,
            on_updated=self._summary_updated,
        )
        self.agreement_profile = agreement_profile or AgreementProfile()
        # Posts agreement documents, customer responses and plan events to
        # the thread; the runtime sets it when Slack is configured.
        self.thread_notifier: ThreadNotifier | None = None
        self.approver_directory = approver_directory
        self.approver_limits = approver_limits or {}

    # Opening a request

    def today(self) -> date:
        return business_date(self.clock, self.timezone)

    def check_request(self, data: RequestInput) -> tuple[Terms, AccountFacts]:
        """Validate a request before anything is stored; raise InvalidInput naming each bad field."""
        errors: dict[str, str] = {}
        if data.reason_category not in REASON_CATEGORIES:
            errors["reason_category"] = f"reason {data.reason_category!r} is not one of {', '.join(REASON_CATEGORIES)}"
        if len(data.reason_text) > MAX_REASON_LENGTH:
            errors["reason_text"] = f"reason text is {len(data.reason_text)} characters; the limit is {MAX_REASON_LENGTH}"
        if len(data.notes) > MAX_REASON_LENGTH:
            errors["notes"] = f"notes are {len(data.notes)} characters; the limit is {MAX_REASON_LENGTH}"
        if data.frequency not in FREQUENCIES:
            errors["frequency"] = f"frequency {data.frequency!r} is not one of {', '.join(FREQUENCIES)}"

        as_of = self.today()
        with self.session_factory() as session:
            account = session.get(Account, data.account_id)
            if account is None:
                errors["account"] = f"account {data.account_id!r} was not found; import it or run payplan sync first"
                raise InvalidInput("The request has invalid fields.", errors)
            open_request_id = self._open_request_id(session, account.id)
            if open_request_id is not None:
                raise OpenRequestExists(account.id, open_request_id)
            facts = compute_facts(account.id, invoice_history(session, account.id), as_of)

        terms = Terms(facts.open_balance, data.down_payment, data.installment_count, data.first_due_date, data.frequency)
        for problem in validate_terms(terms, policy=self.policy, as_of=as_of):
            errors.setdefault(problem.field, problem.message)
        if errors:
            raise InvalidInput("The request has invalid fields.", errors)
        return terms, facts

    def open_request(
        self,
        *,
        actor: str,
        data: RequestInput,
        idempotency_key: str | None = None,
        source: str = "slack",
        before_store: Callable[[Session], None] | None = None,
    ) -> int:
        """Create, assess and route a request; return its id.

        A second call with the same ``idempotency_key`` returns the first
        request's id and changes nothing. ``source`` records where the request
        came from. ``before_store(session)`` runs inside the transaction that
        stores the request, so an exception it raises stores nothing.
        """
        existing = self._request_id_for_key(idempotency_key)
        if existing is not None:
            logger.info("request %s already exists for key %s; not opening another", existing, idempotency_key)
            return existing

        terms, facts, result = self.assess_request(data)
        summary_input = self.summary_input(data, terms, facts, result)
        # The model is slow, so its summary follows after the request is stored
        # and posted; until then the thread shows the offline summary.
        uses_model = getattr(self.summarizer, "uses_model", True)
        if uses_model:
            summary = offline_record(summary_input, reason=PENDING_SUMMARY_NOTE)
        else:
            summary = self.summarizer.summarize(summary_input)

        try:
            request_id = self._store_request(actor, data, idempotency_key, terms, facts, result, summary, source, before_store)
        except IntegrityError:
            existing = self._request_id_for_key(idempotency_key)
            if existing is not None:
                logger.info("request %s was opened concurrently for key %s", existing, idempotency_key)
                return existing
            # The unique index on open requests per account rejected the insert.
            with self.session_factory() as session:
                open_request_id = self._open_request_id(session, data.account_id)
            if open_request_id is None:
                raise
            logger.info("request for account %s rejected: request %s was opened concurrently", data.account_id, open_request_id)
            raise OpenRequestExists(data.account_id, open_request_id) from None

        logger.info("request %s opened for account %s by %s", request_id, data.account_id, actor)
        metrics.REQUESTS_OPENED.labels(eligible=str(result.eligible).lower()).inc()
        if self.notifier:
            try:
                self.notifier.request_opened(request_id)
            except Exception:
                # The stored request is the truth, so a Slack failure must not
                # fail the call that opened it. The Slack publisher queues what
                # it could not post in the outbox, which the slack-outbox job sends.
                logger.exception("request %s is stored but posting it to Slack failed", request_id)
        if uses_model:
            self.summary_jobs.submit(request_id, summary_input)
        return request_id

    def assess_request(self, data: RequestInput) -> tuple[Terms, AccountFacts, PolicyAssessment]:
        """Validate and assess a request without storing it, with keyword signals applied.

        Signals found by keyword may add flags and a legal review step; they
        never remove one (see ``policy.signals``).
        """
        terms, facts = self.check_request(data)
        with self.session_factory() as session:
            open_plans = self._open_plan_count(session, data.account_id)
            profile = account_profile(session, data.account_id, facts.as_of)
        result = assess(
            self.policy, facts, terms, as_of=facts.as_of, open_plan_count=open_plans, account=profile, reason=data.reason_category
        )
        effect = apply_signals(result, detect_signals(data.reason_text), legal_tier=self.policy.legal_review.tier.name)
        result = replace(result, flags=[*result.flags, *effect.added_flags], route=effect.route_after(result.route))
        return terms, facts, result

    def summary_input(self, data: RequestInput, terms: Terms, facts: AccountFacts, result: PolicyAssessment) -> SummaryInput:
        """Collect what the summary draws on: facts, invoices, prior plans and the policy result."""
        with self.session_factory() as session:
            account = session.get(Account, data.account_id)
            invoices = invoice_history(session, data.account_id)
            prior_plans = [
                PriorPlan(request.id, request.as_of, request.status, revision.balance, revision.installment_count)
                for request in session.scalars(select(PlanRequest).where(PlanRequest.account_id == data.account_id))
                for revision in request.revisions
                if revision.number == request.current_revision
            ]
            customer_name = account.name if account else None
        return replace(
            _summary_input(data, terms, facts, result),
            invoices=tuple(invoices),
            prior_plans=tuple(prior_plans),
            risk_factors=tuple(factor.to_dict() for factor in result.risk_factors),
            customer_name=customer_name,
        )

    def _summary_updated(self, request_id: int) -> None:
        update_summary = getattr(self.notifier, "summary_updated", None)
        if update_summary is not None:
            update_summary(request_id)

    def _store_request(
        self,
        actor: str,
        data: RequestInput,
        idempotency_key: str | None,
        terms: Terms,
        facts: AccountFacts,
        result: PolicyAssessment,
        summary: SummaryRecord,
        source: str = "slack",
        before_store: Callable[[Session], None] | None = None,
    ) -> int:
        now = self.clock.now()
        # A summary written in the background is recorded as a run when it is done.
        summary_pending = summary.source == "offline" and summary.fallback_reason == PENDING_SUMMARY_NOTE
        with self.session_factory.begin() as session:
            if before_store is not None:
                before_store(session)
            request = PlanRequest(
                account_id=data.account_id,
                requested_by=actor,
                status=Status.REQUESTED,
                as_of=facts.as_of,
                reason_category=data.reason_category,
                reason_text=data.reason_text,
                notes=data.notes,
                current_revision=1,
                idempotency_key=idempotency_key,
                created_at=now,
                updated_at=now,
                source=source,
            )
            session.add(request)
            session.flush()
            revision = TermRevision(
                request_id=request.id,
                number=1,
                balance=terms.balance,
                down_payment=terms.down_payment,
                installment_count=terms.installment_count,
                frequency=data.frequency,
                first_due_date=terms.first_due_date,
                created_by=actor,
                created_at=now,
            )
            session.add(revision)
            session.flush()
            self._audit(session, actor, "request.created", request, {}, _request_snapshot(request, revision))

            self._store_assessment(session, request, revision, result, facts.to_dict(), summary.to_dict())
            if not summary_pending:
                record_run(session, summary, account_id=data.account_id, request_id=request.id, now=now, prices={}, requested_model=None)
            return request.id

    # Decisions

    def decide(
        self, *, actor: str, step_id: int, decision: Decision, comment: str = "", acknowledged: Collection[str] = ()
    ) -> DecisionOutcome:
        """Record an approver's decision on one approval step.

        Raises PermissionDenied unless ``actor`` is an approver of the step's
        tier and did not open the request, AlreadyDecided when the step was
        decided before (a double click, a retry, or another approver), and
        InvalidInput when an approval lacks an acknowledgement of an agent
        signal or policy deviation (``acknowledged`` holds their keys).
        """
        if decision not in ("approve", "reject"):
            raise InvalidInput(f"decision {decision!r} is not one of approve, reject")
        if decision == "reject" and not comment.strip():
            raise InvalidInput("A rejection needs a reason.", {"comment": "enter the reason for the rejection"})

        try:
            return self._decide(actor=actor, step_id=step_id, decision=decision, comment=comment, acknowledged=acknowledged)
        except PermissionDenied as error:
            self._record_denial(actor, step_id, decision, error.user_message)
            raise

    def _decide(self, *, actor: str, step_id: int, decision: Decision, comment: str, acknowledged: Collection[str]) -> DecisionOutcome:
        agreement_url = None
        with self.session_factory.begin() as session:
            step, revision, request = self._load_step_for_decision(session, step_id, actor)
            if decision == "approve":
                limit_error = approval_limit_error(self.approver_limits, actor, revision.balance, self.policy.currency)
                if limit_error is not None:
                    raise PermissionDenied(limit_error)
                missing = missing_acknowledgements(revision.assessment, acknowledged)
                if missing:
                    raise InvalidInput(
                        "Tick each acknowledgement before approving: " + "; ".join(item.text for item in missing),
                        {"acknowledgements": "Tick every item to confirm you read it."},
                    )
            now = self.clock.now()
            new_status = "approved" if decision == "approve" else "rejected"
            claimed = session.execute(
                update(ApprovalStep)
                .where(ApprovalStep.id == step.id, ApprovalStep.status == "pending")
                .values(status=new_status, decided_by=actor, decided_at=now, comment=comment or None)
            )
            if claimed.rowcount != 1:
                raise AlreadyDecided(
                    f"{self.policy.tier(step.tier).label} approval of {request_label(request.id)} was already decided."
                )
            session.refresh(step)
            self._audit(
                session,
                actor,
                f"step.{new_status}",
                request,
                {"step": step.sequence, "tier": step.tier, "status": "pending"},
                {"step": step.sequence, "tier": step.tier, "status": new_status, "comment": comment, "acknowledged": sorted(acknowledged)},
            )

            if decision == "reject":
                self._supersede_open_steps(session, request, revision)
                self._set_status(session, request, Status.REJECTED, actor, {"reason": comment})
            else:
                next_step = next((s for s in revision.steps if s.status == "waiting"), None)
                if next_step is not None:
                    next_step.status = "pending"
                    self._audit(
                        session,
                        "system:workflow",
                        "step.pending",
                        request,
                        {"step": next_step.sequence, "tier": next_step.tier, "status": "waiting"},
                        {"step": next_step.sequence, "tier": next_step.tier, "status": "pending"},
                    )
                else:
                    self._set_status(session, request, Status.APPROVED, actor, {})
                    agreement_url = self._send_agreement(session, request, revision)
            request_id, request_status, tier = request.id, request.status, step.tier

        logger.info("request %s step %s %s by %s", request_id, step_id, new_status, actor)
        metrics.DECISIONS.labels(tier=tier, decision=decision).inc()
        if self.notifier:
            self.notifier.step_decided(request_id, step_id)
        if agreement_url and self.thread_notifier:
            self.thread_notifier.agreement_sent(request_id, self._agreement_id_for(request_id))
        return DecisionOutcome(request_id, step_id, decision, request_status, agreement_url)

    def authorize_decision(self, *, actor: str, step_id: int) -> int:
        """Check that ``actor`` may decide the step now, without deciding; return the request id."""
        try:
            with self.session_factory() as session:
                _, _, request = self._load_step_for_decision(session, step_id, actor)
                return request.id
        except PermissionDenied as error:
            self._record_denial(actor, step_id, "open", error.user_message)
            raise

    def _record_denial(self, actor: str, step_id: int, attempted: str, reason: str) -> None:
        """Record a refused decision in the audit trail; nothing else changes."""
        with self.session_factory.begin() as session:
            step = session.get(ApprovalStep, step_id)
            if step is None:
                return
            request = step.revision.request
            self._audit(session, actor, "decision.denied", request, {"step": step.sequence, "tier": step.tier, "status": step.status},
                        {"attempted": attempted, "reason": reason})
        logger.info("request %s step %s: %s denied to %s: %s", request.id, step_id, attempted, actor, reason)

    def _load_step_for_decision(self, session: Session, step_id: int, actor: str) -> tuple[ApprovalStep, TermRevision, PlanRequest]:
        """Load a step and check that ``actor`` may decide it now; the one permission check for decisions."""
        step = session.get(ApprovalStep, step_id)
        if step is None:
            raise NotFound(f"Approval step {step_id} was not found.")
        revision = step.revision
        request = revision.request
        if not self._is_tier_approver(step.tier, actor) and not _is_step_delegate(session, step.id, actor):
            tier_label = self.policy.tier(step.tier).label
            raise PermissionDenied(f"Only a {tier_label} approver can decide this step of {request_label(request.id)}.")
        if actor == request.requested_by:
            raise PermissionDenied(f"You opened {request_label(request.id)}, so you cannot approve or reject it.")
        if any(other.decided_by == actor for other in revision.steps if other.id != step.id):
            # Each tier of a route is a separate sign-off, so one person cannot give two.
            raise PermissionDenied(
                f"You already decided another step of {request_label(request.id)}, so a different approver must decide this one."
            )
        if revision.number != request.current_revision:
            raise AlreadyDecided(
                f"These buttons belong to revision {revision.number} of {request_label(request.id)}, which was superseded "
                f"by revision {request.current_revision}. Nothing was changed; use the buttons of the latest revision."
            )
        if request.status == Status.WAITING_ON_REQUESTER:
            raise AlreadyDecided(f"{request_label(request.id)} is waiting on its requester for information; decide it once they answer.")
        if step.status != "pending":
            raise AlreadyDecided(
                f"{self.policy.tier(step.tier).label} approval of {request_label(request.id)} was already decided: {step.status}."
            )
        return step, revision, request

    def _is_tier_approver(self, tier: str, actor: str) -> bool:
        if self.approver_directory is not None:
            return self.approver_directory.is_approver(tier, actor)
        return actor in self.approvers.get(tier, [])

    def _supersede_open_steps(self, session: Session, request: PlanRequest, revision: TermRevision) -> None:
        for step in revision.steps:
            if step.status in ("waiting", "pending"):
                before = step.status
                step.status = "superseded"
                self._audit(
                    session,
                    "system:workflow",
                    "step.superseded",
                    request,
                    {"step": step.sequence, "tier": step.tier, "status": before},
                    {"step": step.sequence, "tier": step.tier, "status": "superseded"},
                )

    # Agreement and acceptance

    def _send_agreement(self, session: Session, request: PlanRequest, revision: TermRevision) -> str:
        now = self.clock.now()
        expires_at = now + timedelta(days=self.agreement_link_days)
        document = build_document(session, request=request, revision=revision, policy=self.policy, profile=self.agreement_profile, now=now)
        agreement = Agreement(
            request_id=request.id,
            revision_id=revision.id,
            terms_hash=document.terms_hash,
            status="sent",
            created_at=now,
            expires_at=expires_at,
        )
        session.add(agreement)
        session.flush()
        document.agreement_id = agreement.id
        session.add(document)
        self._set_status(session, request, Status.SENT_TO_CUSTOMER, "system:workflow", {
            "agreement_id": agreement.id,
            "terms_hash": agreement.terms_hash,
            "pdf_sha256": document.pdf_sha256,
            "expires_at": expires_at,
        })
        return self.agreement_url(agreement)

    def _agreement_id_for(self, request_id: int) -> int:
        with self.session_factory() as session:
            request = session.get(PlanRequest, request_id)
            assert request is not None
            revision = next(rev for rev in request.revisions if rev.number == request.current_revision)
            agreement_id = session.scalar(select(Agreement.id).where(Agreement.revision_id == revision.id))
            assert agreement_id is not None
            return agreement_id

    def agreement_url(self, agreement: Agreement) -> str:
        return self.link_signer.url(LinkClaims(agreement.id, agreement.revision_id, agreement.expires_at))

    def load_agreement(self, token: str) -> AgreementTerms:
        """Return the terms behind an agreement link; raise AgreementLinkError for a bad or expired link."""
        claims = self.link_signer.read(token)
        with self.session_factory() as session:
            agreement = session.get(Agreement, claims.agreement_id)
            if agreement is None or agreement.revision_id != claims.revision_id:
                raise AgreementLinkError("This agreement link is not valid. Ask your account manager for a new link.")
            _, request, revision, document = load_agreement_rows(session, agreement.id)
            assert revision.assessment is not None
            # The accepted agreement stays in force, and readable, until newer terms are accepted.
            newer_terms_proposed = revision.number != request.current_revision
            if newer_terms_proposed and agreement.status != "accepted":
                raise AgreementLinkError("These terms were replaced by newer ones. Ask your account manager for the current link.")
            if agreement.status == "sent" and self.clock.now() >= agreement.expires_at:
                raise AgreementLinkError("This agreement link has expired. Ask your account manager for a new link.")
            return AgreementTerms(
                agreement_id=agreement.id,
                status=agreement.status,
                request_id=request.id,
                account_id=request.account_id,
                revision=revision.number,
                balance=revision.balance,
                down_payment=revision.down_payment,
                installment_count=revision.installment_count,
                schedule=list(revision.assessment.schedule),
                terms_hash=agreement.terms_hash,
                policy_version=revision.assessment.policy_version,
                document=dict(document.terms) if document else {},
                newer_terms_proposed=newer_terms_proposed,
            )

    def accept_agreement(
        self, *, token: str, ip: str | None, user_agent: str | None, typed_name: str | None = None, consent: bool = False
    ) -> int:
        """Accept the agreement behind ``token`` and activate the plan; return the request id.

        The customer signs by typing their full name and ticking the consent
        box. Accepting an agreement that is already accepted changes nothing;
        one that was declined or sent back for changes raises AlreadyDecided.
        """
        terms = self.load_agreement(token)
        if terms.status == "accepted":
            return terms.request_id
        if terms.status != "sent":
            raise AlreadyDecided(decided_message(terms.status))
        name = check_signature(typed_name, consent)

        with self.session_factory.begin() as session:
            agreement, request, revision, document = load_agreement_rows(session, terms.agreement_id)
            check_terms(request, revision, document, agreement.terms_hash, step="acceptance")
            now = self.clock.now()
            claimed = session.execute(
                update(Agreement)
                .where(Agreement.id == agreement.id, Agreement.status == "sent")
                .values(status="accepted", accepted_at=now, accepted_ip=ip, accepted_user_agent=(user_agent or "")[:512])
            )
            if claimed.rowcount != 1:
                return request.id
            evidence = record_response(
                session, agreement, decision="accepted", typed_name=name, consent=True, message=None, ip=ip, user_agent=user_agent, now=now
            )
            self._audit(session, "customer", "agreement.accepted", request, {"status": "sent"}, {"status": "accepted", **evidence})

            superseded = supersede_previous_agreement(session, request, agreement)
            if superseded is not None:
                self._audit(session, "customer", "agreement.superseded", request, {"agreement_id": superseded, "status": "accepted"}, {
                    "agreement_id": superseded, "status": "superseded", "by_agreement_id": agreement.id,
                })
            activated_hash = create_installments(session, request, revision, document, self.today())
            if activated_hash != agreement.terms_hash:
                raise IntegrityMismatch(
                    f"The installments created for {request_label(request.id)} do not match the accepted terms "
                    f"(accepted {agreement.terms_hash[:12]}, activated {activated_hash[:12]}); nothing was activated."
                )
            self._set_status(session, request, Status.ACTIVE, "customer", {
                "installments": revision.installment_count + (1 if revision.down_payment > 0 else 0),
                "terms_hash": activated_hash,
            })
            account = request.account
            before = account.status
            account.status = "scheduled_repayment"
            if before != account.status:
                self._audit(session, "customer", "account.status_changed", request, {"status": before}, {"status": account.status})
            request_id = request.id

        logger.info("request %s accepted by the customer; plan active", request_id)
        metrics.PLANS_ACTIVATED.inc()
        if self.notifier:
            self.notifier.plan_activated(request_id)
        return request_id

    def reopen_for_changes(
        self, *, actor: str, request_id: int, down_payment: Decimal, installment_count: int, first_due_date: date, note: str = ""
    ) -> int:
        """Open a new revision with new terms and route it for approval again; return its number.

        Used after the customer declines or asks for changes, to renegotiate an
        active plan, and to reinstate a defaulted one. See bot.renegotiation.
        """
        return reopen_request(
            self, actor=actor, request_id=request_id, down_payment=down_payment,
            installment_count=installment_count, first_due_date=first_due_date, note=note,
        )

    # Helpers

    def _request_id_for_key(self, key: str | None) -> int | None:
        if key is None:
            return None
        with self.session_factory() as session:
            return session.scalar(select(PlanRequest.id).where(PlanRequest.idempotency_key == key))

    def _open_request_id(self, session: Session, account_id: str) -> int | None:
        return session.scalar(
            select(PlanRequest.id)
            .where(PlanRequest.account_id == account_id, PlanRequest.status.in_([status.value for status in OPEN_STATUSES]))
            .order_by(PlanRequest.id)
            .limit(1)
        )

    def _open_plan_count(self, session: Session, account_id: str) -> int:
        query = select(func.count()).select_from(PlanRequest).where(
            PlanRequest.account_id == account_id,
            PlanRequest.status.in_([status.value for status in PLAN_STATUSES]),
        )
        return session.scalar(query) or 0

    def _set_status(self, session: Session, request: PlanRequest, target: Status, actor: str, details: dict[str, Any]) -> None:
        """Move ``request`` to ``target`` unless another writer moved it first, and record the change."""
        move_status(session, request, target, actor=actor, now=self.clock.now(), details=details)

    def _audit(self, session: Session, actor: str, action: str, request: PlanRequest, before: dict[str, Any], after: dict[str, Any]) -> None:
        record_event(
            session,
            actor=actor,
            action=action,
            at=self.clock.now(),
            request_id=request.id,
            revision=request.current_revision,
            before=before,
            after=after,
        )


def _is_step_delegate(session: Session, step_id: int, user_id: str) -> bool:
    """Return whether ``user_id`` was made a delegate or backup approver of the step."""
    query = select(StepDelegation.id).where(StepDelegation.step_id == step_id, StepDelegation.user_id == user_id)
    return session.scalar(query) is not None


def move_status(session: Session, request: PlanRequest, target: Status, *, actor: str, now: datetime, details: dict[str, Any]) -> None:
    """Move ``request`` to ``target`` with a conditional UPDATE and record the audit event.

    Raises InvalidTransition for a move the lifecycle does not allow, and
    AlreadyDecided when another writer changed the status first.
    """
    current = request.status
    check_transition(current, target)
    moved = session.execute(
        update(PlanRequest)
        .where(PlanRequest.id == request.id, PlanRequest.status == current)
        .values(status=target.value, updated_at=now)
    )
    if moved.rowcount != 1:
        raise AlreadyDecided(f"Request {request.id} changed while this action ran; reload it and try again.")
    session.refresh(request)
    record_event(
        session,
        actor=actor,
        action=f"status.{target.value}",
        at=now,
        request_id=request.id,
        revision=request.current_revision,
        before={"status": current},
        after={"status": target.value, **details},
    )


def terms_hash(request: PlanRequest, revision: TermRevision, extras: dict[str, Any] | None = None) -> str:
    """Return the SHA-256 of the canonical terms a customer agrees to (see ``bot.agreement_terms``)."""
    return hash_terms(canonical_terms(request, revision, extras))


def _summary_input(data: RequestInput, terms: Terms, facts: AccountFacts, result: PolicyAssessment) -> SummaryInput:
    return SummaryInput(
        facts=facts,
        reason_category=data.reason_category,
        reason_text=data.reason_text,
        balance=terms.balance,
        down_payment=terms.down_payment,
        installment_count=terms.installment_count,
        first_due_date=terms.first_due_date,
        eligible=result.eligible,
        flags=[{"code": flag.code, "message": flag.message} for flag in result.flags],
        risk_grade=result.risk_grade,
        route=list(result.route),
    )


def _request_snapshot(request: PlanRequest, revision: TermRevision) -> dict[str, Any]:
    return to_json_safe({
        "account_id": request.account_id,
        "as_of": request.as_of,
        "reason_category": request.reason_category,
        "revision": revision.number,
        "balance": revision.balance,
        "down_payment": revision.down_payment,
        "installment_count": revision.installment_count,
        "first_due_date": revision.first_due_date,
    })


