"""Fit long content into Slack's size limits without losing any of it.

Slack rejects a message or view that breaks a limit (``invalid_blocks``),
so a long schedule or a long list of flags would never reach the thread.
These helpers split section text at line breaks and spread blocks over
several messages. Limits are Slack's published Block Kit limits
(docs.slack.dev, reference pages for blocks, composition objects, modal
views and chat.postMessage), as of 2025.
"""

from __future__ import annotations

import copy
import re
from typing import Any

SECTION_TEXT_MAX = 3000
SECTION_FIELD_TEXT_MAX = 2000
SECTION_FIELDS_MAX = 10
CONTEXT_ELEMENTS_MAX = 10
HEADER_TEXT_MAX = 150
MESSAGE_BLOCKS_MAX = 50
MODAL_BLOCKS_MAX = 100
VIEW_TITLE_MAX = 24
VIEW_BUTTON_TEXT_MAX = 24
PRIVATE_METADATA_MAX = 3000
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
OPTIONS_MAX = 100
BUTTON_TEXT_MAX = 75
# chat.postMessage truncates the top-level text beyond 40,000 characters.
MESSAGE_TEXT_MAX = 40000

ELLIPSIS = "…"
# Slack's escape entities and <...> tokens must not be cut in half.
_UNBREAKABLE = re.compile(r"&(?:amp|lt|gt);|<[^<>\n]*>")


def truncate(text: str, limit: int) -> str:
    """Shorten ``text`` to at most ``limit`` characters, ending with an ellipsis when cut.

    For short labels such as modal titles and option text, where Slack
    offers no room for more; content that must not be lost uses split_text.
    """
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def split_text(text: str, limit: int = SECTION_TEXT_MAX) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` characters, at line breaks where possible.

    A line longer than ``limit`` is cut between words, or anywhere if it has
    none, but never inside an escape entity (``&amp;``) or a ``<...>`` token.
    Joining the pieces with newlines gives back the text, apart from the
    line breaks added inside over-long lines.
    """
    if limit < 16:
        raise ValueError(f"limit must be at least 16 characters, got {limit}")
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        for part in _split_line(line, limit):
            candidate = part if not current else f"{current}\n{part}"
            if len(candidate) <= limit:
                current = candidate
            else:
                pieces.append(current)
                current = part
    pieces.append(current)
    return pieces


def _split_line(line: str, limit: int) -> list[str]:
    parts: list[str] = []
    while len(line) > limit:
        cut = line.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        for token in _UNBREAKABLE.finditer(line):
            if token.start() < cut < token.end():
                cut = token.start()
                break
        if cut <= 0:
            # A single token longer than the limit: cutting it is the only way to send it.
            cut = limit
        parts.append(line[:cut].rstrip())
        line = line[cut:].lstrip(" ")
    parts.append(line)
    return parts


def to_dicts(blocks: list[Any]) -> list[dict[str, Any]]:
    """Serialise slack_sdk blocks, letting a section's text exceed the limit so it can be split afterwards.

    slack_sdk's ``to_dict`` raises for a section text over 3,000
    characters, so such a section is written out by hand here and
    split_long_sections brings it under the limit.
    """
    result: list[dict[str, Any]] = []
    for block in blocks:
        text = getattr(block, "text", None)
        if getattr(block, "type", None) == "section" and text is not None and len(getattr(text, "text", "")) > SECTION_TEXT_MAX:
            section: dict[str, Any] = {"type": "section", "text": {"type": text.type, "text": text.text}}
            if block.block_id:
                section["block_id"] = block.block_id
            if block.fields:
                section["fields"] = [field.to_dict() for field in block.fields]
            if block.accessory is not None:
                section["accessory"] = block.accessory.to_dict()
            result.append(section)
        else:
            result.append(block.to_dict())
    return result


def split_long_sections(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace each section whose text is over Slack's limit by several sections of the same kind."""
    result: list[dict[str, Any]] = []
    for block in blocks:
        text = block.get("text") if block.get("type") == "section" else None
        if not text or len(text.get("text", "")) <= SECTION_TEXT_MAX:
            result.append(block)
            continue
        pieces = split_text(text["text"], SECTION_TEXT_MAX)
        for index, piece in enumerate(pieces):
            section = {key: value for key, value in block.items() if key not in ("text", "block_id", "accessory", "fields")}
            section["text"] = {**text, "text": piece}
            if index == 0 and "block_id" in block:
                section["block_id"] = block["block_id"]
            if index == len(pieces) - 1:
                for key in ("accessory", "fields"):
                    if key in block:
                        section[key] = copy.deepcopy(block[key])
            result.append(section)
    return result


def fit_message(text: str, blocks: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Return one or more (text, blocks) messages that together carry ``blocks`` within Slack's limits.

    Long sections are split first, then the blocks are spread over messages
    of at most 50 blocks. Each message text ends with its part number when there are several.
    """
    fitted = split_long_sections(blocks)
    chunks = [fitted[start : start + MESSAGE_BLOCKS_MAX] for start in range(0, len(fitted), MESSAGE_BLOCKS_MAX)] or [[]]
    if len(chunks) == 1:
        return [(truncate(text, MESSAGE_TEXT_MAX), chunks[0])]
    total = len(chunks)
    return [(truncate(f"{text} (part {number} of {total})", MESSAGE_TEXT_MAX), chunk) for number, chunk in enumerate(chunks, start=1)]


def fit_modal(view: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a modal view that fits Slack's limits.

    Titles and button labels are shortened. A modal cannot be split, so
    blocks past the 100th are dropped and the last kept block states how many
    were left out.
    """
    fitted = copy.deepcopy(view)
    for key, limit in (("title", VIEW_TITLE_MAX), ("submit", VIEW_BUTTON_TEXT_MAX), ("close", VIEW_BUTTON_TEXT_MAX)):
        if isinstance(fitted.get(key), dict):
            fitted[key]["text"] = truncate(fitted[key]["text"], limit)
    blocks = split_long_sections(fitted.get("blocks", []))
    if len(blocks) > MODAL_BLOCKS_MAX:
        left_out = len(blocks) - (MODAL_BLOCKS_MAX - 1)
        blocks = blocks[: MODAL_BLOCKS_MAX - 1] + [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{left_out} more blocks are not shown; see the request thread."}]}
        ]
    fitted["blocks"] = blocks
    return fitted


def option(text: str, value: str) -> dict[str, Any]:
    """Build a select option whose text and value fit Slack's limits (75 and 150 characters)."""
    if len(value) > OPTION_VALUE_MAX:
        raise ValueError(f"option value is {len(value)} characters; Slack allows {OPTION_VALUE_MAX}")
    return {"text": {"type": "plain_text", "text": truncate(text, OPTION_TEXT_MAX)}, "value": value}
