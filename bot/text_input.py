"""Checks on free text typed by customers or sent by other systems.

Control characters (NUL, escape and the like) are never accepted: they
cannot be shown, PostgreSQL rejects NUL in text, and in a name they hide what
was signed. Format characters (zero-width spaces, direction overrides) are
removed from names, because they change how a name looks without being
part of it.
"""

from __future__ import annotations

import unicodedata

# Layout whitespace a message may keep. Every other control character is rejected.
MESSAGE_WHITESPACE = frozenset("\t\n\r")
# Letters that Unicode classes as letters but that draw nothing.
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0")


def control_characters(text: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """Return the control characters in ``text`` other than ``allowed``, as U+XXXX codes."""
    return sorted({f"U+{ord(char):04X}" for char in text if unicodedata.category(char) == "Cc" and char not in allowed})


def control_problem(label: str, text: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """Return a message naming the control characters in ``text``, or None when it has none."""
    found = control_characters(text, allowed)
    if not found:
        return None
    return f"{label} contains control characters ({', '.join(found)}); remove them and send it again"


def clean_name(typed: str) -> tuple[str, str | None]:
    """Return the name with format characters removed and spaces collapsed, and a problem or None.

    A name needs at least one visible letter: a name of spaces, punctuation
    or invisible characters signs nothing.
    """
    if control_characters(typed, MESSAGE_WHITESPACE):
        return "", "Your name contains characters that cannot be shown, such as a NUL or escape character. Type it again."
    visible = "".join(char for char in typed if unicodedata.category(char) != "Cf")
    name = " ".join(visible.split())
    if name and not any(unicodedata.category(char).startswith("L") and char not in BLANK_LETTERS for char in name):
        return name, "Your name must contain letters. Type your full name to sign the agreement."
    return name, None
