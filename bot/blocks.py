"""Block Kit builders: pure functions from stored objects to Slack views and messages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block as SlackBlock,
    ButtonElement,
    CheckboxesElement,
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
from bot.messages import actor_mention, day, escape_mrkdwn, money, request_label, status_text
from bot.negotiation import ProposedTerms
from bot.review import CREDIT_ANALYST_TIER, Acknowledgement
from storage.models import ApprovalStep, Assessment, PlanRequest, RequesterWait, TermRevision

REASON_OPTIONS = {
    "hardship": "Hardship",
    "dispute": "Dispute",
    "cash_flow": "Cash flow",
    "other": "Other",
}
FREQUENCY_OPTIONS = {"weekly": "Weekly", "biweekly": "Every two weeks", "monthly": "Monthly"}
# Slack's limit for a plain text input; the workflow checks the same limit.
MAX_TEXT_INPUT = 3000
# Statuses whose root message offers the requester Revise terms and Withdraw.
# Escaping turns one character into at most five ("&" into "&amp;"), so this
# preview stays within a section's 3,000 characters whatever the text.
NOTES_PREVIEW_CHARS = 500
REQUESTER_BUTTON_STATUSES = frozenset({"pending_approval", "changes_requested", "waiting_on_requester", "ineligible"})


def request_modal(*, first_due_default: date, balance_line: str | None = None) -> View:
    """Build the request modal; ``balance_line`` shows the chosen account's open balance."""
    reason_options = [Option(value=value, label=label) for value, label in REASON_OPTIONS.items()]
    balance_text = balance_line or "Choose an account to see its open balance."
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
                dispatch_action=True,
                element=ExternalDataSelectElement(action_id=Action.ACCOUNT, placeholder="Customer id", min_query_length=0),
            ),
            ContextBlock(block_id=Block.BALANCE, elements=[MarkdownTextObject(text=balance_text)]),
            InputBlock(
                block_id=Block.REASON_CATEGORY,
                label="Reason",
                element=StaticSelectElement(action_id=Action.REASON_CATEGORY, options=reason_options),
            ),
            InputBlock(
                block_id=Block.REASON_TEXT,
                label="What did the customer say?",
                optional=True,
                element=PlainTextInputElement(action_id=Action.REASON_TEXT, multiline=True, max_length=MAX_TEXT_INPUT),
            ),
            *terms_inputs(ProposedTerms(Decimal("0.00"), 0, "monthly", first_due_default), with_count=False),
            InputBlock(
                block_id=Block.NOTES,
                label="Notes for the approvers",
                optional=True,
                element=PlainTextInputElement(action_id=Action.NOTES, multiline=True, max_length=MAX_TEXT_INPUT),
            ),
        ],
    )


def terms_inputs(terms: ProposedTerms, *, with_count: bool = True, optional: bool = False) -> list[SlackBlock]:
    """Build the down payment, installments, frequency and first due date inputs, prefilled with ``terms``."""
    frequency_options = [Option(value=value, label=label) for value, label in FREQUENCY_OPTIONS.items()]
    count = NumberInputElement(action_id=Action.INSTALLMENTS, is_decimal_allowed=False, min_value="1", max_value="120")
    if with_count:
        count = NumberInputElement(
            action_id=Action.INSTALLMENTS, is_decimal_allowed=False, min_value="1", max_value="120", initial_value=str(terms.installment_count)
        )
    return [
        InputBlock(
            block_id=Block.DOWN_PAYMENT,
            label="Down payment",
            optional=optional,
            hint="Amount paid on acceptance, for example 250.00. Enter 0 for none.",
            element=PlainTextInputElement(action_id=Action.DOWN_PAYMENT, initial_value=f"{terms.down_payment:.2f}"),
        ),
        InputBlock(block_id=Block.INSTALLMENTS, label="Number of installments", optional=optional, element=count),
        InputBlock(
            block_id=Block.FREQUENCY,
            label="Frequency",
            optional=optional,
            element=StaticSelectElement(
                action_id=Action.FREQUENCY,
                options=frequency_options,
                initial_option=Option(value=terms.frequency, label=FREQUENCY_OPTIONS[terms.frequency]),
            ),
        ),
        InputBlock(
            block_id=Block.FIRST_DUE_DATE,
            label="First installment due",
            optional=optional,
            element=DatePickerElement(action_id=Action.FIRST_DUE_DATE, initial_date=terms.first_due_date.isoformat()),
        ),
    ]


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


