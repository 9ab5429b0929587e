"""``payplan audit``: verify the hash chain, export events, show one request's history."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

app = typer.Typer(help="Check and export the tamper-evident audit trail.", no_args_is_help=True)
console = Console(soft_wrap=True, highlight=False)
error_console = Console(stderr=True, soft_wrap=True, highlight=False)


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


def session_factory_from_settings() -> sessionmaker[Session]:
    """Open the database at DATABASE_URL; exit with status 2 when the settings are invalid."""
    from bot.cli import _load_settings
    from storage.db import make_engine, make_session_factory

    settings = _load_settings()
    return make_session_factory(make_engine(settings.database_url))


@app.command("verify")
def verify_command() -> None:
    """Recompute every event's hash in sequence order; exit 1 naming the first bad event."""
    from storage.audit import verify_chain

    with session_factory_from_settings()() as session:
        report = verify_chain(session)

    if report.problem is not None:
        where = f"event {report.problem.event_id}" if report.problem.event_id is not None else "end of chain"
        error_console.print(
            f"Audit chain broken at {where} ({report.problem.kind}): {report.problem.message}. "
            f"{report.checked} events before it verified.",
            markup=False,
        )
        raise typer.Exit(1)
    console.print(f"Audit chain verified: {report.checked} events, last hash {report.last_hash}.", markup=False)


@app.command("export")
def export_command(
    request: int | None = typer.Option(None, "--request", help="Export only the events of this request id."),
    format: ExportFormat = typer.Option(ExportFormat.JSONL, "--format", help="csv, or jsonl (one JSON object per line)."),
    output: Path | None = typer.Option(None, "--output", help="File to write; standard output when omitted."),
) -> None:
    """Write audit events, oldest first, with their sequence, previous hash and hash."""
    from storage.audit import export_events

    with ExitStack() as stack:
        if output is None:
            stream = sys.stdout
        else:
            # newline="" lets the csv module write its own CRLF line ends.
            stream = stack.enter_context(output.open("w", encoding="utf-8", newline=""))
        session = stack.enter_context(session_factory_from_settings()())
        count = export_events(session, stream, request_id=request, fmt=format.value)

    if output is not None:
        console.print(f"Wrote {count} events to {output}.", markup=False)
    if count == 0 and request is not None:
        error_console.print(f"Request {request} has no audit events; check the request id.", markup=False)
        raise typer.Exit(1)


@app.command("history")
def history_command(request: int = typer.Argument(..., help="Request id.")) -> None:
    """Print the full audit chain of one request, oldest first."""
    from storage.history import request_history

    with session_factory_from_settings()() as session:
        entries = request_history(session, request)

    if not entries:
        error_console.print(f"Request {request} has no audit events; check the request id.", markup=False)
        raise typer.Exit(1)
    for entry in entries:
        console.print(entry.line(), markup=False)


@app.command("grants")
def grants_command(
    role: str = typer.Argument(..., help="PostgreSQL role the application connects as."),
    schema: str = typer.Option("public", help="Schema that holds payplan's tables."),
) -> None:
    """Print the GRANT and REVOKE statements for the application's PostgreSQL role."""
    from storage.grants import application_grants

    try:
        statements = application_grants(role, schema)
    except ValueError as error:
        error_console.print(f"{error}.", markup=False)
        raise typer.Exit(2) from None
    for statement in statements:
        console.print(f"{statement};", markup=False)
