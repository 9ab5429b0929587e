"""Block Kit modals of the request thread's buttons.

Each modal carries what its submission acts on in ``private_metadata``: a
step id, or ``"<request id>:<revision number>"`` for the requester's revision,
so a submission for a superseded revision is recognised and changes nothing.
"""

from __future__ import annotations

from slack_sdk.models.blocks import (
    Block as SlackBlock,
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.blocks import MAX_TEXT_INPUT, terms_inputs
from bot.ids import Action, Block, Callback
from bot.messages import escape_mrkdwn, request_label
from bot.negotiation import ProposedTerms
from bot.review import GRADES, Acknowledgement

# slack_sdk (3.x) rejects option text longer than 75 characters, so the
# option shows the start of each item and the section above lists them in full.
MAX_OPTION_TEXT = 75
# Each listed item is cut so that all of them fit one section's 3,000 characters.
MAX_ITEM_TEXT = 280
PROPOSE_VALUE = "propose"


def _comment_input(label: str, *, optional: bool = False, initial: str | None = None) -> InputBlock:
    return InputBlock(
        block_id=Block.COMMENT,
        label=label,
        optional=optional,
        element=PlainTextInputElement(action_id=Action.COMMENT, multiline=True, max_length=MAX_TEXT_INPUT, initial_value=initial),
    )


def _modal(callback: str, metadata: str, title: str, submit: str, blocks: list[SlackBlock]) -> View:
    return View(type="modal", callback_id=callback, private_metadata=metadata, title=title, submit=submit, close="Cancel", blocks=blocks)


def approve_modal(*, step_id: int, request_id: int, acknowledgements: list[Acknowledgement]) -> View:
    """Ask the approver to tick each agent signal and policy deviation before the approval counts."""
    options = [Option(value=item.key, text=_option_text(f"{number}. {item.text}")) for number, item in enumerate(acknowledgements, start=1)]
    listed = "\n".join(f"{number}. {escape_mrkdwn(item.text[:MAX_ITEM_TEXT])}" for number, item in enumerate(acknowledgements, start=1))
    return _modal(
        Callback.APPROVE_MODAL,
        str(step_id),
        "Approve request",
        "Approve",
        [
            SectionBlock(
                text=f"Approving *{request_label(request_id)}*. The assessment raised the items below; "
                "tick each to confirm you read it. Your acknowledgement is recorded in the audit trail."
            ),
            SectionBlock(text=listed),
            InputBlock(block_id=Block.ACKNOWLEDGE, label="I have read", element=CheckboxesElement(action_id=Action.ACKNOWLEDGE, options=options)),
        ],
    )


def changes_modal(*, step_id: int, request_id: int, proposal: ProposedTerms) -> View:
    """Ask for the requested changes; the terms start at the counter-proposal and are sent only when ticked."""
    propose = Option(value=PROPOSE_VALUE, label="Send the terms below as my proposal")
    return _modal(
        Callback.CHANGES_MODAL,
        str(step_id),
        "Request changes",
        "Send",
        [
            SectionBlock(text=f"Sending *{request_label(request_id)}* back to its requester. Approvals of the current terms will not carry over."),
            _comment_input("What should change?"),
            InputBlock(
                block_id=Block.PROPOSE,
                label="Proposed terms",
                optional=True,
                element=CheckboxesElement(action_id=Action.PROPOSE, options=[propose], initial_options=[propose]),
            ),
            *terms_inputs(proposal, optional=True),
        ],
    )


def escalate_modal(*, step_id: int, request_id: int, next_tier_label: str) -> View:
    return _modal(
        Callback.ESCALATE_MODAL,
        str(step_id),
        "Escalate request",
        "Escalate",
        [
            SectionBlock(text=f"Handing *{request_label(request_id)}* to the *{next_tier_label}* tier."),
            _comment_input("Why should the next tier decide?"),
        ],
    )


def revise_modal(*, request_id: int, revision: int, terms: ProposedTerms, comment: str | None) -> View:
    """Let the requester enter new terms, prefilled with the approver's proposal or the current terms."""
    intro = f"Revising *{request_label(request_id)}* (revision {revision}). The new terms are assessed and routed again from the first step."
    blocks: list[SlackBlock] = [SectionBlock(text=intro)]
    if comment:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Requested changes: {escape_mrkdwn(comment[:MAX_TEXT_INPUT // 5])}")]))
    blocks.extend(terms_inputs(terms))
    return _modal(Callback.REVISE_MODAL, f"{request_id}:{revision}", "Revise terms", "Submit revision", blocks)


def withdraw_modal(*, request_id: int) -> View:
    return _modal(
        Callback.WITHDRAW_MODAL,
        str(request_id),
        "Withdraw request",
        "Withdraw",
        [SectionBlock(text=f"Withdrawing *{request_label(request_id)}* ends it for good."), _comment_input("Reason", optional=True)],
    )


def exception_modal(*, request_id: int, blocking: list[str]) -> View:
    lines = "\n".join(f"• {escape_mrkdwn(message)}" for message in blocking)
    return _modal(
        Callback.EXCEPTION_MODAL,
        str(request_id),
        "Grant exception",
        "Grant",
        [
            SectionBlock(text=f"*{request_label(request_id)}* is not eligible because:\n{lines}\nAn exception sends it through its approval route."),
            _comment_input("Why should the policy not apply?"),
        ],
    )


def grade_modal(*, step_id: int, request_id: int, computed: str, factors: list[dict[str, str]]) -> View:
    options = [Option(value=grade, label=grade) for grade in GRADES]
    factor_lines = "\n".join(f"• {factor['name'].replace('_', ' ')}: {factor['value']}" for factor in factors)
    return _modal(
        Callback.GRADE_MODAL,
        str(step_id),
        "Review risk grade",
        "Save",
        [
            SectionBlock(text=f"Computed grade of *{request_label(request_id)}*: *{computed}*\n{factor_lines}"),
            InputBlock(
                block_id=Block.GRADE,
                label="Grade",
                element=StaticSelectElement(action_id=Action.GRADE, options=options, initial_option=Option(value=computed, label=computed)),
            ),
            _comment_input("Reason (required to change the grade)", optional=True),
        ],
    )


def ask_modal(*, step_id: int, request_id: int) -> View:
    return _modal(
        Callback.ASK_MODAL,
        str(step_id),
        "Ask the requester",
        "Ask",
        [
            SectionBlock(text=f"*{request_label(request_id)}* waits on its requester until they answer; the approval clock stops meanwhile."),
            _comment_input("Documents or information needed"),
        ],
    )


def _option_text(text: str) -> str:
    return text if len(text) <= MAX_OPTION_TEXT else text[: MAX_OPTION_TEXT - 1] + "…"
