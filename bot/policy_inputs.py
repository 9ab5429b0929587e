"""Policy engine inputs read from the database: the account's profile and its plan history."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from policy.engine import AccountProfile
from policy.facts import PriorPlan
from policy.lifecycle import Status
from storage.models import Account, PlanRequest

# Request statuses that mean a plan existed, and the plan outcome each one records.
PLAN_OUTCOMES = {Status.ACTIVE.value: "active", Status.COMPLETED.value: "completed", Status.DEFAULTED.value: "defaulted"}


def account_profile(session: Session, account_id: str, as_of: date) -> AccountProfile:
    """Return the account's segment, currency, standing and the plans it had before ``as_of``."""
    account = session.get(Account, account_id)
    if account is None:
        return AccountProfile()
    return AccountProfile(
        segment=account.segment,
        currency=account.currency,
        status=account.standing,
        prior_plans=tuple(prior_plans(session, account_id, as_of)),
    )


def prior_plans(session: Session, account_id: str, as_of: date) -> list[PriorPlan]:
    """Return the account's plans that became active, with their outcome, started on or before ``as_of``."""
    query = (
        select(PlanRequest)
        .where(PlanRequest.account_id == account_id, PlanRequest.status.in_(list(PLAN_OUTCOMES)), PlanRequest.as_of <= as_of)
        .order_by(PlanRequest.as_of, PlanRequest.id)
    )
    plans = []
    for request in session.scalars(query):
        outcome = PLAN_OUTCOMES[request.status]
        ended = None if outcome == "active" else request.updated_at.date()
        plans.append(PriorPlan(outcome, request.as_of, ended))
    return plans
