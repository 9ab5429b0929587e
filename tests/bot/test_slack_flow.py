"""The request thread over real HTTP: commands, negotiation, review, App Home and thread replies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import slack_payloads
from bot.ids import Action, Block, Callback
from bot.review import waiting_time
from storage.models import Assessment, AuditEvent, RequestFile, RequesterWait, TermRevision
from tests.bot.flow_app import (
    ANALYST,
    CHANNEL,
    CONTROLLER,
    MANAGER,
    OUTSIDER,
    REQUESTER,
    REVOPS,
    FlowApp,
    serve_flow_app,
    write_policy,
)


@pytest.fixture
def flow(database_url: str, tmp_path: Path) -> Iterator[FlowApp]:
    with serve_flow_app(database_url, write_policy(tmp_path / "policy.yaml")) as app:
        yield app


def audit_actions(app: FlowApp, request_id: int) -> list[str]:
    with app.runtime.session_factory() as session:
        query = select(AuditEvent.action).where(AuditEvent.request_id == request_id).order_by(AuditEvent.id)
        return list(session.scalars(query))


def root_updates(app: FlowApp, request_id: int) -> list[str]:
    ts = app.request(request_id).slack_ts
    return [call.args["text"] for call in app.stub.calls("chat.update") if call.args["ts"] == ts]


def ephemeral_texts(app: FlowApp, user: str) -> list[str]:
    return [call.args["text"] for call in app.stub.calls("chat.postEphemeral") if call.args["user"] == user]


# Commands


def test_status_accepts_both_id_forms(flow: FlowApp) -> None:
    request_id = flow.open_request()

    for given in ("PP-00001", "pp-1", str(request_id)):
        reply = flow.command(f"status {given}")
        assert "*PP-00001*" in reply
        assert "Pending approval" in reply
        assert "Collections manager: pending" in reply


@pytest.mark.parametrize("text, expected", [("status PP-0x1", "is not a request id"), ("status 99", "PP-00099 was not found"), ("status", "needs one request id"), ("history", "needs one request id"), ("list everything", "is not a list filter")])
def test_bad_command_arguments_explained(flow: FlowApp, text: str, expected: str) -> None:
    reply = flow.command(text)

    assert expected in reply


def test_unknown_subcommand_help_names_commands(flow: FlowApp) -> None:
    reply = flow.command("frobnicate <!channel>")

    assert "`frobnicate` is not a payplan command" in reply
    assert "/payplan history" in reply
    assert "<!channel>" not in reply
    assert flow.stub.calls("views.open") == []


def test_history_lists_events_oldest_first(flow: FlowApp) -> None:
    request_id = flow.open_request()

    reply = flow.command("history PP-00001")

    actions = audit_actions(flow, request_id)
    positions = [reply.index(f"`{action}`") for action in dict.fromkeys(actions)]
    assert f"({len(actions)} events, oldest first)" in reply
    assert positions == sorted(positions)


def test_list_filters(flow: FlowApp) -> None:
    flow.open_request()

    assert "PP-00001" in flow.command("list")
    assert "PP-00001" in flow.command("list mine")
    assert "none" in flow.command("list mine", user=OUTSIDER)
    assert "waiting on Collections manager (you)" in flow.command("list pending", user=MANAGER)
    assert "none" in flow.command("list stalled")
    flow.clock.set(datetime(2013, 6, 17, 15, 0, tzinfo=timezone.utc))
    assert "PP-00001" in flow.command("list stalled")


# The request modal


def test_choosing_account_fills_balance(flow: FlowApp) -> None:
    payload = slack_payloads.block_actions_payload(Action.ACCOUNT, "", user_id=REQUESTER)
    payload["container"] = {"type": "view", "view_id": "V0MODAL0001"}
    payload["view"] = {"id": "V0MODAL0001", "hash": "1700000000.abc", "callback_id": Callback.REQUEST_MODAL, "state": {"values": {}}}
    payload["actions"] = [{"type": "external_select", "action_id": Action.ACCOUNT, "block_id": Block.ACCOUNT, "selected_option": {"text": {"type": "plain_text", "text": "SMALL"}, "value": "SMALL"}}]

    flow.post(slack_payloads.interaction_body(payload))

    [update] = flow.stub.wait_for("views.update")
    assert update.args["view_id"] == "V0MODAL0001"
    assert update.args["hash"] == "1700000000.abc"
    assert "USD 430.55" in json.dumps(update.args["view"])


def test_frequency_and_notes_stored(flow: FlowApp) -> None:
    state = slack_payloads.request_modal_state(
        account_id="SMALL", reason_category="other", reason_text="", down_payment="0", installments=4, first_due_date="2013-07-15", frequency="biweekly", notes="Call <!here> first",
    )
    flow.submit(Callback.REQUEST_MODAL, state, REQUESTER)
    flow.stub.wait_for("chat.postMessage")

    request = flow.latest_request()
    assert request is not None
    assert request.notes == "Call <!here> first"
    with flow.runtime.session_factory() as session:
        assert session.scalar(select(TermRevision.frequency)) == "biweekly"
    root = json.dumps(flow.stub.calls("chat.postMessage")[0].args["blocks"])
    assert "Call &lt;!here&gt; first" in root
    assert "every two weeks" in root


@pytest.mark.parametrize(
    "change, block",
    [({"notes": "x" * 3001}, Block.NOTES), ({"reason_text": "y" * 3001}, Block.REASON_TEXT), ({"frequency": "daily"}, Block.FREQUENCY)],
)
def test_modal_text_and_frequency_errors(flow: FlowApp, change: dict, block: str) -> None:
    values = {"account_id": "SMALL", "reason_category": "other", "reason_text": "", "down_payment": "0", "installments": 4, "first_due_date": "2013-07-15", **change}
    response = flow.submit(Callback.REQUEST_MODAL, slack_payloads.request_modal_state(**values), REQUESTER)

    body = response.json()
    assert body["response_action"] == "errors"
    assert block in body["errors"]
    assert flow.latest_request() is None


def test_modal_names_open_request(flow: FlowApp) -> None:
    first = flow.open_request()
    values = {"account_id": "SMALL", "reason_category": "other", "reason_text": "", "down_payment": "0", "installments": 4, "first_due_date": "2013-07-15"}

    response = flow.submit(Callback.REQUEST_MODAL, slack_payloads.request_modal_state(**values), REQUESTER)

    body = response.json()
    assert body["response_action"] == "errors"
    assert f"already has open request {first}" in body["errors"][Block.ACCOUNT]
    assert flow.latest_request().id == first


# Request changes and revisions


def test_changes_then_revision_reroutes(flow: FlowApp) -> None:
    request_id = flow.open_request()
    first = flow.pending_step(request_id)

    flow.click(Action.REQUEST_CHANGES, first.id, MANAGER)
    [opened] = flow.stub.wait_for("views.open")
    view = opened.args["view"]
    assert view["callback_id"] == Callback.CHANGES_MODAL
    assert '"initial_value": "4"' in json.dumps(view)

    terms = slack_payloads.terms_modal_state(down_payment="100.00", installments=3, frequency="monthly", first_due_date="2013-07-20")
    missing_comment = flow.submit(Callback.CHANGES_MODAL, slack_payloads.changes_modal_state("", terms), MANAGER, str(first.id))
    assert Block.COMMENT in missing_comment.json()["errors"]
    flow.submit(Callback.CHANGES_MODAL, slack_payloads.changes_modal_state("Ask for 100 <@U0BOSS> down.", terms), MANAGER, str(first.id))
    flow.wait_until(lambda: flow.request(request_id).status == "changes_requested")
    note = flow.stub.wait_for("chat.postMessage", predicate=lambda call: "requested changes" in call.args.get("text", ""))[0]
    assert "&lt;@U0BOSS&gt;" in note.args["text"]
    flow.wait_until(lambda: any("Changes requested" in text for text in root_updates(flow, request_id)))

    # Someone other than the requester cannot revise.
    flow.click(Action.REVISE, request_id, OUTSIDER)
    flow.wait_until(lambda: any("can revise it" in text for text in ephemeral_texts(flow, OUTSIDER)))

    flow.click(Action.REVISE, request_id, REQUESTER)
    revise_view = flow.stub.wait_for("views.open", count=2)[1].args["view"]
    assert revise_view["private_metadata"] == f"{request_id}:1"
    assert '"initial_value": "100.00"' in json.dumps(revise_view)
    flow.submit(Callback.REVISE_MODAL, terms, REQUESTER, f"{request_id}:1")
    flow.wait_until(lambda: flow.request(request_id).current_revision == 2 and flow.request(request_id).status == "pending_approval")

    steps = flow.steps(request_id)
    assert [(step.status) for step in steps] == ["changes_requested", "pending"]
    assert "revision.created" in audit_actions(flow, request_id)
    with flow.runtime.session_factory() as session:
        revision = session.scalar(select(TermRevision).where(TermRevision.number == 2))
        assert revision.down_payment == Decimal("100.00")
        assert revision.installment_count == 3

    # A stale form for revision 1 changes nothing.
    stale = flow.submit(Callback.REVISE_MODAL, terms, REQUESTER, f"{request_id}:1")
    assert "superseded by revision 2" in json.dumps(stale.json())
    assert flow.request(request_id).current_revision == 2


def test_superseded_button_answers_ephemerally(flow: FlowApp) -> None:
    request_id = flow.open_request()
    old = flow.pending_step(request_id)
    terms = slack_payloads.terms_modal_state(down_payment="50.00", installments=4, frequency="weekly", first_due_date="2013-07-20")
    flow.click(Action.REVISE, request_id, REQUESTER)
    flow.stub.wait_for("views.open")
    flow.submit(Callback.REVISE_MODAL, terms, REQUESTER, f"{request_id}:1")
    flow.wait_until(lambda: flow.request(request_id).current_revision == 2)

    flow.click(Action.APPROVE, old.id, MANAGER)

    flow.wait_until(lambda: any("which was superseded" in text for text in ephemeral_texts(flow, MANAGER)))
    statuses = [step.status for step in flow.steps(request_id)]
    assert statuses == ["superseded", "pending"]
    assert "step.approved" not in audit_actions(flow, request_id)


def test_approvals_do_not_carry_over(flow: FlowApp) -> None:
    request_id = flow.open_request()
    step = flow.pending_step(request_id)
    flow.click(Action.ESCALATE, step.id, MANAGER)
    flow.stub.wait_for("views.open")
    flow.submit(Callback.ESCALATE_MODAL, slack_payloads.comment_modal_state("Customer is strategic."), MANAGER, str(step.id))
    flow.wait_until(lambda: flow.pending_step(request_id).tier == "finance_controller")

    flow.click(Action.REVISE, request_id, REQUESTER)
    flow.stub.wait_for("views.open", count=2)
    terms = slack_payloads.terms_modal_state(down_payment="30.00", installments=4, frequency="monthly", first_due_date="2013-07-20")
    flow.submit(Callback.REVISE_MODAL, terms, REQUESTER, f"{request_id}:1")
    flow.wait_until(lambda: flow.request(request_id).current_revision == 2)

    revision_two = [step for step in flow.steps(request_id) if step.status in ("pending", "waiting")]
    assert [step.tier for step in revision_two] == ["collections_manager"]


# Escalation


def test_escalate_adds_next_tier(flow: FlowApp) -> None:
    request_id = flow.open_request()
    step = flow.pending_step(request_id)
    flow.click(Action.ESCALATE, step.id, MANAGER)
    [opened] = flow.stub.wait_for("views.open")
    assert "Finance controller" in json.dumps(opened.args["view"])

    flow.submit(Callback.ESCALATE_MODAL, slack_payloads.comment_modal_state("Above my comfort level."), MANAGER, str(step.id))
    flow.wait_until(lambda: flow.pending_step(request_id).tier == "finance_controller")

    steps = flow.steps(request_id)
    assert [(step.sequence, step.tier, step.status) for step in steps] == [(1, "collections_manager", "escalated"), (2, "finance_controller", "pending")]
    assert "step.escalated" in audit_actions(flow, request_id)
    posted = flow.stub.wait_for("chat.postMessage", predicate=lambda call: f"<@{CONTROLLER}>" in json.dumps(call.args.get("blocks")))
    assert posted


def test_system_escalation_and_top_tier(flow: FlowApp) -> None:
    request_id = flow.open_request()
    step = flow.pending_step(request_id)

    outcome = flow.runtime.workflow.escalate(actor="system:sla", step_id=step.id, reason="No decision within 2 business days.")
    second = flow.pending_step(request_id)
    flow.runtime.workflow.escalate(actor=CONTROLLER, step_id=second.id, reason="Needs the lead.")
    third = flow.pending_step(request_id)
    flow.click(Action.ESCALATE, third.id, REVOPS)

    assert outcome.decision == "escalate"
    assert third.tier == "revenue_operations_lead"
    flow.wait_until(lambda: any("highest approval tier" in text for text in ephemeral_texts(flow, REVOPS)))
    assert flow.pending_step(request_id).id == third.id


# Withdrawal


def test_withdraw_by_requester_only(flow: FlowApp) -> None:
    request_id = flow.open_request()

    flow.click(Action.WITHDRAW, request_id, MANAGER)
    flow.wait_until(lambda: any("can withdraw it" in text for text in ephemeral_texts(flow, MANAGER)))
    flow.click(Action.WITHDRAW, request_id, REQUESTER)
    [opened] = flow.stub.wait_for("views.open")
    assert opened.args["view"]["callback_id"] == Callback.WITHDRAW_MODAL
    flow.submit(Callback.WITHDRAW_MODAL, slack_payloads.comment_modal_state("Paid in full."), REQUESTER, str(request_id))

    flow.wait_until(lambda: flow.request(request_id).status == "withdrawn")
    assert [step.status for step in flow.steps(request_id)] == ["superseded"]
    flow.wait_until(lambda: any("Withdrawn" in text for text in root_updates(flow, request_id)))


# Four eyes on AI


def test_approval_needs_each_acknowledgement(flow: FlowApp) -> None:
    request_id = flow.open_request(reason="Owner reports a medical illness in the family.")
    step = flow.pending_step(request_id)

    flow.click(Action.APPROVE, step.id, MANAGER)
    [opened] = flow.stub.wait_for("views.open")
    view = opened.args["view"]
    assert view["callback_id"] == Callback.APPROVE_MODAL
    options = view["blocks"][-1]["element"]["options"]
    keys = [option["value"] for option in options]
    assert keys
    assert flow.pending_step(request_id).id == step.id

    refused = flow.submit(Callback.APPROVE_MODAL, slack_payloads.acknowledge_state([]), MANAGER, str(step.id))
    assert Block.ACKNOWLEDGE in refused.json()["errors"]
    flow.submit(Callback.APPROVE_MODAL, slack_payloads.acknowledge_state(keys), MANAGER, str(step.id))

    flow.wait_until(lambda: flow.request(request_id).status == "sent_to_customer")
    with flow.runtime.session_factory() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "step.approved"))
        assert event.after["acknowledged"] == sorted(keys)


def test_workflow_refuses_unacknowledged_approval(flow: FlowApp) -> None:
    from bot.errors import InvalidInput

    request_id = flow.open_request(reason="Owner reports a medical illness in the family.")

    with pytest.raises(InvalidInput, match="Tick each acknowledgement"):
        flow.runtime.workflow.decide(actor=MANAGER, step_id=flow.pending_step(request_id).id, decision="approve")


# Thread replies


def test_thread_approval_words_get_buttons(flow: FlowApp) -> None:
    request_id = flow.open_request()
    thread_ts = flow.request(request_id).slack_ts
    step = flow.pending_step(request_id)

    flow.event({"type": "message", "channel": CHANNEL, "user": OUTSIDER, "text": "LGTM", "ts": "1700000100.000001", "thread_ts": thread_ts}, "Ev01")
    flow.event({"type": "message", "channel": CHANNEL, "user": MANAGER, "text": "Looks good to me", "ts": "1700000100.000002", "thread_ts": thread_ts}, "Ev02")

    [nudge] = flow.stub.wait_for("chat.postEphemeral")
    assert nudge.args["user"] == MANAGER
    assert nudge.args["thread_ts"] == thread_ts
    assert Action.APPROVE in json.dumps(nudge.args["blocks"])
    assert flow.pending_step(request_id).id == step.id
    assert ephemeral_texts(flow, OUTSIDER) == []


# App Home


def test_home_lists_awaiting_and_refreshes(flow: FlowApp) -> None:
    flow.event({"type": "app_home_opened", "user": MANAGER, "channel": "D0HOME", "tab": "home"}, "Ev10")
    [empty] = flow.stub.wait_for("views.publish")
    assert "Nothing awaits your decision" in json.dumps(empty.args["view"])

    request_id = flow.open_request()
    flow.stub.wait_for("views.publish", predicate=lambda call: call.args["user_id"] == REQUESTER)
    manager_views = flow.stub.wait_for("views.publish", count=2, predicate=lambda call: call.args["user_id"] == MANAGER)
    assert "PP-00001" in json.dumps(manager_views[-1].args["view"])

    flow.click(Action.APPROVE, flow.pending_step(request_id).id, MANAGER)
    requester_views = flow.stub.wait_for("views.publish", count=2, predicate=lambda call: call.args["user_id"] == REQUESTER)
    assert "Approved" not in json.dumps(requester_views[0].args["view"])
    assert "approved by" in json.dumps(requester_views[-1].args["view"])


# Policy exception


def test_top_tier_grants_exception(flow: FlowApp) -> None:
    request_id = flow.open_request(account="TINY")
    assert flow.request(request_id).status == "ineligible"

    flow.click(Action.GRANT_EXCEPTION, request_id, MANAGER)
    flow.wait_until(lambda: any("Revenue operations lead" in text for text in ephemeral_texts(flow, MANAGER)))
    flow.click(Action.GRANT_EXCEPTION, request_id, REVOPS)
    [opened] = flow.stub.wait_for("views.open")
    assert "below the minimum" in json.dumps(opened.args["view"])
    flow.submit(Callback.EXCEPTION_MODAL, slack_payloads.comment_modal_state("Long-standing customer; small plan is cheaper than litigation."), REVOPS, str(request_id))

    flow.wait_until(lambda: flow.request(request_id).status == "pending_approval")
    assert [step.tier for step in flow.steps(request_id)] == ["collections_manager"]
    assert "request.exception_granted" in audit_actions(flow, request_id)
    flow.wait_until(lambda: any("Pending approval" in text for text in root_updates(flow, request_id)))


# The credit analyst


def test_analyst_overrides_grade_with_reason(flow: FlowApp) -> None:
    request_id = flow.open_request(account="MID", installments=3)
    step = flow.pending_step(request_id)
    assert step.tier == "credit_analyst"

    flow.click(Action.REVIEW_GRADE, step.id, ANALYST)
    [opened] = flow.stub.wait_for("views.open")
    assert "on time share" in json.dumps(opened.args["view"])
    no_reason = flow.submit(Callback.GRADE_MODAL, slack_payloads.grade_modal_state("D"), ANALYST, str(step.id))
    assert Block.COMMENT in no_reason.json()["errors"]
    flow.submit(Callback.GRADE_MODAL, slack_payloads.grade_modal_state("D", "Customer lost its largest contract."), ANALYST, str(step.id))

    with flow.runtime.session_factory() as session:
        assessment = session.scalar(select(Assessment))
        assert assessment.risk_grade == "A"
        assert assessment.grade_override == "D"
    flow.wait_until(lambda: any(True for _ in root_updates(flow, request_id)))
    root_blocks = json.dumps([call.args["blocks"] for call in flow.stub.calls("chat.update")])
    assert "D (computed A" in root_blocks


def test_analyst_waits_on_requester(flow: FlowApp) -> None:
    request_id = flow.open_request(account="MID", installments=3)
    step = flow.pending_step(request_id)
    thread_ts = flow.request(request_id).slack_ts

    flow.click(Action.ASK_REQUESTER, step.id, ANALYST)
    flow.stub.wait_for("views.open")
    flow.submit(Callback.ASK_MODAL, slack_payloads.comment_modal_state("Last two bank statements"), ANALYST, str(step.id))
    flow.wait_until(lambda: flow.request(request_id).status == "waiting_on_requester")
    flow.wait_until(lambda: any("Waiting on requester" in text for text in root_updates(flow, request_id)))
    assert "Last two bank statements" in flow.command("status 1")

    flow.click(Action.APPROVE, step.id, ANALYST)
    flow.wait_until(lambda: any("waiting on its requester" in text for text in ephemeral_texts(flow, ANALYST)))

    shared = {"type": "message", "subtype": "file_share", "channel": CHANNEL, "user": REQUESTER, "text": "", "ts": "1700000200.000001", "thread_ts": thread_ts, "files": [{"id": "F0BANK01", "name": "statements.pdf"}]}
    flow.event(shared, "Ev20")
    flow.event(shared, "Ev21")
    flow.wait_until(lambda: "file.shared" in audit_actions(flow, request_id))

    flow.clock.set(datetime(2013, 6, 15, 15, 0, tzinfo=timezone.utc))
    flow.click(Action.INFORMATION_SUPPLIED, request_id, REQUESTER)
    flow.wait_until(lambda: flow.request(request_id).status == "pending_approval")

    with flow.runtime.session_factory() as session:
        files = session.scalars(select(RequestFile)).all()
        assert [(item.slack_file_id, item.name) for item in files] == [("F0BANK01", "statements.pdf")]
        [wait] = session.scalars(select(RequesterWait)).all()
        assert wait.ended_at - wait.started_at == timedelta(days=1)
        start = datetime(2013, 6, 14, 0, 0, tzinfo=timezone.utc)
        assert waiting_time([wait], start=start, now=datetime(2013, 6, 20, tzinfo=timezone.utc)) == timedelta(days=1)
