"""Thread messages for agreements and plans: the agreement PDF, customer answers and monitoring events.

A Slack failure is logged with the request id and never undoes the change
already committed.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.messages import request_label
from storage.models import AgreementDocument, PlanRequest

logger = logging.getLogger(__name__)


class SlackThreadNotifier:
    def __init__(self, *, client: WebClient, session_factory: sessionmaker[Session]) -> None:
        self.client = client
        self.session_factory = session_factory

    def agreement_sent(self, request_id: int, agreement_id: int) -> None:
        """Upload the agreement PDF to the request's thread (files.getUploadURLExternal, then files.completeUploadExternal)."""
        with self.session_factory() as session:
            request = session.get(PlanRequest, request_id)
            document = session.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == agreement_id))
            assert request is not None
            assert document is not None
            if request.slack_channel is None or request.slack_ts is None:
                logger.warning("request %s has no Slack thread; agreement %s PDF not uploaded", request_id, agreement_id)
                return
            label = request_label(request_id)
            try:
                response = self.client.files_upload_v2(
                    channel=request.slack_channel,
                    thread_ts=request.slack_ts,
                    file=document.pdf,
                    filename=f"payment-plan-{label}-r{document.terms['revision']}.pdf",
                    title=f"Payment plan agreement {label}",
                    initial_comment=f"Agreement document for {label}. Terms fingerprint (SHA-256): `{document.terms_hash}`",
                )
            except SlackApiError as error:
                logger.error("uploading the agreement PDF of request %s failed: %s", request_id, error.response.get("error"))
                return
            files = response.get("files") or []
            if files:
                document.slack_file_id = files[0].get("id")
                session.commit()

    def post(self, request_id: int, text: str, *, notify_requester: bool = False) -> None:
        """Post ``text`` in the request's thread and, when asked, to the account manager directly."""
        with self.session_factory() as session:
            request = session.get(PlanRequest, request_id)
            assert request is not None
            channel, thread_ts, requester = request.slack_channel, request.slack_ts, request.requested_by
        try:
            if channel and thread_ts:
                self.client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
            else:
                logger.warning("request %s has no Slack thread; message not posted", request_id)
            if notify_requester:
                # A user id as the channel opens the bot's direct message with that user.
                self.client.chat_postMessage(channel=requester, text=text)
        except SlackApiError as error:
            logger.error("posting to Slack for request %s failed: %s", request_id, error.response.get("error"))
