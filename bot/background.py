"""Thread pools that keep Slack acknowledgements apart from slow work.

Bolt's sync ``App`` runs each listener in its ``listener_executor`` and
answers Slack as soon as the listener calls ``ack()``. If that pool is full
of listeners still waiting on a language model, a new request waits for a
free thread before it can even ack, and Slack gives up after three seconds.
So payplan uses two bounded pools: listeners (ack, parse, the decision and
Slack posting) run in ``listener_executor``, and work that can take tens of
seconds, such as opening a request with its model-written summary, is handed
to ``slow_work`` after the ack.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


class CountingExecutor(ThreadPoolExecutor):
    """A ThreadPoolExecutor that counts tasks submitted and not yet finished."""

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._lock = threading.Lock()
        self._in_flight = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            self._in_flight += 1

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self._in_flight -= 1

        try:
            return super().submit(run)
        except RuntimeError:
            with self._lock:
                self._in_flight -= 1
            raise

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight


class SlowWork:
    """A bounded pool for work that runs after the ack; queued work waits for a free thread."""

    def __init__(self, max_workers: int) -> None:
        self.executor = CountingExecutor(max_workers, "payplan-slow")

    def submit(self, description: str, work: Callable[[], object]) -> Future[None]:
        """Run ``work`` in the pool; log an exception that escapes it with ``description``."""

        def run() -> None:
            try:
                work()
            except Exception:
                logger.exception("slow work failed: %s", description)

        return self.executor.submit(run)

    def shutdown(self, *, wait: bool = True) -> None:
        self.executor.shutdown(wait=wait)


@dataclass
class Pools:
    """The two pools of one running app."""

    listener_executor: CountingExecutor
    slow_work: SlowWork

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no listener and no slow work is running or queued; return False on timeout.

        The listener count is read first, because a listener hands its slow
        work over before it finishes.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.listener_executor.in_flight == 0 and self.slow_work.executor.in_flight == 0:
                return True
            time.sleep(0.01)
        return False

    def shutdown(self, *, wait: bool = True) -> None:
        self.slow_work.shutdown(wait=wait)
        self.listener_executor.shutdown(wait=wait)


def make_pools(*, listener_workers: int, slow_workers: int) -> Pools:
    return Pools(
        listener_executor=CountingExecutor(listener_workers, "payplan-listener"),
        slow_work=SlowWork(slow_workers),
    )
