"""SQLAlchemy models: accounts and their receivables, plan requests and
everything that happens to them.

Money columns use :class:`storage.types.Money` (integer cents), times use
:class:`storage.types.UTCDateTime`. State changes go through the workflow
service in ``bot/``, which updates rows with a ``WHERE status = expected``
condition so two writers cannot both win.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, LargeBinary, MetaData, String, Text, UniqueConstraint, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from policy.lifecycle import OPEN_STATUSES
from storage.types import Money, UTCDateTime


# Fixed constraint and index names, so later migrations can refer to them by
# name. SQLite batch migrations cannot drop a constraint that has no name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    country_code: Mapped[str | None] = mapped_column(String(16))
    paperless_date: Mapped[date | None] = mapped_column(Date)
    # collections, scheduled_repayment
    status: Mapped[str] = mapped_column(String(32), default="collections")
    source: Mapped[str] = mapped_column(String(64), default="csv")
    # Inputs of the policy engine: business or consumer; ISO 4217 code, or
    # none for the policy's currency; open, closed, bankruptcy, legal_hold
    # or deceased.
    segment: Mapped[str] = mapped_column(String(16), default="business", server_default="business")
    currency: Mapped[str | None] = mapped_column(String(3))
    standing: Mapped[str] = mapped_column(String(16), default="open", server_default="open")

    invoices: Mapped[list[Invoice]] = relationship(back_populates="account", order_by="Invoice.invoice_date")


class Invoice(Base):
    __tablename__ = "invoices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_number: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    invoice_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    disputed: Mapped[bool] = mapped_column(Boolean, default=False)
    settled_date: Mapped[date | None] = mapped_column(Date)
    paperless_bill: Mapped[str | None] = mapped_column(String(32))

    account: Mapped[Account] = relationship(back_populates="invoices")


class Payment(Base):
    __tablename__ = "payments"
    # A connector's payment is stored once per source record, so a rerun of a sync adds none.
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    # One payment per settled invoice, so a second import adds none.
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), unique=True)
    installment_id: Mapped[int | None] = mapped_column(ForeignKey("installments.id"))
    paid_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    source: Mapped[str] = mapped_column(String(32))
    # The record id in the source system; None for payments from a CSV import.
    external_id: Mapped[str | None] = mapped_column(String(128))
    # The payer's or processor's reference for plan payments; unique, so a
    # payment imported or delivered twice is stored once.
    reference: Mapped[str | None] = mapped_column(String(128), unique=True)


class PlanRequest(Base):
    __tablename__ = "plan_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), index=True)
    # The request's business date: facts, due dates and the schedule use it.
    as_of: Mapped[date] = mapped_column(Date)
    reason_category: Mapped[str] = mapped_column(String(32))
    reason_text: Mapped[str] = mapped_column(Text, default="")
    # Free-text notes from the request modal, shown in the thread.
    notes: Mapped[str] = mapped_column(Text, default="", server_default="")
    current_revision: Mapped[int] = mapped_column(Integer, default=1)
    # Slack's view id for modal submissions, so a retried submission finds
    # the request it already created instead of opening a second one.
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Where the request came from: "slack" (the modal) or "webhook" (POST /webhooks/requests).
    source: Mapped[str] = mapped_column(String(32), default="slack", server_default="slack")

    account: Mapped[Account] = relationship()
    revisions: Mapped[list[TermRevision]] = relationship(back_populates="request", order_by="TermRevision.number")


class TermRevision(Base):
    __tablename__ = "term_revisions"
    __table_args__ = (UniqueConstraint("request_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("plan_requests.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    balance: Mapped[Decimal] = mapped_column(Money)
    down_payment: Mapped[Decimal] = mapped_column(Money)
    installment_count: Mapped[int] = mapped_column(Integer)
    frequency: Mapped[str] = mapped_column(String(16), default="monthly")
    first_due_date: Mapped[date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    request: Mapped[PlanRequest] = relationship(back_populates="revisions")
    assessment: Mapped[Assessment | None] = relationship(back_populates="revision", uselist=False)
    steps: Mapped[list[ApprovalStep]] = relationship(back_populates="revision", order_by="ApprovalStep.sequence")


class Assessment(Base):
    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("term_revisions.id"), unique=True)
    policy_version: Mapped[str] = mapped_column(String(64))
    eligible: Mapped[bool] = mapped_column(Boolean)
    risk_grade: Mapped[str] = mapped_column(String(1))
    route: Mapped[list[Any]] = mapped_column(JSON)
    flags: Mapped[list[Any]] = mapped_column(JSON)
    risk_factors: Mapped[list[Any]] = mapped_column(JSON)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    schedule: Mapped[list[Any]] = mapped_column(JSON)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A credit analyst's grade, kept beside the computed ``risk_grade``.
    grade_override: Mapped[str | None] = mapped_column(String(1))
    grade_override_reason: Mapped[str | None] = mapped_column(Text)
    grade_reviewed_by: Mapped[str | None] = mapped_column(String(64))
    # The thread message showing the summary, updated when the model's summary arrives.
    summary_slack_ts: Mapped[str | None] = mapped_column(String(32))
    # Required documents, counter-proposal, alternatives and totals; see
    # policy.engine.Assessment.details.
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    revision: Mapped[TermRevision] = relationship(back_populates="assessment")


class ApprovalStep(Base):
    __tablename__ = "approval_steps"
    __table_args__ = (UniqueConstraint("revision_id", "sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("term_revisions.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    tier: Mapped[str] = mapped_column(String(64))
    # waiting (an earlier step is open), pending, approved, rejected,
    # changes_requested, escalated, superseded
    status: Mapped[str] = mapped_column(String(32))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    comment: Mapped[str | None] = mapped_column(Text)
    slack_ts: Mapped[str | None] = mapped_column(String(32))

    revision: Mapped[TermRevision] = relationship(back_populates="steps")


class Agreement(Base):
    __tablename__ = "agreements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("plan_requests.id"), index=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("term_revisions.id"), unique=True)
    terms_hash: Mapped[str] = mapped_column(String(64))
    # sent, accepted, declined, changes_requested, superseded (by the
    # agreement of a renegotiated revision)
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_ip: Mapped[str | None] = mapped_column(String(64))
    accepted_user_agent: Mapped[str | None] = mapped_column(String(512))


class Installment(Base):
    __tablename__ = "installments"
    # A renegotiated plan has installments for each accepted revision.
    __table_args__ = (UniqueConstraint("revision_id", "sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("plan_requests.id"), index=True)
    revision_id: Mapped[int] = mapped_column(ForeignKey("term_revisions.id"))
    # 0 is the down payment, 1..n the installments.
    sequence: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    # scheduled, late (unpaid after the grace period), paid, superseded (by a
    # renegotiated agreement)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    # Applied so far to the amount and to the late fee; paid when both are covered.
    paid_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")
    late_fee: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")
    late_fee_paid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"), server_default="0")
    late_on: Mapped[date | None] = mapped_column(Date)
    paid_on: Mapped[date | None] = mapped_column(Date)

    @property
    def outstanding(self) -> Decimal:
        """Amount and late fee still unpaid."""
        return self.amount + self.late_fee - self.paid_amount - self.late_fee_paid


class AuditEvent(Base):
    """One append-only record of a state change: who, what, when, before and after."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A Slack user id, "customer", or "system:<job>".
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("plan_requests.id"), index=True)
    revision: Mapped[int | None] = mapped_column(Integer)
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The hash chain, filled in at flush time by storage.audit: the event's
    # place in the chain (equal to its id), the kind of actor (slack_user,
    # customer, system), free-form context, the previous event's hash and
    # this event's SHA-256. docs/audit.md defines the hash.
    sequence: Mapped[int] = mapped_column(Integer, unique=True)
    actor_kind: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    previous_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The last event of the audit hash chain, in a single row with id 1.

    Each append updates this row first, which takes a row lock on PostgreSQL
    and the database write lock on SQLite, so concurrent writers append one
    after another and the chain cannot fork. It also records the length of
    the chain, so deleting the newest events is detectable.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class WebhookDelivery(Base):
    """A signed webhook call already processed; a second call with the same id is a replay."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("source", "delivery_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Which endpoint received it, for example "payments" or "requests".
    source: Mapped[str] = mapped_column(String(32))
    # The sender's X-Payplan-Delivery header.
    delivery_id: Mapped[str] = mapped_column(String(128))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SyncWatermark(Base):
    """How far ``payplan sync`` has read one object type of one source: the latest last-modified time it stored."""

    __tablename__ = "sync_watermarks"

    # The connector name from the connectors file, for example "salesforce".
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    # "accounts", "invoices" or "payments": each type is read by its own query, so each has its own watermark.
    object_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WriteBackTask(Base):
    """One plan state to write to the account's source record, retried until it is written or gives up."""

    __tablename__ = "write_back_tasks"
    # One task per request state, so scanning the same state twice queues nothing new.
    __table_args__ = (UniqueConstraint("request_id", "state_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(64), index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("plan_requests.id"))
    account_id: Mapped[str] = mapped_column(String(64))
    # Status, revision and decided steps of the request when the task was queued.
    state_key: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # pending, done, failed (gave up after the maximum number of attempts)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RequesterWait(Base):
    """A period in which a request waited on its requester for documents or information.

    The approval clock excludes these periods; ``ended_at`` is None while the
    request still waits.
    """

    __tablename__ = "requester_waits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("plan_requests.id"), index=True)
    asked_by: Mapped[str] = mapped_column(String(64))
    # What the requester must supply, in the asker's words.
    missing: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RequestFile(Base):
    """A file shared in a request's Slack thread, recorded with the request."""

    __tablename__ = "request_files"
    __table_args__ = (UniqueConstraint("request_id", "slack_file_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("plan_requests.id"), index=True)
    slack_file_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    shared_by: Mapped[str] = mapped_column(String(64))
    shared_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SummaryRun(Base):
    """One account summary generated: its prompt, model, tokens, cost and outcome."""

    __tablename__ = "summary_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("plan_requests.id"), index=True)
    account_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The UTC date of created_at, for daily usage and the daily token budget.
    usage_date: Mapped[date] = mapped_column(Date, index=True)
    # openai or offline
    source: Mapped[str] = mapped_column(String(16))
    prompt_name: Mapped[str] = mapped_column(String(64))
    prompt_version: Mapped[int] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(String(128))
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int] = mapped_column(Integer)
    fallback_used: Mapped[bool] = mapped_column(Boolean)
    fallback_reason: Mapped[str | None] = mapped_column(Text)
    grounding_checks: Mapped[int] = mapped_column(Integer, default=0)
    grounding_failures: Mapped[int] = mapped_column(Integer, default=0)
    # Cost in millionths of the price table's currency unit; None when the
    # price table has no entry for the model.
    cost_micros: Mapped[int | None] = mapped_column(BigInteger)


# Agreements, payments and plan monitoring


class AgreementDocument(Base):
    """The agreement as sent: canonical terms, their SHA-256 and the rendered PDF.

    The PDF is stored in the database, next to the agreement it belongs to,
    so every replica serves the same file and a backup contains both.
    """

    __tablename__ = "agreement_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"), unique=True)
    terms: Mapped[dict[str, Any]] = mapped_column(JSON)
    terms_hash: Mapped[str] = mapped_column(String(64))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    slack_file_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AgreementResponse(Base):
    """The customer's one decision on an agreement, with the evidence of who made it."""

    __tablename__ = "agreement_responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Unique: a second submit finds the first decision and changes nothing.
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"), unique=True)
    # accepted, declined, changes_requested
    decision: Mapped[str] = mapped_column(String(32))
    typed_name: Mapped[str | None] = mapped_column(String(200))
    consent: Mapped[bool] = mapped_column(Boolean, default=False)
    message: Mapped[str | None] = mapped_column(Text)
    terms_hash: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    responded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PlanState(Base):
    """Monitoring state of a plan in force: carried-forward credit and the default notice."""

    __tablename__ = "plan_states"

    request_id: Mapped[int] = mapped_column(ForeignKey("plan_requests.id"), primary_key=True)
    # Paid beyond every installment, kept for the customer.
    credit: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    notice_sent_on: Mapped[date | None] = mapped_column(Date)
    cure_by: Mapped[date | None] = mapped_column(Date)


class PaymentAllocation(Base):
    """One part of a payment applied to an installment's amount, its late fee, or kept as credit."""

    __tablename__ = "payment_allocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("plan_requests.id"), index=True)
    installment_id: Mapped[int | None] = mapped_column(ForeignKey("installments.id"))
    # late_fee, installment, credit
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money)