def root_message(
    request: PlanRequest, revision: TermRevision, assessment: Assessment, currency: str, *, wait: RequesterWait | None = None
) -> tuple[str, list[SlackBlock]]:
    label = request_label(request.id)
    account = escape_mrkdwn(request.account_id)
    text = f"{label}: payment plan request for {account}, {status_text(request.status)}"
    fields = [
        MarkdownTextObject(text=f"*Account*\n{account}"),
        MarkdownTextObject(text=f"*Balance*\n{money(revision.balance, currency)}"),
        MarkdownTextObject(text=f"*Terms*\n{_terms_line(revision, currency)}"),
        MarkdownTextObject(text=f"*Risk grade*\n{grade_text(assessment)}"),
        MarkdownTextObject(text=f"*Requested by*\n{actor_mention(request.requested_by)} on {day(request.as_of)}"),
        MarkdownTextObject(text=f"*Status*\n{status_text(request.status)}"),
    ]
    blocks: list[SlackBlock] = [
        SectionBlock(text=f"*{label}* · payment plan request · revision {revision.number}", fields=fields),
        ContextBlock(elements=[MarkdownTextObject(text=f"Reason: {request.reason_category.replace('_', ' ')} · policy {assessment.policy_version}")]),
    ]
    if request.notes:
        blocks.append(SectionBlock(text=f"*Notes*\n{escape_mrkdwn(shorten(request.notes, NOTES_PREVIEW_CHARS))}"))
    if request.status == "waiting_on_requester" and wait is not None:
        blocks.append(
            SectionBlock(
                text=f":hourglass: *Waiting on {actor_mention(request.requested_by)}* since {day(wait.started_at.date())}, "
                f"asked by {actor_mention(wait.asked_by)}:\n{escape_mrkdwn(wait.missing)}"
            )
        )
    if request.status in REQUESTER_BUTTON_STATUSES:
        buttons = [
            ButtonElement(text="Revise terms", action_id=Action.REVISE, value=str(request.id)),
            ButtonElement(text="Withdraw", action_id=Action.WITHDRAW, value=str(request.id)),
        ]
        if request.status == "waiting_on_requester":
            buttons.insert(0, ButtonElement(text="Information supplied", action_id=Action.INFORMATION_SUPPLIED, value=str(request.id), style="primary"))
        if request.status == "ineligible":
            buttons.append(ButtonElement(text="Grant exception", action_id=Action.GRANT_EXCEPTION, value=str(request.id)))
        blocks.append(ActionsBlock(block_id=Block.REQUESTER_ACTIONS, elements=buttons))
    return text, blocks


def grade_text(assessment: Assessment) -> str:
    """Show the computed grade, and the analyst's override beside it when there is one."""
    if assessment.grade_override:
        reason = escape_mrkdwn(assessment.grade_override_reason or "")
        return f"{assessment.grade_override} (computed {assessment.risk_grade}, set by {actor_mention(assessment.grade_reviewed_by)}: {reason})"
    if assessment.grade_reviewed_by:
        return f"{assessment.risk_grade} (confirmed by {actor_mention(assessment.grade_reviewed_by)})"
    return assessment.risk_grade


def summary_message(assessment: Assessment, currency: str | None = None) -> tuple[str, list[SlackBlock]]:
    """Build the thread's summary message.

    With ``currency``, a line of key amounts is formatted from the stored
    Decimal facts, so the amounts approvers rely on never come from model text.
    """
    summary = assessment.summary
    content = summary.get("summary", {})
    headline = escape_mrkdwn(content.get("headline", "Account summary"))
    narrative = escape_mrkdwn(content.get("narrative", ""))
    if summary.get("source") == "offline":
        source = "Offline summary written from computed facts (no language model)."
        if summary.get("fallback_reason"):
            source += f" Reason: {escape_mrkdwn(summary['fallback_reason'])}."
    else:
        source = f"Written by {summary.get('model')} from computed facts; it cannot approve or change the policy result."
    blocks: list[SlackBlock] = [SectionBlock(text=f"*{headline}*\n{narrative}")]
    signals = content.get("signals") or []
    if signals:
        lines = "\n".join(f"• {signal['kind'].replace('_', ' ')}: “{escape_mrkdwn(signal['quote'])}”" for signal in signals)
        blocks.append(SectionBlock(text=f"*Signals in the reason text*\n{lines}"))
    if currency is not None and assessment.facts:
        facts = assessment.facts
        figures = (
            f"Open balance {money(facts['open_balance'], currency)} · past due {money(facts['past_due_balance'], currency)} · "
            f"disputed {money(facts['disputed_open_balance'], currency)} · as of {day(facts['as_of'])}"
        )
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=figures)]))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=source)]))
    return f"Summary: {headline}", blocks


