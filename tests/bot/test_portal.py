"""The customer page and the payments webhook over real HTTP."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from bot.portal import SECURITY_HEADERS
from bot.webhooks import signed_headers
from storage.models import AgreementResponse, AuditEvent, Installment, Payment, UnmatchedPayment
from tests.bot.portal_server import PAYMENTS_SECRET, PortalServer, running_portal


@pytest.fixture
def portal(database_url: str) -> Iterator[PortalServer]:
    with running_portal(database_url) as server:
        yield server


@pytest.fixture
def http(portal: PortalServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=portal.base_url, timeout=10) as client:
        yield client


def form_token(page: str) -> str:
    match = re.search(r'name="form_token" value="([0-9a-f]+)"', page)
    assert match is not None, "the page has no form"
    return match.group(1)


def test_page_headers_and_content(portal: PortalServer, http: httpx.Client) -> None:
    _, path = portal.approved_agreement()

    page = http.get(path)

    assert page.status_code == 200
    for name, value in SECURITY_HEADERS.items():
        assert page.headers[name] == value
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert '<html lang="en">' in page.text
    assert "Northwind Supplies Ltd" in page.text
    assert '<label for="typed_name">Your full name</label>' in page.text
    assert "Download this agreement as a PDF" in page.text
    pdf = http.get(path + "/pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert pdf.headers["cache-control"] == "no-store"


def test_missing_csrf_token_changes_nothing(portal: PortalServer, http: httpx.Client) -> None:
    request_id, path = portal.approved_agreement()

    answer = http.post(path, data={"action": "accept", "typed_name": "Dana Smith", "consent": "yes", "form_token": "0" * 64})

    assert answer.status_code == 403
    assert portal.status(request_id) == "sent_to_customer"


def test_accept_twice_is_idempotent(portal: PortalServer, http: httpx.Client) -> None:
    request_id, path = portal.approved_agreement()
    data = {"action": "accept", "typed_name": "Dana Smith", "consent": "yes", "form_token": form_token(http.get(path).text)}

    first = http.post(path, data=data, headers={"user-agent": "PhoneBrowser/2"})
    second = http.post(path, data=data)

    assert first.status_code == 200
    assert "is now active" in first.text
    assert second.status_code == 200
    assert portal.status(request_id) == "active"
    with portal.runtime.session_factory() as session:
        responses = session.scalars(select(AgreementResponse)).all()
        installments = session.scalars(select(Installment)).all()
    assert len(responses) == 1
    assert responses[0].user_agent == "PhoneBrowser/2"
    assert responses[0].ip == "127.0.0.1"
    assert len(installments) == 3
    assert "You already accepted" in http.get(path).text


def test_accept_without_consent_shows_errors(portal: PortalServer, http: httpx.Client) -> None:
    request_id, path = portal.approved_agreement()

    answer = http.post(path, data={"action": "accept", "typed_name": "Dana Smith", "form_token": form_token(http.get(path).text)})

    assert answer.status_code == 400
    assert 'role="alert"' in answer.text
    assert "Tick the box" in answer.text
    assert 'value="Dana Smith"' in answer.text
    assert portal.status(request_id) == "sent_to_customer"


def test_change_request_then_accept_refused(portal: PortalServer, http: httpx.Client) -> None:
    request_id, path = portal.approved_agreement()
    token = form_token(http.get(path).text)

    sent = http.post(path, data={"action": "changes", "message": "Six installments, please.", "form_token": token})
    accept = http.post(path, data={"action": "accept", "typed_name": "Dana Smith", "consent": "yes", "form_token": token})

    assert sent.status_code == 200
    assert "asked for changes" in sent.text
    assert accept.status_code == 409
    assert portal.status(request_id) == "changes_requested"


def test_expired_and_tampered_links(portal: PortalServer, http: httpx.Client) -> None:
    request_id, path = portal.approved_agreement()

    tampered = http.get(path[:-4] + "AAAA")
    portal.clock.set(portal.clock.now() + timedelta(days=15))
    expired = http.get(path)

    assert tampered.status_code == 410
    assert "not valid" in tampered.text
    assert expired.status_code == 410
    assert "expired" in expired.text
    assert portal.status(request_id) == "sent_to_customer"


def post_payment(portal: PortalServer, http: httpx.Client, payload: dict, *, delivery: str, secret: str = PAYMENTS_SECRET) -> httpx.Response:
    body = json.dumps(payload).encode()
    headers = signed_headers(secret, body, delivery_id=delivery, now=portal.clock.now())
    return http.post("/webhooks/payments", content=body, headers={**headers, "content-type": "application/json"})


def test_payments_webhook(portal: PortalServer, http: httpx.Client) -> None:
    request_id, path = portal.approved_agreement()
    http.post(path, data={"action": "accept", "typed_name": "Dana Smith", "consent": "yes", "form_token": form_token(http.get(path).text)})
    payment = {"reference": "BANK-1", "account_id": "SMALL", "paid_on": "2013-06-14", "amount": "200.00"}

    applied = post_payment(portal, http, payment, delivery="d-1")
    replayed = post_payment(portal, http, payment, delivery="d-1")
    same_reference = post_payment(portal, http, payment, delivery="d-2")
    wrong_secret = post_payment(portal, http, {**payment, "reference": "BANK-2"}, delivery="d-3", secret="guess")
    unsigned = http.post("/webhooks/payments", content=json.dumps(payment))
    unknown = post_payment(portal, http, {**payment, "reference": "BANK-3", "account_id": "GHOST"}, delivery="d-4")
    invalid = post_payment(portal, http, {**payment, "reference": "BANK-4", "amount": "12.345"}, delivery="d-5")

    assert applied.status_code == 200
    assert applied.json()["outcome"] == "applied"
    assert replayed.status_code == 409
    assert same_reference.json()["outcome"] == "duplicate"
    assert wrong_secret.status_code == 401
    assert unsigned.status_code == 401
    assert unknown.status_code == 202
    assert unknown.json()["outcome"] == "unmatched"
    assert invalid.status_code == 422
    assert "amount" in invalid.json()["fields"]
    with portal.runtime.session_factory() as session:
        paid = session.scalars(select(Installment.paid_amount).where(Installment.request_id == request_id).order_by(Installment.sequence)).all()
        unmatched = session.scalars(select(UnmatchedPayment.reference)).all()
    assert [str(amount) for amount in paid] == ["143.52", "56.48", "0.00"]
    assert unmatched == ["BANK-3"]


def accepted(portal: PortalServer, http: httpx.Client) -> int:
    request_id, path = portal.approved_agreement()
    http.post(path, data={"action": "accept", "typed_name": "Dana Smith", "consent": "yes", "form_token": form_token(http.get(path).text)})
    return request_id


@pytest.mark.parametrize("account", ["SMALL", "GHOST"])
def test_concurrent_identical_payments_apply_once(portal: PortalServer, http: httpx.Client, account: str) -> None:
    accepted(portal, http)
    payment = {"reference": "BANK-C", "account_id": account, "paid_on": "2013-06-14", "amount": "50.00"}

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda n: post_payment(portal, http, payment, delivery=f"c-{n}"), range(6)))

    assert sorted(answer.json()["outcome"] for answer in answers) == sorted(["applied" if account == "SMALL" else "unmatched"] + ["duplicate"] * 5)
    assert {answer.status_code for answer in answers} <= {200, 202}
    with portal.runtime.session_factory() as session:
        stored = session.scalars(select(Payment.reference)).all() + session.scalars(select(UnmatchedPayment.reference)).all()
    assert stored == ["BANK-C"]


@pytest.mark.parametrize("account", ["SMALL", "GHOST"])
def test_payment_stored_by_a_racing_call_is_a_duplicate(
    portal: PortalServer, http: httpx.Client, monkeypatch: pytest.MonkeyPatch, account: str
) -> None:
    # The second call checks before the first commits: it does not see the
    # reference, and the unique constraint stops its insert.
    from bot import payments

    accepted(portal, http)
    payment = {"reference": "BANK-R", "account_id": account, "paid_on": "2013-06-14", "amount": "50.00"}
    first = post_payment(portal, http, payment, delivery="r-1")
    real_check = payments._already_recorded
    blind = [True]

    def check_too_early(session, reference):
        if blind:
            blind.pop()
            return None
        return real_check(session, reference)

    monkeypatch.setattr(payments, "_already_recorded", check_too_early)
    second = post_payment(portal, http, payment, delivery="r-2")

    assert first.status_code in (200, 202)
    assert second.status_code == 200
    assert second.json()["outcome"] == "duplicate"


def test_same_reference_other_amount_is_a_conflict(portal: PortalServer, http: httpx.Client) -> None:
    accepted(portal, http)
    payment = {"reference": "BANK-X", "account_id": "SMALL", "paid_on": "2013-06-14", "amount": "50.00"}
    post_payment(portal, http, payment, delivery="x-1")

    conflict = post_payment(portal, http, {**payment, "amount": "60.00"}, delivery="x-2")

    assert conflict.status_code == 409
    assert conflict.json()["detail"].startswith("conflict: reference BANK-X was already recorded with amount 50.00")
    with portal.runtime.session_factory() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "payment.conflict"))
        amounts = session.scalars(select(Payment.amount)).all()
    assert event is not None and event.after["amount"] == "60.00"
    assert [str(amount) for amount in amounts] == ["50.00"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"action": "accept", "typed_name": "Dana\x00 Smith", "consent": "yes"}, "typed_name-error"),
        ({"action": "changes", "message": "Six\x00 installments"}, "message-error"),
        ({"action": "decline", "reason": "No\x1b thanks"}, "reason-error"),
    ],
)
def test_control_characters_in_the_form_are_field_errors(portal: PortalServer, http: httpx.Client, data: dict, field: str) -> None:
    request_id, path = portal.approved_agreement()

    answer = http.post(path, data={**data, "form_token": form_token(http.get(path).text)})

    assert answer.status_code == 400
    assert f'id="{field}"' in answer.text
    assert "control characters" in answer.text or "cannot be shown" in answer.text
    assert portal.status(request_id) == "sent_to_customer"


@pytest.mark.parametrize("name", ["\u200b\u200b", "\u200d \u2060", "...", "\u3164\u3164"])
def test_invisible_names_do_not_sign(portal: PortalServer, http: httpx.Client, name: str) -> None:
    request_id, path = portal.approved_agreement()

    answer = http.post(path, data={"action": "accept", "typed_name": name, "consent": "yes", "form_token": form_token(http.get(path).text)})

    assert answer.status_code == 400
    assert 'id="typed_name-error"' in answer.text
    assert portal.status(request_id) == "sent_to_customer"


def test_signed_name_drops_format_characters(portal: PortalServer, http: httpx.Client) -> None:
    _, path = portal.approved_agreement()

    http.post(path, data={"action": "accept", "typed_name": "Dana\u200b \u202eSmith", "consent": "yes", "form_token": form_token(http.get(path).text)})

    with portal.runtime.session_factory() as session:
        assert session.scalars(select(AgreementResponse.typed_name)).all() == ["Dana Smith"]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"reference": "BANK\x00-9"}, "reference", "control characters"),
        ({"account_id": "A" * 65}, "account_id", "at most 64"),
        ({"account_id": "SMA\x00LL"}, "account_id", "control characters"),
        ({"amount": 50.5}, "amount", "must be a JSON string"),
        ({"amount": 50}, "amount", "not a number"),
        ({"reference": 12345}, "reference", "must be a JSON string"),
        ({"paid_on": 20130715}, "paid_on", "must be a JSON string"),
        ({"paid_on": "20130715"}, "paid_on", "YYYY-MM-DD"),
        ({"paid_on": "2013-W29-1"}, "paid_on", "YYYY-MM-DD"),
        ({"paid_on": "1999-12-31"}, "paid_on", "before 2000-01-01"),
        ({"paid_on": "2013-06-20"}, "paid_on", "more than 5 days after today"),
    ],
)
def test_payments_webhook_rejects_bad_fields(portal: PortalServer, http: httpx.Client, change: dict, field: str, words: str) -> None:
    payment = {"reference": "BANK-9", "account_id": "SMALL", "paid_on": "2013-06-14", "amount": "50.00", **change}

    answer = post_payment(portal, http, payment, delivery="bad-1")

    assert answer.status_code == 422
    assert words in answer.json()["fields"][field]
    with portal.runtime.session_factory() as session:
        assert session.scalars(select(UnmatchedPayment)).all() == []


def test_agreement_in_force_stays_readable_while_new_terms_wait(portal: PortalServer, http: httpx.Client) -> None:
    request_id, path = portal.approved_agreement()
    http.post(path, data={"action": "accept", "typed_name": "Dana Smith", "consent": "yes", "form_token": form_token(http.get(path).text)})
    portal.runtime.workflow.reopen_for_changes(
        actor="UREQUESTER", request_id=request_id, down_payment=Decimal("0"), installment_count=5, first_due_date=date(2013, 7, 20)
    )

    page = http.get(path)
    pdf = http.get(path + "/pdf")

    assert page.status_code == 200
    assert "New terms have been proposed" in page.text
    assert 'name="form_token"' not in page.text
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")


def test_post_to_a_tampered_link_is_gone(portal: PortalServer, http: httpx.Client) -> None:
    request_id, path = portal.approved_agreement()
    token = form_token(http.get(path).text)

    answer = http.post(path[:-4] + "AAAA", data={"action": "accept", "typed_name": "Dana Smith", "consent": "yes", "form_token": token})

    assert answer.status_code == 410
    assert "not valid" in answer.text
    assert portal.status(request_id) == "sent_to_customer"


def test_fingerprint_wraps_on_narrow_screens(portal: PortalServer, http: httpx.Client) -> None:
    _, path = portal.approved_agreement()

    assert "#terms-hash { overflow-wrap: anywhere; }" in http.get(path).text


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]"])
def test_payments_webhook_answers_422_for_a_body_that_is_not_an_object(portal: PortalServer, http: httpx.Client, body: bytes) -> None:
    headers = signed_headers(PAYMENTS_SECRET, body, delivery_id="nj-1", now=portal.clock.now())

    answer = http.post("/webhooks/payments", content=body, headers={**headers, "content-type": "application/json"})

    assert answer.status_code == 422
    assert "JSON" in answer.json()["error"]
