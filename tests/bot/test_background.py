"""Background pools: the publisher runs off the caller's thread and keeps each request's events in order."""

from __future__ import annotations

import threading

import pytest

from bot.background import BackgroundNotifier, make_pools


class RecordingNotifier:
    def __init__(self) -> None:
        self.events: list[tuple[str, int, str]] = []
        self.release = threading.Event()

    def request_opened(self, request_id: int) -> None:
        self.release.wait(10)
        self.events.append(("opened", request_id, threading.current_thread().name))

    def step_decided(self, request_id: int, step_id: int) -> None:
        self.events.append(("decided", request_id, threading.current_thread().name))


def test_notifier_calls_return_at_once() -> None:
    pools = make_pools(listener_workers=1, slow_workers=1, publish_workers=2)
    inner = RecordingNotifier()
    notifier = BackgroundNotifier(inner, pools.publishers)

    notifier.request_opened(7)
    notifier.step_decided(7, 70)

    # Both calls returned while request_opened is still blocked in a shard.
    assert inner.events == []
    inner.release.set()
    assert pools.wait_idle(timeout=10)
    assert [event[:2] for event in inner.events] == [("opened", 7), ("decided", 7)]
    assert inner.events[0][2] == inner.events[1][2]
    assert inner.events[0][2].startswith("payplan-publish-")
    pools.shutdown()


def test_notifier_missing_event_raises() -> None:
    pools = make_pools(listener_workers=1, slow_workers=1, publish_workers=1)
    notifier = BackgroundNotifier(RecordingNotifier(), pools.publishers)

    assert getattr(notifier, "revision_opened", None) is None
    with pytest.raises(AttributeError):
        notifier.plan_activated(1)
    pools.shutdown()


def test_notifier_error_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    pools = make_pools(listener_workers=1, slow_workers=1, publish_workers=1)

    class FailingNotifier:
        def request_opened(self, request_id: int) -> None:
            raise RuntimeError("Slack stub exploded")

    BackgroundNotifier(FailingNotifier(), pools.publishers).request_opened(3)

    assert pools.wait_idle(timeout=10)
    assert "publishing request_opened(3,) to Slack failed" in caplog.text
    pools.shutdown()
