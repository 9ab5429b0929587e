"""Block Kit builders: pure functions from stored objects to Slack views and messages."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block as SlackBlock,
    ButtonElement,
    ContextBlock,
    DatePickerElement,
    ExternalDataSelectElement,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.ids import Action, Block, Callback
from bot.messages import day, escape_mrkdwn, money, request_label, status_text
from storage.models import ApprovalStep, Assessment, PlanRequest, TermRevision

REASON_OPTIONS = {
    "hardship": "Hardship",
    "dispute": "Dispute",
    "cash_flow": "Cash flow",
    "other": "Other",
}


def request_modal(*, first_due_default: date) -> View:
    reason_options = [Option(value=value, label=label) for value, label in REASON_OPTIONS.items()]
    return View(
        type="modal",
        callback_id=Callback.REQUEST_MODAL,
        title="Payment plan request",
        submit="Submit",
        close="Cancel",
        blocks=[
            InputBlock(
                block_id=Block.ACCOUNT,
                label="Account",
                element=ExternalDataSelectElement(action_id=Action.ACCOUNT, placeholder="Customer id", min_query_length=0),
            ),
            InputBlock(
                block_id=Block.REASON_CATEGORY,
                label="Reason",
                element=StaticSelectElement(action_id=Action.REASON_CATEGORY, options=reason_options),
            ),
            InputBlock(
                block_id=Block.REASON_TEXT,
                label="What did the customer say?",
                optional=True,
                element=PlainTextInputElement(action_id=Action.REASON_TEXT, multiline=True, max_length=3000),
            ),
            InputBlock(
                block_id=Block.DOWN_PAYMENT,
                label="Down payment",
                hint="Amount paid on acceptance, for example 250.00. Enter 0 for none.",
                element=PlainTextInputElement(action_id=Action.DOWN_PAYMENT, initial_value="0.00"),
            ),
            InputBlock(
                block_id=Block.INSTALLMENTS,
                label="Number of monthly installments",
                element=NumberInputElement(action_id=Action.INSTALLMENTS, is_decimal_allowed=False, min_value="1", max_value="120"),
            ),
            InputBlock(
                block_id=Block.FIRST_DUE_DATE,
                label="First installment due",
                element=DatePickerElement(action_id=Action.FIRST_DUE_DATE, initial_date=first_due_default.isoformat()),
            ),
        ],
    )


def reject_modal(*, step_id: int, request_id: int) -> View:
    return View(
        type="modal",
        callback_id=Callback.REJECT_MODAL,
        private_metadata=str(step_id),
        title="Reject request",
        submit="Reject",
        close="Cancel",
        blocks=[
            SectionBlock(text=f"Rejecting *{request_label(request_id)}*. The requester sees this reason."),
            InputBlock(
                block_id=Block.REJECT_REASON,
                label="Reason",
                element=PlainTextInputElement(action_id=Action.REJECT_REASON, multiline=True, max_length=2000),
            ),
        ],
    )


def root_message(request: PlanRequest, revision: TermRevision, assessment: Assessment, currency: str) -> tuple[str, list[SlackBlock]]:
    label = request_label(request.id)
    account = escape_mrkdwn(request.account_id)
    text = f"{label}: payment plan request for {account}, {status_text(request.status)}"
    fields = [
        MarkdownTextObject(text=f"*Account*\n{account}"),
        MarkdownTextObject(text=f"*Balance*\n{money(revision.balance, currency)}"),
        MarkdownTextObject(text=f"*Terms*\n{_terms_line(revision, currency)}"),
        MarkdownTextObject(text=f"*Risk grade*\n{assessment.risk_grade}"),
        MarkdownTextObject(text=f"*Requested by*\n<@{request.requested_by}> on {day(request.as_of)}"),
        MarkdownTextObject(text=f"*Status*\n{status_text(request.status)}"),
    ]
    blocks: list[SlackBlock] = [
        SectionBlock(text=f"*{label}* · payment plan request · revision {revision.number}", fields=fields),
        ContextBlock(elements=[MarkdownTextObject(text=f"Reason: {request.reason_category.replace('_', ' ')} · policy {assessment.policy_version}")]),
    ]
    return text, blocks


def summary_message(assessment: Assessment) -> tuple[str, list[SlackBlock]]:
    summary = assessment.summary
    content = summary.get("summary", {})
    headline = escape_mrkdwn(content.get("headline", "Account summary"))
    narrative = escape_mrkdwn(content.get("narrative", ""))
    if summary.get("source") == "offline":
        source = "Offline summary written from computed facts (no language model)."
    else:
        source = f"Written by {summary.get('model')} from computed facts; it cannot approve or change the policy result."
    blocks: list[SlackBlock] = [SectionBlock(text=f"*{headline}*\n{narrative}")]
    signals = content.get("signals") or []
    if signals:
        lines = "\n".join(f"• {signal['kind'].replace('_', ' ')}: “{escape_mrkdwn(signal['quote'])}”" for signal in signals)
        blocks.append(SectionBlock(text=f"*Signals in the reason text*\n{lines}"))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=source)]))
    return f"Summary: {headline}", blocks


def assessment_message(assessment: Assessment, tier_labels: dict[str, str]) -> tuple[str, list[SlackBlock]]:
    if assessment.eligible:
        route = " → ".join(tier_labels.get(tier, tier) for tier in assessment.route)
        verdict = f"*Eligible.* Route: {route}."
    else:
        verdict = "*Not eligible* under the policy. No approval was requested."
    flag_lines = [
        f"• {':no_entry:' if flag['blocking'] else ':warning:'} {flag['message']} (limit {flag['limit']}, actual {flag['actual']})"
        for flag in assessment.flags
    ]
    factor_lines = [f"• {factor['name'].replace('_', ' ')}: {factor['value']}" for factor in assessment.risk_factors]
    blocks: list[SlackBlock] = [SectionBlock(text=f"{verdict} Risk grade *{assessment.risk_grade}*.")]
    if flag_lines:
        blocks.append(SectionBlock(text="*Flags*\n" + "\n".join(flag_lines)))
    blocks.append(SectionBlock(text="*Risk factors*\n" + "\n".join(factor_lines)))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Policy version {assessment.policy_version}")]))
    return f"Assessment: {'eligible' if assessment.eligible else 'not eligible'}, grade {assessment.risk_grade}", blocks


def schedule_message(assessment: Assessment, currency: str) -> tuple[str, list[SlackBlock]]:
    lines = []
    for payment in assessment.schedule:
        name = "Down payment" if payment["sequence"] == 0 else f"Installment {payment['sequence']}"
        lines.append(f"{name}: {money(payment['amount'], currency)} due {day(payment['due_date'])}")
    # Slack limits a section's text to 3,000 characters; 24 lines fit easily.
    return "Proposed schedule", [SectionBlock(text="*Proposed schedule*\n" + "\n".join(lines))]


def approval_message(
    step: ApprovalStep, request: PlanRequest, *, tier_label: str, approvers: list[str]
) -> tuple[str, list[SlackBlock]]:
    mentions = " ".join(f"<@{user}>" for user in approvers) or "_no approver is configured for this tier_"
    header = f"*Approval {step.sequence}: {tier_label}* for {request_label(request.id)}"
    if step.status == "pending":
        blocks: list[SlackBlock] = [
            SectionBlock(text=f"{header}\n{mentions}, please decide."),
            ActionsBlock(
                block_id=Block.DECISION,
                elements=[
                    ButtonElement(text="Approve", action_id=Action.APPROVE, value=str(step.id), style="primary"),
                    ButtonElement(text="Reject", action_id=Action.REJECT, value=str(step.id), style="danger"),
                ],
            ),
        ]
        return f"Approval needed from {tier_label} for {request_label(request.id)}", blocks

    outcome = {"approved": ":white_check_mark: Approved", "rejected": ":x: Rejected", "superseded": "Superseded", "escalated": ":arrow_double_up: Escalated"}
    line = outcome.get(step.status, step.status)
    if step.decided_by:
        # A scheduler job decides as "system:<job>", which is no Slack user to mention.
        line += f" by {step.decided_by}" if step.decided_by.startswith("system:") else f" by <@{step.decided_by}>"
    if step.comment:
        line += f": {escape_mrkdwn(step.comment)}"
    return f"{tier_label}: {step.status}", [SectionBlock(text=f"{header}\n{line}")]


def agreement_message(url: str) -> tuple[str, list[SlackBlock]]:
    text = f"Approved. Send the customer this agreement link: {url}"
    return text, [SectionBlock(text=f":email: *Approved.* Send the customer this agreement link:\n<{url}|Agreement page>\n`{url}`")]


def activation_message(request: PlanRequest, installment_count: int, first_due: str | None) -> tuple[str, list[SlackBlock]]:
    when = f" The first payment is due {day(first_due)}." if first_due else ""
    text = f"The customer accepted the agreement. {request_label(request.id)} is active with {installment_count} scheduled payments.{when}"
    return text, [SectionBlock(text=f":white_check_mark: {text}")]


def as_dicts(blocks: list[SlackBlock]) -> list[dict[str, Any]]:
    return [block.to_dict() for block in blocks]


def _terms_line(revision: TermRevision, currency: str) -> str:
    down = f"{money(revision.down_payment, currency)} down, " if revision.down_payment > 0 else ""
    return f"{down}{revision.installment_count} monthly from {day(revision.first_due_date)}"


def tier_labels(policy_tiers: list[Any]) -> dict[str, str]:
    return {tier.name: tier.label for tier in policy_tiers}
