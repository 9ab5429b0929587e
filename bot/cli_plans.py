"""``payplan payments import`` and ``payplan plans monitor|revise|send-link``."""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer
from rich.console import Console

from bot.config import Settings

app = typer.Typer(help="Payment plans in force: monitoring and new terms.", no_args_is_help=True)
payments_app = typer.Typer(help="Plan payments.", no_args_is_help=True)

console = Console()
error_console = Console(stderr=True)


@payments_app.command("import")
def import_payments_command(path: Path = typer.Argument(..., help="CSV file with columns reference, account_id, paid_on (YYYY-MM-DD), amount.")) -> None:
    """Record plan payments from a CSV file and apply them to installments, oldest first."""
    from bot.cli import _load_settings
    from bot.payments import import_payments
    from storage.db import make_engine, make_session_factory, upgrade_database
    from storage.importer import ImportFileError

    if not path.is_file():
        error_console.print(f"File not found: {path}. Give the path of a CSV file.", soft_wrap=True, markup=False)
        raise typer.Exit(2)
    settings = _load_settings()
    upgrade_database(settings.database_url)
    # The command prints every payment's outcome itself; the log would repeat it.
    logging.getLogger("bot.payments").setLevel(logging.ERROR)
    session_factory = make_session_factory(make_engine(settings.database_url))
    with session_factory.begin() as session:
        try:
            report = import_payments(session, path, now=datetime.now(timezone.utc))
        except ImportFileError as error:
            error_console.print(str(error), soft_wrap=True, markup=False)
            raise typer.Exit(2) from None

    for row_error in report.errors:
        where = f"row {row_error.row}" if row_error.column is None else f"row {row_error.row}, column {row_error.column}, value {row_error.value!r}"
        console.print(f"{where}: {row_error.message}", soft_wrap=True, highlight=False, markup=False)
    for result in report.results:
        if result.outcome != "applied":
            console.print(f"payment {result.reference}: {result.detail}", soft_wrap=True, highlight=False, markup=False)
    console.print(
        f"Rows read: {report.rows_read}. Applied: {report.count('applied')}. Unmatched (kept): {report.count('unmatched')}. "
        f"Already recorded: {report.count('duplicate')}. Conflicts: {report.count('conflict')}. Rows skipped: {report.skipped}.",
        soft_wrap=True,
        highlight=False,
    )
    if report.errors or report.count("conflict"):
        raise typer.Exit(1)


@app.command("monitor")
def monitor_command(
    on: str | None = typer.Option(None, help="Run as of this date (YYYY-MM-DD, at 00:00 UTC); defaults to now."),
) -> None:
    """Run the plan monitoring sweep once: late installments, notices, default and completion."""
    from slack_sdk import WebClient

    from bot.cli import _load_settings
    from bot.config import load_policy
    from bot.monitoring import run_plan_monitoring
    from bot.plan_notices import SlackThreadNotifier
    from storage.db import make_engine, make_session_factory, upgrade_database

    now = datetime.now(timezone.utc) if on is None else datetime.combine(_parse_date(on, "--on"), datetime.min.time(), tzinfo=timezone.utc)
    settings = _load_settings()
    upgrade_database(settings.database_url)
    session_factory = make_session_factory(make_engine(settings.database_url))
    notifier = None
    if settings.slack_bot_token:
        client = WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url)
        notifier = SlackThreadNotifier(client=client, session_factory=session_factory)
    lines = run_plan_monitoring(session_factory, notifier, load_policy(settings.policy_path), now)
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False, markup=False)
    console.print(f"Plan monitoring at {now.isoformat()}: {len(lines)} changes.")


