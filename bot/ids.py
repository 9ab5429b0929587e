"""Block, action and callback ids of the Slack views, in one place."""

from enum import StrEnum


class Callback(StrEnum):
    REQUEST_MODAL = "payplan_request"
    REJECT_MODAL = "payplan_reject"


class Action(StrEnum):
    ACCOUNT = "account"
    REASON_CATEGORY = "reason_category"
    REASON_TEXT = "reason_text"
    DOWN_PAYMENT = "down_payment"
    INSTALLMENTS = "installments"
    FIRST_DUE_DATE = "first_due_date"
    REJECT_REASON = "reject_reason"
    APPROVE = "approve_step"
    REJECT = "reject_step"


class Block(StrEnum):
    """Input block ids; modal field errors are keyed by these."""

    ACCOUNT = "account_block"
    REASON_CATEGORY = "reason_category_block"
    REASON_TEXT = "reason_text_block"
    DOWN_PAYMENT = "down_payment_block"
    INSTALLMENTS = "installments_block"
    FIRST_DUE_DATE = "first_due_date_block"
    REJECT_REASON = "reject_reason_block"
    DECISION = "decision_block"


# Workflow field names mapped to the block that shows their errors.
FIELD_BLOCKS = {
    "account": Block.ACCOUNT,
    "reason_category": Block.REASON_CATEGORY,
    "reason_text": Block.REASON_TEXT,
    "down_payment": Block.DOWN_PAYMENT,
    "installments": Block.INSTALLMENTS,
    "first_due_date": Block.FIRST_DUE_DATE,
    "comment": Block.REJECT_REASON,
}
