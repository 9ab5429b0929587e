"""Time to acknowledge: payplan's HTTP mode against a bare Bolt app that only acks.

Each app runs in its own process under uvicorn on 127.0.0.1 and answers
signed requests. In every round the client fires, at the same moment, 50
slash commands (or 50 approve clicks on 50 different requests) plus 10 request
modal submissions whose summary is slow, so the measured acks compete with
slow work. The summarizer of the payplan process sleeps ``--delay`` seconds
before writing the offline summary, which stands in for a language model that
answers in that time. The bare app is an ``AsyncApp`` behind Bolt's async
Starlette adapter, the fastest way Bolt serves HTTP.

Run: python benchmarks/bench_ack.py [--delay 1 --delay 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot import slack_payloads  # noqa: E402
from bot.ids import Action, Callback  # noqa: E402

SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-bench-token"
CHANNEL = "C00BENCHCHAN"
REQUESTER = "U00REQUESTER"
MANAGER = "U00MANAGER1"
AS_OF = date(2013, 6, 14)
BURST = 50
SLOW_SUBMISSIONS = 10


# --- the two servers, each started as a child process of this script ------


def serve_stub() -> None:
    """Serve the Slack Web API stand-in in its own process, so its work does not slow the app measured."""
    from bot.slack_stub import SlackStub

    stub = SlackStub(expected_token=BOT_TOKEN).start()
    print(json.dumps({"base_url": stub.base_url}), flush=True)
    threading.Event().wait()


def start_stub() -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, __file__, "--serve", "stub"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())["base_url"]


def serve_payplan(port: int, delay: float, rounds: int, slack_api_url: str) -> None:
    """Serve payplan's real ASGI app; print the step ids that clicks may approve, then serve."""
    import uvicorn

    from agents.summary import SummaryInput, SummaryRecord
    from bot.clock import FixedClock
    from bot.config import Settings
    from bot.runtime import build_runtime
    from bot.server import build_asgi_app
    from bot.workflow import RequestInput
    from storage.db import upgrade_database
    from tests.factories import add_past_due_account

    folder = tempfile.mkdtemp(prefix="bench-ack-")
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{Path(folder) / 'payplan.db'}"
    upgrade_database(url)
    settings = Settings(
        DATABASE_URL=url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_api_url,
        PAYPLAN_SLACK_CHANNEL=CHANNEL,
        PAYPLAN_APPROVERS={"collections_manager": [MANAGER]},
        OPENAI_API_KEY=None,
        PAYPLAN_PORTAL_SECRET="bench-portal-secret",
    )
    runtime = build_runtime(settings, clock=FixedClock(datetime(2013, 6, 14, 15, 0, tzinfo=timezone.utc)))
    account_count = rounds * (BURST + 2 * SLOW_SUBMISSIONS)
    with runtime.session_factory.begin() as session:
        for number in range(account_count):
            add_past_due_account(session, f"BENCH-{number:04d}", AS_OF, ["120.00", "310.55"])

    step_ids = []
    for number in range(rounds * BURST):
        data = RequestInput(f"BENCH-{number:04d}", "cash_flow", "bench", Decimal("43.05"), 4, date(2013, 7, 15))
        request_id = runtime.workflow.open_request(actor=REQUESTER, data=data)
        step_ids.append(_pending_step_id(runtime.session_factory, request_id))

    offline = runtime.workflow.summarizer

    class SlowSummarizer:
        def summarize(self, inp: SummaryInput) -> SummaryRecord:
            time.sleep(delay)
            return offline.summarize(inp)

    slow = SlowSummarizer()
    # The workflow stores an offline summary and hands the model call to its summary jobs.
    runtime.workflow.summarizer = slow
    runtime.workflow.summary_jobs.summarizer = slow
    app = build_asgi_app(slack_app=runtime.slack_app, workflow=runtime.workflow, signing_secret=SIGNING_SECRET)
    print(json.dumps({"step_ids": step_ids}), flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _pending_step_id(session_factory, request_id: int) -> int:
    from sqlalchemy import select

    from storage.models import ApprovalStep, TermRevision

    with session_factory() as session:
        return session.scalar(
            select(ApprovalStep.id)
            .join(TermRevision)
            .where(TermRevision.request_id == request_id, ApprovalStep.status == "pending")
        )


def serve_bare(port: int, slack_api_url: str) -> None:
    """Serve an AsyncApp whose listeners only ack, through Bolt's async Starlette adapter."""
    import uvicorn
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from starlette.applications import Starlette
    from starlette.routing import Route

    bolt = AsyncApp(client=AsyncWebClient(token=BOT_TOKEN, base_url=slack_api_url), signing_secret=SIGNING_SECRET)

    async def ack_only(ack) -> None:
        await ack()

    bolt.command("/payplan")(ack_only)
    bolt.action(Action.APPROVE)(ack_only)
    bolt.view(Callback.REQUEST_MODAL)(ack_only)
    handler = AsyncSlackRequestHandler(bolt)

    async def events(request):
        return await handler.handle(request)

    print(json.dumps({"step_ids": list(range(1, 100_000))}), flush=True)
    uvicorn.run(Starlette(routes=[Route("/slack/events", events, methods=["POST"])]), host="127.0.0.1", port=port, log_level="warning")


# --- the client -----------------------------------------------------------


class Server:
    """A child process serving one app; ``step_ids`` are the approval steps it prepared."""

    def __init__(self, kind: str, delay: float, rounds: int, slack_api_url: str) -> None:
        self.kind = kind
        self.port = _free_port()
        command = [sys.executable, __file__, "--serve", kind, "--port", str(self.port), "--delay", str(delay), "--rounds", str(rounds)]
        command += ["--slack-api-url", slack_api_url]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {kind} server exited before it was ready")
        self.step_ids: list[int] = json.loads(line)["step_ids"]
        # Drain further output so the child never blocks on a full pipe.
        threading.Thread(target=self.process.stdout.read, daemon=True).start()
        _wait_for_port(self.port)
        self.url = f"http://127.0.0.1:{self.port}/slack/events"

    def stop(self) -> None:
        # Queued slow summaries would keep a stopping server alive for minutes.
        self.process.kill()
        self.process.wait(10)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after 60 s")


def _signed(body: str) -> tuple[str, dict[str, str]]:
    headers = {"content-type": "application/x-www-form-urlencoded", **slack_payloads.sign(body, SIGNING_SECRET)}
    return body, headers


def slash_commands() -> list[tuple[str, dict[str, str]]]:
    return [_signed(slack_payloads.slash_command_body(user_id=REQUESTER, trigger_id=f"trigger-{n}")) for n in range(BURST)]


def clicks(step_ids: list[int]) -> list[tuple[str, dict[str, str]]]:
    bodies = []
    for step_id in step_ids:
        payload = slack_payloads.block_actions_payload(Action.APPROVE, str(step_id), user_id=MANAGER, channel_id=CHANNEL)
        bodies.append(_signed(slack_payloads.interaction_body(payload)))
    return bodies


def slow_submissions(first_account: int, round_name: str) -> list[tuple[str, dict[str, str]]]:
    bodies = []
    for offset in range(SLOW_SUBMISSIONS):
        state = slack_payloads.request_modal_state(
            account_id=f"BENCH-{first_account + offset:04d}",
            reason_category="cash_flow",
            reason_text="bench",
            down_payment="43.05",
            installments=4,
            first_due_date="2013-07-15",
        )
        payload = slack_payloads.view_submission_payload(
            Callback.REQUEST_MODAL, state, user_id=REQUESTER, view_id=f"V{round_name}{offset:04d}"
        )
        bodies.append(_signed(slack_payloads.interaction_body(payload)))
    return bodies


async def fire(url: str, measured: list, background: list) -> list[tuple[float, int]]:
    """Send every request at once; return the seconds and HTTP status of each measured one."""
    limits = httpx.Limits(max_connections=len(measured) + len(background) + 10)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def timed(body: str, headers: dict[str, str]) -> tuple[float, int]:
            started = time.perf_counter()
            response = await client.post(url, content=body, headers=headers)
            return time.perf_counter() - started, response.status_code

        tasks = [timed(body, headers) for body, headers in measured + background]
        results = await asyncio.gather(*tasks)
    return list(results[: len(measured)])


def run_servers(delay: float, rounds: int, slack_api_url: str) -> dict[str, dict[str, list[tuple[float, int]]]]:
    """Measure both apps, alternating bursts between them so that changing machine load hits both alike."""
    servers = {kind: Server(kind, delay, rounds, slack_api_url) for kind in ("bare", "payplan")}
    samples = {kind: {"slash command": [], "button click": []} for kind in servers}
    slow_account = rounds * BURST
    try:
        for server in servers.values():
            # Warm up: the first requests open connections and cache auth.test.
            asyncio.run(fire(server.url, slash_commands()[:5], []))
        for number in range(rounds):
            for kind, server in servers.items():
                background = slow_submissions(slow_account, f"{number}c")
                samples[kind]["slash command"] += asyncio.run(fire(server.url, slash_commands(), background))
            slow_account += SLOW_SUBMISSIONS
            for kind, server in servers.items():
                steps = server.step_ids[number * BURST : (number + 1) * BURST]
                background = slow_submissions(slow_account, f"{number}b")
                samples[kind]["button click"] += asyncio.run(fire(server.url, clicks(steps), background))
            slow_account += SLOW_SUBMISSIONS
    finally:
        for server in servers.values():
            server.stop()
    return samples


def percentile(values: list[float], share: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[share - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, action="append", help="seconds the stubbed language model takes (repeatable; default 1 and 30)")
    parser.add_argument("--rounds", type=int, default=3, help="bursts of each kind per server (default 3)")
    parser.add_argument("--serve", choices=["payplan", "bare", "stub"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--slack-api-url", help=argparse.SUPPRESS)
    arguments = parser.parse_args()

    if arguments.serve == "stub":
        serve_stub()
        return
    if arguments.serve == "payplan":
        serve_payplan(arguments.port, arguments.delay[0], arguments.rounds, arguments.slack_api_url)
        return
    if arguments.serve == "bare":
        serve_bare(arguments.port, arguments.slack_api_url)
        return

    stub, slack_api_url = start_stub()
    try:
        report(arguments.delay or [1.0, 30.0], arguments.rounds, slack_api_url)
    finally:
        stub.kill()
        stub.wait(10)


def report(delays: list[float], rounds: int, slack_api_url: str) -> None:
    print(f"{BURST} concurrent requests per burst, {rounds} bursts, {SLOW_SUBMISSIONS} slow submissions in each burst")
    print("| language model | request | bare p50 | bare p99 | payplan p50 | payplan p99 | p99 ratio | payplan not acked (HTTP status) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for delay in delays:
        samples = run_servers(delay, rounds, slack_api_url)
        bare, payplan = samples["bare"], samples["payplan"]
        for kind in ("slash command", "button click"):
            base = [seconds for seconds, _ in bare[kind]]
            ours = [seconds for seconds, _ in payplan[kind]]
            failed = [status for _, status in payplan[kind] + bare[kind] if status != 200]
            print(
                f"| {delay:g} s | {kind} | {percentile(base, 50) * 1000:.0f} ms | {percentile(base, 99) * 1000:.0f} ms | "
                f"{percentile(ours, 50) * 1000:.0f} ms | {percentile(ours, 99) * 1000:.0f} ms | "
                f"{percentile(ours, 99) / percentile(base, 99):.2f}x | {len(failed)} {sorted(set(failed))} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
