"""The customer page in a real headless browser: Debian's chromium driven by Playwright.

Skipped when /usr/bin/chromium is absent; ``.ci/run`` installs it. Playwright's
own browser download is never used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.bot.portal_server import PortalServer, running_portal

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed; install the Debian package chromium to run browser tests")


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[PortalServer]:
    # One database is enough here; the HTTP tests cover PostgreSQL.
    with running_portal(f"sqlite:///{tmp_path / 'browser.db'}") as server:
        yield server


@pytest.fixture
def page(tmp_path: Path) -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    # Keep Playwright from looking for its own downloaded browsers.
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 390, "height": 844},
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def test_accept_with_keyboard_activates_plan(portal: PortalServer, page) -> None:
    request_id, path = portal.approved_agreement()

    page.goto(portal.base_url + path)
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Your payment plan"
    assert page.get_by_role("table", name="Payment schedule").is_visible()
    page.get_by_label("Your full name").focus()
    page.keyboard.type("Dana Smith")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "consent"
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Accept and sign"
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Agreement accepted")

    assert "is now active" in page.get_by_role("status").inner_text()
    assert portal.status(request_id) == "active"
    page.goto(portal.base_url + path)
    assert "You already accepted" in page.get_by_role("status").inner_text()


def test_missing_consent_blocks_submit(portal: PortalServer, page) -> None:
    request_id, path = portal.approved_agreement()

    page.goto(portal.base_url + path)
    page.get_by_label("Your full name").fill("Dana Smith")
    page.get_by_role("button", name="Accept and sign").click()

    # The browser's own validation stops the form, so the page stays put.
    assert page.evaluate("document.getElementById('consent').validity.valueMissing") is True
    assert portal.status(request_id) == "sent_to_customer"


def test_expired_link_shows_clear_page(portal: PortalServer, page) -> None:
    request_id, path = portal.approved_agreement()
    portal.clock.set(portal.clock.now() + timedelta(days=15))

    response = page.goto(portal.base_url + path)

    assert response.status == 410
    assert "has expired" in page.get_by_role("status").inner_text()
    assert page.get_by_role("button").count() == 0
    assert portal.status(request_id) == "sent_to_customer"


def test_tampered_link_shows_clear_page(portal: PortalServer, page) -> None:
    request_id, path = portal.approved_agreement()

    response = page.goto(portal.base_url + path[:-6] + "xxxxxx")

    assert response.status == 410
    assert "not valid" in page.get_by_role("status").inner_text()
    assert portal.status(request_id) == "sent_to_customer"
