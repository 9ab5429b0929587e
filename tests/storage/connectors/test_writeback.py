"""Write-back queue: plan state reaches the source record, failures are retried, reruns add nothing."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import httpx
import respx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.connectors.salesforce import SalesforceConnector
from storage.connectors.writeback import MAX_ATTEMPTS, run_write_back
from storage.models import Account, ApprovalStep, Assessment, PlanRequest, TermRevision, WriteBackTask
from tests.storage.connectors.conftest import LOGIN_URL, SF_API, recorded_response

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)
ACCOUNT = "001TEST0000000001AA"
PATCH_URL = f"{SF_API}/sobjects/Account/{ACCOUNT}"


def _add_request(session_factory: sessionmaker[Session], *, source: str = "salesforce") -> int:
    with session_factory.begin() as session:
        session.add(Account(id=ACCOUNT, name="Northwind Traders", source=source))
        request = PlanRequest(
            account_id=ACCOUNT,
            requested_by="U00FAKEUSER1",
            status="pending_approval",
            as_of=date(2026, 12, 4),
            reason_category="cash_flow",
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(request)
        session.flush()
        revision = TermRevision(
            request_id=request.id,
            number=1,
            balance=Decimal("500.00"),
            down_payment=Decimal("0.00"),
            installment_count=2,
            first_due_date=date(2027, 1, 15),
            created_by="U00FAKEUSER1",
            created_at=NOW,
        )
        session.add(revision)
        session.flush()
        session.add(
            Assessment(
                revision_id=revision.id,
                policy_version="test",
                eligible=True,
                risk_grade="A",
                route=["collections_manager"],
                flags=[],
                risk_factors=[],
                facts={},
                schedule=[
                    {"sequence": 1, "due_date": "2027-01-15", "amount": "250.00"},
                    {"sequence": 2, "due_date": "2027-02-15", "amount": "250.00"},
                ],
                summary={},
                created_at=NOW,
            )
        )
        session.add(ApprovalStep(revision_id=revision.id, sequence=1, tier="collections_manager", status="pending"))
        return request.id


def _approve(session_factory: sessionmaker[Session], request_id: int) -> None:
    with session_factory.begin() as session:
        step = session.scalar(select(ApprovalStep))
        step.status = "approved"
        step.decided_by = "U00MANAGER1"
        step.decided_at = NOW
        session.get(PlanRequest, request_id).status = "approved"


def _token() -> None:
    respx.post(f"{LOGIN_URL}/services/oauth2/token").mock(return_value=recorded_response("salesforce", "token.json"))


def test_state_written_once(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    request_id = _add_request(session_factory)
    with respx.mock:
        _token()
        patch = respx.patch(PATCH_URL).mock(return_value=httpx.Response(204))

        first = run_write_back(session_factory, {"salesforce": salesforce}, NOW)
        second = run_write_back(session_factory, {"salesforce": salesforce}, NOW + timedelta(minutes=1))

    assert first == [
        f"queued write-back of request {request_id} (pending_approval) to salesforce account {ACCOUNT}",
        f"wrote request {request_id} (pending_approval) to salesforce account {ACCOUNT}",
    ]
    assert second == []
    assert patch.call_count == 1
    body = json.loads(patch.calls.last.request.content)
    assert body["Payment_Plan_Status__c"] == "pending_approval"
    assert body["Payment_Plan_Outcome__c"] == "collections_manager pending"
    assert json.loads(body["Payment_Plan_Schedule__c"])[1] == {"sequence": 2, "due_date": "2027-02-15", "amount": "250.00"}


def test_new_state_written_with_outcome(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    request_id = _add_request(session_factory)
    with respx.mock:
        _token()
        patch = respx.patch(PATCH_URL).mock(return_value=httpx.Response(204))
        run_write_back(session_factory, {"salesforce": salesforce}, NOW)
        _approve(session_factory, request_id)

        lines = run_write_back(session_factory, {"salesforce": salesforce}, NOW + timedelta(minutes=1))

    assert lines[-1] == f"wrote request {request_id} (approved) to salesforce account {ACCOUNT}"
    body = json.loads(patch.calls.last.request.content)
    assert body["Payment_Plan_Status__c"] == "approved"
    assert body["Payment_Plan_Outcome__c"] == "collections_manager approved by U00MANAGER1"


def test_failure_retried_later(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    _add_request(session_factory)
    with respx.mock:
        _token()
        patch = respx.patch(PATCH_URL).mock(
            side_effect=[
                httpx.Response(400, json=[{"message": "Field is read-only", "errorCode": "INVALID_FIELD_FOR_INSERT_UPDATE"}]),
                httpx.Response(204),
            ]
        )

        failed = run_write_back(session_factory, {"salesforce": salesforce}, NOW)
        too_early = run_write_back(session_factory, {"salesforce": salesforce}, NOW + timedelta(seconds=30))
        retried = run_write_back(session_factory, {"salesforce": salesforce}, NOW + timedelta(minutes=2))

    assert "failed (attempt 1 of 8)" in failed[-1]
    assert "INVALID_FIELD_FOR_INSERT_UPDATE" in failed[-1]
    assert too_early == []
    assert retried[-1].startswith("wrote request")
    assert patch.call_count == 2
    with session_factory() as session:
        task = session.scalar(select(WriteBackTask))
        assert (task.status, task.attempts, task.last_error) == ("done", 2, None)


def test_unusable_token_recorded_as_error(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    _add_request(session_factory)
    with respx.mock:
        respx.post(f"{LOGIN_URL}/services/oauth2/token").mock(return_value=httpx.Response(200, text="<html>login</html>"))
        lines = run_write_back(session_factory, {"salesforce": salesforce}, NOW)

    assert "failed (attempt 1 of 8)" in lines[-1]
    with session_factory() as session:
        task = session.scalar(select(WriteBackTask))
        assert task.status == "pending"
        assert "token response" in task.last_error
        assert "is not JSON" in task.last_error


def test_gives_up_after_max_attempts(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    _add_request(session_factory)
    moment = NOW
    with respx.mock:
        _token()
        respx.patch(PATCH_URL).mock(return_value=httpx.Response(404, json=[{"message": "gone", "errorCode": "NOT_FOUND"}]))
        for _ in range(MAX_ATTEMPTS):
            lines = run_write_back(session_factory, {"salesforce": salesforce}, moment)
            moment += timedelta(days=1)

    assert lines[-1].startswith("gave up writing request")
    with session_factory() as session:
        assert session.scalar(select(WriteBackTask.status)) == "failed"


def test_other_sources_not_queued(session_factory: sessionmaker[Session], salesforce: SalesforceConnector) -> None:
    _add_request(session_factory, source="csv")

    with respx.mock:
        lines = run_write_back(session_factory, {"salesforce": salesforce}, NOW)

    assert lines == []
