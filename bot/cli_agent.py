"""``payplan agent``: summarize one account, report model usage, evaluate the agent."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

agent_app = typer.Typer(help="The account-summary agent: summaries, token usage and evaluation.", no_args_is_help=True)

console = Console()
error_console = Console(stderr=True)

DEFAULT_EVAL_CASES = Path("examples/agent-eval")
FIRST_DUE_DEFAULT_DAYS = 30


@agent_app.command("summarize")
def summarize_command(
    account_id: str = typer.Argument(..., help="Account id as imported, for example 0379-NEVHP."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary record as JSON."),
    as_of: str | None = typer.Option(None, "--as-of", help="Business date of the facts, YYYY-MM-DD; defaults to today (UTC)."),
    installments: int = typer.Option(6, min=1, help="Number of installments in the terms to assess."),
    down_payment: str = typer.Option("0.00", help="Down payment in the terms to assess, for example 100.00."),
    reason: str = typer.Option("", help="Reason text, treated as untrusted like the request modal's."),
) -> None:
    """Print the summary of one account, written as for a new request; nothing is opened."""
    from bot.agent_usage import record_run
    from bot.cli import _load_settings
    from bot.clock import FixedClock
    from bot.errors import InvalidInput
    from bot.config import load_policy
    from bot.links import LinkSigner
    from bot.runtime import build_summarizer
    from bot.workflow import RequestInput, Workflow
    from storage.db import make_engine, make_session_factory, upgrade_database

    as_of_date = _parse_date(as_of) if as_of else datetime.now(timezone.utc).date()
    amount = _parse_amount(down_payment)
    settings = _load_settings()
    upgrade_database(settings.database_url)
    session_factory = make_session_factory(make_engine(settings.database_url))
    workflow = Workflow(
        session_factory=session_factory,
        policy=load_policy(settings.policy_path),
        summarizer=build_summarizer(settings, session_factory),
        approvers=settings.approvers,
        clock=FixedClock(datetime.combine(as_of_date, time(12, 0), tzinfo=timezone.utc)),
        timezone=settings.timezone,
        # This command opens no request, so no agreement link is ever signed.
        link_signer=LinkSigner("unused: this command signs no agreement link", settings.public_url),
    )

    data = RequestInput(account_id, "other", reason, amount, installments, as_of_date + timedelta(days=FIRST_DUE_DEFAULT_DAYS))
    try:
        terms, facts, result = workflow.assess_request(data)
    except InvalidInput as error:
        for field_name, message in error.field_errors.items():
            error_console.print(f"{field_name}: {message}", soft_wrap=True, markup=False)
        raise typer.Exit(2) from None
    record = workflow.summarizer.summarize(workflow.summary_input(data, terms, facts, result))
    with session_factory.begin() as session:
        record_run(
            session, record, account_id=account_id, request_id=None, now=datetime.now(timezone.utc),
            prices=settings.llm_prices, requested_model=settings.llm_model,
        )

    if as_json:
        console.print_json(json.dumps({"account_id": account_id, "as_of": as_of_date.isoformat(), **record.to_dict()}))
        return
    _print_summary(record)


@agent_app.command("usage")
def usage_command(
    days: int = typer.Option(7, min=1, max=3660, help="Number of days to report, ending today (UTC)."),
) -> None:
    """Print summary runs, tokens and cost per day and model."""
    from bot.agent_usage import usage_by_day_and_model
    from bot.cli import _load_settings
    from storage.db import make_engine, make_session_factory, upgrade_database

    settings = _load_settings()
    upgrade_database(settings.database_url)
    session_factory = make_session_factory(make_engine(settings.database_url))
    since = datetime.now(timezone.utc).date() - timedelta(days=days - 1)
    with session_factory() as session:
        rows = usage_by_day_and_model(session, since=since)

    if not rows:
        console.print(f"No summaries since {since.isoformat()}.")
        return
    # One line per day and model, so long snapshot names stay whole and the output can be parsed.
    for row in rows:
        cost = "no price" if row.cost is None else f"{row.cost:.6f}"
        grounded = "n/a" if row.grounding_checks == 0 else f"{row.grounding_checks - row.grounding_failures}/{row.grounding_checks}"
        console.print(
            f"{row.day.isoformat()}  {row.model}  runs {row.runs}  fallbacks {row.fallbacks}  "
            f"input tokens {row.input_tokens:,}  output tokens {row.output_tokens:,}  cost {cost}  grounded {grounded}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    if any(row.cost is None and row.input_tokens for row in rows):
        console.print("Models marked 'no price' have no entry in PAYPLAN_LLM_PRICES; their cost is not counted.")


@agent_app.command("eval")
def eval_command(
    cases: Path = typer.Option(DEFAULT_EVAL_CASES, help="Folder of labelled case files (*.json)."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Run the labelled cases against the configured model and report the scores."""
    from agents.evaluation import CaseError, evaluate, load_cases
    from bot.cli import _load_settings
    from storage.db import make_engine, make_session_factory

    from bot.runtime import build_summarizer

    settings = _load_settings()
    try:
        loaded = load_cases(cases)
    except CaseError as error:
        error_console.print(str(error), soft_wrap=True, markup=False)
        raise typer.Exit(2) from None
    # The daily token budget does not apply to an evaluation run.
    summarizer = build_summarizer(settings, make_session_factory(make_engine("sqlite://")))
    summarizer.daily_token_budget = None
    report = evaluate(summarizer, loaded)
    if report.model_summaries == 0:
        # Without a model summary the scores would grade the offline keyword check, not the model.
        reasons = sorted({(result.record.fallback_reason or "unknown").rstrip(".") for result in report.results})
        error_console.print(
            f"No model summary was produced ({len(report.results)} of {len(report.results)} fell back: {'; '.join(reasons)}); "
            "scores not computed. Check OPENAI_BASE_URL, OPENAI_API_KEY and PAYPLAN_LLM_ENABLED.",
            soft_wrap=True,
            markup=False,
        )
        raise typer.Exit(1)

    if as_json:
        console.print_json(json.dumps(report.to_dict()))
        return
    data = report.to_dict()
    table = Table("case", "source", "signals found", "signals expected", "missing facts")
    for result in data["results"]:
        table.add_row(
            result["name"],
            result["source"],
            ", ".join(result["found_signals"]) or "-",
            ", ".join(result["expected_signals"]) or "-",
            ", ".join(result["missing_facts"]) or "-",
        )
    console.print(table)
    console.print(
        f"Cases: {data['cases']}, model summaries: {data['model_summaries']}. "
        f"Signal precision {_rate(data['signal_precision'])}, recall {_rate(data['signal_recall'])}. "
        f"Fact recall {_rate(data['fact_recall'])}. Grounding rate {_rate(data['grounding_rate'])}. "
        f"Tokens: {data['input_tokens']:,} in, {data['output_tokens']:,} out. "
        f"Latency: {data['total_latency_ms']:,} ms in total, {data['max_latency_ms']:,} ms at most.",
        soft_wrap=True,
        highlight=False,
    )


