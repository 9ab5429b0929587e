"""Two schedulers against one PostgreSQL database send each nudge, escalation and digest once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import Engine

from bot.jobs.scheduler import run_job
from bot.slack_stub import SlackStub
from tests.bot.jobs.conftest import DIGEST_MANAGERS, START, JobsHarness, dm_texts, job_settings, thread_texts

REQUESTS = 6
SWEEPS_PER_REPLICA = 3
JOB_NAMES = ("approval-sla", "missing-authority", "digest")


def run_replicas_concurrently(replicas: list[JobsHarness]) -> list[str]:
    """Run every job on each replica in its own thread, starting each sweep together; return all lines."""
    barrier = threading.Barrier(len(replicas))
    lines: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def sweep(replica: JobsHarness) -> None:
        try:
            for _ in range(SWEEPS_PER_REPLICA):
                for name in JOB_NAMES:
                    barrier.wait(timeout=30)
                    done = run_job(replica.context, name)
                    with lock:
                        lines.extend(done)
        except BaseException as error:  # collected and re-raised in the test thread
            barrier.abort()
            errors.append(error)

    threads = [threading.Thread(target=sweep, args=(replica,)) for replica in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return lines


def test_two_replicas_send_once(engine: Engine, database_url: str, stub: SlackStub, traveller: time_machine.Coordinates) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("two replicas need PostgreSQL, where a claim waits for the other replica's transaction")
    settings = job_settings(database_url, stub)
    replicas = [JobsHarness(settings), JobsHarness(settings)]
    first = replicas[0]
    for index in range(REQUESTS):
        first.add_account(f"ACCOUNT{index}", ["120.00", "310.55"], START.date())
        first.open_request(f"ACCOUNT{index}")

    traveller.move_to(START + timedelta(hours=4))
    nudge_lines = run_replicas_concurrently(replicas)
    traveller.move_to(START + timedelta(days=1))
    escalation_lines = run_replicas_concurrently(replicas)

    nudges = [text for channel, text in dm_texts(stub) if text.startswith("Reminder:")]
    escalations = [text for text in thread_texts(stub) if text.startswith(":arrow_double_up:")]
    digests = [text for _, text in dm_texts(stub) if text.startswith("payplan digest")]
    assert len(nudges) == REQUESTS
    assert len(escalations) == REQUESTS
    # One digest per manager for Monday and one for Tuesday.
    assert len(digests) == 2 * len(DIGEST_MANAGERS)
    assert len(stub.calls("files.completeUploadExternal")) == len(DIGEST_MANAGERS)
    assert sum(line.startswith("nudged") for line in nudge_lines) == REQUESTS
    assert sum(line.startswith("escalated") for line in escalation_lines) == REQUESTS
    for replica in replicas:
        replica.close()
