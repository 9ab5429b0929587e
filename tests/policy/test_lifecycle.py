"""Lifecycle transitions of negotiation: waiting on the requester, revisions, withdrawal."""

from __future__ import annotations

import pytest

from policy.lifecycle import InvalidTransition, Status, check_transition


@pytest.mark.parametrize(
    "current, target",
    [
        (Status.PENDING_APPROVAL, Status.WAITING_ON_REQUESTER),
        (Status.WAITING_ON_REQUESTER, Status.PENDING_APPROVAL),
        (Status.PENDING_APPROVAL, Status.ASSESSED),
        (Status.CHANGES_REQUESTED, Status.ASSESSED),
        (Status.INELIGIBLE, Status.ASSESSED),
        (Status.INELIGIBLE, Status.WITHDRAWN),
        (Status.WAITING_ON_REQUESTER, Status.WITHDRAWN),
    ],
)
def test_negotiation_moves_allowed(current: Status, target: Status) -> None:
    assert check_transition(current, target) == target


@pytest.mark.parametrize(
    "current, target",
    [
        (Status.WAITING_ON_REQUESTER, Status.APPROVED),
        (Status.WITHDRAWN, Status.ASSESSED),
        (Status.ACTIVE, Status.WITHDRAWN),
        (Status.REJECTED, Status.ASSESSED),
    ],
)
def test_closed_or_waiting_moves_rejected(current: Status, target: Status) -> None:
    with pytest.raises(InvalidTransition):
        check_transition(current, target)
