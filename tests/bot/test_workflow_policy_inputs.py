"""The workflow passes account standing and plan history to the engine and stores its new outputs."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select, update

from bot import blocks
from bot.workflow import Workflow
from storage.models import Account, Assessment, PlanRequest, TermRevision
from tests.bot.test_workflow import AS_OF, REQUESTER, clock, load_request, request_input, steps_of, workflow  # noqa: F401

__all__ = ["clock", "workflow"]


def stored_assessment(workflow: Workflow, request_id: int) -> Assessment:
    with workflow.session_factory() as session:
        query = select(Assessment).join(TermRevision).where(TermRevision.request_id == request_id)
        assessment = session.scalars(query).one()
        session.expunge(assessment)
        return assessment


def test_bankrupt_account_referred_not_routed(workflow: Workflow) -> None:
    with workflow.session_factory.begin() as session:
        session.execute(update(Account).where(Account.id == "SMALL").values(standing="bankruptcy"))

    request_id = workflow.open_request(actor=REQUESTER, data=request_input())

    assert load_request(workflow, request_id).status == "ineligible"
    assert steps_of(workflow, request_id) == []
    assessment = stored_assessment(workflow, request_id)
    assert assessment.route == ["legal_compliance"]
    assert [(flag["code"], flag["severity"], flag["blocking"]) for flag in assessment.flags] == [("account_status_referred", "blocker", True)]


def test_defaulted_plan_in_history_blocks(workflow: Workflow) -> None:
    first = workflow.open_request(actor=REQUESTER, data=request_input())
    with workflow.session_factory.begin() as session:
        session.execute(
            update(PlanRequest).where(PlanRequest.id == first).values(status="defaulted", updated_at=datetime(2013, 6, 1, tzinfo=timezone.utc))
        )

    second = workflow.open_request(actor=REQUESTER, data=request_input())

    flags = stored_assessment(workflow, second).flags
    assert [flag["code"] for flag in flags if flag["severity"] == "blocker"] == ["prior_default_in_lookback"]


def test_deviation_stores_counter_proposal(workflow: Workflow) -> None:
    request_id = workflow.open_request(actor=REQUESTER, data=request_input(installments=30))

    assessment = stored_assessment(workflow, request_id)
    assert assessment.details is not None
    counter = assessment.details["counter_proposal"]
    assert counter["installments"] == 8
    assert assessment.details["currency"] == "USD"
    assert assessment.details["alternatives"]
    assert all(flag["severity"] in {"blocker", "deviation", "info"} for flag in assessment.flags)

    text, sections = blocks.assessment_message(assessment, {})
    rendered = str([section.to_dict() for section in sections])
    assert "Counter-proposal inside policy" in rendered
    assert "8 monthly from" in rendered
    assert "Alternatives inside policy" in rendered


def test_detail_blocks_show_documents() -> None:
    details = {
        "currency": "USD",
        "required_documents": [{"code": "financial_statement", "reason": "Financial statement: balance 60000.00 is above 50000.00", "rule": "documents[0]"}],
        "counter_proposal": None,
        "alternatives": [],
    }

    sections = blocks.policy_detail_blocks(details)

    assert len(sections) == 1
    assert "Required documents" in sections[0].to_dict()["text"]["text"]
    assert "balance 60000.00 is above 50000.00" in sections[0].to_dict()["text"]["text"]


def test_money_uses_currency_minor_unit() -> None:
    from decimal import Decimal

    from bot.messages import money

    assert money(Decimal("1845000"), "JPY") == "JPY 1,845,000"
    assert money(Decimal("12.345"), "KWD") == "KWD 12.345"
    assert money(Decimal("12.3"), "USD") == "USD 12.30"
