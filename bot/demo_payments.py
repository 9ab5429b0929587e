"""The demo's payment replay: simulated customers pay their active plans, and the monitoring sweep runs.

Payments arrive through the signed payments webhook, as a bank or payment
processor would send them. Most customers pay on the due date, every third
pays ten days late with the late fee, and one stops paying after the first
payment, so its plan is sent a notice and defaults. The sweep runs the day
after each grace period and each cure period ends, in date order.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from starlette.testclient import TestClient

from bot.agreement_terms import PlanConditions
from bot.clock import FixedClock
from bot.messages import request_label
from bot.monitoring import run_plan_monitoring
from bot.runtime import Runtime
from bot.server import build_asgi_app
from bot.webhooks import signed_headers
from storage.models import Agreement, AgreementDocument, Installment, PlanRequest

LATE_BY_DAYS = 10
TABLE_WIDTH = 120


@dataclass(frozen=True)
class _Event:
    on: date
    # 0 for a payment, 1 for a sweep: payments of a day land before its sweep.
    order: int
    request_id: int
    amount: Decimal
    reference: str
    account_id: str


def replay_payments(runtime: Runtime, clock: FixedClock, console: Console) -> dict[int, str]:
    """Pay every active plan as its simulated customer would and sweep; return each plan's behaviour."""
    secret = secrets.token_hex(16)
    client = TestClient(build_asgi_app(slack_app=None, workflow=runtime.workflow, payments_secret=secret))
    behaviours, events = _plan_events(runtime)
    sweep_lines = 0
    for event in sorted(events, key=lambda item: (item.on, item.order, item.request_id, item.reference)):
        moment = datetime.combine(event.on, time(9, 0), tzinfo=timezone.utc)
        clock.set(moment)
        if event.order == 1:
            notifier = runtime.workflow.thread_notifier
            sweep_lines += len(run_plan_monitoring(runtime.session_factory, notifier, runtime.policy, moment))
            continue
        body = json.dumps(
            {"reference": event.reference, "account_id": event.account_id, "paid_on": event.on.isoformat(), "amount": str(event.amount)}
        ).encode()
        headers = signed_headers(secret, body, delivery_id=f"demo-{event.reference}", now=moment)
        response = client.post("/webhooks/payments", content=body, headers={**headers, "content-type": "application/json"})
        if response.status_code != 200:
            raise RuntimeError(f"the payments webhook returned HTTP {response.status_code}: {response.text}")

    console.print(f"Payments sent through the signed webhook: {sum(1 for event in events if event.order == 0)}. "
                  f"Monitoring changes: {sweep_lines}.")
    return behaviours


def _plan_events(runtime: Runtime) -> tuple[dict[int, str], list[_Event]]:
    behaviours: dict[int, str] = {}
    events: list[_Event] = []
    sweep_days: set[date] = set()
    with runtime.session_factory() as session:
        active = session.scalars(select(PlanRequest).where(PlanRequest.status == "active").order_by(PlanRequest.id)).all()
        for position, request in enumerate(active):
            agreement = session.scalar(select(Agreement).where(Agreement.request_id == request.id, Agreement.status == "accepted"))
            assert agreement is not None
            document = session.scalar(select(AgreementDocument).where(AgreementDocument.agreement_id == agreement.id))
            assert document is not None
            conditions = PlanConditions.from_dict(document.terms["conditions"])
            installments = session.scalars(
                select(Installment).where(Installment.revision_id == agreement.revision_id).order_by(Installment.sequence)
            ).all()
            if position == 1:
                behaviour = "stops paying"
            elif position % 3 == 2:
                behaviour = "pays late"
            else:
                behaviour = "pays on time"
            behaviours[request.id] = behaviour
            events.extend(_customer_payments(request, installments, behaviour, conditions))
            for installment in installments:
                check = installment.due_date + timedelta(days=conditions.grace_days + 1)
                sweep_days.update({check, check + timedelta(days=conditions.cure_days + 1)})
    # One sweep a day covers every plan, as the daily job does.
    events.extend(_Event(day, 1, 0, Decimal("0"), "", "") for day in sweep_days)
    return behaviours, events


def _customer_payments(request: PlanRequest, installments: list[Installment], behaviour: str, conditions: PlanConditions) -> list[_Event]:
    events = []
    for installment in installments:
        reference = f"DEMO-{request.id:05d}-{installment.sequence:02d}"
        if behaviour == "stops paying" and installment is not installments[0]:
            break
        if behaviour == "pays late" and installment.sequence > 0:
            on = installment.due_date + timedelta(days=LATE_BY_DAYS)
            events.append(_Event(on, 0, request.id, installment.amount + conditions.late_fee, reference, request.account_id))
        else:
            events.append(_Event(installment.due_date, 0, request.id, installment.amount, reference, request.account_id))
    return events


def print_plans(runtime: Runtime, behaviours: dict[int, str], console: Console) -> None:
    if not console.is_terminal and console.width < TABLE_WIDTH:
        console = Console(width=TABLE_WIDTH)
    table = Table(title="payplan demo: accepted plans after simulated payments and monitoring")
    for column, justify in (("Request", "left"), ("Account", "left"), ("Simulated customer", "left"), ("Paid", "right"),
                            ("Late installments", "right"), ("Late fees", "right"), ("Final status", "left")):
        table.add_column(column, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    with runtime.session_factory() as session:
        for request_id, behaviour in behaviours.items():
            request = session.get(PlanRequest, request_id)
            assert request is not None
            installments = session.scalars(select(Installment).where(Installment.request_id == request_id)).all()
            paid = sum((item.paid_amount + item.late_fee_paid for item in installments), Decimal("0.00"))
            fees = sum((item.late_fee for item in installments), Decimal("0.00"))
            late = sum(1 for item in installments if item.late_on is not None)
            table.add_row(
                request_label(request_id), request.account_id, behaviour, f"{paid:,.2f}", str(late), f"{fees:,.2f}", request.status,
            )
    console.print(table)
