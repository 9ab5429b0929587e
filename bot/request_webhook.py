"""``POST /webhooks/requests``: a billing or CRM system opens a payment plan request.

The call is signed as docs/webhooks.md describes, with
``PAYPLAN_REQUESTS_WEBHOOK_SECRET``. The request goes through
:meth:`Workflow.open_request` like one from Slack, so it is assessed, routed
and posted to the channel, and it is stored with source ``webhook``.

Responses: 201 with the request id; 401, 400 or 409 from the signature check
and replay check; 409 when the account already has an open request; 422
naming each invalid field.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.errors import InvalidInput
from bot.webhooks import WebhookAuthError, claim_delivery, verify
from bot.workflow import MAX_REASON_LENGTH, REASON_CATEGORIES, RequestInput, Workflow
from policy.lifecycle import OPEN_STATUSES
from storage.models import PlanRequest, WebhookDelivery

logger = logging.getLogger(__name__)

ENDPOINT = "requests"
SOURCE = "webhook"
AMOUNT_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,2})?$"


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
    # Who asked: a Slack user id or a system name; shown as the requester.
    requested_by: str = Field("system:webhook", min_length=1, max_length=64)

    @field_validator("reason_category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in REASON_CATEGORIES:
            raise ValueError(f"must be one of {', '.join(REASON_CATEGORIES)}")
        return value


class DuplicateOpenRequest(Exception):
    def __init__(self, account_id: str, request_id: int) -> None:
        super().__init__(f"account {account_id} already has open request {request_id}")
        self.account_id = account_id
        self.request_id = request_id


def request_webhook_endpoint(workflow: Workflow, secret: str) -> Callable[[Request], Awaitable[Response]]:
    """Return the endpoint function for ``POST /webhooks/requests``."""

    async def open_request_from_webhook(request: Request) -> Response:
        body = await request.body()
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
        except DuplicateOpenRequest as error:
            message = f"{error}; decide or withdraw it before opening another"
            return JSONResponse({"error": message, "request_id": error.request_id}, status_code=409)
        except InvalidInput as error:
            return JSONResponse({"error": error.user_message, "fields": error.field_errors}, status_code=422)

        logger.info("request %s opened by webhook delivery %s for account %s", request_id, delivery_id, parsed.account_id)
        return JSONResponse({"request_id": request_id, "source": SOURCE}, status_code=201)

    return open_request_from_webhook


def _parse_body(body: bytes) -> WebhookRequestBody | Response:
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return JSONResponse({"error": f"the body is not valid JSON: {error}"}, status_code=422)
    try:
        return WebhookRequestBody.model_validate(document)
    except ValidationError as error:
        fields = {".".join(str(part) for part in problem["loc"]) or "body": problem["msg"] for problem in error.errors()}
        return JSONResponse({"error": "The request has invalid fields.", "fields": fields}, status_code=422)


def _open(workflow: Workflow, body: WebhookRequestBody, delivery_id: str) -> int:
    now = workflow.clock.now()
    with workflow.session_factory() as session:
        if session.scalar(
            select(WebhookDelivery.id).where(WebhookDelivery.source == ENDPOINT, WebhookDelivery.delivery_id == delivery_id)
        ):
            raise WebhookAuthError(409, f"delivery {delivery_id!r} was already processed; send each call with a new X-Payplan-Delivery")
        _reject_duplicate(session, body.account_id)

    def claim(session: Session) -> None:
        # Checked again inside the transaction that stores the request.
        _reject_duplicate(session, body.account_id)
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


def _reject_duplicate(session: Session, account_id: str) -> None:
    # NOTE: two calls for one account that pass this check at the same moment
    # can both store a request. The policy then flags the second one as a
    # second open plan, and only a unique partial index would prevent it.
    open_request_id = session.scalar(
        select(PlanRequest.id)
        .where(PlanRequest.account_id == account_id, PlanRequest.status.in_([status.value for status in OPEN_STATUSES]))
        .order_by(PlanRequest.id)
        .limit(1)
    )
    if open_request_id is not None:
        raise DuplicateOpenRequest(account_id, open_request_id)
