"""A slow model over real HTTP: Slack gets its response and the thread is posted before the model's summary."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Assessment
from tests.bot.test_http_flow import RunningApp, _request_state, _submit, running_app  # noqa: F401 (fixture)
from tests.bot.test_summary_jobs import SlowModelSummarizer


def test_slow_model_updates_summary_later(running_app: RunningApp) -> None:  # noqa: F811
    app, stub = running_app, running_app.stub
    summarizer = SlowModelSummarizer()
    app.runtime.workflow.summarizer = summarizer  # type: ignore[assignment]
    app.runtime.workflow.summary_jobs.summarizer = summarizer

    response = _submit(app, _request_state())

    assert response.status_code == 200
    # The root message and the whole thread are posted while the model is still writing.
    posted = stub.wait_for("chat.postMessage", count=5)
    summary_message = posted[1]
    assert summary_message.args["text"].startswith("Summary: Offline summary")
    assert "being written" in str(summary_message.args["blocks"])
    # Amounts come from the stored facts, formatted by the app.
    assert "Open balance" in str(summary_message.args["blocks"])
    assert "430.55" in str(summary_message.args["blocks"])
    assert summarizer.started.wait(timeout=5)

    summarizer.release.set()
    app.runtime.workflow.summary_jobs.wait(timeout=10)

    updates = stub.wait_for("chat.update", predicate=lambda call: call.args["text"] == "Summary: Model headline")
    with app.runtime.session_factory() as session:
        assessment = session.scalar(select(Assessment))
        assert assessment is not None
        assert updates[0].args["ts"] == assessment.summary_slack_ts
        assert assessment.summary["source"] == "openai"
