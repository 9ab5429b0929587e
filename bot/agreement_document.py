"""The agreement document: canonical terms built from the database, and their PDF.

The terms are built once, when the last approval is given, and stored with
the PDF rendered from them (see :class:`storage.models.AgreementDocument`).
At acceptance and at activation the terms are rebuilt from the stored rows
and must hash to the same SHA-256.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy.orm import Session

from bot.agreement_terms import PlanConditions, canonical_terms, due_wording, hash_terms, plan_conditions
from bot.errors import IntegrityMismatch
from bot.messages import day, money, request_label
from policy.facts import is_open
from policy.config import Policy
from storage.models import AgreementDocument, PlanRequest, TermRevision
from storage.repository import invoice_history


@dataclass(frozen=True)
class AgreementProfile:
    """The creditor named in every agreement and its payment instructions."""

    creditor_name: str = "Your supplier"
    payment_instructions: str = "Pay by bank transfer and quote the agreement reference {reference}."


def covered_invoices(session: Session, request: PlanRequest) -> list[dict[str, str]]:
    """Return the invoices open at the request's date: what the plan's balance covers."""
    invoices = [invoice for invoice in invoice_history(session, request.account_id) if is_open(invoice, request.as_of)]
    return [
        {"invoice_number": invoice.invoice_number, "due_date": invoice.due_date.isoformat(), "amount": str(invoice.amount)}
        for invoice in sorted(invoices, key=lambda invoice: (invoice.due_date, invoice.invoice_number))
    ]


def agreement_extras(
    *, request: PlanRequest, conditions: PlanConditions, invoices: list[dict[str, str]], profile: AgreementProfile, currency: str
) -> dict[str, Any]:
    """Return the parts of the canonical terms beyond the revision: parties, invoices, conditions, how to pay."""
    return {
        "currency": currency,
        "parties": {"creditor": profile.creditor_name, "customer_account": request.account_id, "customer_name": request.account.name},
        "invoices": invoices,
        "conditions": conditions.to_dict(),
        "payment_instructions": profile.payment_instructions.format(reference=request_label(request.id)),
    }


def extras_of(terms: dict[str, Any]) -> dict[str, Any]:
    """Return the stored extras of a canonical terms document, to rebuild it from the database."""
    return {key: terms[key] for key in ("currency", "parties", "invoices", "conditions", "payment_instructions")}


def render_pdf(terms: dict[str, Any], terms_hash: str) -> bytes:
    """Render the canonical terms as a PDF; the same terms always give the same bytes."""
    currency = terms["currency"]
    conditions = PlanConditions.from_dict(terms["conditions"])
    styles = getSampleStyleSheet()
    body, heading = styles["BodyText"], styles["Heading2"]
    buffer = io.BytesIO()
    reference = request_label(terms["request_id"])
    # invariant=1 fixes the creation date and document id, so the PDF bytes
    # depend only on the terms.
    document = SimpleDocTemplate(
        buffer, pagesize=A4, invariant=1, title=f"Payment plan agreement {reference}", author=terms["parties"]["creditor"],
        leftMargin=20 * mm, rightMargin=20 * mm, topMargin=20 * mm, bottomMargin=20 * mm,
    )

    def paragraph(text: str, style: Any = body) -> Paragraph:
        # Paragraph reads a small markup language, so escape the text itself.
        return Paragraph(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), style)

    story: list[Any] = [paragraph(f"Payment plan agreement {reference} (revision {terms['revision']})", styles["Title"])]
    parties = terms["parties"]
    customer = parties["customer_name"] or f"the holder of account {parties['customer_account']}"
    story += [
        paragraph("Parties", heading),
        paragraph(f"Creditor: {parties['creditor']}. Customer: {customer}, account {parties['customer_account']}."),
        paragraph("Balance and what it covers", heading),
        paragraph(f"The balance of this plan is {money(terms['balance'], currency)}. It covers these invoices:"),
        _table(
            [["Invoice", "Due date", "Amount"]]
            + [[row["invoice_number"], day(row["due_date"]), money(row["amount"], currency)] for row in terms["invoices"]]
        ),
        paragraph("Payments", heading),
    ]
    if Decimal(terms["down_payment"]) > 0:
        story.append(paragraph(f"A down payment of {money(terms['down_payment'], currency)} is due on the day you accept these terms."))
    story += [
        paragraph(f"The rest is paid in {terms['installment_count']} {terms['frequency']} installments:"),
        _table(
            [["Payment", "Due date", "Amount"]]
            + [
                ["Down payment" if row["sequence"] == 0 else f"Installment {row['sequence']}", due_wording(row), money(row["amount"], currency)]
                for row in terms["schedule"]
            ]
        ),
        paragraph("Interest and fees", heading),
        paragraph(_interest_text(conditions, currency)),
        paragraph("Late payments and default", heading),
        paragraph(_late_text(conditions, currency)),
        paragraph("How to pay", heading),
        paragraph(terms["payment_instructions"]),
        Spacer(1, 6 * mm),
        paragraph(f"Policy version {terms['policy_version']}. Terms fingerprint (SHA-256 of the canonical terms): {terms_hash}.", styles["Italic"]),
    ]
    document.build(story)
    return buffer.getvalue()


def pdf_sha256(pdf: bytes) -> str:
    return hashlib.sha256(pdf).hexdigest()


def build_document(
    session: Session, *, request: PlanRequest, revision: TermRevision, policy: Policy, profile: AgreementProfile, now: datetime
) -> AgreementDocument:
    """Build the canonical terms of ``revision``, their hash and PDF; the caller sets ``agreement_id`` and adds it."""
    extras = agreement_extras(
        request=request,
        conditions=plan_conditions(policy),
        invoices=covered_invoices(session, request),
        profile=profile,
        currency=policy.currency,
    )
    terms = canonical_terms(request, revision, extras)
    digest = hash_terms(terms)
    pdf = render_pdf(terms, digest)
    return AgreementDocument(terms=terms, terms_hash=digest, pdf=pdf, pdf_sha256=pdf_sha256(pdf), created_at=now)


def check_terms(request: PlanRequest, revision: TermRevision, document: AgreementDocument, expected_hash: str, *, step: str) -> None:
    """Raise IntegrityMismatch unless the stored and the rebuilt terms both hash to ``expected_hash``."""
    rebuilt = hash_terms(canonical_terms(request, revision, extras_of(document.terms)))
    stored = hash_terms(document.terms)
    if rebuilt != expected_hash or stored != expected_hash:
        raise IntegrityMismatch(
            f"The terms of {request_label(request.id)} changed after approval (approved {expected_hash[:12]}, "
            f"stored document {stored[:12]}, now {rebuilt[:12]}); the {step} was stopped and nothing changed."
        )


def _interest_text(conditions: PlanConditions, currency: str) -> str:
    parts = []
    if conditions.annual_interest_rate > 0:
        parts.append(f"Interest is charged at {conditions.annual_interest_rate}% a year.")
    else:
        parts.append("No interest is charged.")
    if conditions.setup_fee > 0:
        parts.append(f"A set-up fee of {money(conditions.setup_fee, currency)} is included in the balance.")
    else:
        parts.append("No set-up fee is charged.")
    return " ".join(parts)


def _late_text(conditions: PlanConditions, currency: str) -> str:
    fee = (
        f"a late fee of {money(conditions.late_fee, currency)} is added to it"
        if conditions.late_fee > 0
        else "no late fee is added"
    )
    return (
        f"A payment not received within {conditions.grace_days} days after its due date is late, and {fee}. "
        "No payment is late, and no late fee is added, before the plan starts on the day you accept: a payment that was due "
        f"earlier is late only if it is still unpaid {conditions.grace_days} days after that day. "
        "Payments are applied to the oldest unpaid installment first, its late fee before its amount. "
        f"When {conditions.default_after_missed} installments are late, we send a notice of default, and you have "
        f"{conditions.cure_days} days to pay them. If they are still unpaid after that, the plan ends in default, the "
        "whole unpaid balance is due, and the account returns to collections. A defaulted plan can be reinstated only "
        "with new terms that are approved again. Any amount paid beyond the plan is kept as a credit for you."
    )


def _table(rows: list[list[str]]) -> Table:
    table = Table(rows, hAlign="LEFT", repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                ("ALIGN", (-1, 0), (-1, -1), "RIGHT"),
            ]
        )
    )
    return table
