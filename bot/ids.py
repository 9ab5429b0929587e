"""Block, action and callback ids of the Slack views, in one place."""

from enum import StrEnum


class Callback(StrEnum):
    REQUEST_MODAL = "payplan_request"
    REJECT_MODAL = "payplan_reject"
    CHANGES_MODAL = "payplan_request_changes"
    ESCALATE_MODAL = "payplan_escalate"
    REVISE_MODAL = "payplan_revise"
    WITHDRAW_MODAL = "payplan_withdraw"
    APPROVE_MODAL = "payplan_approve"
    EXCEPTION_MODAL = "payplan_exception"
    GRADE_MODAL = "payplan_grade"
    ASK_MODAL = "payplan_ask_requester"


class Action(StrEnum):
    ACCOUNT = "account"
    REASON_CATEGORY = "reason_category"
    REASON_TEXT = "reason_text"
    DOWN_PAYMENT = "down_payment"
    INSTALLMENTS = "installments"
    FIRST_DUE_DATE = "first_due_date"
    REJECT_REASON = "reject_reason"
    NOTES = "notes"
    FREQUENCY = "frequency"
    APPROVE = "approve_step"
    REJECT = "reject_step"
    REQUEST_CHANGES = "request_changes_step"
    ESCALATE = "escalate_step"
    REVISE = "revise_request"
    WITHDRAW = "withdraw_request"
    GRANT_EXCEPTION = "grant_exception"
    REVIEW_GRADE = "review_grade"
    ASK_REQUESTER = "ask_requester"
    INFORMATION_SUPPLIED = "information_supplied"
    COMMENT = "comment"
    ACKNOWLEDGE = "acknowledge"
    GRADE = "grade"
    PROPOSE = "propose"


class Block(StrEnum):
    """Input block ids; modal field errors are keyed by these."""

    ACCOUNT = "account_block"
    REASON_CATEGORY = "reason_category_block"
    REASON_TEXT = "reason_text_block"
    DOWN_PAYMENT = "down_payment_block"
    INSTALLMENTS = "installments_block"
    FIRST_DUE_DATE = "first_due_date_block"
    NOTES = "notes_block"
    FREQUENCY = "frequency_block"
    REJECT_REASON = "reject_reason_block"
    DECISION = "decision_block"
    REQUESTER_ACTIONS = "requester_actions_block"
    COMMENT = "comment_block"
    ACKNOWLEDGE = "acknowledge_block"
    GRADE = "grade_block"
    PROPOSE = "propose_block"
    BALANCE = "balance_block"


# Workflow field names mapped to the block that shows their errors.
FIELD_BLOCKS = {
    "account": Block.ACCOUNT,
    "reason_category": Block.REASON_CATEGORY,
    "reason_text": Block.REASON_TEXT,
    "down_payment": Block.DOWN_PAYMENT,
    "installments": Block.INSTALLMENTS,
    "first_due_date": Block.FIRST_DUE_DATE,
    "comment": Block.REJECT_REASON,
    "notes": Block.NOTES,
    "frequency": Block.FREQUENCY,
}
