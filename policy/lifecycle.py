"""Request statuses and the transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    REQUESTED = "requested"
    ASSESSED = "assessed"
    INELIGIBLE = "ineligible"
    PENDING_APPROVAL = "pending_approval"
    # An approver asked the requester for documents or information; the
    # approval clock stops until the requester answers.
    WAITING_ON_REQUESTER = "waiting_on_requester"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    SENT_TO_CUSTOMER = "sent_to_customer"
    DECLINED = "declined"
    EXPIRED = "expired"
    ACTIVE = "active"
    COMPLETED = "completed"
    DEFAULTED = "defaulted"
    WITHDRAWN = "withdrawn"


OPEN_STATUSES = frozenset(
    {
        Status.REQUESTED,
        Status.ASSESSED,
        Status.PENDING_APPROVAL,
        Status.WAITING_ON_REQUESTER,
        Status.CHANGES_REQUESTED,
        Status.APPROVED,
        Status.SENT_TO_CUSTOMER,
    }
)

# Statuses in which the account has a plan in force or on its way to one.
PLAN_STATUSES = OPEN_STATUSES | {Status.ACTIVE}

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.REQUESTED: frozenset({Status.ASSESSED}),
    Status.ASSESSED: frozenset({Status.PENDING_APPROVAL, Status.INELIGIBLE}),
    # A top-tier exception sends an ineligible request on to its route, and
    # revised terms are assessed again.
    Status.INELIGIBLE: frozenset({Status.PENDING_APPROVAL, Status.ASSESSED}),
    # ASSESSED again means the requester revised the terms.
    Status.PENDING_APPROVAL: frozenset(
        {Status.APPROVED, Status.REJECTED, Status.CHANGES_REQUESTED, Status.WAITING_ON_REQUESTER, Status.ASSESSED}
    ),
    Status.WAITING_ON_REQUESTER: frozenset({Status.PENDING_APPROVAL, Status.ASSESSED}),
    Status.CHANGES_REQUESTED: frozenset({Status.ASSESSED}),
    Status.APPROVED: frozenset({Status.SENT_TO_CUSTOMER}),
    # The customer may ask for changes instead of accepting or declining.
    Status.SENT_TO_CUSTOMER: frozenset({Status.ACTIVE, Status.DECLINED, Status.EXPIRED, Status.CHANGES_REQUESTED}),
    # Renegotiating an active plan opens a new revision; the old agreement
    # stays in force until the new one is accepted.
    Status.ACTIVE: frozenset({Status.COMPLETED, Status.DEFAULTED, Status.CHANGES_REQUESTED}),
    # New terms after a decline or an expired link, or the same terms resent
    # with a new link after it expired.
    Status.DECLINED: frozenset({Status.CHANGES_REQUESTED}),
    Status.EXPIRED: frozenset({Status.CHANGES_REQUESTED, Status.SENT_TO_CUSTOMER}),
    # Reinstatement: a defaulted plan returns only through a new revision and approval.
    Status.DEFAULTED: frozenset({Status.CHANGES_REQUESTED}),
}
# The requester may withdraw a request in any open status, and an ineligible
# one, which stays open for a revision or an exception.
for _status in OPEN_STATUSES | {Status.INELIGIBLE}:
    TRANSITIONS[_status] = TRANSITIONS.get(_status, frozenset()) | {Status.WITHDRAWN}


class InvalidTransition(ValueError):
    """Raised when a request would move between two statuses that are not linked."""

    def __init__(self, current: Status, target: Status) -> None:
        allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "none (final status)"
        super().__init__(f"a request in status {current} cannot move to {target}; allowed: {allowed}")
        self.current = current
        self.target = target


def check_transition(current: str, target: str) -> Status:
    """Return ``target`` as a Status if the move from ``current`` is allowed, else raise."""
    current_status, target_status = Status(current), Status(target)
    if target_status not in TRANSITIONS.get(current_status, frozenset()):
        raise InvalidTransition(current_status, target_status)
    return target_status
