"""Model summaries generated after a request is stored and posted.

Opening a request stores the offline summary at once, so Slack's
acknowledgement and the request's thread never wait for the model. The
model's summary is then generated in a small pool of worker threads, stored,
and the thread's summary message is updated. Signals the model finds can add
flags and a legal review step (see ``policy.signals``); they never remove one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from agents.summary import SummaryInput, SummaryRecord
from bot.agent_usage import ModelPrice, record_run
from bot.clock import Clock
from policy.config import Policy
from policy.lifecycle import Status
from policy.signals import apply_signals
from storage.audit import record_event
from storage.models import ApprovalStep, PlanRequest

logger = logging.getLogger(__name__)


class Summarizer(Protocol):
    def summarize(self, inp: SummaryInput) -> SummaryRecord: ...


class SummaryJobs:
    """Runs model summaries in a bounded pool; when the pool is full the offline summary stays."""

    def __init__(
        self,
        *,
        session_factory: sessionmaker[Session],
        summarizer: Summarizer,
        policy: Policy,
        clock: Clock,
        prices: dict[str, ModelPrice] | None = None,
        max_workers: int = 2,
        max_pending: int = 32,
        on_updated: Callable[[int], None] | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.summarizer = summarizer
        self.policy = policy
        self.clock = clock
        self.prices = prices or {}
        self.on_updated = on_updated
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="payplan-summary")
        self._slots = threading.BoundedSemaphore(max_pending)
        self._futures: set[Future[Any]] = set()
        self._lock = threading.Lock()

    def submit(self, request_id: int, inp: SummaryInput) -> bool:
        """Queue the model summary of a stored request; return False when the queue is full."""
        if not self._slots.acquire(blocking=False):
            logger.warning("summary queue is full; request %s keeps its offline summary", request_id)
            return False
        future = self._executor.submit(self._run_guarded, request_id, inp)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._finished)
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Block until every queued summary has finished; tests use it."""
        with self._lock:
            pending = list(self._futures)
        wait(pending, timeout=timeout)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _finished(self, future: Future[Any]) -> None:
        with self._lock:
            self._futures.discard(future)
        self._slots.release()

    def _run_guarded(self, request_id: int, inp: SummaryInput) -> None:
        try:
            self.run(request_id, inp)
        except Exception:
            logger.exception("storing the model summary of request %s failed; the offline summary stays", request_id)

    def run(self, request_id: int, inp: SummaryInput) -> list[str]:
        """Generate, store and announce the model summary of one request; return what was done."""
        record = self.summarizer.summarize(inp)
        done = [f"request {request_id}: {record.source} summary stored" + (f" ({record.fallback_reason})" if record.fallback_reason else "")]
        with self.session_factory.begin() as session:
            request = session.get(PlanRequest, request_id)
            if request is None:
                raise LookupError(f"request {request_id} was not found")
            revision = next(rev for rev in request.revisions if rev.number == request.current_revision)
            assessment = revision.assessment
            assert assessment is not None
            now = self.clock.now()
            record_run(
                session,
                record,
                account_id=request.account_id,
                request_id=request.id,
                now=now,
                prices=self.prices,
                requested_model=getattr(self.summarizer, "model", None),
            )
            assessment.summary = record.to_dict()
            done.extend(self._apply_model_signals(session, request, revision, assessment, record))
        if self.on_updated is not None:
            self.on_updated(request_id)
        return done

    def _apply_model_signals(self, session: Session, request: PlanRequest, revision: Any, assessment: Any, record: SummaryRecord) -> list[str]:
        effect = apply_signals(assessment, record.summary.signals, legal_tier=self.policy.legal_review.tier.name)
        done = []
        now = self.clock.now()
        if effect.added_flags:
            assessment.flags = [*assessment.flags, *(flag.to_dict() for flag in effect.added_flags)]
            codes = [flag.code for flag in effect.added_flags]
            record_event(
                session, actor="system:summary", action="flags.added", at=now, request_id=request.id,
                revision=revision.number, before={}, after={"flags": codes},
            )
            done.append(f"request {request.id}: signal flags added: {', '.join(codes)}")

        if effect.added_route:
            # Claim the request row before adding the step.
            # NOTE: a decision whose transaction read the steps before this
            # commit can still approve the last step without the added one;
            # the audit's route.extended event shows when that happened.
            claimed = session.execute(
                update(PlanRequest)
                .where(PlanRequest.id == request.id, PlanRequest.status == Status.PENDING_APPROVAL.value)
                .values(updated_at=now)
            )
            if claimed.rowcount == 1:
                route_before = list(assessment.route)
                next_sequence = max((step.sequence for step in revision.steps), default=0) + 1
                for offset, tier in enumerate(effect.added_route):
                    session.add(ApprovalStep(revision_id=revision.id, sequence=next_sequence + offset, tier=tier, status="waiting"))
                assessment.route = effect.route_after(assessment.route)
                record_event(
                    session, actor="system:summary", action="route.extended", at=now, request_id=request.id,
                    revision=revision.number, before={"route": route_before}, after={"route": assessment.route},
                )
                done.append(f"request {request.id}: route extended with {', '.join(effect.added_route)}")
            else:
                logger.warning(
                    "request %s is %s, so the review step %s that the model's signals call for was not added",
                    request.id, request.status, ", ".join(effect.added_route),
                )
        return done
