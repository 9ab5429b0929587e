"""Versioned prompt files and the delimiting of untrusted text.

A prompt file lives in the ``prompts`` package as ``<name>.v<version>.yaml``
with the keys ``name``, ``version``, ``system`` and ``user``. The user template
uses str.format placeholders. The name and version are stored with every
summary, so a changed prompt gets a new file and a new version.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from importlib import resources

import yaml

PROMPTS_PACKAGE = "prompts"

UNTRUSTED_OPEN = "<untrusted_reason>"
UNTRUSTED_CLOSE = "</untrusted_reason>"

# Matches the markers with any case, spacing or slash placement, so that the
# untrusted text cannot close the block early and continue as if trusted.
_MARKER_PATTERN = re.compile(r"<\s*/?\s*untrusted_reason\s*/?\s*>", re.IGNORECASE)


class PromptError(ValueError):
    """A prompt file is missing, malformed or rendered with the wrong values."""


@dataclass(frozen=True)
class Prompt:
    """A loaded prompt: its identity, system text and user template."""

    name: str
    version: int
    system: str
    user_template: str

    @property
    def placeholders(self) -> frozenset[str]:
        """Field names used in the user template."""
        fields = (field for _, field, _, _ in string.Formatter().parse(self.user_template))
        return frozenset(field for field in fields if field)

    def render_user(self, **values: str) -> str:
        """Fill the user template, raising PromptError unless the values match its placeholders."""
        missing = self.placeholders - values.keys()
        unexpected = values.keys() - self.placeholders
        if missing or unexpected:
            raise PromptError(
                f"prompt {self.name} v{self.version}: missing values {sorted(missing)}, "
                f"unexpected values {sorted(unexpected)}"
            )
        return self.user_template.format(**values)


def load_prompt(name: str, version: int) -> Prompt:
    """Load ``prompts/<name>.v<version>.yaml`` and check that it names itself correctly."""
    filename = f"{name}.v{version}.yaml"
    try:
        text = resources.files(PROMPTS_PACKAGE).joinpath(filename).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PromptError(f"prompt file not found: {PROMPTS_PACKAGE}/{filename}") from exc

    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise PromptError(f"{filename}: expected a mapping at the top level")

    for key in ("name", "version", "system", "user"):
        if key not in data:
            raise PromptError(f"{filename}: missing key {key!r}")
    if data["name"] != name or data["version"] != version:
        raise PromptError(
            f"{filename}: file declares name {data['name']!r} version {data['version']!r}, "
            f"expected {name!r} version {version}"
        )
    if not isinstance(data["system"], str) or not isinstance(data["user"], str):
        raise PromptError(f"{filename}: 'system' and 'user' must be strings")

    return Prompt(name=name, version=version, system=data["system"], user_template=data["user"])


def neutralize_markers(text: str) -> str:
    """Replace anything resembling the untrusted-text markers with ``[marker removed]``."""
    return _MARKER_PATTERN.sub("[marker removed]", text)