def assessment_message(assessment: Assessment, tier_labels: dict[str, str]) -> tuple[str, list[SlackBlock]]:
    if assessment.eligible:
        route = " → ".join(tier_labels.get(tier, tier) for tier in assessment.route)
        verdict = f"*Eligible.* Route: {route}."
    else:
        verdict = "*Not eligible* under the policy. No approval was requested."
    flag_lines = [
        f"• {SEVERITY_ICONS.get(_severity(flag), ':warning:')} {flag['message']} (limit {flag['limit']}, actual {flag['actual']})"
        for flag in assessment.flags
    ]
    factor_lines = [_factor_line(factor) for factor in assessment.risk_factors]
    blocks: list[SlackBlock] = [SectionBlock(text=f"{verdict} Risk grade *{assessment.risk_grade}*.")]
    if flag_lines:
        blocks.append(SectionBlock(text="*Flags*\n" + "\n".join(flag_lines)))
    blocks.append(SectionBlock(text="*Risk factors*\n" + "\n".join(factor_lines)))
    blocks.extend(policy_detail_blocks(assessment.details or {}))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Policy version {assessment.policy_version}")]))
    return f"Assessment: {'eligible' if assessment.eligible else 'not eligible'}, grade {assessment.risk_grade}", blocks


SEVERITY_ICONS = {"blocker": ":no_entry:", "deviation": ":warning:", "info": ":information_source:"}


def _severity(flag: dict[str, Any]) -> str:
    # Assessments stored before flags had a severity only carry "blocking".
    return str(flag.get("severity") or ("blocker" if flag.get("blocking") else "deviation"))


def _factor_line(factor: dict[str, Any]) -> str:
    line = f"• {factor['name'].replace('_', ' ')}: {factor['value']}"
    steps = factor.get("contribution") or 0
    return f"{line} (grade −{steps})" if steps else line


def policy_detail_blocks(details: dict[str, Any]) -> list[SlackBlock]:
    """Return short sections for the required documents, the counter-proposal and the alternatives."""
    currency = str(details.get("currency") or "")
    blocks: list[SlackBlock] = []
    documents = details.get("required_documents") or []
    if documents:
        lines = "\n".join(f"• {escape_mrkdwn(document['reason'])}" for document in documents)
        blocks.append(SectionBlock(text=f"*Required documents*\n{lines}"))
    counter = details.get("counter_proposal")
    if counter:
        blocks.append(SectionBlock(text=f"*Counter-proposal inside policy*\n{_proposal_line(counter, currency)}"))
    alternatives = details.get("alternatives") or []
    if alternatives:
        lines = "\n".join(
            f"• {alternative['label']}: {_proposal_line(alternative['terms'], currency)}; "
            f"{money(alternative['periodic_amount'], currency)} each, total cost {money(alternative['total_cost'], currency)}"
            for alternative in alternatives
        )
        blocks.append(SectionBlock(text=f"*Alternatives inside policy*\n{lines}"))
    return blocks


def _proposal_line(terms: dict[str, Any], currency: str) -> str:
    down = f"{money(terms['down_payment'], currency)} down, " if Decimal(terms["down_payment"]) > 0 else ""
    apr = f" at {terms['apr']}% APR" if Decimal(terms["apr"]) > 0 else ""
    return f"{down}{terms['installments']} {terms['frequency']} from {day(terms['first_due'])}{apr}"