@app.command("revise")
def revise_command(
    request: str = typer.Argument(..., help="Request id as shown in Slack, such as PP-00012, or its number, 12."),
    actor: str = typer.Option(..., help="Slack user id of the account manager or approver opening the new terms."),
    installments: int = typer.Option(..., help="Number of monthly installments."),
    first_due: str = typer.Option(..., help="First due date, YYYY-MM-DD."),
    down_payment: str = typer.Option("0.00", help="Down payment in the policy currency."),
    note: str = typer.Option("", help="Why the terms change; shown in the thread and the audit trail."),
) -> None:
    """Open a new revision of a request's terms; it goes through assessment and approval again."""
    from bot.cli import _load_settings
    from bot.errors import PayplanError
    from bot.runtime import build_runtime

    from bot.commands import parse_request_id

    try:
        request_id = parse_request_id(request)
    except PayplanError as error:
        error_console.print(error.user_message.replace("`", ""), soft_wrap=True, markup=False)
        raise typer.Exit(2) from None
    try:
        amount = Decimal(down_payment)
    except InvalidOperation:
        error_console.print(f"--down-payment {down_payment!r} is not a number; use a decimal such as 120.00.", soft_wrap=True, markup=False)
        raise typer.Exit(2) from None
    settings = _require_portal_secret(_load_settings())
    runtime = build_runtime(settings, with_slack=bool(settings.slack_bot_token))
    try:
        number = runtime.workflow.reopen_for_changes(
            actor=actor, request_id=request_id, down_payment=amount, installment_count=installments,
            first_due_date=_parse_date(first_due, "--first-due"), note=note,
        )
    except PayplanError as error:
        details = getattr(error, "field_errors", {})
        error_console.print(error.user_message, soft_wrap=True, markup=False)
        for field_name, message in details.items():
            error_console.print(f"  {field_name}: {message}", soft_wrap=True, markup=False)
        raise typer.Exit(1) from None
    console.print(f"Revision {number} opened; it now needs approval.")


def _require_portal_secret(settings: Settings) -> Settings:
    if not settings.portal_secret:
        error_console.print("PAYPLAN_PORTAL_SECRET is not set; it signs agreement links. See README.md, section Configuration.", soft_wrap=True)
        raise typer.Exit(2)
    return settings


def _parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        error_console.print(f"{option} {value!r} is not a date; use YYYY-MM-DD.", soft_wrap=True, markup=False)
        raise typer.Exit(2) from None


@app.command("send-link")
def send_link_command(
    request: str = typer.Argument(..., help="Request id as shown in Slack, such as PP-00012, or its number, 12."),
    to: str = typer.Option(..., help="Customer's e-mail address."),
    actor: str = typer.Option(..., help="Slack user id of the account manager sending it, for the audit trail."),
) -> None:
    """E-mail the customer the agreement link and PDF through the SMTP server in PAYPLAN_SMTP_HOST."""
    from bot.cli import _load_settings
    from bot.errors import PayplanError
    from bot.link_email import SmtpSettings, email_agreement_link
    from bot.runtime import build_runtime

    settings = _load_settings()
    if not settings.smtp_host or not settings.smtp_from:
        error_console.print("PAYPLAN_SMTP_HOST and PAYPLAN_SMTP_FROM must be set to e-mail links. See README.md, section Configuration.", soft_wrap=True)
        raise typer.Exit(2)
    smtp = SmtpSettings(
        host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from, username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None, starttls=settings.smtp_starttls,
    )
    runtime = build_runtime(_require_portal_secret(settings), with_slack=bool(settings.slack_bot_token))
    try:
        email_agreement_link(runtime.workflow, smtp, request_id=request_id, to=to, actor=actor)
    except PayplanError as error:
        error_console.print(error.user_message, soft_wrap=True, markup=False)
        raise typer.Exit(1) from None
    except OSError as error:
        error_console.print(f"Sending through {settings.smtp_host}:{settings.smtp_port} failed: {error}. Check the PAYPLAN_SMTP_ settings.", soft_wrap=True, markup=False)
        raise typer.Exit(1) from None
    console.print(f"Agreement link e-mailed to {to}.")
