"""Posts request events to Slack: the root message, its thread and approval buttons.

The workflow calls this after each commit. A Slack failure is logged with
the request id and does not undo the decision already stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import blocks
from bot.home import home_view, home_viewers
from bot.messages import escape_mrkdwn, money, request_label
from bot.negotiation import latest_change_request
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

    def request_opened(self, request_id: int) -> None:
        with self.session_factory() as session:
            request, revision = self._load(session, request_id)
            assessment = revision.assessment
            assert assessment is not None
            try:
                text, root_blocks = blocks.root_message(request, revision, assessment, self.policy.currency)
                root = self.client.chat_postMessage(channel=self.channel, text=text, blocks=blocks.as_dicts(root_blocks))
                channel, ts = root["channel"], root["ts"]
                request.slack_channel, request.slack_ts = channel, ts
                session.commit()

                text, summary_blocks = blocks.summary_message(assessment, self.policy.currency)
                assessment.summary_slack_ts = self._reply(channel, ts, text, summary_blocks)
                session.commit()
                for text, thread_blocks in (
                    blocks.assessment_message(assessment, self.tier_labels),
                    blocks.schedule_message(assessment, self.policy.currency),
                ):
                    self._reply(channel, ts, text, thread_blocks)
                for step in revision.steps:
                    if step.status == "pending":
                        self._post_step(session, request, step)
            except SlackApiError as error:
                logger.error("posting request %s to Slack failed: %s", request_id, error.response.get("error"))
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
            try:
                for step in revision.steps:
                    if step.slack_ts and (step.id == step_id or step.status == "superseded"):
                        self._update_step(request, step)
                    elif step.status == "pending" and not step.slack_ts:
                        self._post_step(session, request, step)
                if request.status == "changes_requested":
                    self._post_change_request(session, request)
                if request.status == "sent_to_customer":
                    agreement = session.scalar(select(Agreement).where(Agreement.revision_id == revision.id))
                    assert agreement is not None
                    text, agreement_blocks = blocks.agreement_message(self.agreement_url(agreement))
                    self._reply(request.slack_channel, request.slack_ts, text, agreement_blocks)
                self._update_root(session, request, revision)
            except SlackApiError as error:
                logger.error("updating Slack for request %s step %s failed: %s", request_id, step_id, error.response.get("error"))
        self.refresh_homes(request_id)

    def revision_opened(self, request_id: int) -> None:
        """Mark the old revision's steps superseded and post the new revision's assessment and steps."""
        with self.session_factory() as session:
            request, revision = self._load(session, request_id)
            assessment = revision.assessment
            assert assessment is not None
            try:
                for old in request.revisions:
                    if old.number != revision.number:
                        for step in old.steps:
                            if step.slack_ts:
                                self._update_step(request, step)
                self._reply(
                    request.slack_channel,
                    request.slack_ts,
                    f"Revision {revision.number} of {request_label(request.id)} by <@{revision.created_by}>",
                    [blocks.SectionBlock(text=f":memo: *Revision {revision.number}* by <@{revision.created_by}>. Approvals of earlier revisions do not carry over.")],
                )
                for text, thread_blocks in (
                    blocks.assessment_message(assessment, self.tier_labels),
                    blocks.schedule_message(assessment, self.policy.currency),
                ):
                    self._reply(request.slack_channel, request.slack_ts, text, thread_blocks)
                for step in revision.steps:
                    if step.status == "pending" and not step.slack_ts:
                        self._post_step(session, request, step)
                self._update_root(session, request, revision)
            except SlackApiError as error:
                logger.error("posting revision %s of request %s to Slack failed: %s", revision.number, request_id, error.response.get("error"))
        self.refresh_homes(request_id)

    def request_changed(self, request_id: int) -> None:
        """Show a status change that no step decision made: withdrawal, a wait on the requester, a grade review."""
        with self.session_factory() as session:
            request, revision = self._load(session, request_id)
            try:
                for step in revision.steps:
                    if step.slack_ts:
                        self._update_step(request, step)
                if request.status == "waiting_on_requester":
                    wait = self._open_wait(session, request)
                    assert wait is not None
                    text = f"<@{request.requested_by}>, <@{wait.asked_by}> needs more information: {escape_mrkdwn(wait.missing)}"
                    self._reply(request.slack_channel, request.slack_ts, text, [blocks.SectionBlock(text=f":hourglass: {text}\nShare files in this thread, then click *Information supplied* on the request.")])
                self._update_root(session, request, revision)
            except SlackApiError as error:
                logger.error("updating Slack for request %s failed: %s", request_id, error.response.get("error"))
        self.refresh_homes(request_id)

    def exception_granted(self, request_id: int) -> None:
        with self.session_factory() as session:
            request, revision = self._load(session, request_id)
            event = session.scalar(
                select(AuditEvent).where(AuditEvent.request_id == request.id, AuditEvent.action == "request.exception_granted").order_by(AuditEvent.id.desc()).limit(1)
            )
            assert event is not None
            try:
                reason = escape_mrkdwn(str(event.after.get("reason", "")))
                text = f"Policy exception granted by <@{event.actor}>: {reason}"
                self._reply(request.slack_channel, request.slack_ts, text, [blocks.SectionBlock(text=f":large_orange_diamond: {text}")])
                for step in revision.steps:
                    if step.status == "pending" and not step.slack_ts:
                        self._post_step(session, request, step)
                self._update_root(session, request, revision)
            except SlackApiError as error:
                logger.error("posting the exception of request %s to Slack failed: %s", request_id, error.response.get("error"))
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
            installments = session.scalars(
                select(Installment).where(Installment.request_id == request.id).order_by(Installment.sequence)
            ).all()
            first_due = installments[0].due_date.isoformat() if installments else None
            try:
                text, activation_blocks = blocks.activation_message(request, len(installments), first_due)
                self._reply(request.slack_channel, request.slack_ts, text, activation_blocks)
                self._update_root(session, request, revision)
            except SlackApiError as error:
                logger.error("posting activation of request %s to Slack failed: %s", request_id, error.response.get("error"))

    def _load(self, session: Session, request_id: int) -> tuple[PlanRequest, TermRevision]:
        request = session.get(PlanRequest, request_id)
        assert request is not None, f"request {request_id} vanished after commit"
        revision = next(rev for rev in request.revisions if rev.number == request.current_revision)
        return request, revision

    def _reply(self, channel: str | None, thread_ts: str | None, text: str, message_blocks: list[blocks.SlackBlock]) -> str | None:
        if channel is None or thread_ts is None:
            logger.warning("request has no Slack root message; thread reply %r not posted", text[:60])
            return None
        response = self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text, blocks=blocks.as_dicts(message_blocks))
        return response["ts"]

    def _post_step(self, session: Session, request: PlanRequest, step: ApprovalStep) -> None:
        text, step_blocks = blocks.approval_message(
            step, request, tier_label=self.tier_labels[step.tier], approvers=self.approvers.get(step.tier, [])
        )
        ts = self._reply(request.slack_channel, request.slack_ts, text, step_blocks)
        if ts:
            step.slack_ts = ts
            session.commit()

    def _update_step(self, request: PlanRequest, step: ApprovalStep) -> None:
        text, step_blocks = blocks.approval_message(
            step, request, tier_label=self.tier_labels[step.tier], approvers=self.approvers.get(step.tier, [])
        )
        self.client.chat_update(channel=request.slack_channel, ts=step.slack_ts, text=text, blocks=blocks.as_dicts(step_blocks))

    def _post_change_request(self, session: Session, request: PlanRequest) -> None:
        change = latest_change_request(session, request)
        if change is None:
            return
        text = f"<@{request.requested_by}>, <@{change.actor}> requested changes: {escape_mrkdwn(change.comment)}"
        if change.proposal:
            proposal = change.proposal
            text += (
                f"\nProposed terms: {money(proposal.down_payment, self.policy.currency)} down, {proposal.installment_count} installments, "
                f"{proposal.frequency}, first due {proposal.first_due_date.isoformat()}."
            )
        section = blocks.SectionBlock(text=f":leftwards_arrow_with_hook: {text}\nClick *Revise terms* on the request to answer.")
        self._reply(request.slack_channel, request.slack_ts, text, [section])

    def _open_wait(self, session: Session, request: PlanRequest) -> RequesterWait | None:
        return session.scalar(select(RequesterWait).where(RequesterWait.request_id == request.id, RequesterWait.ended_at.is_(None)))

    def _update_root(self, session: Session, request: PlanRequest, revision: TermRevision) -> None:
        assessment = revision.assessment
        if request.slack_ts is None or assessment is None:
            return
        wait = self._open_wait(session, request)
        text, root_blocks = blocks.root_message(request, revision, assessment, self.policy.currency, wait=wait)
        self.client.chat_update(channel=request.slack_channel, ts=request.slack_ts, text=text, blocks=blocks.as_dicts(root_blocks))
