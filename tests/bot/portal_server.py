"""A running HTTP server for the customer page and webhook tests, with an approved agreement ready."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal

import uvicorn

from bot.clock import FixedClock
from bot.config import Settings
from bot.runtime import Runtime, build_runtime
from bot.server import build_asgi_app
from bot.workflow import RequestInput
from storage.db import upgrade_database
from storage.models import ApprovalStep, PlanRequest
from tests.factories import add_past_due_account

AS_OF = date(2013, 6, 14)
REQUESTER = "UREQUESTER"
MANAGER = "UMANAGER"
PAYMENTS_SECRET = "payments-secret"


@dataclass
class PortalServer:
    base_url: str
    runtime: Runtime
    clock: FixedClock

    def approved_agreement(self, installments: int = 3) -> tuple[int, str]:
        """Open and approve a request for account SMALL; return its id and the agreement path."""
        workflow = self.runtime.workflow
        request_id = workflow.open_request(
            actor=REQUESTER, data=RequestInput("SMALL", "cash_flow", "Late receivable.", Decimal("0"), installments, date(2013, 7, 15))
        )
        with workflow.session_factory() as session:
            request = session.get(PlanRequest, request_id)
            step_ids = [step.id for step in request.revisions[-1].steps if isinstance(step, ApprovalStep)]
        outcome = None
        for step_id in step_ids:
            outcome = workflow.decide(actor=MANAGER, step_id=step_id, decision="approve")
        assert outcome is not None and outcome.agreement_url is not None
        return request_id, "/agreements/" + outcome.agreement_url.rsplit("/", 1)[1]

    def status(self, request_id: int) -> str:
        with self.runtime.session_factory() as session:
            request = session.get(PlanRequest, request_id)
            assert request is not None
            return request.status


@contextmanager
def running_portal(database_url: str) -> Iterator[PortalServer]:
    upgrade_database(database_url)
    settings = Settings(
        DATABASE_URL=database_url,
        PAYPLAN_APPROVERS={"collections_manager": [MANAGER], "finance_controller": [MANAGER]},
        OPENAI_API_KEY=None,
        PAYPLAN_LLM_ENABLED=False,
        PAYPLAN_PORTAL_SECRET="portal-secret",
        PAYPLAN_PUBLIC_URL="http://127.0.0.1:9",
        PAYPLAN_CREDITOR_NAME="Northwind Supplies Ltd",
    )
    clock = FixedClock(datetime(2013, 6, 14, 15, 0, tzinfo=timezone.utc))
    runtime = build_runtime(settings, clock=clock, with_slack=False)
    with runtime.session_factory.begin() as session:
        add_past_due_account(session, "SMALL", AS_OF, ["120.00", "310.55"])

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = build_asgi_app(slack_app=None, workflow=runtime.workflow, payments_secret=PAYMENTS_SECRET)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.01)
    try:
        yield PortalServer(f"http://127.0.0.1:{port}", runtime, clock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        runtime.engine.dispose()
