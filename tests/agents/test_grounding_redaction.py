"""The grounding check's rounding rules, and redaction with its restore."""

from __future__ import annotations

import pytest

from agents.grounding import FactIndex
from agents.redaction import Redactor

BUNDLE = {
    "as_of": "2024-05-01",
    "open_balance": "1234.50",
    "on_time_share": "0.6667",
    "open_invoice_count": 3,
    "aging": {"1-30": "634.50"},
}


@pytest.mark.parametrize(
    "text",
    [
        "The balance is 1,234.50.",
        "The balance is about 1,235.",
        "66.7% of invoices were on time, or 67%.",
        "As of 1 May 2024, 3 invoices are open.",
        "As of May 1, 2024 and in May 2024.",
        "The 1-30 bucket contains 634.50.",
        "[PHONE_12] called about 3 invoices.",
    ],
)
def test_grounded_figures_pass(text: str) -> None:
    assert FactIndex(BUNDLE).check(text).ungrounded == ()


@pytest.mark.parametrize(
    ("text", "figure"),
    [
        ("The balance is 1,234.60.", "1,234.60"),
        ("Due on 2024-05-02.", "2024-05-02"),
        ("Seen in June 2024.", "June 2024"),
        ("70% were on time.", "70%"),
        ("4 invoices are open.", "4"),
    ],
)
def test_invented_figures_fail(text: str, figure: str) -> None:
    assert FactIndex(BUNDLE).check(text).ungrounded == (figure,)


def test_redact_restore_round_trip() -> None:
    redactor = Redactor(known_names=["Jane Doe"], account_ids=["0379-NEVHP"])
    text = "Jane Doe (jane@example.com, +44 20 7946 0958) owes 1,234.50 on 0379-NEVHP since 2024-05-01."

    redacted = redactor.redact(text)

    assert redacted == "[NAME_1] ([EMAIL_1], [PHONE_1]) owes 1,234.50 on [ACCOUNT_1] since 2024-05-01."
    assert redactor.restore(redacted) == text


def test_redact_same_value_same_placeholder() -> None:
    redactor = Redactor()

    first = redactor.redact("Write to a@example.com.")
    second = redactor.redact("Again: a@example.com, and b@example.com.")

    assert first == "Write to [EMAIL_1]."
    assert second == "Again: [EMAIL_1], and [EMAIL_2]."


def test_redact_card_and_address() -> None:
    redactor = Redactor()

    redacted = redactor.redact("Card 4111-1111-1111-1111, post to 400 Elm St, 94103-1234. Mrs. Lee agreed.")

    assert "4111" not in redacted
    assert "Elm" not in redacted
    assert "94103" not in redacted
    assert "Lee" not in redacted
