"""The customer agreement page: ``GET`` shows the terms, ``POST`` records the customer's decision.

Every response carries headers that keep the page out of caches and frames
and send no referrer, because the URL itself is the customer's credential.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bot.agreement_terms import due_wording
from bot.customer_response import decided_message, refuse_agreement
from bot.errors import AgreementLinkError, AlreadyDecided, IntegrityMismatch, InvalidInput
from bot.messages import day, money, request_label
from bot.workflow import AgreementTerms, Workflow
from storage.models import AgreementDocument

logger = logging.getLogger(__name__)

_templates = Environment(loader=PackageLoader("bot", "templates"), autoescape=select_autoescape(["html"]))

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

ACTIONS = ("accept", "decline", "changes")


def agreement_endpoints(workflow: Workflow) -> tuple[Any, Any, Any]:
    """Return the handlers for ``GET /agreements/{token}``, ``POST`` on it, and ``GET /agreements/{token}/pdf``."""

    def show_agreement(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            terms = workflow.load_agreement(token)
        except AgreementLinkError as error:
            return _page("Agreement link problem", message=error.user_message, status_code=410)
        return _terms_page(workflow, token, terms)

    def download_pdf(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            terms = workflow.load_agreement(token)
        except AgreementLinkError as error:
            return _page("Agreement link problem", message=error.user_message, status_code=410)
        pdf = agreement_pdf(workflow, terms.agreement_id)
        filename = f"payment-plan-{request_label(terms.request_id)}-r{terms.revision}.pdf"
        headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
        return Response(pdf, media_type="application/pdf", headers=headers)

    async def answer_agreement(request: Request) -> Response:
        token = request.path_params["token"]
        form = await request.form()
        try:
            # A bad or expired link returns 410 whatever was posted, as GET does.
            await run_in_threadpool(workflow.load_agreement, token)
        except AgreementLinkError as error:
            return _page("Agreement link problem", message=error.user_message, status_code=410)
        if not workflow.link_signer.check_form_token(token, str(form.get("form_token", ""))):
            logger.warning("agreement form rejected: invalid form token from %s", request.client.host if request.client else "unknown")
            return _page("Nothing was changed", message="The form was not valid. Open the link again and retry.", status_code=403)
        action = str(form.get("action", ""))
        if action not in ACTIONS:
            return _page("Nothing was changed", message="Choose accept, decline or ask for changes.", status_code=400)
        client_ip = request.client.host if request.client else None
        user_agent = request.headers.get("user-agent")
        try:
            if action == "accept":
                request_id = await run_in_threadpool(
                    workflow.accept_agreement,
                    token=token, ip=client_ip, user_agent=user_agent,
                    typed_name=str(form.get("typed_name", "")), consent=form.get("consent") == "yes",
                )
                return _page("Agreement accepted", message=f"Thank you. Your payment plan {request_label(request_id)} is now active.")
            decision = "declined" if action == "decline" else "changes_requested"
            message = str(form.get("reason" if action == "decline" else "message", ""))
            await run_in_threadpool(refuse_agreement, workflow, token=token, decision=decision, message=message, ip=client_ip, user_agent=user_agent)
            return _page("Answer sent", message=decided_message(decision))
        except AgreementLinkError as error:
            return _page("Agreement link problem", message=error.user_message, status_code=410)
        except AlreadyDecided as error:
            return _page("Already answered", message=error.user_message, status_code=409)
        except InvalidInput as error:
            terms = workflow.load_agreement(token)
            return _terms_page(workflow, token, terms, errors=error.field_errors, values=dict(form), status_code=400, opened=action)
        except IntegrityMismatch as error:
            logger.error("agreement response stopped: %s", error.user_message)
            return _page("Nothing was changed", message="These terms changed after approval. Your account manager will send new ones.", status_code=409)

    return show_agreement, answer_agreement, download_pdf


def agreement_pdf(workflow: Workflow, agreement_id: int) -> bytes:
    with workflow.session_factory() as session:
        pdf = session.scalar(select(AgreementDocument.pdf).where(AgreementDocument.agreement_id == agreement_id))
    assert pdf is not None, f"agreement {agreement_id} has no document"
    return pdf


def _terms_page(
    workflow: Workflow,
    token: str,
    terms: AgreementTerms,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
    opened: str | None = None,
) -> Response:
    decided = terms.status != "sent"
    return _page(
        "Your payment plan",
        message=_status_message(terms) if decided else None,
        terms=_terms_view(terms, workflow.policy.currency),
        can_answer=not decided,
        form_token=workflow.link_signer.form_token(token),
        errors=errors or {},
        values=values or {},
        opened=opened,
        pdf_url=f"/agreements/{token}/pdf",
        status_code=status_code,
    )


def _status_message(terms: AgreementTerms) -> str:
    message = decided_message(terms.status)
    if terms.newer_terms_proposed:
        message += (
            " New terms have been proposed; this agreement stays in force until you accept them,"
            " and your account manager will send you their link."
        )
    return message


def _terms_view(terms: AgreementTerms, currency: str) -> dict[str, Any]:
    schedule = [
        {
            "name": "Down payment" if row["sequence"] == 0 else f"Installment {row['sequence']}",
            "due": due_wording(row),
            "amount": money(row["amount"], currency),
        }
        for row in terms.schedule
    ]
    document = terms.document
    conditions = document.get("conditions", {})
    return {
        "account_id": terms.account_id,
        "reference": request_label(terms.request_id),
        "creditor": document.get("parties", {}).get("creditor"),
        "balance": money(terms.balance, currency),
        "down_payment": money(terms.down_payment, currency) if terms.down_payment > 0 else None,
        "installment_count": terms.installment_count,
        "schedule": schedule,
        "invoices": [
            {"number": row["invoice_number"], "due": day(row["due_date"]), "amount": money(row["amount"], currency)}
            for row in document.get("invoices", [])
        ],
        "interest_rate": conditions.get("annual_interest_rate"),
        "has_interest": _positive(conditions, "annual_interest_rate"),
        "setup_fee": money(conditions["setup_fee"], currency) if _positive(conditions, "setup_fee") else None,
        "grace_days": conditions.get("grace_days"),
        "late_fee": money(conditions["late_fee"], currency) if _positive(conditions, "late_fee") else None,
        "default_after_missed": conditions.get("default_after_missed"),
        "cure_days": conditions.get("cure_days"),
        "payment_instructions": document.get("payment_instructions"),
        "hash": terms.terms_hash,
        "policy_version": terms.policy_version,
    }


def _positive(conditions: dict[str, Any], name: str) -> bool:
    return name in conditions and Decimal(conditions[name]) > 0


def _page(title: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template("agreement.html").render(title=title, **context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
