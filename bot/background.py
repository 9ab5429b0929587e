"""Thread pools that keep Slack acknowledgements apart from slow work.

Bolt's sync ``App`` runs each listener in its ``listener_executor`` and
acknowledges Slack as soon as the listener calls ``ack()``. If that pool is full
of listeners still waiting on a language model, a new request waits for a
free thread before it can even ack, and Slack gives up after three seconds.
So payplan uses bounded pools: listeners (ack, parse, the decision) run in
``listener_executor``, opening a submitted request is handed to
``slow_work`` after the ack, and everything the Slack publisher does (thread
posts, message updates, App Home refreshes) runs in ``publishers``, one
single-thread executor per shard, so the messages of one request keep their
order.
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


class BackgroundNotifier:
    """Run the wrapped notifier's methods in the publisher shards instead of the caller's thread.

    A call whose first argument is a request id (or a user id) always goes to
    the same shard, so the events of one request are published in the order
    the workflow sent them. Methods the wrapped notifier lacks raise
    AttributeError, as on the notifier itself.
    """

    def __init__(self, notifier: object, shards: list[CountingExecutor]) -> None:
        self._notifier = notifier
        self._shards = shards

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._notifier, name)
        if name.startswith("_") or not callable(target):
            return target

        def submit(*args: Any, **kwargs: Any) -> None:
            key = hash(args[0]) if args else 0
            self._shards[key % len(self._shards)].submit(self._run, name, target, args, kwargs)

        return submit

    @staticmethod
    def _run(name: str, target: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            target(*args, **kwargs)
        except Exception:
            logger.exception("publishing %s%r to Slack failed", name, args)


@dataclass
class Pools:
    """The pools of one running app."""

    listener_executor: CountingExecutor
    slow_work: SlowWork
    publishers: list[CountingExecutor]

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no listener, slow work or Slack post is running or queued; return False on timeout.

        The listener count is read first, because a listener hands its slow
        work and its posts over before it finishes.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            idle = self.listener_executor.in_flight == 0 and self.slow_work.executor.in_flight == 0
            if idle and all(shard.in_flight == 0 for shard in self.publishers):
                return True
            time.sleep(0.01)
        return False

    def shutdown(self, *, wait: bool = True) -> None:
        self.slow_work.shutdown(wait=wait)
        self.listener_executor.shutdown(wait=wait)
        for shard in self.publishers:
            shard.shutdown(wait=wait)


def make_pools(*, listener_workers: int, slow_workers: int, publish_workers: int) -> Pools:
    return Pools(
        listener_executor=CountingExecutor(listener_workers, "payplan-listener"),
        slow_work=SlowWork(slow_workers),
        publishers=[CountingExecutor(1, f"payplan-publish-{number}") for number in range(publish_workers)],
    )
