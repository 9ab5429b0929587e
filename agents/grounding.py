"""The grounding check: every number and date in model text must come from the facts.

A figure counts as grounded when some figure of the facts bundle, rounded to
the number of decimals the model wrote, equals it. A percentage may also be a
share of the bundle times 100. So "1,235" is grounded by 1234.50, and "66.7%"
by an on-time share of 0.6667. A date is grounded when the bundle contains it;
a month and year alone is grounded by any date in that month.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_MONTH_ABBREVIATIONS = "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
_MONTH = rf"(?:{_MONTHS}|{_MONTH_ABBREVIATIONS})\.?"

DATE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b\d{4}-\d{2}-\d{2}\b"), "iso"),
    (re.compile(rf"\b\d{{1,2}}\s+{_MONTH}\s+\d{{4}}\b", re.IGNORECASE), "day_month_year"),
    (re.compile(rf"\b{_MONTH}\s+\d{{1,2}},?\s+\d{{4}}\b", re.IGNORECASE), "month_day_year"),
    (re.compile(rf"\b{_MONTH}\s+\d{{4}}\b", re.IGNORECASE), "month_year"),
)
# A number with optional thousands separators and decimals, and an optional percent sign.
NUMBER_PATTERN = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?%?|(?<![\w.])\d+(?:\.\d+)?%?")
# Placeholders such as [PHONE_2] carry numbers that are not figures.
PLACEHOLDER_PATTERN = re.compile(r"\[[A-Z_]+_\d+\]")


@dataclass(frozen=True)
class GroundingResult:
    """The figures of a text that the facts do not contain."""

    ungrounded: tuple[str, ...]

    @property
    def grounded(self) -> bool:
        return not self.ungrounded


class FactIndex:
    """The numbers and dates of a facts bundle, for grounding checks."""

    def __init__(self, bundle: Any) -> None:
        text = json.dumps(bundle, default=str)
        self.dates = {value for value, _ in _find_dates(text)}
        self.months = {(value.year, value.month) for value in self.dates}
        numbers: set[Decimal] = set()
        for match in NUMBER_PATTERN.finditer(_without_dates(text)):
            numbers.add(_parse_number(match.group().rstrip("%")))
        # Years and day numbers of the bundle's dates may be written on their own.
        for value in self.dates:
            numbers.update({Decimal(value.year), Decimal(value.day)})
        self.numbers = numbers

    def check(self, text: str) -> GroundingResult:
        """Return the numbers and dates in ``text`` that the bundle does not ground."""
        text = PLACEHOLDER_PATTERN.sub(" ", text)
        ungrounded: list[str] = []
        for value, written in _find_dates(text):
            if isinstance(value, tuple):
                if value not in self.months:
                    ungrounded.append(written)
            elif value not in self.dates:
                ungrounded.append(written)

        for match in NUMBER_PATTERN.finditer(_without_dates(text)):
            written = match.group()
            if not self._number_grounded(written):
                ungrounded.append(written)
        return GroundingResult(tuple(ungrounded))

    def _number_grounded(self, written: str) -> bool:
        is_percent = written.endswith("%")
        value = _parse_number(written.rstrip("%"))
        places = _decimal_places(written.rstrip("%"))
        exponent = Decimal(1).scaleb(-places)
        for fact in self.numbers:
            if fact.quantize(exponent, rounding=ROUND_HALF_UP) == value:
                return True
            if is_percent and (fact * 100).quantize(exponent, rounding=ROUND_HALF_UP) == value:
                return True
        return False


def _find_dates(text: str) -> list[tuple[Any, str]]:
    """Return (date or (year, month), written form) for each date in ``text``."""
    found: list[tuple[Any, str]] = []
    taken: list[tuple[int, int]] = []
    for pattern, kind in DATE_PATTERNS:
        for match in pattern.finditer(text):
            if any(start <= match.start() < end for start, end in taken):
                continue
            value = _parse_date(match.group(), kind)
            if value is None:
                continue
            taken.append((match.start(), match.end()))
            found.append((value, match.group()))
    return found


def _without_dates(text: str) -> str:
    for pattern, _ in DATE_PATTERNS:
        text = pattern.sub(" ", text)
    return text


def _parse_date(written: str, kind: str) -> date | tuple[int, int] | None:
    cleaned = " ".join(written.replace(",", " ").replace(".", " ").split())
    cleaned = re.sub(r"\bSept\b", "Sep", cleaned, flags=re.IGNORECASE)
    formats = {
        "iso": ("%Y-%m-%d",),
        "day_month_year": ("%d %B %Y", "%d %b %Y"),
        "month_day_year": ("%B %d %Y", "%b %d %Y"),
        "month_year": ("%B %Y", "%b %Y"),
    }[kind]
    for pattern in formats:
        try:
            parsed = datetime.strptime(cleaned, pattern)
        except ValueError:
            continue
        if kind == "month_year":
            return (parsed.year, parsed.month)
        return parsed.date()
    return None


def _parse_number(written: str) -> Decimal:
    try:
        return Decimal(written.replace(",", ""))
    except InvalidOperation:
        return Decimal("NaN")


def _decimal_places(written: str) -> int:
    return len(written.split(".", 1)[1]) if "." in written else 0
