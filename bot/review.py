"""Detailed review: four-eyes acknowledgements, the credit analyst's grade, and waiting on the requester.

:class:`ReviewMixin` adds these operations to ``bot.workflow.Workflow``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.errors import AlreadyDecided, InvalidInput, PermissionDenied
from bot.messages import actor_mention, request_label
from policy.engine import FlagCode
from policy.lifecycle import Status
from storage.models import Assessment, PlanRequest, RequestFile, RequesterWait

if TYPE_CHECKING:
    from bot.workflow import Workflow

logger = logging.getLogger(__name__)

CREDIT_ANALYST_TIER = "credit_analyst"
GRADES = ("A", "B", "C", "D", "E")
# Flags that only add a step to the route; every other non-blocking flag is a
# deviation from the policy's standard terms that an approver must acknowledge.
ROUTING_FLAGS = frozenset({FlagCode.LEGAL_REVIEW_REQUIRED})


@dataclass(frozen=True)
class Acknowledgement:
    """One item an approver must tick before approving: ``key`` is stable, ``text`` is shown."""

    key: str
    text: str


def required_acknowledgements(assessment: Assessment | None) -> list[Acknowledgement]:
    """List the agent signals and policy deviations of an assessment, each to be acknowledged."""
    if assessment is None:
        return []
    items = []
    signals = (assessment.summary.get("summary") or {}).get("signals") or []
    for index, signal in enumerate(signals):
        kind = str(signal.get("kind", "signal")).replace("_", " ")
        items.append(Acknowledgement(f"signal:{index}:{signal.get('kind')}", f"Agent signal, {kind}: “{signal.get('quote', '')}”"))
    for flag in assessment.flags:
        if not flag["blocking"] and flag["code"] not in ROUTING_FLAGS:
            items.append(
                Acknowledgement(f"flag:{flag['code']}", f"Policy deviation: {flag['message']} (limit {flag['limit']}, actual {flag['actual']})")
            )
    return items


def missing_acknowledgements(assessment: Assessment | None, acknowledged: Collection[str]) -> list[Acknowledgement]:
    return [item for item in required_acknowledgements(assessment) if item.key not in acknowledged]


def waiting_time(waits: list[RequesterWait], *, start: datetime, now: datetime) -> timedelta:
    """Return how long a request waited on its requester between ``start`` and ``now``.

    The approval clock is the elapsed time minus this; an open wait counts up to ``now``.
    """
    total = timedelta(0)
    for wait in waits:
        begin = max(wait.started_at, start)
        end = min(wait.ended_at or now, now)
        if end > begin:
            total += end - begin
    return total


class ReviewMixin:
    """Credit analyst and information-request operations; mixed into ``Workflow``."""

    def review_grade(self: Workflow, *, actor: str, step_id: int, grade: str, reason: str = "") -> None:
        """Confirm the computed risk grade, or override it with a required reason.

        Only an approver of the credit analyst step may; the computed grade
        stays stored and shown beside the override.
        """
        if grade not in GRADES:
            raise InvalidInput(f"Grade {grade!r} is not one of {', '.join(GRADES)}.", {"grade": "Choose a grade from A to E."})
        with self.session_factory.begin() as session:
            step, revision, request = self._load_step_for_decision(session, step_id, actor)
            if step.tier != CREDIT_ANALYST_TIER:
                raise PermissionDenied(f"Only the credit analyst step of {request_label(request.id)} can review its risk grade.")
            assessment = revision.assessment
            assert assessment is not None
            before = {"risk_grade": assessment.risk_grade, "grade_override": assessment.grade_override}
            if grade == assessment.risk_grade:
                assessment.grade_override, assessment.grade_override_reason = None, None
                action = "grade.confirmed"
            else:
                if not reason.strip():
                    raise InvalidInput(
                        f"Overriding grade {assessment.risk_grade} with {grade} needs a reason.",
                        {"comment": "Say why the computed grade is wrong."},
                    )
                assessment.grade_override, assessment.grade_override_reason = grade, reason
                action = "grade.overridden"
            assessment.grade_reviewed_by = actor
            self._audit(session, actor, action, request, before, {"risk_grade": assessment.risk_grade, "grade_override": assessment.grade_override, "reason": reason})
            request_id = request.id
        logger.info("request %s: %s to %s by %s", request_id, action, grade, actor)
        self._notify("request_changed", request_id)

    def ask_requester(self: Workflow, *, actor: str, step_id: int, missing: str) -> None:
        """Stop the approval clock and ask the requester for documents or information."""
        if not missing.strip():
            raise InvalidInput("Say what the requester must supply.", {"comment": "List the documents or information you need."})
        now = self.clock.now()
        with self.session_factory.begin() as session:
            step, _, request = self._load_step_for_decision(session, step_id, actor)
            session.add(RequesterWait(request_id=request.id, asked_by=actor, missing=missing, started_at=now))
            self._set_status(session, request, Status.WAITING_ON_REQUESTER, actor, {"missing": missing, "step": step.sequence})
            request_id = request.id
        logger.info("request %s waits on its requester, asked by %s", request_id, actor)
        self._notify("request_changed", request_id)

    def answer_requester_wait(self: Workflow, *, actor: str, request_id: int, note: str = "") -> None:
        """End the wait: the requester confirms the information is supplied, and the route resumes."""
        with self.session_factory.begin() as session:
            request = session.get(PlanRequest, request_id)
            if request is None:
                raise InvalidInput(f"Request {request_label(request_id)} was not found.")
            if actor != request.requested_by:
                raise PermissionDenied(f"Only {actor_mention(request.requested_by)}, who opened {request_label(request.id)}, can answer its information request.")
            if request.status != Status.WAITING_ON_REQUESTER:
                raise AlreadyDecided(f"{request_label(request.id)} is not waiting on information.")
            self._end_requester_wait(session, request, actor)
            self._set_status(session, request, Status.PENDING_APPROVAL, actor, {"note": note})
        logger.info("request %s: requester %s supplied the information", request_id, actor)
        self._notify("request_changed", request_id)

    def record_thread_file(self: Workflow, *, thread_ts: str, file_id: str, name: str, shared_by: str) -> int | None:
        """Record a file shared in a request's thread; return the request id, or None if the thread is no request's."""
        with self.session_factory() as session:
            request = session.scalar(select(PlanRequest).where(PlanRequest.slack_ts == thread_ts))
            if request is None:
                return None
            request_id = request.id
        try:
            with self.session_factory.begin() as session:
                request = session.get(PlanRequest, request_id)
                assert request is not None
                session.add(RequestFile(request_id=request_id, slack_file_id=file_id, name=name[:255], shared_by=shared_by, shared_at=self.clock.now()))
                session.flush()
                self._audit(session, shared_by, "file.shared", request, {}, {"file_id": file_id, "name": name})
        except IntegrityError:
            logger.info("file %s is already recorded with request %s", file_id, request_id)
        return request_id

    def waits_of(self: Workflow, session: Session, request_id: int) -> list[RequesterWait]:
        return list(session.scalars(select(RequesterWait).where(RequesterWait.request_id == request_id).order_by(RequesterWait.started_at)))
