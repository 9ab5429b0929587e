"""Posts request events to Slack: the root message, its thread and approval buttons.

The workflow calls this after each commit. A Slack failure is logged with
the request id and does not undo the decision already stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot import blocks
from policy.config import Policy
from storage.models import Agreement, ApprovalStep, Installment, PlanRequest, TermRevision

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
    ) -> None:
        self.client = client
        self.channel = channel
        self.session_factory = session_factory
        self.policy = policy
        self.approvers = approvers
        self.agreement_url = agreement_url
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
                if request.status == "sent_to_customer":
                    agreement = session.scalar(select(Agreement).where(Agreement.revision_id == revision.id))
                    assert agreement is not None
                    text, agreement_blocks = blocks.agreement_message(self.agreement_url(agreement))
                    self._reply(request.slack_channel, request.slack_ts, text, agreement_blocks)
                self._update_root(request, revision)
            except SlackApiError as error:
                logger.error("updating Slack for request %s step %s failed: %s", request_id, step_id, error.response.get("error"))

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
                self._update_root(request, revision)
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

    def _update_root(self, request: PlanRequest, revision: TermRevision) -> None:
        assessment = revision.assessment
        if request.slack_ts is None or assessment is None:
            return
        text, root_blocks = blocks.root_message(request, revision, assessment, self.policy.currency)
        self.client.chat_update(channel=request.slack_channel, ts=request.slack_ts, text=text, blocks=blocks.as_dicts(root_blocks))
