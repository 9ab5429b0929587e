"""The team's business calendar: working hours in its timezone, without weekends and holidays.

Every computation converts local wall-clock times to aware datetimes with
``zoneinfo``, so a day that daylight saving time shortens or lengthens counts
its real number of hours, and each local date occurs exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import holidays


@dataclass(frozen=True)
class BusinessCalendar:
    timezone_name: str
    day_start: time = time(9)
    day_end: time = time(17)
    holiday_dates: holidays.HolidayBase | frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def build(
        cls,
        timezone_name: str,
        *,
        day_start: time = time(9),
        day_end: time = time(17),
        country: str | None = None,
        subdivision: str | None = None,
    ) -> BusinessCalendar:
        """Create a calendar; ``country`` and ``subdivision`` name a calendar of the ``holidays`` package."""
        holiday_dates: holidays.HolidayBase | frozenset[date] = frozenset()
        if country:
            try:
                holiday_dates = holidays.country_holidays(country, subdiv=subdivision)
            except NotImplementedError:
                raise ValueError(
                    f"holiday calendar {country!r} is not available; use an ISO 3166 country code such as US or GB"
                ) from None
        return cls(timezone_name, day_start, day_end, holiday_dates)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone_name)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holiday_dates

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def at_local(self, day: date, clock_time: time) -> datetime:
        """Return the UTC instant of ``clock_time`` on ``day`` in the team's timezone."""
        return datetime.combine(day, clock_time, tzinfo=self.zone).astimezone(timezone.utc)

    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Return the working time between two instants: only business hours of business days count."""
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        for day in _dates(self.local_date(start), self.local_date(end)):
            if not self.is_business_day(day):
                continue
            opens, closes = self.at_local(day, self.day_start), self.at_local(day, self.day_end)
            overlap = min(closes, end) - max(opens, start)
            if overlap > timedelta(0):
                total += overlap
        return total

    def latest_occurrence(self, now: datetime, clock_time: time) -> date | None:
        """Return the latest business day whose ``clock_time`` has passed at ``now``, looking back 14 days.

        A daily job keys its work by this date, so a run after downtime does
        the one missed occurrence once, and a DST change neither skips nor
        repeats a date.
        """
        today = self.local_date(now)
        for back in range(15):
            day = today - timedelta(days=back)
            if self.is_business_day(day) and self.at_local(day, clock_time) <= now:
                return day
        return None

    def next_occurrence(self, after: datetime, clock_time: time) -> datetime:
        """Return the first instant after ``after`` at ``clock_time`` on a business day."""
        day = self.local_date(after)
        for _ in range(400):
            moment = self.at_local(day, clock_time)
            if self.is_business_day(day) and moment > after:
                return moment
            day += timedelta(days=1)
        raise ValueError(f"no business day within 400 days after {after.isoformat()}; check the holiday calendar")


def _dates(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