class UnmatchedPayment(Base):
    """A payment that names no known account or no plan in force; kept until someone resolves it."""

    __tablename__ = "unmatched_payments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(128), unique=True)
    account_id: Mapped[str] = mapped_column(String(64))
    paid_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    source: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SlackOutboxMessage(Base):
    """A Slack message that could not be posted or updated when it was due; a sweep sends it later.

    ``kind`` is how to deliver it: ``root`` posts the request's root message
    and stores its ts on the request, ``reply`` posts into the request's
    thread, ``step`` does that and stores the ts on the approval step,
    ``update_root`` and ``update_step`` edit those messages.
    """

    __tablename__ = "slack_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("plan_requests.id"), index=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("approval_steps.id"))
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    blocks: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # pending, sent
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Case-insensitive prefix search of accounts (the account type-ahead) reads
# these as ranges: lower(id) >= 'abc' AND lower(id) < 'abd'.
Index("ix_accounts_lower_id", func.lower(Account.id))
Index("ix_accounts_lower_name", func.lower(Account.name))

# At most one open request per account, enforced by the database so two
# concurrent openers cannot both store one. Requests in other statuses
# (ineligible, decided, active, closed) do not count.
# NOTE: a request moving back into an open status (a revised ineligible
# request, a renegotiated active, declined, expired or defaulted one) while
# the account has another open request fails this index with an IntegrityError.
OPEN_REQUEST_STATUSES = sorted(status.value for status in OPEN_STATUSES)
Index(
    "uq_plan_requests_open_account",
    PlanRequest.account_id,
    unique=True,
    postgresql_where=PlanRequest.status.in_(OPEN_REQUEST_STATUSES),
    sqlite_where=PlanRequest.status.in_(OPEN_REQUEST_STATUSES),
)


