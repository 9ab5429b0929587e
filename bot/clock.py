"""Clocks: the only place the application reads the current time.

``policy/`` never reads a clock; the workflow passes it dates. The demo
replays history with a :class:`FixedClock` set to each request's date.
"""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current time as an aware datetime."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that stays where it is set; thread-safe so a replay can move it."""

    def __init__(self, moment: datetime) -> None:
        self._lock = threading.Lock()
        self.set(moment)

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError(f"FixedClock needs an aware datetime, got {moment.isoformat()}")
        with self._lock:
            self._moment = moment

    def now(self) -> datetime:
        with self._lock:
            return self._moment


def business_date(clock: Clock, timezone_name: str) -> date:
    """Return today's date in the team's timezone."""
    return clock.now().astimezone(ZoneInfo(timezone_name)).date()
