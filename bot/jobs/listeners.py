"""Bolt listeners for buttons that jobs post: the Resend link button of an expired agreement."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.errors import AlreadyDecided, NotFound, PayplanError, PermissionDenied
from bot.jobs.activation import RESEND_ACTION
from bot.jobs.slack import post_in_thread
from bot.messages import request_label
from bot.workflow import Workflow
from policy.lifecycle import Status
from storage.models import Agreement, PlanRequest

logger = logging.getLogger(__name__)


def register_job_listeners(app: App, workflow: Workflow) -> None:
    @app.action(RESEND_ACTION)
    def handle_resend_click(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id = body["user"]["id"]
        try:
            resend_agreement(workflow, client, actor=user_id, agreement_id=int(body["actions"][0]["value"]))
        except PayplanError as error:
            logger.info("resend by %s rejected: %s", user_id, error.code)
            client.chat_postEphemeral(channel=body["channel"]["id"], user=user_id, text=error.user_message)


def resend_agreement(workflow: Workflow, client: WebClient, *, actor: str, agreement_id: int) -> str:
    """Reopen an expired agreement with a new link, post it in the thread and return it.

    Only the requester or an approver of the request's route may resend.
    """
    with workflow.session_factory.begin() as session:
        agreement = session.get(Agreement, agreement_id)
        if agreement is None:
            raise NotFound(f"Agreement {agreement_id} was not found.")
        request = session.get(PlanRequest, agreement.request_id)
        assert request is not None
        route = {step.tier for step in next(r for r in request.revisions if r.id == agreement.revision_id).steps}
        allowed = {request.requested_by, *(user for tier in route for user in workflow.approvers.get(tier, []))}
        if actor not in allowed:
            raise PermissionDenied(f"Only the requester or an approver of {request_label(request.id)} can resend its agreement.")
        if agreement.status != "expired" or request.status != Status.EXPIRED.value:
            raise AlreadyDecided(f"The agreement of {request_label(request.id)} is {agreement.status}, not expired, so there is nothing to resend.")
        now = workflow.clock.now()
        agreement.status = "sent"
        agreement.expires_at = now + timedelta(days=workflow.agreement_link_days)
        workflow._set_status(session, request, Status.SENT_TO_CUSTOMER, actor, {"agreement_id": agreement.id, "expires_at": agreement.expires_at, "resent": True})
        url = workflow.agreement_url(agreement)
    post_in_thread(client, request, f"<@{actor}> resent the agreement. Send the customer this new link: {url}")
    logger.info("agreement %s of request %s resent by %s", agreement_id, request.id, actor)
    return url
