"""Run payplan's real ASGI app under uvicorn on loopback, wired to a Slack stub, for tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime, timezone

import httpx
import uvicorn
from sqlalchemy import func, select

from bot import slack_payloads
from bot.clock import FixedClock
from bot.config import Settings
from bot.runtime import Runtime, build_runtime
from bot.server import build_asgi_app
from bot.slack_stub import SlackStub
from storage.db import upgrade_database
from tests.factories import add_past_due_account

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
CHANNEL = "C00FAKECHAN1"
REQUESTER = "U00FAKEUSER1"
AS_OF = date(2013, 6, 14)
ACCOUNT_ID = "0379-NEVHP"


class LiveApp:
    """A running app: post signed requests with ``post_slack`` and inspect the database and stub."""

    def __init__(self, base_url: str, runtime: Runtime, stub: SlackStub) -> None:
        self.base_url = base_url
        self.runtime = runtime
        self.stub = stub
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def post_slack(self, body: str, *, headers: dict[str, str] | None = None, timestamp: int | None = None) -> httpx.Response:
        all_headers = {"content-type": "application/x-www-form-urlencoded", **slack_payloads.sign(body, SIGNING_SECRET, timestamp)}
        all_headers.update(headers or {})
        return self.http.post("/slack/events", content=body, headers=all_headers)

    def post_all(self, bodies: list[tuple[str, dict[str, str]]]) -> list[httpx.Response]:
        """Send every (body, extra headers) pair at the same moment, each on its own connection."""
        barrier = threading.Barrier(len(bodies))

        def send(item: tuple[str, dict[str, str]]) -> httpx.Response:
            body, headers = item
            with httpx.Client(base_url=self.base_url, timeout=30) as client:
                signed = {"content-type": "application/x-www-form-urlencoded", **slack_payloads.sign(body, SIGNING_SECRET), **headers}
                barrier.wait()
                return client.post("/slack/events", content=body, headers=signed)

        with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
            return list(pool.map(send, bodies))

    def count(self, model: type, *conditions: object) -> int:
        with self.runtime.session_factory() as session:
            return session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``condition`` holds and the app's pools are idle; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition() and self.runtime.pools is not None and self.runtime.pools.wait_idle(timeout=0.5):
                if condition():
                    return
            time.sleep(0.02)
        raise AssertionError(f"condition not met within {timeout} s")


@contextmanager
def live_app(database_url: str, approvers: dict[str, list[str]], *, accounts: dict[str, list[str]] | None = None, **settings: object) -> Iterator[LiveApp]:
    """Start the app on a free loopback port with a Slack stub; ``accounts`` maps account ids to past-due amounts."""
    upgrade_database(database_url)
    with SlackStub(expected_token=BOT_TOKEN) as stub:
        config = Settings(
            DATABASE_URL=database_url,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=stub.base_url,
            PAYPLAN_SLACK_CHANNEL=CHANNEL,
            PAYPLAN_APPROVERS=approvers,
            OPENAI_API_KEY=None,
            PAYPLAN_PORTAL_SECRET="portal-secret",
            PAYPLAN_PUBLIC_URL="http://127.0.0.1:9",
            **settings,
        )
        runtime = build_runtime(config, clock=FixedClock(datetime(2013, 6, 14, 15, 0, tzinfo=timezone.utc)))
        with runtime.session_factory.begin() as session:
            for account_id, amounts in (accounts or {ACCOUNT_ID: ["120.00", "310.55"]}).items():
                add_past_due_account(session, account_id, AS_OF, amounts)

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        asgi = build_asgi_app(slack_app=runtime.slack_app, workflow=runtime.workflow, signing_secret=SIGNING_SECRET)
        server = uvicorn.Server(uvicorn.Config(asgi, log_level="warning"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            thread.join(0.01)
        app = LiveApp(f"http://127.0.0.1:{port}", runtime, stub)
        try:
            yield app
        finally:
            if runtime.pools is not None:
                runtime.pools.wait_idle(timeout=10)
            server.should_exit = True
            thread.join(10)
            sock.close()
            app.http.close()
            runtime.close()
