"""``POST /webhooks/payments``: signed payment notifications from a bank or payment processor.

The body is JSON: ``{"reference": "...", "account_id": "...", "paid_on":
"YYYY-MM-DD", "amount": "120.00"}``. Calls are signed as docs/webhooks.md
describes, with ``PAYPLAN_PAYMENTS_WEBHOOK_SECRET``. The delivery id is
claimed in the same transaction that records the payment.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.payments import parse_payment, record_payment
from bot.webhooks import WebhookAuthError, claim_delivery, verify

if TYPE_CHECKING:
    from bot.workflow import Workflow

logger = logging.getLogger(__name__)

SOURCE = "payments"


def payments_webhook(workflow: Workflow, secret: str | None) -> Any:
    """Return the handler; without a secret every call is rejected with 503."""

    async def receive(request: Request) -> Response:
        if not secret:
            return JSONResponse({"error": "the payments webhook is not configured; set PAYPLAN_PAYMENTS_WEBHOOK_SECRET"}, status_code=503)
        body = await request.body()
        now = workflow.clock.now()
        try:
            delivery_id = verify(secret, request.headers, body, now=now)
        except WebhookAuthError as error:
            logger.warning("payments webhook call rejected: %s", error.message)
            return JSONResponse({"error": error.message}, status_code=error.status)
        # 422, as POST /webhooks/requests answers: the call was signed and
        # well formed, only its content cannot be used.
        try:
            data = json.loads(body)
        except ValueError as error:
            return JSONResponse({"error": f"the body is not valid JSON: {error}"}, status_code=422)
        if not isinstance(data, dict):
            return JSONResponse({"error": "the body must be a JSON object"}, status_code=422)
        problems = _type_problems(data)
        payment = None
        if not problems:
            payment, problems = parse_payment(
                data.get("reference"), data.get("account_id"), data.get("paid_on"), data.get("amount"), today=now.date()
            )
        if payment is None:
            return JSONResponse({"error": "invalid payment", "fields": problems}, status_code=422)
        return await run_in_threadpool(_record, workflow, payment, delivery_id, now)

    return receive


FIELD_EXAMPLES = {"reference": '"BANK-123"', "account_id": '"0379-NEVHP"', "paid_on": '"2013-07-15"', "amount": '"120.00"'}


def _type_problems(data: dict[str, Any]) -> dict[str, str]:
    """Return a message for each field that is present but not a JSON string.

    Amounts must be strings: a JSON number such as 120.1 is read as a
    binary float by many senders and may not be the amount they meant.
    """
    problems = {}
    for name, example in FIELD_EXAMPLES.items():
        value = data.get(name)
        if value is None or isinstance(value, str):
            continue
        kind = "a number" if isinstance(value, (int, float)) and not isinstance(value, bool) else f"a JSON {type(value).__name__}"
        problems[name] = f"{name} must be a JSON string such as {example}, not {kind} ({json.dumps(value)[:40]})"
    return problems


def _record(workflow: Workflow, payment: Any, delivery_id: str, now: Any) -> Response:
    with workflow.session_factory() as session:
        try:
            with session.begin():
                claim_delivery(session, source=SOURCE, delivery_id=delivery_id, now=now)
                result = record_payment(session, payment, source="webhook", now=now)
        except WebhookAuthError as error:
            return JSONResponse({"error": error.message}, status_code=error.status)
    logger.info("payment %s from the webhook: %s", result.reference, result.outcome)
    status = {"unmatched": 202, "conflict": 409}.get(result.outcome, 200)
    return JSONResponse({"reference": result.reference, "outcome": result.outcome, "detail": result.detail}, status_code=status)
