"""Posts request events to Slack: the root message, its thread and approval buttons.

The workflow calls this after each commit. A Slack failure does not undo
the decision already stored: it is logged with the request id, the message
goes to the outbox (``bot.outbox``) for a sweep to send later, and the user
who acted gets a direct message saying what to do.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import blocks
from bot.clock import Clock, SystemClock
from bot.home import home_view, home_viewers
from bot.messages import actor_mention, escape_mrkdwn, money, request_label
from bot.negotiation import latest_change_request
from bot.outbox import SLACK_SEND_ERRORS, SlackFailure, classify, explain_failure, has_pending, queue_message
from bot.slack_limits import fit_message, to_dicts
from policy.config import Policy
from storage.models import Agreement, ApprovalStep, AuditEvent, Installment, PlanRequest, RequesterWait, TermRevision

if TYPE_CHECKING:
    from bot.workflow import Workflow

logger = logging.getLogger(__name__)


class SlackPublisher:
    def __init__(
        self,
        *,
        client: WebClient,
        channel: str,
        session_factory: sessionmaker[Session],
        policy: Policy,
        approvers: dict[str, list[str]],
        agreement_url: Callable[[Agreement], str],
        workflow: Workflow | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.client = client
        self.channel = channel
        self.session_factory = session_factory
        self.policy = policy
        self.approvers = approvers
        self.agreement_url = agreement_url
        # The App Home tabs are refreshed only when the workflow is known.
        self.workflow = workflow
        self.tier_labels = {name: policy.tier(name).label for name in policy.tier_names()}
        self.clock = clock or SystemClock()
        # The first Slack failure of the event this thread is publishing, reported to the user once at its end.
        self._local = threading.local()

    def request_opened(self, request_id: int) -> None:
        with self.session_factory() as session:
            request, revision = self._load(session, request_id)
            assessment = revision.assessment
            assert assessment is not None
            self._local.failure = None
            text, root_blocks = blocks.root_message(request, revision, assessment, self.policy.currency)
            self._send(session, request, "root", text, root_blocks)
            text, summary_blocks = blocks.summary_message(assessment, self.policy.currency)
            # NOTE: a summary message that waits in the outbox gets no summary_slack_ts,
            # so a later model summary is stored but not shown in place of it.
            assessment.summary_slack_ts = self._send(session, request, "reply", text, summary_blocks)
            session.commit()
            for text, thread_blocks in (
                blocks.assessment_message(assessment, self.tier_labels),
                blocks.schedule_message(assessment, self.policy.currency),
            ):
                self._send(session, request, "reply", text, thread_blocks)
            for step in revision.steps:
                if step.status == "pending":
                    self._post_step(session, request, step)
            self._tell_about_failure(request, request.requested_by)
        self.refresh_homes(request_id)

    def summary_updated(self, request_id: int) -> None:
        """Replace the thread's summary message with the stored summary."""
        with self.session_factory() as session:
            request, revision = self._load(session, request_id)
            assessment = revision.assessment
            if assessment is None or assessment.summary_slack_ts is None or request.slack_channel is None:
                logger.warning("request %s has no summary message in Slack; the new summary is stored only", request_id)
                return
            try:
                text, summary_blocks = blocks.summary_message(assessment, self.policy.currency)
                self.client.chat_update(
                    channel=request.slack_channel, ts=assessment.summary_slack_ts, text=text, blocks=blocks.as_dicts(summary_blocks)
                )
            except SlackApiError as error:
                logger.error("updating the summary of request %s in Slack failed: %s", request_id, error.response.get("error"))

    def step_decided(self, request_id: int, step_id: int) -> None:
        with self.session_factory() as session:
            request, revision = self._load(session, request_id)
            self._local.failure = None
            try:
                for step in revision.steps:
                    if step.slack_ts and (step.id == step_id or step.status == "superseded"):
                        self._update_step(session, request, step)
                    elif step.status == "pending" and not step.slack_ts:
                        self._post_step(session, request, step)
                if request.status == "changes_requested":
                    self._post_change_request(session, request)
                if request.status == "sent_to_customer":
                    agreement = session.scalar(select(Agreement).where(Agreement.revision_id == revision.id))
                    assert agreement is not None
                    text, agreement_blocks = blocks.agreement_message(self.agreement_url(agreement))
                    self._send(session, request, "reply", text, agreement_blocks)
                self._update_root(session, request, revision)
            except SlackApiError as error:
                logger.error("updating Slack for request %s step %s failed: %s", request_id, step_id, error.response.get("error"))
            decided = session.get(ApprovalStep, step_id)
            self._tell_about_failure(request, (decided.decided_by if decided else None) or request.requested_by)
        self.refresh_homes(request_id)

    def revision_opened(self, request_id: int) -> None:
        """Mark the old revision's steps superseded and post the new revision's assessment and steps."""
        with self.session_factory() as session:
            request, revision = self._load(session, request_id)
            self._local.failure = None
            assessment = revision.assessment
            assert assessment is not None
            try:
                for old in request.revisions:
                    if old.number != revision.number:
                        for step in old.steps:
                            if step.slack_ts:
                                self._update_step(session, request, step)
                self._send(
                    session,
                    request,
                    "reply",
                    f"Revision {revision.number} of {request_label(request.id)} by {actor_mention(revision.created_by)}",
                    [blocks.SectionBlock(text=f":memo: *Revision {revision.number}* by {actor_mention(revision.created_by)}. Approvals of earlier revisions do not carry over.")],
                )
                for text, thread_blocks in (
                    blocks.assessment_message(assessment, self.tier_labels),
                    blocks.schedule_message(assessment, self.policy.currency),
                ):
                    self._send(session, request, "reply", text, thread_blocks)
                for step in revision.steps:
                    if step.status == "pending" and not step.slack_ts:
                        self._post_step(session, request, step)
                self._update_root(session, request, revision)
            except SlackApiError as error:
                logger.error("posting revision %s of request %s to Slack failed: %s", revision.number, request_id, error.response.get("error"))
            self._tell_about_failure(request, revision.created_by)
        self.refresh_homes(request_id)

    def request_changed(self, request_id: int) -> None:
        """Show a status change that no step decision made: withdrawal, a wait on the requester, a grade review."""
        with self.session_factory() as session:
            request, revision = self._load(session, request_id)
            self._local.failure = None
            try:
                for step in revision.steps:
                    if step.slack_ts:
                        self._update_step(session, request, step)
                if request.status == "waiting_on_requester":
                    wait = self._open_wait(session, request)
                    assert wait is not None
                    text = f"{actor_mention(request.requested_by)}, {actor_mention(wait.asked_by)} needs more information: {escape_mrkdwn(wait.missing)}"
                    self._send(session, request, "reply", text, [blocks.SectionBlock(text=f":hourglass: {text}\nShare files in this thread, then click *Information supplied* on the request.")])
                self._update_root(session, request, revision)
            except SlackApiError as error:
                logger.error("updating Slack for request %s failed: %s", request_id, error.response.get("error"))
            self._tell_about_failure(request, request.requested_by)
        self.refresh_homes(request_id)

    def exception_granted(self, request_id: int) -> None:
        with self.session_factory() as session:
            request, revision = self._load(session, request_id)
            self._local.failure = None
            event = session.scalar(
                select(AuditEvent).where(AuditEvent.request_id == request.id, AuditEvent.action == "request.exception_granted").order_by(AuditEvent.id.desc()).limit(1)
            )
            assert event is not None
            try:
                reason = escape_mrkdwn(str(event.after.get("reason", "")))
                text = f"Policy exception granted by {actor_mention(event.actor)}: {reason}"
                self._send(session, request, "reply", text, [blocks.SectionBlock(text=f":large_orange_diamond: {text}")])
                for step in revision.steps:
                    if step.status == "pending" and not step.slack_ts:
                        self._post_step(session, request, step)
                self._update_root(session, request, revision)
            except SlackApiError as error:
                logger.error("posting the exception of request %s to Slack failed: %s", request_id, error.response.get("error"))
            self._tell_about_failure(request, event.actor)
        self.refresh_homes(request_id)

    def refresh_homes(self, request_id: int) -> None:
        """Republish the App Home of everyone whose Home lists ``request_id``."""
        if self.workflow is None:
            return
        for user in sorted(home_viewers(self.workflow, request_id)):
            self.publish_home(user)

    def publish_home(self, user_id: str) -> None:
        if self.workflow is None:
            return
        try:
            self.client.views_publish(user_id=user_id, view=home_view(self.workflow, user_id))
        except SlackApiError as error:
            logger.error("publishing the App Home of %s failed: %s", user_id, error.response.get("error"))

    def plan_activated(self, request_id: int) -> None:
        with self.session_factory() as session:
            request, revision = self._load(session, request_id)
            self._local.failure = None
            installments = session.scalars(
                select(Installment).where(Installment.request_id == request.id).order_by(Installment.sequence)
            ).all()
            first_due = installments[0].due_date.isoformat() if installments else None
            try:
                text, activation_blocks = blocks.activation_message(request, len(installments), first_due)
                self._send(session, request, "reply", text, activation_blocks)
                self._update_root(session, request, revision)
            except SlackApiError as error:
                logger.error("posting activation of request %s to Slack failed: %s", request_id, error.response.get("error"))
            self._tell_about_failure(request, request.requested_by)

    def _load(self, session: Session, request_id: int) -> tuple[PlanRequest, TermRevision]:
        request = session.get(PlanRequest, request_id)
        assert request is not None, f"request {request_id} vanished after commit"
        revision = next(rev for rev in request.revisions if rev.number == request.current_revision)
        return request, revision

    def _send(
        self,
        session: Session,
        request: PlanRequest,
        kind: str,
        text: str,
        message_blocks: list[blocks.SlackBlock],
        step: ApprovalStep | None = None,
    ) -> str | None:
        """Post or update one message, split to fit Slack's limits; queue what fails in the outbox.

        ``kind`` is one of the outbox kinds: root, reply, step, update_root,
        update_step. When the content needs more than one message, the first
        part goes as ``kind`` and the rest follow as thread replies. Returns
        the ts of the first part when it was posted at once, otherwise None.
        """
        parts = fit_message(text, to_dicts(message_blocks))
        first_ts = None
        for number, (part_text, part_blocks) in enumerate(parts):
            ts = self._send_one(session, request, kind if number == 0 else "reply", part_text, part_blocks, step if number == 0 else None)
            if number == 0:
                first_ts = ts
        return first_ts

    def _send_one(
        self,
        session: Session,
        request: PlanRequest,
        kind: str,
        text: str,
        block_dicts: list[dict[str, Any]],
        step: ApprovalStep | None,
    ) -> str | None:
        channel = request.slack_channel or self.channel
        queued_before = has_pending(session, request.id)
        if kind != "root" and request.slack_ts is None and not queued_before:
            logger.warning("request %s has no Slack root message; %s message %r not posted", request.id, kind, text[:60])
            return None
        if queued_before:
            # Messages of one request go out in order, so this one waits behind those queued.
            queue_message(session, request_id=request.id, step_id=step.id if step else None, kind=kind, channel=channel,
                          text=text, blocks=block_dicts, now=self.clock.now(), failure=None)
            session.commit()
            return None
        try:
            response = self._call_slack(request, kind, channel, text, block_dicts, step)
        except SLACK_SEND_ERRORS as error:
            failure = classify(error)
            logger.error("Slack %s message for request %s failed: %s; queued for retry", kind, request.id, failure.error)
            self._local.failure = getattr(self._local, "failure", None) or failure
            queue_message(session, request_id=request.id, step_id=step.id if step else None, kind=kind, channel=channel,
                          text=text, blocks=block_dicts, now=self.clock.now(), failure=failure)
            session.commit()
            return None
        if kind == "root":
            request.slack_channel, request.slack_ts = response["channel"], response["ts"]
        elif kind == "step" and step is not None:
            step.slack_ts = response["ts"]
        session.commit()
        return response.get("ts")

    def _call_slack(
        self, request: PlanRequest, kind: str, channel: str, text: str, block_dicts: list[dict[str, Any]], step: ApprovalStep | None
    ) -> Any:
        if kind == "root":
            return self.client.chat_postMessage(channel=channel, text=text, blocks=block_dicts)
        if kind in ("reply", "step"):
            return self.client.chat_postMessage(channel=channel, thread_ts=request.slack_ts, text=text, blocks=block_dicts)
        if kind == "update_root":
            ts = request.slack_ts
        else:
            ts = step.slack_ts if step is not None else None
        return self.client.chat_update(channel=channel, ts=ts, text=text, blocks=block_dicts)

    def _tell_about_failure(self, request: PlanRequest, user_id: str) -> None:
        """Send ``user_id`` a direct message about the first failure of this event, if there was one."""
        failure: SlackFailure | None = getattr(self._local, "failure", None)
        self._local.failure = None
        if failure is None:
            return
        text = explain_failure(failure, request.slack_channel or self.channel, f"Request {request_label(request.id)}")
        try:
            self.client.chat_postMessage(channel=user_id, text=text)
        except SLACK_SEND_ERRORS as error:
            logger.error("telling %s about the Slack failure of request %s failed too: %s", user_id, request.id, classify(error).error)

    def _post_step(self, session: Session, request: PlanRequest, step: ApprovalStep) -> None:
        text, step_blocks = blocks.approval_message(
            step, request, tier_label=self.tier_labels[step.tier], approvers=self.approvers.get(step.tier, [])
        )
        self._send(session, request, "step", text, step_blocks, step)

    def _update_step(self, session: Session, request: PlanRequest, step: ApprovalStep) -> None:
        text, step_blocks = blocks.approval_message(
            step, request, tier_label=self.tier_labels[step.tier], approvers=self.approvers.get(step.tier, [])
        )
        self._send(session, request, "update_step", text, step_blocks, step)

    def _update_root(self, session: Session, request: PlanRequest, revision: TermRevision) -> None:
        assessment = revision.assessment
        if assessment is None:
            return
        wait = self._open_wait(session, request)
        text, root_blocks = blocks.root_message(request, revision, assessment, self.policy.currency, wait=wait)
        self._send(session, request, "update_root", text, root_blocks)

    def _post_change_request(self, session: Session, request: PlanRequest) -> None:
        change = latest_change_request(session, request)
        if change is None:
            return
        text = f"{actor_mention(request.requested_by)}, {actor_mention(change.actor)} requested changes: {escape_mrkdwn(change.comment)}"
        if change.proposal:
            proposal = change.proposal
            text += (
                f"\nProposed terms: {money(proposal.down_payment, self.policy.currency)} down, {proposal.installment_count} installments, "
                f"{proposal.frequency}, first due {proposal.first_due_date.isoformat()}."
            )
        section = blocks.SectionBlock(text=f":leftwards_arrow_with_hook: {text}\nClick *Revise terms* on the request to answer.")
        self._send(session, request, "reply", text, [section])

    def _open_wait(self, session: Session, request: PlanRequest) -> RequesterWait | None:
        return session.scalar(select(RequesterWait).where(RequesterWait.request_id == request.id, RequesterWait.ended_at.is_(None)))
