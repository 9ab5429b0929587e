"""HTTP calls to source systems with bounded timeouts, one re-authentication and bounded back-off.

Each connector supplies three things: how to authenticate a request, how to
recognise an expired session, and how to recognise a rate limit. This module
does the rest the same way for every source:

- every call has a connect and read timeout, and a total limit
  (``RetryPolicy.total_timeout``, or the caller's ``timeout``) that covers
  every attempt, every wait between attempts and the reading of the body,
  so a source that sends its response a byte at a time cannot hold a call
  open. A call ends within the total limit plus at most one read timeout;
  with the defaults that is 120 s + 30 s. The Salesforce token request is
  a separate call whose retries have their own total limit;
- an expired session is re-authenticated once and the call retried once;
- a rate limit, a 5xx response or a network error is retried at most
  ``max_retries`` times, waiting for ``Retry-After`` when the source sends it
  and an exponential delay otherwise, each wait capped at ``max_wait``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from storage.connectors.base import ConnectorError, ConnectorUnavailable

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    # Seconds before the first retry when the source sends no Retry-After; doubled for each later one.
    base_delay: float = 1.0
    # Longest single wait in seconds, also for a longer Retry-After.
    max_wait: float = 60.0
    # Seconds one call may take in total, over all attempts and waits.
    total_timeout: float = 120.0


class SourceHttpClient:
    """An httpx client for one source that retries as the module docstring describes.

    Subclasses override :meth:`authenticate`, :meth:`refresh`,
    :meth:`is_session_expired` and :meth:`is_rate_limited`.
    """

    source_label = "source"

    def __init__(
        self,
        *,
        http: httpx.Client | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http or httpx.Client(timeout=timeout)
        self.retry = retry
        self.sleep = sleep
        self.clock = clock

    def close(self) -> None:
        self.http.close()

    # Hooks

    def resolve_url(self, url: str) -> str:
        """Return the absolute URL for ``url``, which may be a path on the source's instance."""
        return url

    def authenticate(self, request: httpx.Request) -> None:
        """Add credentials to ``request``."""

    def refresh(self) -> None:
        """Get a new session after the source rejected the current one."""

    def is_session_expired(self, response: httpx.Response) -> bool:
        return response.status_code == 401

    def is_rate_limited(self, response: httpx.Response) -> bool:
        return response.status_code == 429

    # Calls

    def send(self, method: str, url: str, *, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        """Send one call with re-authentication and retries; return a 2xx response or raise ConnectorError."""
        refreshed = False
        retries = 0
        limit = timeout if timeout is not None else self.retry.total_timeout
        deadline = self.clock() + limit
        while True:
            remaining = deadline - self.clock()
            if remaining <= 0:
                raise ConnectorUnavailable(f"{self.source_label} did not complete {method} {_path(url)} within {limit:g} s in total")
            request = self.http.build_request(method, self.resolve_url(url), **kwargs)
            base = httpx.Timeout(timeout) if timeout is not None else self.http.timeout
            request.extensions["timeout"] = _bounded(base, remaining).as_dict()
            self.authenticate(request)
            try:
                response = self._read_within(self.http.send(request, stream=True), deadline, limit)
            except httpx.TimeoutException as error:
                if timeout is not None or retries >= self.retry.max_retries:
                    raise ConnectorUnavailable(f"{self.source_label} timed out on {method} {_path(url)}: {error!r}") from error
                retries += 1
                self._wait(None, retries, f"timeout on {method} {_path(url)}", deadline)
                continue
            except httpx.TransportError as error:
                if retries >= self.retry.max_retries:
                    raise ConnectorUnavailable(f"{self.source_label} could not be reached for {method} {_path(url)}: {error!r}") from error
                retries += 1
                self._wait(None, retries, f"network error on {method} {_path(url)}", deadline)
                continue

            if self.is_session_expired(response):
                if refreshed:
                    raise ConnectorError(
                        f"{self.source_label} rejected the credentials again after re-authenticating "
                        f"({response.status_code} on {method} {_path(url)}); check the connector's credentials"
                    )
                logger.info("%s session expired on %s %s; re-authenticating once", self.source_label, method, _path(url))
                refreshed = True
                self.refresh()
                continue

            if self.is_rate_limited(response) or response.status_code >= 500:
                if retries >= self.retry.max_retries:
                    raise ConnectorUnavailable(
                        f"{self.source_label} returned {response.status_code} for {method} {_path(url)} "
                        f"{retries + 1} times; giving up until the next run"
                    )
                retries += 1
                self._wait(response, retries, f"{response.status_code} on {method} {_path(url)}", deadline)
                continue

            if response.status_code >= 400:
                raise ConnectorError(
                    f"{self.source_label} rejected {method} {_path(url)} with {response.status_code}: {_error_text(response)}"
                )
            return response

    def send_json(self, method: str, url: str, **kwargs: Any) -> Any:
        """Send a call and parse its JSON body, with decimal numbers kept exact."""
        response = self.send(method, url, **kwargs)
        try:
            return json.loads(response.text, parse_float=Decimal)
        except json.JSONDecodeError as error:
            raise ConnectorError(f"{self.source_label} returned a body that is not JSON for {method} {_path(url)}: {error}") from error

    def _read_within(self, response: httpx.Response, deadline: float, limit: float) -> httpx.Response:
        """Read a streamed response's body, closing it and raising ConnectorUnavailable once ``deadline`` passes."""
        chunks = []
        try:
            for chunk in response.iter_raw():
                chunks.append(chunk)
                if self.clock() > deadline:
                    raise ConnectorUnavailable(
                        f"{self.source_label} was still sending the response to {response.request.method} "
                        f"{_path(str(response.request.url))} after {limit:g} s in total"
                    )
        finally:
            response.close()
        # The raw bytes are decoded (gzip and the like) once, by the new response.
        return httpx.Response(response.status_code, headers=response.headers, content=b"".join(chunks), request=response.request)

    def _wait(self, response: httpx.Response | None, attempt: int, reason: str, deadline: float) -> None:
        delay = self.retry.base_delay * 2 ** (attempt - 1)
        if response is not None:
            delay = retry_after_seconds(response.headers.get("Retry-After"), default=delay)
        delay = min(delay, self.retry.max_wait)
        if self.clock() + delay >= deadline:
            raise ConnectorUnavailable(
                f"{self.source_label}: {reason}; a retry in {delay:.1f} s would pass the call's total limit, giving up until the next run"
            )
        logger.warning("%s: %s; retry %d of %d in %.1f s", self.source_label, reason, attempt, self.retry.max_retries, delay)
        self.sleep(delay)


def _bounded(base: httpx.Timeout, remaining: float) -> httpx.Timeout:
    """Return ``base`` with every phase limited to ``remaining`` seconds."""

    def cap(seconds: float | None) -> float:
        return remaining if seconds is None else min(seconds, remaining)

    return httpx.Timeout(connect=cap(base.connect), read=cap(base.read), write=cap(base.write), pool=cap(base.pool))


def retry_after_seconds(value: str | None, *, default: float, now: datetime | None = None) -> float:
    """Read a Retry-After header given in seconds or as an HTTP date; return ``default`` when absent or unreadable."""
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, (moment - (now or datetime.now(timezone.utc))).total_seconds())


def _path(url: str) -> str:
    """Return the URL without its query, which may hold a whole query text."""
    return httpx.URL(url).path


def _error_text(response: httpx.Response) -> str:
    text = response.text.strip()
    return text[:300] if text else "(empty body)"
