"""``POST /webhooks/requests``: a billing or CRM system opens a payment plan request.

The call is signed as docs/webhooks.md describes, with
``PAYPLAN_REQUESTS_WEBHOOK_SECRET``. The request goes through
:meth:`Workflow.open_request` like one from Slack, so it is assessed, routed
and posted to the channel, and it is stored with source ``webhook``.

Responses: 201 with the request id once it is stored, even when posting to
Slack fails; 401, 400 or 409 from the signature check and replay check; 409
when the account already has an open request; 413 for a body over the size
limit; 422 naming each invalid field.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.errors import InvalidInput, OpenRequestExists
from bot.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookAuthError, claim_delivery, verify
from bot.workflow import MAX_REASON_LENGTH, REASON_CATEGORIES, RequestInput, Workflow
from storage.models import WebhookDelivery

logger = logging.getLogger(__name__)

ENDPOINT = "requests"
DEFAULT_MAX_BODY_BYTES = 1_048_576
# The workflow names some fields as the Slack modal does; responses use the body's names.
BODY_FIELDS = {"account": "account_id", "installments": "installment_count"}
# Readable messages for pydantic error types whose own message shows a regex or a type name.
FIELD_MESSAGES = {
    "string_pattern_mismatch": "must be a decimal string with at most 2 decimal places, such as \"43.05\"",
    "extra_forbidden": "is not a known field; docs/webhooks.md lists the fields",
    "missing": "is required",
    "int_type": "must be a whole number",
    "string_type": "must be a string",
    "model_type": "the body must be a JSON object",
    "date_from_datetime_parsing": "must be an ISO date such as \"2026-12-20\"",
    "date_parsing": "must be an ISO date such as \"2026-12-20\"",
}
SOURCE = "webhook"
AMOUNT_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"
# A system name such as system:billing; Slack user ids match it too.
REQUESTED_BY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]*$")


class WebhookRequestBody(BaseModel):
    """The JSON body of a request call; docs/webhooks.md lists the fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    account_id: str = Field(min_length=1, max_length=64)
    reason_category: str
    reason_text: str = Field("", max_length=MAX_REASON_LENGTH)
    # A string such as "120.00", so no amount passes through a binary float.
    down_payment: str = Field("0.00", pattern=AMOUNT_PATTERN)
    installment_count: int = Field(ge=1, le=999, strict=True)
    first_due_date: date
    # Who asked: a Slack user id (shown as a mention) or a system name (shown as plain text).
    requested_by: str = Field("system:webhook", min_length=1, max_length=64)

    @field_validator("reason_category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in REASON_CATEGORIES:
            raise ValueError(f"must be one of {', '.join(REASON_CATEGORIES)}")
        return value

    @field_validator("first_due_date", mode="before")
    @classmethod
    def _iso_date_text(cls, value: object) -> object:
        # Without this, pydantic reads a number as Unix time, so 0 would be 1 January 1970.
        if not isinstance(value, str):
            raise ValueError("must be an ISO date string such as \"2026-12-20\"")
        return value

    @field_validator("requested_by")
    @classmethod
    def _plain_actor(cls, value: str) -> str:
        if not REQUESTED_BY_PATTERN.fullmatch(value):
            raise ValueError(
                "must be a Slack user id such as U012AB3CD or a system name of letters, digits, ':', '.', '_' and '-', "
                "such as system:billing"
            )
        return value


def request_webhook_endpoint(
    workflow: Workflow, secret: str, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> Callable[[Request], Awaitable[Response]]:
    """Return the endpoint function for ``POST /webhooks/requests``.

    Unsigned calls and bodies over ``max_body_bytes`` are rejected before
    the body is read in full.
    """

    async def open_request_from_webhook(request: Request) -> Response:
        rejected = _check_before_reading(request, max_body_bytes)
        if rejected is not None:
            return rejected
        body = await _read_capped(request, max_body_bytes)
        if body is None:
            return _too_large(max_body_bytes)
        now = workflow.clock.now()
        try:
            delivery_id = verify(secret, request.headers, body, now=now)
        except WebhookAuthError as error:
            logger.warning("request webhook rejected with %s: %s", error.status, error.message)
            return JSONResponse({"error": error.message}, status_code=error.status)

        parsed = _parse_body(body)
        if isinstance(parsed, Response):
            return parsed

        try:
            request_id = await run_in_threadpool(_open, workflow, parsed, delivery_id)
        except WebhookAuthError as error:
            return JSONResponse({"error": error.message}, status_code=error.status)
        except OpenRequestExists as error:
            return JSONResponse({"error": error.user_message, "request_id": error.request_id}, status_code=409)
        except InvalidInput as error:
            fields = {BODY_FIELDS.get(name, name): message for name, message in error.field_errors.items()}
            return JSONResponse({"error": error.user_message, "fields": fields}, status_code=422)

        logger.info("request %s opened by webhook delivery %s for account %s", request_id, delivery_id, parsed.account_id)
        return JSONResponse({"request_id": request_id, "source": SOURCE}, status_code=201)

    return open_request_from_webhook


def _check_before_reading(request: Request, max_body_bytes: int) -> Response | None:
    missing = [name for name in (TIMESTAMP_HEADER, DELIVERY_HEADER, SIGNATURE_HEADER) if not request.headers.get(name)]
    if missing:
        message = f"missing header {', '.join(missing)}; sign every call as described in docs/webhooks.md"
        logger.warning("request webhook rejected with 401: %s", message)
        return JSONResponse({"error": message}, status_code=401)
    length = request.headers.get("content-length")
    if length is not None and not (length.isascii() and length.isdigit()):
        return JSONResponse({"error": f"Content-Length {length!r} is not a number of bytes"}, status_code=400)
    if length is not None and int(length) > max_body_bytes:
        return _too_large(max_body_bytes)
    return None


async def _read_capped(request: Request, max_body_bytes: int) -> bytes | None:
    """Read the body, or return None as soon as it grows past ``max_body_bytes`` (Content-Length may be absent or wrong)."""
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_body_bytes: int) -> Response:
    message = f"the body is larger than {max_body_bytes} bytes (PAYPLAN_REQUESTS_WEBHOOK_MAX_BODY_BYTES); send one request per call"
    logger.warning("request webhook rejected with 413: %s", message)
    return JSONResponse({"error": message}, status_code=413)


def _parse_body(body: bytes) -> WebhookRequestBody | Response:
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return JSONResponse({"error": f"the body is not valid JSON: {error}"}, status_code=422)
    except RecursionError:
        return JSONResponse({"error": "the body is nested too deeply; send a flat JSON object"}, status_code=422)
    try:
        return WebhookRequestBody.model_validate(document)
    except ValidationError as error:
        fields = {".".join(str(part) for part in problem["loc"]) or "body": _field_message(problem) for problem in error.errors()}
        return JSONResponse({"error": "The request has invalid fields.", "fields": fields}, status_code=422)


def _field_message(problem: Any) -> str:
    if problem["type"] == "value_error":
        # The validator's own sentence, without pydantic's "Value error, " prefix.
        return str(problem["ctx"]["error"])
    return FIELD_MESSAGES.get(problem["type"], problem["msg"])


def _open(workflow: Workflow, body: WebhookRequestBody, delivery_id: str) -> int:
    now = workflow.clock.now()
    with workflow.session_factory() as session:
        if session.scalar(
            select(WebhookDelivery.id).where(WebhookDelivery.source == ENDPOINT, WebhookDelivery.delivery_id == delivery_id)
        ):
            raise WebhookAuthError(409, f"delivery {delivery_id!r} was already processed; send each call with a new X-Payplan-Delivery")

    # An account with an open request raises OpenRequestExists, from the
    # workflow's check or, when two calls race, from the database's unique
    # index on open requests per account.
    def claim(session: Session) -> None:
        claim_delivery(session, source=ENDPOINT, delivery_id=delivery_id, now=now)

    data = RequestInput(
        account_id=body.account_id,
        reason_category=body.reason_category,
        reason_text=body.reason_text,
        down_payment=Decimal(body.down_payment).quantize(Decimal("0.01")),
        installment_count=body.installment_count,
        first_due_date=body.first_due_date,
    )
    return workflow.open_request(
        actor=body.requested_by,
        data=data,
        idempotency_key=f"webhook:{delivery_id}",
        source=SOURCE,
        before_store=claim,
    )
