"""Replace personal data with placeholders before text leaves for the model.

Names, email addresses, phone numbers, postal addresses and account or card
numbers become placeholders such as ``[EMAIL_1]``. The mapping stays in this
process and restores the originals in what approvers see. The same value
always gets the same placeholder within one :class:`Redactor`, so the model
can still tell that two mentions are the same person.

Names are found only when the caller knows them (the customer's name on the
account, the account id) or after a title such as "Mr" or "Mrs". Any other
name in free text is not detected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
# A title followed by one or two capitalised words: "Mr John Smith", "Mrs. Lee".
TITLED_NAME_PATTERN = re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr)\.?\s+[A-Z][a-z'\-]+(?:\s+[A-Z][a-z'\-]+)?")
# A house number, one to four words and a street suffix: "12 High Street", "400 Elm St".
STREET_PATTERN = re.compile(
    r"\b\d{1,5}[A-Za-z]?\s+(?:[A-Z][A-Za-z'\-]*\s+){1,4}"
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way|Place|Pl|Close|Terrace|Square)\b\.?",
)
# UK postcodes ("SW1A 1AA") and US ZIP+4 codes ("94103-1234").
POSTCODE_PATTERN = re.compile(r"\b(?:[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}|\d{5}-\d{4})\b")
# Eight or more digits, optionally grouped by spaces or dashes: card numbers,
# bank accounts, IBAN-like strings.
ACCOUNT_NUMBER_PATTERN = re.compile(r"\b(?:[A-Z]{2}\d{2}[ \-]?)?\d(?:[ \-]?\d){7,}\b")
ISO_DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
PLACEHOLDER_PATTERN = re.compile(r"\[(?:NAME|EMAIL|PHONE|ADDRESS|ACCOUNT_NUMBER|ACCOUNT)_\d+\]")

# The region used to read phone numbers written without a country code.
DEFAULT_PHONE_REGION = "US"


class Redactor:
    """Replaces personal data with numbered placeholders and restores it for display."""

    def __init__(self, *, known_names: Iterable[str] = (), account_ids: Iterable[str] = ()) -> None:
        self._placeholder_by_value: dict[tuple[str, str], str] = {}
        self._value_by_placeholder: dict[str, str] = {}
        self._counts: dict[str, int] = {}
        # Longest first, so "Jane Smith" is replaced before "Jane".
        self._known_names = sorted({name.strip() for name in known_names if name and name.strip()}, key=len, reverse=True)
        self._account_ids = sorted({value.strip() for value in account_ids if value and value.strip()}, key=len, reverse=True)

    @property
    def mapping(self) -> dict[str, str]:
        """Placeholders and the values they replace."""
        return dict(self._value_by_placeholder)

    def placeholder(self, kind: str, value: str) -> str:
        """Return the placeholder for ``value``, creating it on first use."""
        key = (kind, value)
        existing = self._placeholder_by_value.get(key)
        if existing is not None:
            return existing
        self._counts[kind] = self._counts.get(kind, 0) + 1
        placeholder = f"[{kind}_{self._counts[kind]}]"
        self._placeholder_by_value[key] = placeholder
        self._value_by_placeholder[placeholder] = value
        return placeholder

    def redact(self, text: str) -> str:
        """Return ``text`` with every detected piece of personal data replaced."""
        for account_id in self._account_ids:
            text = _replace_literal(text, account_id, lambda value: self.placeholder("ACCOUNT", value))
        for name in self._known_names:
            text = _replace_literal(text, name, lambda value: self.placeholder("NAME", value))

        text = EMAIL_PATTERN.sub(lambda match: self.placeholder("EMAIL", match.group()), text)
        text = self._redact_phones(text)
        text = STREET_PATTERN.sub(lambda match: self.placeholder("ADDRESS", match.group()), text)
        text = POSTCODE_PATTERN.sub(lambda match: self.placeholder("ADDRESS", match.group()), text)
        text = ACCOUNT_NUMBER_PATTERN.sub(self._account_number_placeholder, text)
        text = TITLED_NAME_PATTERN.sub(lambda match: self.placeholder("NAME", match.group()), text)
        return text

    def restore(self, text: str) -> str:
        """Put the original values back in place of this redactor's placeholders."""
        return PLACEHOLDER_PATTERN.sub(lambda match: self._value_by_placeholder.get(match.group(), match.group()), text)

    def _redact_phones(self, text: str) -> str:
        # POSSIBLE leniency also matches fictional numbers such as 555 ones,
        # which VALID would let through to the model.
        matcher = phonenumbers.PhoneNumberMatcher(text, DEFAULT_PHONE_REGION, leniency=phonenumbers.Leniency.POSSIBLE)
        pieces = []
        position = 0
        for match in matcher:
            digits = sum(character.isdigit() for character in match.raw_string)
            if digits < 7 or _looks_like_amount(match.raw_string) or ISO_DATE_PATTERN.fullmatch(match.raw_string):
                continue
            pieces.append(text[position : match.start])
            pieces.append(self.placeholder("PHONE", match.raw_string))
            position = match.end
        pieces.append(text[position:])
        return "".join(pieces)

    def _account_number_placeholder(self, match: re.Match[str]) -> str:
        if ISO_DATE_PATTERN.fullmatch(match.group()):
            return match.group()
        return self.placeholder("ACCOUNT_NUMBER", match.group())


def _replace_literal(text: str, value: str, make_placeholder) -> str:  # type: ignore[no-untyped-def]
    pattern = re.compile(r"(?<!\w)" + re.escape(value) + r"(?!\w)", re.IGNORECASE)
    return pattern.sub(lambda match: make_placeholder(value), text)


def _looks_like_amount(text: str) -> bool:
    return re.fullmatch(r"[0-9][0-9,]*\.[0-9]{2}", text.strip()) is not None
