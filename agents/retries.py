"""Which model errors are retried, and how long to wait before the next attempt.

Rate limits (HTTP 429) and server errors (HTTP 5xx) are retried with
exponential backoff, or after the server's ``Retry-After`` when it sends one.
Quota errors (``insufficient_quota``, also HTTP 429) and context-length errors
are not retried, because another attempt cannot succeed. A timeout is not
retried either, so the wait for one summary is bounded by ``max_attempts``
calls and the capped waits between them.

NOTE: the timeout given to ChatOpenAI is httpx's per-operation timeout
(connect, each read, each write), not a deadline for the whole response, so
a server that keeps sending slowly can hold one attempt longer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import TypeVar

import openai
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential

logger = logging.getLogger(__name__)

T = TypeVar("T")

NON_RETRYABLE_CODES = frozenset({"insufficient_quota", "context_length_exceeded", "string_above_max_length"})


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a model call gets and how long it may wait between them."""

    max_attempts: int = 3
    # Exponential backoff without Retry-After: initial, initial * 2, ... up to max.
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 8.0
    # A Retry-After longer than this is not waited for; the call fails instead.
    max_retry_after_s: float = 30.0


def is_retryable(error: BaseException, policy: RetryPolicy) -> bool:
    """Tell whether another attempt after ``error`` may succeed and is worth its wait."""
    if isinstance(error, openai.APITimeoutError):
        return False
    if isinstance(error, openai.APIConnectionError):
        return True
    if not isinstance(error, openai.APIStatusError):
        return False
    if error.code in NON_RETRYABLE_CODES:
        return False
    if error.status_code != 429 and error.status_code < 500:
        return False
    retry_after = retry_after_seconds(error)
    return retry_after is None or retry_after <= policy.max_retry_after_s


def retry_after_seconds(error: BaseException) -> float | None:
    """Read the wait the server asked for from ``retry-after-ms`` or ``Retry-After``, in seconds."""
    response = getattr(error, "response", None)
    if response is None:
        return None
    headers = response.headers
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def call_with_retries(call: Callable[[], T], policy: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``call``, retrying retryable errors; the last error is raised when attempts run out."""
    backoff = wait_exponential(multiplier=policy.backoff_initial_s, max=policy.backoff_max_s)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        requested = retry_after_seconds(error) if error is not None else None
        return requested if requested is not None else backoff(state)

    def log_retry(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        logger.warning(
            "model call attempt %s failed with %s; retrying in %.1f s",
            state.attempt_number,
            type(error).__name__,
            state.upcoming_sleep,
        )

    retrying = Retrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=wait,
        retry=retry_if_exception(lambda error: is_retryable(error, policy)),
        sleep=sleep,
        before_sleep=log_retry,
        reraise=True,
    )
    return retrying(call)
