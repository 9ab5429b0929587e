"""Bolt listeners of the request thread: negotiation buttons, their modals, thread replies and App Home.

Like the listeners in ``bot.slack_app``, each acknowledges first and calls the
workflow, which checks permissions and applies the change. A click that the
workflow refuses gets an ephemeral explanation and changes nothing.
"""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from sqlalchemy import select

from bot import blocks, modals
from bot.errors import InvalidInput, NotFound, PayplanError, PermissionDenied
from bot.ids import Action, Block, Callback
from bot.messages import actor_mention, money, request_label
from bot.negotiation import FREQUENCIES, ProposedTerms, counter_proposal, current_terms, latest_change_request
from bot.review import required_acknowledgements
from bot.workflow import Workflow
from storage.models import ApprovalStep, PlanRequest
from storage.repository import invoice_history
from policy.facts import compute_facts

logger = logging.getLogger(__name__)

# Words with which approvers reply in a thread instead of clicking. Nothing is
# decided from them: the approver gets the buttons back.
APPROVAL_WORDS = re.compile(
    r"\b(approved?|approving|lgtm|looks good|sounds good|good to go|go ahead|signed off|sign off|ok to proceed|reject(ed)?)\b|:\+1:|:white_check_mark:",
    re.IGNORECASE,
)
# Fields of the terms inputs, mapped to the blocks that show their errors.
TERMS_FIELD_BLOCKS = {
    "down_payment": Block.DOWN_PAYMENT,
    "installments": Block.INSTALLMENTS,
    "frequency": Block.FREQUENCY,
    "first_due_date": Block.FIRST_DUE_DATE,
    "account": Block.DOWN_PAYMENT,
    "comment": Block.COMMENT,
}