# Scheduler jobs


class JobMark(Base):
    """A record that a job acted on one item for one occurrence.

    A sweep inserts the mark in the same transaction as its action, so the
    unique key lets only one scheduler replica act on an item, and a sweep
    that runs again after downtime finds the item already done.
    """

    __tablename__ = "job_marks"
    __table_args__ = (UniqueConstraint("job", "item_key", "occurrence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    # What the job acted on, such as "step:12" or "manager:U012AB3CD".
    item_key: Mapped[str] = mapped_column(String(128))
    # Which occurrence of the action, such as a local date for a digest.
    occurrence: Mapped[str] = mapped_column(String(64))
    done_at: Mapped[datetime] = mapped_column(UTCDateTime)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Absence(Base):
    """An approver's recorded absence, with an optional delegate, both dates inclusive."""

    __tablename__ = "absences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    delegate: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StepDelegation(Base):
    """A user who may decide one approval step besides the tier's approvers.

    Written when a step goes to a delegate (its approvers are unavailable) or
    to the tier's backup approvers (the step breached its SLA).
    """

    __tablename__ = "step_delegations"
    __table_args__ = (UniqueConstraint("step_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("approval_steps.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(64))
    # Slack user ids of the approvers the user replaces for this step.
    on_behalf_of: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # delegate or backup
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CustomerContactProfile(Base):
    """A customer's contact profile: the time zones that may apply to them."""

    __tablename__ = "customer_contact_profiles"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    # Every plausible IANA time zone, because address and phone may disagree.
    # Contact is allowed only inside the contact hours in all of them.
    timezones: Mapped[list[Any]] = mapped_column(JSON, default=list)


class CustomerContact(Base):
    """One reminder sent to a customer, counted against the rolling contact limit."""

    __tablename__ = "customer_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("plan_requests.id"))
    kind: Mapped[str] = mapped_column(String(32))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InvoiceSettlement(Base):
    """An invoice settled by a completed payment plan rather than paid on its own.

    The invoice's ``settled_date`` is set to the day the plan completed, so
    balances and facts stop counting it; this row records which plan paid it.
    """

    __tablename__ = "invoice_settlements"

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("plan_requests.id"), index=True)
    settled_on: Mapped[date] = mapped_column(Date)
