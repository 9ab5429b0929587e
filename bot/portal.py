"""The customer agreement page: ``GET`` shows the terms, ``POST`` accepts them."""

from __future__ import annotations

import logging
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from bot.errors import AgreementLinkError, IntegrityMismatch
from bot.messages import day, money, request_label
from bot.workflow import AgreementTerms, Workflow

logger = logging.getLogger(__name__)

_templates = Environment(loader=PackageLoader("bot", "templates"), autoescape=select_autoescape(["html"]))


def agreement_endpoints(workflow: Workflow) -> tuple[Any, Any]:
    """Return the GET and POST handlers for ``/agreements/{token}``."""

    def show_agreement(request: Request) -> HTMLResponse:
        token = request.path_params["token"]
        try:
            terms = workflow.load_agreement(token)
        except AgreementLinkError as error:
            return _page("Agreement link problem", message=error.user_message, status_code=410)
        accepted = terms.status == "accepted"
        return _page(
            "Your payment plan",
            message="You accepted this agreement. Thank you." if accepted else None,
            terms=_terms_view(terms, workflow.policy.currency),
            can_accept=not accepted,
            form_token=workflow.link_signer.form_token(token),
        )

    async def accept_agreement(request: Request) -> HTMLResponse:
        token = request.path_params["token"]
        form = await request.form()
        if not workflow.link_signer.check_form_token(token, str(form.get("form_token", ""))):
            return _page("Agreement not accepted", message="The form was not valid. Open the link again and retry.", status_code=403)
        client_ip = request.client.host if request.client else None
        try:
            request_id = await run_in_threadpool(
                workflow.accept_agreement, token=token, ip=client_ip, user_agent=request.headers.get("user-agent")
            )
        except AgreementLinkError as error:
            return _page("Agreement link problem", message=error.user_message, status_code=410)
        except IntegrityMismatch as error:
            logger.error("agreement acceptance stopped: %s", error.user_message)
            return _page("Agreement not accepted", message="These terms changed after approval. Your account manager will send new ones.", status_code=409)
        return _page(
            "Agreement accepted",
            message=f"Thank you. Your payment plan {request_label(request_id)} is now active.",
        )

    return show_agreement, accept_agreement


def _terms_view(terms: AgreementTerms, currency: str) -> dict[str, Any]:
    schedule = [
        {
            "name": "Down payment" if row["sequence"] == 0 else f"Installment {row['sequence']}",
            "due": day(row["due_date"]),
            "amount": money(row["amount"], currency),
        }
        for row in terms.schedule
    ]
    return {
        "account_id": terms.account_id,
        "reference": request_label(terms.request_id),
        "balance": money(terms.balance, currency),
        "down_payment": money(terms.down_payment, currency) if terms.down_payment > 0 else None,
        "installment_count": terms.installment_count,
        "schedule": schedule,
        "hash": terms.terms_hash,
        "policy_version": terms.policy_version,
    }


def _page(title: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template("agreement.html").render(title=title, **context)
    return HTMLResponse(html, status_code=status_code)


