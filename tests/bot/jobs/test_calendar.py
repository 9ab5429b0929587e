"""Business calendar: working hours, weekends, holidays and daylight saving time."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest

from bot.jobs.calendar import BusinessCalendar

NEW_YORK = BusinessCalendar.build("America/New_York", day_start=time(9), day_end=time(17), country="US")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def test_hours_within_one_day() -> None:
    # 10:00 to 15:30 EST on Monday 2 March 2026.
    assert NEW_YORK.business_time_between(utc(2026, 3, 2, 15), utc(2026, 3, 2, 20, 30)) == timedelta(hours=5, minutes=30)


def test_weekend_not_counted() -> None:
    # Friday 16:00 EST to Monday 10:00 EST.
    assert NEW_YORK.business_time_between(utc(2026, 2, 27, 21), utc(2026, 3, 2, 15)) == timedelta(hours=2)


def test_holiday_not_counted() -> None:
    # Wednesday 25 November 16:00 to Friday 27 November 10:00 EST skips Thanksgiving.
    assert NEW_YORK.business_time_between(utc(2026, 11, 25, 21), utc(2026, 11, 27, 15)) == timedelta(hours=2)
    assert not NEW_YORK.is_business_day(date(2026, 11, 26))


def test_hours_across_spring_forward() -> None:
    # Friday 16:00 EST to Monday 10:00 EDT, across 8 March 2026.
    assert NEW_YORK.business_time_between(utc(2026, 3, 6, 21), utc(2026, 3, 9, 14)) == timedelta(hours=2)


def test_hours_across_fall_back() -> None:
    # Friday 16:00 EDT to Monday 10:00 EST, across 1 November 2026.
    assert NEW_YORK.business_time_between(utc(2026, 10, 30, 20), utc(2026, 11, 2, 15)) == timedelta(hours=2)


def test_end_before_start_is_zero() -> None:
    assert NEW_YORK.business_time_between(utc(2026, 3, 2, 20), utc(2026, 3, 2, 15)) == timedelta(0)


def test_local_time_follows_dst() -> None:
    assert NEW_YORK.at_local(date(2026, 3, 6), time(8, 30)) == utc(2026, 3, 6, 13, 30)
    assert NEW_YORK.at_local(date(2026, 3, 9), time(8, 30)) == utc(2026, 3, 9, 12, 30)


def test_next_occurrence_skips_holiday() -> None:
    assert NEW_YORK.next_occurrence(utc(2026, 11, 25, 14), time(8, 30)) == utc(2026, 11, 27, 13, 30)


def test_unknown_holiday_country() -> None:
    with pytest.raises(ValueError, match="'XX' is not available"):
        BusinessCalendar.build("UTC", country="XX")