def schedule_message(assessment: Assessment, currency: str) -> tuple[str, list[SlackBlock]]:
    lines = []
    for payment in assessment.schedule:
        name = "Down payment" if payment["sequence"] == 0 else f"Installment {payment['sequence']}"
        due = "when the customer accepts" if payment["sequence"] == 0 else day(payment["due_date"])
        line = f"{name}: {money(payment['amount'], currency)} due {due}"
        if Decimal(payment.get("interest") or "0") > 0:
            line += f" (interest {money(payment['interest'], currency)}, principal {money(payment['principal'], currency)})"
        if Decimal(payment.get("fee") or "0") > 0:
            line += f" (fee {money(payment['fee'], currency)})"
        lines.append(line)
    # Slack limits a section's text to 3,000 characters; 24 lines fit easily.
    return "Proposed schedule", [SectionBlock(text="*Proposed schedule*\n" + "\n".join(lines))]


def approval_message(
    step: ApprovalStep, request: PlanRequest, *, tier_label: str, approvers: list[str]
) -> tuple[str, list[SlackBlock]]:
    mentions = " ".join(f"<!subteam^{entry}>" if entry.startswith("S") else actor_mention(entry) for entry in approvers) or "_no approver is configured for this tier_"
    header = f"*Approval {step.sequence}: {tier_label}* for {request_label(request.id)}"
    if step.status == "pending":
        blocks: list[SlackBlock] = [SectionBlock(text=f"{header}\n{mentions}, please decide."), decision_buttons(step)]
        return f"Approval needed from {tier_label} for {request_label(request.id)}", blocks

    outcome = {
        "approved": ":white_check_mark: Approved",
        "rejected": ":x: Rejected",
        "changes_requested": ":leftwards_arrow_with_hook: Changes requested",
        "escalated": ":arrow_double_up: Escalated",
        "superseded": "Superseded",
    }
    line = outcome.get(step.status, step.status)
    if step.decided_by:
        line += f" by {actor_mention(step.decided_by)}"
    if step.comment:
        line += f": {escape_mrkdwn(step.comment)}"
    return f"{tier_label}: {step.status.replace('_', ' ')}", [SectionBlock(text=f"{header}\n{line}")]


def decision_buttons(step: ApprovalStep) -> ActionsBlock:
    """Build the buttons of a pending step; the credit analyst also reviews the grade and may ask for documents."""
    value = str(step.id)
    analyst = step.tier == CREDIT_ANALYST_TIER
    elements = [
        ButtonElement(text="Send on" if analyst else "Approve", action_id=Action.APPROVE, value=value, style="primary"),
        ButtonElement(text="Request changes", action_id=Action.REQUEST_CHANGES, value=value),
        ButtonElement(text="Reject", action_id=Action.REJECT, value=value, style="danger"),
        ButtonElement(text="Escalate", action_id=Action.ESCALATE, value=value),
    ]
    if analyst:
        elements[1:1] = [
            ButtonElement(text="Review grade", action_id=Action.REVIEW_GRADE, value=value),
            ButtonElement(text="Ask requester", action_id=Action.ASK_REQUESTER, value=value),
        ]
    return ActionsBlock(block_id=Block.DECISION, elements=elements)


def agreement_message(url: str) -> tuple[str, list[SlackBlock]]:
    text = f"Approved. Send the customer this agreement link: {url}"
    return text, [SectionBlock(text=f":email: *Approved.* Send the customer this agreement link:\n<{url}|Agreement page>\n`{url}`")]


def activation_message(request: PlanRequest, installment_count: int, first_due: str | None) -> tuple[str, list[SlackBlock]]:
    when = f" The first payment is due {day(first_due)}." if first_due else ""
    text = f"The customer accepted the agreement. {request_label(request.id)} is active with {installment_count} scheduled payments.{when}"
    return text, [SectionBlock(text=f":white_check_mark: {text}")]


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_dicts(blocks: list[SlackBlock]) -> list[dict[str, Any]]:
    return [block.to_dict() for block in blocks]


def _terms_line(revision: TermRevision, currency: str) -> str:
    down = f"{money(revision.down_payment, currency)} down, " if revision.down_payment > 0 else ""
    frequency = FREQUENCY_OPTIONS.get(revision.frequency, revision.frequency).lower()
    return f"{down}{revision.installment_count} installments, {frequency}, from {day(revision.first_due_date)}"


def tier_labels(policy_tiers: list[Any]) -> dict[str, str]:
    return {tier.name: tier.label for tier in policy_tiers}