def _rate(value: str | None) -> str:
    """Show a rate the report could not compute, because nothing was counted, as n/a."""
    return "n/a" if value is None else value


def _print_summary(record: object) -> None:
    from agents.summary import SummaryRecord

    assert isinstance(record, SummaryRecord)
    summary = record.summary
    console.print(summary.headline, markup=False, highlight=False)
    console.print(summary.narrative, markup=False, highlight=False, soft_wrap=True)
    for fact in summary.key_facts:
        console.print(f"- {fact}", markup=False, highlight=False)
    for signal in summary.signals:
        console.print(f"Signal {signal.kind}: \"{signal.quote}\"", markup=False, highlight=False)
    for question in summary.questions:
        console.print(f"? {question}", markup=False, highlight=False)
    source = record.model if record.source == "openai" else "offline"
    note = f" ({record.fallback_reason})" if record.fallback_reason else ""
    console.print(
        f"Source: {source}{note}; prompt {record.prompt_name} v{record.prompt_version}; "
        f"tokens {record.input_tokens or 0} in, {record.output_tokens or 0} out; {record.latency_ms} ms.",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        error_console.print(f"Invalid --as-of {text!r}: expected a date as YYYY-MM-DD, for example 2013-06-14.", markup=False)
        raise typer.Exit(2) from None


def _parse_amount(text: str) -> Decimal:
    from bot.slack_app import parse_amount

    amount = parse_amount(text.strip())
    if amount is None:
        error_console.print(f"Invalid --down-payment {text!r}: enter an amount such as 100.00, without a currency sign.", markup=False)
        raise typer.Exit(2)
    return amount