def register_flow_listeners(app: App, workflow: Workflow) -> None:
    """Register the negotiation, review, thread and App Home listeners on ``app``."""
    from bot.slack_app import run_reporting_errors, tell_user, view_value

    def step_of(body: dict[str, Any]) -> int:
        return int(body["actions"][0]["value"])

    def open_after_check(body: dict[str, Any], client: WebClient, build: Any) -> None:
        """Open the modal that ``build`` returns, or tell the user why they may not act."""
        try:
            view = build()
        except PayplanError as error:
            logger.info("%s by %s not allowed: %s", body["actions"][0]["action_id"], body["user"]["id"], error.code)
            tell_user(client, body, error.user_message)
            return
        client.views_open(trigger_id=body["trigger_id"], view=view)

    # The account chosen in the request modal fills in its open balance.

    @app.action(Action.ACCOUNT)
    def handle_account_chosen(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        view = body["view"]
        account_id = body["actions"][0]["selected_option"]["value"]
        as_of = workflow.today()
        with workflow.session_factory() as session:
            facts = compute_facts(account_id, invoice_history(session, account_id), as_of)
        line = f"Open balance of *{account_id}* on {as_of.isoformat()}: *{money(facts.open_balance, workflow.policy.currency)}*"
        first_due = as_of + timedelta(days=30)
        client.views_update(view_id=view["id"], hash=view["hash"], view=blocks.request_modal(first_due_default=first_due, balance_line=line))

    # Approve, with the four-eyes acknowledgement when the assessment needs one.

    @app.action(Action.APPROVE)
    def handle_approve_click(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id, step_id = body["user"]["id"], step_of(body)
        try:
            request_id = workflow.authorize_decision(actor=user_id, step_id=step_id)
            with workflow.session_factory() as session:
                step = session.get(ApprovalStep, step_id)
                assert step is not None
                items = required_acknowledgements(step.revision.assessment)
            if items:
                client.views_open(trigger_id=body["trigger_id"], view=modals.approve_modal(step_id=step_id, request_id=request_id, acknowledgements=items))
                return
            workflow.decide(actor=user_id, step_id=step_id, decision="approve")
        except PayplanError as error:
            tell_user(client, body, error.user_message)

    @app.view(Callback.APPROVE_MODAL)
    def handle_approve_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user_id, step_id = body["user"]["id"], int(view["private_metadata"])
        element = view["state"]["values"].get(Block.ACKNOWLEDGE, {}).get(Action.ACKNOWLEDGE, {})
        ticked = {option["value"] for option in element.get("selected_options") or []}
        with workflow.session_factory() as session:
            step = session.get(ApprovalStep, step_id)
            items = required_acknowledgements(step.revision.assessment) if step else []
        if any(item.key not in ticked for item in items):
            ack(response_action="errors", errors={Block.ACKNOWLEDGE: "Tick every item to confirm you read it before approving."})
            return
        ack()
        run_reporting_errors(client, user_id, lambda: workflow.decide(actor=user_id, step_id=step_id, decision="approve", acknowledged=ticked))

    # Request changes, escalate.

    @app.action(Action.REQUEST_CHANGES)
    def handle_changes_click(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id, step_id = body["user"]["id"], step_of(body)

        def build() -> Any:
            request_id = workflow.authorize_decision(actor=user_id, step_id=step_id)
            with workflow.session_factory() as session:
                step = session.get(ApprovalStep, step_id)
                assert step is not None
                proposal = counter_proposal(workflow.policy, step.revision, as_of=workflow.today())
            return modals.changes_modal(step_id=step_id, request_id=request_id, proposal=proposal)

        open_after_check(body, client, build)

    @app.view(Callback.CHANGES_MODAL)
    def handle_changes_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user_id, step_id = body["user"]["id"], int(view["private_metadata"])
        comment = (view_value(view, Block.COMMENT, Action.COMMENT) or "").strip()
        errors: dict[str, str] = {}
        if not comment:
            errors[Block.COMMENT] = "Say what the requester should change."
        proposal = None
        propose = view["state"]["values"].get(Block.PROPOSE, {}).get(Action.PROPOSE, {})
        if propose.get("selected_options"):
            try:
                proposal = parse_terms_view(view)
            except InvalidInput as error:
                errors.update({TERMS_FIELD_BLOCKS.get(field, Block.COMMENT): message for field, message in error.field_errors.items()})
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        run_reporting_errors(client, user_id, lambda: workflow.request_changes(actor=user_id, step_id=step_id, comment=comment, proposal=proposal))

    @app.action(Action.ESCALATE)
    def handle_escalate_click(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id, step_id = body["user"]["id"], step_of(body)

        def build() -> Any:
            request_id = workflow.authorize_decision(actor=user_id, step_id=step_id)
            with workflow.session_factory() as session:
                step = session.get(ApprovalStep, step_id)
                assert step is not None
                tier = workflow.next_tier_of(step)
            return modals.escalate_modal(step_id=step_id, request_id=request_id, next_tier_label=workflow.policy.tier(tier).label)

        open_after_check(body, client, build)

    @app.view(Callback.ESCALATE_MODAL)
    def handle_escalate_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user_id, step_id = body["user"]["id"], int(view["private_metadata"])
        reason = (view_value(view, Block.COMMENT, Action.COMMENT) or "").strip()
        if not reason:
            ack(response_action="errors", errors={Block.COMMENT: "Say why the next tier should decide."})
            return
        ack()
        run_reporting_errors(client, user_id, lambda: workflow.escalate(actor=user_id, step_id=step_id, reason=reason))

    # The requester: revise terms, withdraw, supply requested information.

    def requester_request(body: dict[str, Any], verb: str) -> PlanRequest:
        request_id = int(body["actions"][0]["value"])
        with workflow.session_factory() as session:
            request = session.get(PlanRequest, request_id)
            if request is None:
                raise NotFound(f"{request_label(request_id)} was not found.")
            if request.requested_by != body["user"]["id"]:
                raise PermissionDenied(f"Only {actor_mention(request.requested_by)}, who opened {request_label(request.id)}, can {verb} it.")
            session.expunge(request)
            return request

    @app.action(Action.REVISE)
    def handle_revise_click(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()

        def build() -> Any:
            request = requester_request(body, "revise")
            with workflow.session_factory() as session:
                request = session.get(PlanRequest, request.id)
                assert request is not None
                revision = next(rev for rev in request.revisions if rev.number == request.current_revision)
                change = latest_change_request(session, request)
                terms = change.proposal if change and change.proposal else current_terms(revision)
                if terms.first_due_date <= workflow.today():
                    terms = ProposedTerms(terms.down_payment, terms.installment_count, terms.frequency, workflow.today() + timedelta(days=30))
                return modals.revise_modal(request_id=request.id, revision=revision.number, terms=terms, comment=change.comment if change else None)

        open_after_check(body, client, build)

    @app.view(Callback.REVISE_MODAL)
    def handle_revise_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user_id = body["user"]["id"]
        request_id, revision = (int(part) for part in view["private_metadata"].split(":"))
        try:
            terms = parse_terms_view(view)
            workflow.check_revision(actor=user_id, request_id=request_id, terms=terms, expected_revision=revision)
        except InvalidInput as error:
            ack(response_action="errors", errors={TERMS_FIELD_BLOCKS.get(field, Block.DOWN_PAYMENT): message for field, message in error.field_errors.items()} or {Block.DOWN_PAYMENT: error.user_message})
            return
        except PayplanError as error:
            ack(response_action="errors", errors={Block.DOWN_PAYMENT: error.user_message})
            return
        ack()
        run_reporting_errors(client, user_id, lambda: workflow.revise(actor=user_id, request_id=request_id, terms=terms, expected_revision=revision))

    @app.action(Action.WITHDRAW)
    def handle_withdraw_click(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        open_after_check(body, client, lambda: modals.withdraw_modal(request_id=requester_request(body, "withdraw").id))

    @app.view(Callback.WITHDRAW_MODAL)
    def handle_withdraw_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id, request_id = body["user"]["id"], int(view["private_metadata"])
        reason = (view_value(view, Block.COMMENT, Action.COMMENT) or "").strip()
        run_reporting_errors(client, user_id, lambda: workflow.withdraw(actor=user_id, request_id=request_id, reason=reason))

    @app.action(Action.INFORMATION_SUPPLIED)
    def handle_information_supplied(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        try:
            workflow.answer_requester_wait(actor=body["user"]["id"], request_id=int(body["actions"][0]["value"]))
        except PayplanError as error:
            tell_user(client, body, error.user_message)

    # Policy exception on an ineligible request.

    @app.action(Action.GRANT_EXCEPTION)
    def handle_exception_click(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id, request_id = body["user"]["id"], int(body["actions"][0]["value"])

        def build() -> Any:
            workflow.authorize_exception(actor=user_id, request_id=request_id)
            with workflow.session_factory() as session:
                request = session.get(PlanRequest, request_id)
                assert request is not None
                revision = next(rev for rev in request.revisions if rev.number == request.current_revision)
                assert revision.assessment is not None
                blocking = [flag["message"] for flag in revision.assessment.flags if flag["blocking"]]
            return modals.exception_modal(request_id=request_id, blocking=blocking)

        open_after_check(body, client, build)

    @app.view(Callback.EXCEPTION_MODAL)
    def handle_exception_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user_id, request_id = body["user"]["id"], int(view["private_metadata"])
        reason = (view_value(view, Block.COMMENT, Action.COMMENT) or "").strip()
        if not reason:
            ack(response_action="errors", errors={Block.COMMENT: "Say why the policy should not apply."})
            return
        ack()
        run_reporting_errors(client, user_id, lambda: workflow.grant_exception(actor=user_id, request_id=request_id, reason=reason))

    # The credit analyst: review the grade, ask the requester.

    @app.action(Action.REVIEW_GRADE)
    def handle_grade_click(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id, step_id = body["user"]["id"], step_of(body)

        def build() -> Any:
            request_id = workflow.authorize_decision(actor=user_id, step_id=step_id)
            with workflow.session_factory() as session:
                step = session.get(ApprovalStep, step_id)
                assert step is not None and step.revision.assessment is not None
                assessment = step.revision.assessment
                return modals.grade_modal(step_id=step_id, request_id=request_id, computed=assessment.risk_grade, factors=list(assessment.risk_factors))

        open_after_check(body, client, build)

    @app.view(Callback.GRADE_MODAL)
    def handle_grade_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user_id, step_id = body["user"]["id"], int(view["private_metadata"])
        grade = view_value(view, Block.GRADE, Action.GRADE) or ""
        reason = (view_value(view, Block.COMMENT, Action.COMMENT) or "").strip()
        try:
            workflow.review_grade(actor=user_id, step_id=step_id, grade=grade, reason=reason)
        except InvalidInput as error:
            ack(response_action="errors", errors={Block.COMMENT: error.user_message})
            return
        except PayplanError as error:
            ack(response_action="errors", errors={Block.GRADE: error.user_message})
            return
        ack()

    @app.action(Action.ASK_REQUESTER)
    def handle_ask_click(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id, step_id = body["user"]["id"], step_of(body)
        open_after_check(body, client, lambda: modals.ask_modal(step_id=step_id, request_id=workflow.authorize_decision(actor=user_id, step_id=step_id)))

    @app.view(Callback.ASK_MODAL)
    def handle_ask_submission(ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        user_id, step_id = body["user"]["id"], int(view["private_metadata"])
        missing = (view_value(view, Block.COMMENT, Action.COMMENT) or "").strip()
        if not missing:
            ack(response_action="errors", errors={Block.COMMENT: "List the documents or information you need."})
            return
        ack()
        run_reporting_errors(client, user_id, lambda: workflow.ask_requester(actor=user_id, step_id=step_id, missing=missing))

    # Thread replies and files, and the App Home tab.

    @app.event("message")
    def handle_thread_message(event: dict[str, Any], client: WebClient) -> None:
        thread_ts, user_id = event.get("thread_ts"), event.get("user")
        if not thread_ts or not user_id or event.get("bot_id"):
            return
        for shared in event.get("files") or []:
            workflow.record_thread_file(thread_ts=thread_ts, file_id=shared["id"], name=shared.get("name") or shared["id"], shared_by=user_id)
        if APPROVAL_WORDS.search(event.get("text") or ""):
            nudge_with_buttons(workflow, client, event["channel"], thread_ts, user_id)

    @app.event("app_home_opened")
    def handle_home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        from bot.home import home_view

        client.views_publish(user_id=event["user"], view=home_view(workflow, event["user"]))


def nudge_with_buttons(workflow: Workflow, client: WebClient, channel: str, thread_ts: str, user_id: str) -> None:
    """Reply to an approver's free-text approval with the step's buttons, visible to them only."""
    with workflow.session_factory() as session:
        request = session.scalar(select(PlanRequest).where(PlanRequest.slack_ts == thread_ts))
        if request is None:
            return
        revision = next(rev for rev in request.revisions if rev.number == request.current_revision)
        step = next((s for s in revision.steps if s.status == "pending"), None)
        if step is None or user_id not in workflow.approvers.get(step.tier, []):
            return
        label = request_label(request.id)
        text = f"Replies in the thread are not recorded as decisions. Use the buttons to decide {label}."
        section = blocks.SectionBlock(text=text)
        client.chat_postEphemeral(
            channel=channel, user=user_id, thread_ts=thread_ts, text=text, blocks=blocks.as_dicts([section, blocks.decision_buttons(step)])
        )


def parse_terms_view(view: dict[str, Any]) -> ProposedTerms:
    """Read the terms inputs of a revision or change-request modal; raise InvalidInput naming each bad one."""
    from bot.slack_app import parse_amount, view_value

    errors: dict[str, str] = {}
    down_text = (view_value(view, Block.DOWN_PAYMENT, Action.DOWN_PAYMENT) or "0").strip()
    down_payment = parse_amount(down_text)
    if down_text.startswith("-"):
        errors["down_payment"] = f"Down payment {down_text} is negative. Enter 0 or more."
    elif down_payment is None:
        errors["down_payment"] = f"{down_text!r} is not an amount. Enter a number such as 1,250.00, without a currency sign."
    count_text = (view_value(view, Block.INSTALLMENTS, Action.INSTALLMENTS) or "").strip()
    count = int(count_text) if count_text.isascii() and count_text.isdigit() and len(count_text) <= 3 else 0
    if count < 1:
        errors["installments"] = f"{count_text!r} is not a valid number of installments. Enter a whole number from 1 to 999."
    frequency = view_value(view, Block.FREQUENCY, Action.FREQUENCY) or ""
    if frequency not in FREQUENCIES:
        errors["frequency"] = f"Choose how often the customer pays: {', '.join(FREQUENCIES)}."
    try:
        first_due = date.fromisoformat(view_value(view, Block.FIRST_DUE_DATE, Action.FIRST_DUE_DATE) or "")
    except ValueError:
        errors["first_due_date"] = "Pick the date the first installment is due."
    if errors:
        raise InvalidInput("The terms have invalid fields.", errors)
    return ProposedTerms(down_payment or Decimal("0.00"), count, frequency, first_due)
