"""Approval permissions: tier approvers (users or user groups) and per-approver limits.

``PAYPLAN_APPROVERS`` lists Slack user ids (``U…``/``W…``) and user group
ids (``S…``) per tier. Group members are read with ``usergroups.users.list``
and cached for a TTL, so a click does not wait on Slack each time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from slack_sdk import WebClient

from bot.clock import Clock
from bot.outbox import SLACK_SEND_ERRORS, classify

logger = logging.getLogger(__name__)


def is_usergroup_id(entry: str) -> bool:
    return entry.startswith("S")


@dataclass(frozen=True)
class _CachedGroup:
    members: frozenset[str]
    fetched_at: datetime


class ApproverDirectory:
    """Resolve each tier's approvers, expanding user groups through the Slack Web API.

    Without a client, group entries match no user. When Slack cannot be
    reached, the last known members of a group are used, however old.
    """

    def __init__(self, approvers: dict[str, list[str]], *, client: WebClient | None, clock: Clock, ttl: timedelta) -> None:
        self.approvers = approvers
        self.client = client
        self.clock = clock
        self.ttl = ttl
        self._cache: dict[str, _CachedGroup] = {}
        self._lock = threading.Lock()

    def is_approver(self, tier: str, user_id: str) -> bool:
        entries = self.approvers.get(tier, [])
        if user_id in entries:
            return True
        return any(user_id in self.group_members(entry) for entry in entries if is_usergroup_id(entry))

    def group_members(self, usergroup_id: str) -> frozenset[str]:
        now = self.clock.now()
        with self._lock:
            cached = self._cache.get(usergroup_id)
        if cached is not None and now - cached.fetched_at < self.ttl:
            return cached.members
        if self.client is None:
            return cached.members if cached else frozenset()
        try:
            response = self.client.usergroups_users_list(usergroup=usergroup_id)
        except SLACK_SEND_ERRORS as error:
            failure = classify(error)
            logger.error("reading members of user group %s failed: %s; using %s", usergroup_id, failure.error,
                         "the cached members" if cached else "no members")
            return cached.members if cached else frozenset()
        members = frozenset(response.get("users") or [])
        with self._lock:
            self._cache[usergroup_id] = _CachedGroup(members, now)
        logger.info("user group %s has %d members", usergroup_id, len(members))
        return members


def approval_limit_error(limits: dict[str, Decimal], user_id: str, balance: Decimal, currency: str) -> str | None:
    """Return why ``user_id`` may not approve ``balance``, or None when no limit stops them."""
    limit = limits.get(user_id)
    if limit is None or balance <= limit:
        return None
    return (
        f"Your approval limit is {currency} {limit:,.2f} and this plan's balance is {currency} {balance:,.2f}, "
        "so an approver with a higher limit must approve it. You can still reject it."
    )
