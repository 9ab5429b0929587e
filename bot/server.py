"""The ASGI application for HTTP mode: Slack events, health, metrics and the customer page."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.payments_webhook import payments_webhook
from bot.portal import agreement_endpoints
from bot.request_webhook import DEFAULT_MAX_BODY_BYTES, request_webhook_endpoint
from bot.workflow import Workflow


def build_asgi_app(
    *,
    slack_app: App | None,
    workflow: Workflow,
    requests_webhook_secret: str | None = None,
    payments_secret: str | None = None,
    signing_secret: str | None = None,
    requests_webhook_max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> Starlette:
    """Create the HTTP application; without ``slack_app`` only the portal, health and metrics are served.

    ``POST /webhooks/requests`` is served only when ``requests_webhook_secret`` is set. ``POST /webhooks/payments``
    is always routed and answers 503 until ``payments_secret`` is set.

    With ``signing_secret``, a correctly signed button click is acknowledged
    on the event loop at once and dispatched to Bolt after the response is
    sent. Slack ignores the body of a block_actions acknowledgement, so the
    reply is the same, but it no longer waits for a thread.
    """
    verifier = SignatureVerifier(signing_secret) if signing_secret else None

    async def slack_events(request: Request) -> Response:
        assert slack_app is not None
        body = await request.body()
        bolt_request = to_bolt_request(request, body)
        if verifier is not None and _is_block_actions(body):
            if not verifier.is_valid(
                body,
                request.headers.get("X-Slack-Request-Timestamp", ""),
                request.headers.get("X-Slack-Signature", ""),
            ):
                return JSONResponse({"error": "invalid request"}, status_code=401)
            # Bolt checks the signature again and runs the listener, whose ack is discarded.
            return Response(status_code=200, background=BackgroundTask(run_in_threadpool, slack_app.dispatch, bolt_request))
        # dispatch() blocks until the listener acks, so keep it off the event loop.
        bolt_response = await run_in_threadpool(slack_app.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    def healthz(request: Request) -> Response:
        with workflow.session_factory() as session:
            session.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    show_agreement, answer_agreement, download_pdf = agreement_endpoints(workflow)
    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/agreements/{token}", show_agreement, methods=["GET"]),
        Route("/agreements/{token}", answer_agreement, methods=["POST"]),
        Route("/agreements/{token}/pdf", download_pdf, methods=["GET"]),
        Route("/webhooks/payments", payments_webhook(workflow, payments_secret), methods=["POST"]),
    ]
    if slack_app is not None:
        routes.append(Route("/slack/events", slack_events, methods=["POST"]))
    if requests_webhook_secret:
        routes.append(Route("/webhooks/requests", request_webhook_endpoint(workflow, requests_webhook_secret, max_body_bytes=requests_webhook_max_body_bytes), methods=["POST"]))
    return Starlette(routes=routes)


def _is_block_actions(body: bytes) -> bool:
    """Tell whether ``body`` is an interaction payload of type block_actions (a button click or menu choice)."""
    if not body.startswith(b"payload="):
        return False
    try:
        payload = json.loads(parse_qs(body.decode("utf-8"))["payload"][0])
    except (UnicodeDecodeError, KeyError, ValueError):
        return False
    return isinstance(payload, dict) and payload.get("type") == "block_actions"
