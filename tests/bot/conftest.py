"""Keep every Slack and OpenAI client in these tests on this machine."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def local_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    # Port 9 (discard) on loopback: a client that escapes a stub fails at
    # once instead of reaching a real service.
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
