"""Write-back of plan state to the account's record in its source, through a retry queue.

The workflow never calls a source. :func:`run_write_back`, run periodically,
compares each request on an account from a source with write-back configured
against the queue, adds a task for every state not yet queued, and then
sends the due tasks. A failed send is retried with growing delays, up to
``MAX_ATTEMPTS``; a task for an older state of the same request is
superseded, so a retry never overwrites a newer status with an older one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from storage.connectors.base import Connector, ConnectorError, PlanStatusUpdate
from storage.models import Account, ApprovalStep, PlanRequest, TermRevision, WriteBackTask

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
FIRST_RETRY_DELAY = timedelta(minutes=1)
MAX_RETRY_DELAY = timedelta(hours=6)
# How long a claimed task stays invisible to other runs; a run that dies mid-send is retried after it.
CLAIM_LEASE = timedelta(minutes=5)


def run_write_back(session_factory: sessionmaker[Session], connectors: Mapping[str, Connector], now: datetime) -> list[str]:
    """Queue new plan states and send the due ones; return one line per task queued, sent or failed."""
    targets = {name for name, connector in connectors.items() if connector.supports_write_back}
    if not targets:
        return []
    lines = _queue_new_states(session_factory, targets, now)
    lines += _send_due_tasks(session_factory, connectors, now)
    return lines


def _queue_new_states(session_factory: sessionmaker[Session], targets: set[str], now: datetime) -> list[str]:
    lines = []
    with session_factory.begin() as session:
        query = (
            select(PlanRequest, Account.source)
            .join(Account, Account.id == PlanRequest.account_id)
            .where(Account.source.in_(sorted(targets)))
            .order_by(PlanRequest.id)
        )
        # NOTE: every request on a write-back account is read on each run;
        # restrict this to recently updated requests if that grows large.
        for request, source in session.execute(query):
            revision = session.scalar(
                select(TermRevision).where(TermRevision.request_id == request.id, TermRevision.number == request.current_revision)
            )
            steps = list(revision.steps) if revision else []
            decided = sum(1 for step in steps if step.decided_at is not None)
            state_key = f"{request.status}:r{request.current_revision}:d{decided}"
            exists = session.scalar(
                select(WriteBackTask.id).where(WriteBackTask.request_id == request.id, WriteBackTask.state_key == state_key)
            )
            if exists is not None:
                continue
            session.execute(
                update(WriteBackTask)
                .where(WriteBackTask.request_id == request.id, WriteBackTask.status == "pending")
                .values(status="superseded", completed_at=now)
            )
            session.add(
                WriteBackTask(
                    source=source,
                    request_id=request.id,
                    account_id=request.account_id,
                    state_key=state_key,
                    payload=_payload(request, revision, steps),
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            lines.append(f"queued write-back of request {request.id} ({request.status}) to {source} account {request.account_id}")
    return lines


def _send_due_tasks(session_factory: sessionmaker[Session], connectors: Mapping[str, Connector], now: datetime) -> list[str]:
    lines = []
    with session_factory() as session:
        due = session.execute(
            select(WriteBackTask.id, WriteBackTask.attempts)
            .where(WriteBackTask.status == "pending", WriteBackTask.next_attempt_at <= now)
            .order_by(WriteBackTask.id)
        ).all()

    for task_id, attempts in due:
        task = _claim(session_factory, task_id, attempts, now)
        if task is None:
            continue
        connector = connectors.get(task.source)
        try:
            if connector is None:
                raise ConnectorError(f"source {task.source!r} is no longer configured")
            connector.write_plan_status(_update_from(task))
        except ConnectorError as error:
            lines.append(_record_failure(session_factory, task, str(error), now))
            continue
        with session_factory.begin() as session:
            session.execute(
                update(WriteBackTask).where(WriteBackTask.id == task.id).values(status="done", completed_at=now, last_error=None)
            )
        logger.info("wrote request %s state %s to %s account %s", task.request_id, task.state_key, task.source, task.account_id)
        lines.append(f"wrote request {task.request_id} ({task.payload['status']}) to {task.source} account {task.account_id}")
    return lines


def _claim(session_factory: sessionmaker[Session], task_id: int, attempts: int, now: datetime) -> WriteBackTask | None:
    """Take a task for this run by counting the attempt, unless another run took it first."""
    with session_factory.begin() as session:
        claimed = session.execute(
            update(WriteBackTask)
            .where(WriteBackTask.id == task_id, WriteBackTask.status == "pending", WriteBackTask.attempts == attempts)
            .values(attempts=attempts + 1, next_attempt_at=now + CLAIM_LEASE)
        )
        if claimed.rowcount != 1:
            return None
        return session.get(WriteBackTask, task_id)


def _record_failure(session_factory: sessionmaker[Session], task: WriteBackTask, error: str, now: datetime) -> str:
    if task.attempts >= MAX_ATTEMPTS:
        values: dict[str, Any] = {"status": "failed", "completed_at": now, "last_error": error}
        line = f"gave up writing request {task.request_id} to {task.source} after {task.attempts} attempts: {error}"
        logger.error("%s", line)
    else:
        delay = min(FIRST_RETRY_DELAY * 2 ** (task.attempts - 1), MAX_RETRY_DELAY)
        values = {"next_attempt_at": now + delay, "last_error": error}
        line = (
            f"writing request {task.request_id} to {task.source} failed (attempt {task.attempts} of {MAX_ATTEMPTS}); "
            f"retry at {(now + delay).isoformat()}: {error}"
        )
        logger.warning("%s", line)
    with session_factory.begin() as session:
        session.execute(update(WriteBackTask).where(WriteBackTask.id == task.id).values(**values))
    return line


def _payload(request: PlanRequest, revision: TermRevision | None, steps: list[ApprovalStep]) -> dict[str, Any]:
    schedule = []
    if revision is not None and revision.assessment is not None:
        schedule = [
            {"sequence": item["sequence"], "due_date": item["due_date"], "amount": item["amount"]}
            for item in revision.assessment.schedule
        ]
    return {
        "status": request.status,
        "revision": request.current_revision,
        "schedule": schedule,
        "outcome": _outcome(steps),
    }


def _outcome(steps: list[ApprovalStep]) -> str:
    parts = []
    for step in steps:
        if step.status in ("approved", "rejected"):
            text = f"{step.tier} {step.status} by {step.decided_by}"
            if step.status == "rejected" and step.comment:
                text += f": {step.comment}"
            parts.append(text)
        elif step.status == "pending":
            parts.append(f"{step.tier} pending")
    return "; ".join(parts)


def _update_from(task: WriteBackTask) -> PlanStatusUpdate:
    payload = task.payload
    return PlanStatusUpdate(
        account_id=task.account_id,
        request_id=task.request_id,
        status=payload["status"],
        revision=payload["revision"],
        schedule=list(payload["schedule"]),
        outcome=payload["outcome"],
    )
