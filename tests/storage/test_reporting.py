"""Report figures checked against values computed by hand on a fixed data set."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from storage.audit import record_event
from storage.models import Account, Agreement, ApprovalStep, Assessment, Installment, Payment, PlanRequest, TermRevision
from storage.reporting import DurationStats, Rate, balance_band_label, compute_report, duration_stats, figure_rows, rate

START = date(2026, 3, 1)
END = date(2026, 3, 31)
AS_OF = date(2026, 6, 15)

INSTALLMENTS_ABOVE_MAX = {"code": "installments_above_max", "message": "8 installments is above the maximum of 6",
                          "limit": "6", "actual": "8", "blocking": False}
LEGAL_REVIEW = {"code": "legal_review_required", "message": "balance is above the legal review threshold",
                "limit": "25000.00", "actual": "30000.00", "blocking": False}
DISPUTED_SHARE = {"code": "disputed_share_above_max", "message": "40% of the balance is disputed; the maximum is 25%",
                  "limit": "0.25", "actual": "0.40", "blocking": True}


@dataclass
class Plan:
    """One request of the data set; step durations in hours from when each step became pending."""

    request_id: int
    created_at: datetime
    status: str
    grade: str
    balance: str
    route: list[str]
    flags: list[dict[str, object]] = field(default_factory=list)
    # (tier, status, hours pending, comment)
    steps: list[tuple[str, str, Decimal, str]] = field(default_factory=list)
    accepted_after_hours: int | None = None
    installments: list[tuple[date, str]] = field(default_factory=list)
    # (installment sequence, paid on, amount)
    payments: list[tuple[int, date, str]] = field(default_factory=list)


def at(day: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, 9, 0, tzinfo=timezone.utc)


PLANS = [
    Plan(1, at(2), "active", "A", "2000.00", ["collections_manager"],
         steps=[("collections_manager", "approved", Decimal("1.5"), "")],
         accepted_after_hours=24,
         installments=[(date(2026, 4, 1), "500.00"), (date(2026, 5, 1), "500.00"),
                       (date(2026, 6, 1), "500.00"), (date(2026, 7, 1), "500.00")],
         # The third payment comes after the report date, so it does not count.
         payments=[(1, date(2026, 4, 1), "500.00"), (2, date(2026, 5, 3), "500.00"), (3, date(2026, 6, 20), "500.00")]),
    Plan(2, at(5), "defaulted", "C", "3000.00", ["collections_manager"], flags=[INSTALLMENTS_ABOVE_MAX],
         steps=[("collections_manager", "approved", Decimal("4"), "customer has paid for ten years")],
         accepted_after_hours=48,
         installments=[(date(2026, 4, 1), "1000.00"), (date(2026, 5, 1), "1000.00"), (date(2026, 6, 1), "1000.00")],
         payments=[(1, date(2026, 4, 5), "1000.00")]),
    Plan(3, at(9), "rejected", "C", "3500.00", ["collections_manager"],
         steps=[("collections_manager", "rejected", Decimal("6.25"), "two missed plans last year")]),
    Plan(4, at(12), "completed", "A", "30000.00", ["finance_controller", "legal_compliance"], flags=[LEGAL_REVIEW],
         steps=[("finance_controller", "approved", Decimal("10"), ""), ("legal_compliance", "approved", Decimal("20"), "")],
         accepted_after_hours=12,
         installments=[(date(2026, 4, 1), "15000.00"), (date(2026, 5, 1), "15000.00")],
         payments=[(1, date(2026, 4, 1), "15000.00"), (2, date(2026, 5, 1), "15000.00")]),
    Plan(5, at(20), "pending_approval", "B", "800.00", ["collections_manager"],
         steps=[("collections_manager", "pending", Decimal("0"), "")]),
    Plan(6, at(31), "ineligible", "C", "3200.00", [], flags=[DISPUTED_SHARE]),
    # Opened in February, so outside the report's range: none of its values may count.
    Plan(7, at(20, month=2), "defaulted", "A", "1000.00", ["collections_manager"],
         steps=[("collections_manager", "approved", Decimal("100"), "")],
         accepted_after_hours=500,
         installments=[(date(2026, 4, 1), "500.00"), (date(2026, 5, 1), "500.00")]),
]


def add_plan(session: Session, plan: Plan) -> None:
    account_id = f"ACCT{plan.request_id}"
    session.add(Account(id=account_id, status="collections"))
    request = PlanRequest(
        id=plan.request_id, account_id=account_id, requested_by="UREQUESTER", status=plan.status,
        as_of=plan.created_at.date(), reason_category="cash_flow", current_revision=1,
        created_at=plan.created_at, updated_at=plan.created_at,
    )
    session.add(request)
    session.flush()
    revision = TermRevision(
        request_id=request.id, number=1, balance=Decimal(plan.balance), down_payment=Decimal("0.00"),
        installment_count=max(len(plan.installments), 1), first_due_date=date(2026, 4, 1),
        created_by="UREQUESTER", created_at=plan.created_at,
    )
    session.add(revision)
    session.flush()
    session.add(Assessment(
        revision_id=revision.id, policy_version="2026.1", eligible=plan.status != "ineligible",
        risk_grade=plan.grade, route=plan.route, flags=plan.flags, risk_factors=[], facts={}, schedule=[],
        summary={}, created_at=plan.created_at,
    ))

    pending_since = plan.created_at
    for sequence, (tier, status, hours, comment) in enumerate(plan.steps, start=1):
        decided = status in ("approved", "rejected")
        decided_at = pending_since + timedelta(minutes=int(hours * 60)) if decided else None
        session.add(ApprovalStep(
            revision_id=revision.id, sequence=sequence, tier=tier, status=status,
            decided_by="UMANAGER" if decided else None, decided_at=decided_at, comment=comment or None,
        ))
        if decided_at is not None:
            pending_since = decided_at

    if plan.accepted_after_hours is not None:
        session.add(Agreement(
            request_id=request.id, revision_id=revision.id, terms_hash="e" * 64, status="accepted",
            created_at=pending_since, expires_at=pending_since + timedelta(days=30),
            accepted_at=pending_since + timedelta(hours=plan.accepted_after_hours),
        ))

    installment_ids = {}
    for sequence, (due, amount) in enumerate(plan.installments, start=1):
        installment = Installment(request_id=request.id, revision_id=revision.id, sequence=sequence,
                                  due_date=due, amount=Decimal(amount), status="scheduled")
        session.add(installment)
        session.flush()
        installment_ids[sequence] = installment.id
    for sequence, paid_on, amount in plan.payments:
        session.add(Payment(account_id=account_id, installment_id=installment_ids[sequence], paid_on=paid_on,
                            amount=Decimal(amount), source="test"))
    session.flush()


def add_events(session: Session) -> None:
    def event(request_id: int, action: str, before: dict[str, str] | None = None, actor: str = "system:test") -> None:
        record_event(session, actor=actor, action=action, at=at(25), request_id=request_id, revision=1,
                     before=before or {}, after={})

    event(5, "step.nudged", actor="system:sla")
    event(5, "step.nudged", actor="system:sla")
    event(5, "step.escalated", actor="system:sla")
    event(5, "step.sla_breached", actor="system:sla")
    # An approver's own Escalate click is no SLA breach.
    event(5, "step.escalated", actor="U0APPROVER")
    # Outside the range: not counted.
    event(7, "step.escalated", actor="system:sla")
    # Request 1 was granted an exception, so it was decided outside standard policy.
    event(1, "exception.granted")


@pytest.fixture
def report_session(session: Session) -> Session:
    for plan in PLANS:
        add_plan(session, plan)
    add_events(session)
    session.commit()
    return session


def test_report_counts_requests_by_outcome(report_session: Session) -> None:
    report = compute_report(report_session, start=START, end=END, as_of=AS_OF)

    # Requests 1 to 6 were opened in March; request 7 in February.
    assert report.requests == 6
    assert report.outcomes == {
        "active": 1, "completed": 1, "defaulted": 1, "ineligible": 1, "pending_approval": 1, "rejected": 1,
    }


def test_report_approval_time_by_tier(report_session: Session) -> None:
    report = compute_report(report_session, start=START, end=END, as_of=AS_OF)

    # collections_manager: 1.5 h (request 1), 4 h (request 2), 6.25 h (request 3); the
    # pending step of request 5 and February's request 7 do not count.
    # Sorted 1.5, 4, 6.25: median 4; 90th percentile rank ceil(0.9 * 3) = 3, so 6.25.
    assert report.approval_time_by_tier["collections_manager"] == DurationStats(3, Decimal("4.00"), Decimal("6.25"))
    # Request 4: the controller took 10 h, then legal 20 h after the controller's decision.
    assert report.approval_time_by_tier["finance_controller"] == DurationStats(1, Decimal("10.00"), Decimal("10.00"))
    assert report.approval_time_by_tier["legal_compliance"] == DurationStats(1, Decimal("20.00"), Decimal("20.00"))
    assert set(report.approval_time_by_tier) == {"collections_manager", "finance_controller", "legal_compliance"}


def test_report_sla_breaches(report_session: Session) -> None:
    report = compute_report(report_session, start=START, end=END, as_of=AS_OF)

    # Request 5: two nudges, one SLA escalation and one breach at the top tier; the
    # approver's own escalation does not count, and request 7's is out of range.
    assert report.sla_breaches == {"step.escalated": 1, "step.nudged": 2, "step.sla_breached": 1}


def test_report_approval_to_acceptance(report_session: Session) -> None:
    report = compute_report(report_session, start=START, end=END, as_of=AS_OF)

    # Requests 1, 2 and 4 accepted 24 h, 48 h and 12 h after approval.
    # Sorted 12, 24, 48: median 24; 90th percentile rank 3, so 48.
    assert report.approval_to_acceptance == DurationStats(3, Decimal("24.00"), Decimal("48.00"))


def test_report_recovery_rate(report_session: Session) -> None:
    report = compute_report(report_session, start=START, end=END, as_of=AS_OF)

    # Due by 15 June: request 1 3 x 500 = 1500, request 2 3 x 1000 = 3000,
    # request 4 2 x 15000 = 30000; 34500 in all.
    # Collected by 15 June: 500 + 500 (request 1; the 20 June payment is
    # later), 1000 (request 2), 30000 (request 4); 32000 in all.
    # 32000 / 34500 = 92.753...% -> 92.8.
    assert report.recovery == Rate(Decimal("32000.00"), Decimal("34500.00"), Decimal("92.8"))


def test_report_default_rate_by_grade_and_tier(report_session: Session) -> None:
    report = compute_report(report_session, start=START, end=END, as_of=AS_OF)

    # Activated: request 1 (A, collections_manager, active), 2 (C,
    # collections_manager, defaulted), 4 (A, finance_controller, completed).
    # Grade A: 0 of 2; grade C: 1 of 1.
    assert report.default_rate_by_grade == {
        "A": Rate(0, 2, Decimal("0.0")),
        "C": Rate(1, 1, Decimal("100.0")),
    }
    # collections_manager: 1 of 2 = 50%; finance_controller: 0 of 1.
    assert report.default_rate_by_tier == {
        "collections_manager": Rate(1, 2, Decimal("50.0")),
        "finance_controller": Rate(0, 1, Decimal("0.0")),
    }


def test_report_share_outside_standard_policy(report_session: Session) -> None:
    report = compute_report(report_session, start=START, end=END, as_of=AS_OF)

    # Decided by an approver: requests 1, 2, 3, 4. Outside standard policy:
    # 1 (exception granted) and 2 (installments above the maximum). Request
    # 4's legal review flag only routes it. 2 of 4 = 50%.
    assert report.outside_standard_policy == Rate(2, 4, Decimal("50.0"))


def test_report_consistency_groups(report_session: Session) -> None:
    report = compute_report(report_session, start=START, end=END, as_of=AS_OF)

    # Grade C, balance 1000 to <5000: request 2 approved, 3 rejected, and 6
    # left out because the policy closed it as ineligible. Grade A in the
    # same band holds only request 1, and request 4 is alone in its band, so
    # neither group is listed.
    assert len(report.consistency) == 1
    group = report.consistency[0]
    assert (group.risk_grade, group.balance_band) == ("C", "1000 to <5000")
    assert [(case.request_id, case.outcome) for case in group.cases] == [(2, "approved"), (3, "rejected")]
    assert group.cases[0].reasons == (
        "policy: 8 installments is above the maximum of 6",
        "collections_manager approved by UMANAGER: customer has paid for ten years",
    )
    assert group.cases[1].reasons == ("collections_manager rejected by UMANAGER: two missed plans last year",)
    assert group.cases[1].balance == Decimal("3500.00")


def test_consistency_ignores_ineligible_requests(session: Session) -> None:
    # Request 2 was approved and request 6, of the same grade and band, was
    # closed by the eligibility rules: no person decided differently.
    add_plan(session, PLANS[1])
    add_plan(session, PLANS[5])
    session.commit()

    report = compute_report(session, start=START, end=END, as_of=AS_OF)

    assert report.outcomes == {"defaulted": 1, "ineligible": 1}
    assert report.consistency == ()


def test_report_accepts_widest_date_range(report_session: Session) -> None:
    report = compute_report(report_session, start=date(1, 1, 1), end=date(9999, 12, 31), as_of=AS_OF)

    assert report.requests == 7


def test_report_without_range_includes_every_request(report_session: Session) -> None:
    report = compute_report(report_session, start=None, end=None, as_of=AS_OF)

    assert report.requests == 7
    # Request 7 adds 1000 due and nothing collected: 32000 / 35500 = 90.140...% -> 90.1.
    assert report.recovery == Rate(Decimal("32000.00"), Decimal("35500.00"), Decimal("90.1"))


def test_report_start_after_end_raises(session: Session) -> None:
    with pytest.raises(ValueError, match="swap them"):
        compute_report(session, start=END, end=START, as_of=AS_OF)


def test_report_on_empty_database(session: Session) -> None:
    report = compute_report(session, start=START, end=END, as_of=AS_OF)

    assert report.requests == 0
    assert report.recovery.percent is None
    assert report.approval_to_acceptance == DurationStats(0, None, None)
    assert report.outside_standard_policy == Rate(0, 0, None)


def test_duration_stats_even_count_median() -> None:
    hours = [timedelta(hours=value) for value in (1, 2, 3, 10)]

    # Median (2 + 3) / 2 = 2.5; 90th percentile rank ceil(0.9 * 4) = 4, so 10.
    assert duration_stats(hours) == DurationStats(4, Decimal("2.50"), Decimal("10.00"))


def test_rate_rounds_half_up() -> None:
    # 1 / 8 = 12.5% exactly; 1 / 16 = 6.25% -> 6.3 half up.
    assert rate(1, 8).percent == Decimal("12.5")
    assert rate(1, 16).percent == Decimal("6.3")


@pytest.mark.parametrize(
    ("balance", "label"),
    [("0.00", "0 to <1000"), ("999.99", "0 to <1000"), ("1000.00", "1000 to <5000"), ("250000.00", "100000+")],
)
def test_balance_band_label(balance: str, label: str) -> None:
    bands = [Decimal("0"), Decimal("1000"), Decimal("5000"), Decimal("25000"), Decimal("100000")]

    assert balance_band_label(Decimal(balance), bands) == label


def test_figure_basis_singular_for_one(report_session: Session) -> None:
    report = compute_report(report_session, start=START, end=END, as_of=AS_OF)
    bases = {(row.figure, row.group): row.basis for row in figure_rows(report)}

    assert bases[("approval hours, median", "legal_compliance")] == "1 decision"
    assert bases[("approval hours, median", "collections_manager")] == "3 decisions"
