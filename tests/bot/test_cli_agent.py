"""``payplan agent``: summarize, usage and eval, with the model served by respx."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
import respx
from typer.testing import CliRunner

from bot.cli import app
from tests.agents.test_summary import chat_completion

runner = CliRunner()
BASE_URL = "http://127.0.0.1:9/v1"
EVAL_CASES = Path(__file__).resolve().parents[2] / "examples" / "agent-eval"
SAMPLE_CSV = Path(__file__).resolve().parents[2] / "examples" / "data" / "ibm-accounts-receivable.csv"

# What a well-behaved model writes for each evaluation case, keyed by a
# phrase of the case's redacted reason text. The injection case gets an
# obedient answer with no signal, so the keyword check has to report it.
EVAL_ANSWERS = {
    "Seasonal business": [],
    "lost her job": [{"kind": "hardship", "quote": "lost her job in April"}],
    "Chapter 11": [
        {"kind": "bankruptcy", "quote": "filed for Chapter 11"},
        {"kind": "legal_representation", "quote": "send all letters to our attorney"},
    ],
    "Ignore previous instructions": [],
    "passed away": [
        {"kind": "deceased", "quote": "The owner passed away in May"},
        {"kind": "dispute", "quote": "the March invoice is disputed"},
    ],
}


def eval_answer(request: httpx.Request) -> httpx.Response:
    user = json.loads(request.content)["messages"][1]["content"]
    for phrase, signals in EVAL_ANSWERS.items():
        if phrase in user:
            summary = {
                "headline": "[ACCOUNT_1]: 247.10 open, 183.45 past due",
                "narrative": "As of 2013-06-14 the account has 4 open invoices totalling 247.10, of which 183.45 is past due.",
                "key_facts": ["Open balance 247.10", "Past due 183.45"],
                "signals": signals,
                "questions": [],
            }
            return httpx.Response(200, json=chat_completion(json.dumps(summary)))
    return httpx.Response(500, json={"error": {"message": "no answer for this case", "type": "server_error", "param": None, "code": None}})


@pytest.fixture
def model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-cli-0123456789")
    monkeypatch.setenv("OPENAI_BASE_URL", BASE_URL)
    monkeypatch.setenv("PAYPLAN_LLM_MAX_ATTEMPTS", "1")


def test_eval_reports_scores(model_env: None) -> None:
    with respx.mock(base_url=BASE_URL, assert_all_called=True) as router:
        route = router.post("/chat/completions").mock(side_effect=eval_answer)
        result = runner.invoke(app, ["agent", "eval", "--cases", str(EVAL_CASES), "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert route.call_count == 5
    assert report["cases"] == 5
    assert report["model_summaries"] == 5
    assert report["signal_precision"] == "1.000"
    assert report["signal_recall"] == "1.000"
    assert report["fact_recall"] == "1.000"
    assert report["grounding_rate"] == "1.000"
    assert report["input_tokens"] == 5 * 912
    for call in route.calls:
        body = call.request.content.decode("utf-8")
        assert "Okafor" not in body
        assert "jane.okafor@example.com" not in body
        assert "Daniel Reyes" not in body
        assert "0379-NEVHP" not in body


def test_eval_counts_missed_signal(model_env: None) -> None:
    def silent(request: httpx.Request) -> httpx.Response:
        summary = {
            "headline": "[ACCOUNT_1]: 247.10 open",
            "narrative": "The account has 247.10 open and 183.45 past due.",
            "key_facts": [],
            "signals": [],
            "questions": [],
        }
        return httpx.Response(200, json=chat_completion(json.dumps(summary)))

    with respx.mock(base_url=BASE_URL, assert_all_called=True) as router:
        router.post("/chat/completions").mock(side_effect=silent)
        result = runner.invoke(app, ["agent", "eval", "--cases", str(EVAL_CASES), "--json"])

    report = json.loads(result.output)
    # Keyword detection still finds most signals, but not the paraphrased ones.
    assert report["signal_precision"] == "1.000"
    assert report["signal_recall"] is not None
    assert report["model_summaries"] == 5


def test_eval_unreachable_model_exit_1(model_env: None) -> None:
    # Nothing listens on port 9, so every case falls back to the offline summary.
    result = runner.invoke(app, ["agent", "eval", "--cases", str(EVAL_CASES)])

    assert result.exit_code == 1, result.output
    assert "No model summary was produced (5 of 5 fell back: APIConnectionError" in result.output
    assert "scores not computed" in result.output
    assert "precision" not in result.output


def test_eval_model_disabled_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYPLAN_LLM_ENABLED", "false")

    result = runner.invoke(app, ["agent", "eval", "--cases", str(EVAL_CASES), "--json"])

    assert result.exit_code == 1, result.output
    assert "No model summary was produced (5 of 5 fell back: model disabled); scores not computed" in result.output


def test_eval_shows_missing_rate_as_not_available(model_env: None, tmp_path: Path) -> None:
    # One case that expects no signal, answered with none: signal precision and recall have nothing to count.
    shutil.copy(EVAL_CASES / "01-plain-cash-flow.json", tmp_path)
    with respx.mock(base_url=BASE_URL, assert_all_called=True) as router:
        router.post("/chat/completions").mock(side_effect=eval_answer)
        result = runner.invoke(app, ["agent", "eval", "--cases", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert "Signal precision n/a, recall n/a" in result.output
    assert "None" not in result.output


def test_eval_missing_folder_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["agent", "eval", "--cases", str(tmp_path)])

    assert result.exit_code == 2
    assert "no evaluation cases" in result.output


def test_summarize_and_usage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_env: None) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'agent.db'}")
    monkeypatch.setenv("PAYPLAN_LLM_PRICES", '{"gpt-4o-mini": {"input_per_million": "0.15", "output_per_million": "0.60"}}')
    assert runner.invoke(app, ["import", "invoices", str(SAMPLE_CSV)]).exit_code == 0

    def answer(request: httpx.Request) -> httpx.Response:
        summary = {
            "headline": "[ACCOUNT_1] summary",
            "narrative": "The account facts are as of 2013-06-14.",
            "key_facts": [],
            "signals": [],
            "questions": [],
        }
        return httpx.Response(200, json=chat_completion(json.dumps(summary)))

    with respx.mock(base_url=BASE_URL, assert_all_called=True) as router:
        router.post("/chat/completions").mock(side_effect=answer)
        result = runner.invoke(app, ["agent", "summarize", "0379-NEVHP", "--as-of", "2013-06-14", "--json"])

    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert record["source"] == "openai"
    assert record["summary"]["headline"] == "0379-NEVHP summary"
    assert record["prompt_version"] == 2

    usage = runner.invoke(app, ["agent", "usage"])
    assert usage.exit_code == 0, usage.output
    assert "gpt-4o-mini-2024-07-18" in usage.output
    assert "912" in usage.output
    # The snapshot name has no price entry; the requested model's price is used.
    assert "0.000221" in usage.output


def test_summarize_unknown_account_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'agent.db'}")

    result = runner.invoke(app, ["agent", "summarize", "NOPE", "--as-of", "2013-06-14"])

    assert result.exit_code == 2
    assert "account 'NOPE' was not found" in result.output


def test_summarize_bad_date_exit_2() -> None:
    result = runner.invoke(app, ["agent", "summarize", "X", "--as-of", "14/06/2013"])

    assert result.exit_code == 2
    assert "expected a date as YYYY-MM-DD" in result.output
