"""``payplan audit``: verify the hash chain, export events, show one request's history."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(help="Check and export the tamper-evident audit trail.", no_args_is_help=True)
console = Console(soft_wrap=True, highlight=False)
error_console = Console(stderr=True, soft_wrap=True, highlight=False)

Result = TypeVar("Result")


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


def run_with_database(work: Callable[[Session], Result]) -> Result:
    """Run ``work`` in a session on DATABASE_URL.

    Exits with status 2 when the settings or the database fail, and with
    status 1 naming the event when a stored event cannot be read.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from bot.cli import _load_settings, exit_on_database_error, open_database
    from storage.audit import UnreadableEventError

    settings = _load_settings()
    session_factory = open_database(settings)
    try:
        with session_factory() as session:
            return work(session)
    except SQLAlchemyError as error:
        exit_on_database_error(settings.database_url, error)
    except UnreadableEventError as error:
        error_console.print(f"{error}.", markup=False)
        raise typer.Exit(1) from None


def parse_request_option(text: str) -> int:
    """Read a request id given as PP-00012 or 12; exit with status 2 naming the value otherwise."""
    from bot.commands import parse_request_id
    from bot.errors import InvalidInput

    try:
        return parse_request_id(text)
    except InvalidInput:
        error_console.print(f"{text!r} is not a request id. Give it as shown in Slack, such as PP-00012, or as 12.", markup=False)
        raise typer.Exit(2) from None


@app.command("verify")
def verify_command() -> None:
    """Recompute every event's hash in sequence order; exit 1 naming the first bad event."""
    from storage.audit import verify_chain

    report = run_with_database(verify_chain)

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
    request: str | None = typer.Option(None, "--request", help="Export only the events of this request, given as PP-00012 or 12."),
    format: ExportFormat = typer.Option(ExportFormat.JSONL, "--format", help="csv, or jsonl (one JSON object per line)."),
    output: Path | None = typer.Option(None, "--output", help="File to write; standard output when omitted. Replaced only when the export succeeds."),
) -> None:
    """Write audit events, oldest first, with their sequence, previous hash and hash."""
    from storage.audit import export_events

    request_id = parse_request_option(request) if request is not None else None
    if output is not None:
        check_output_path(output)

    def export(session: Session) -> int:
        with open_output(output) as stream:
            count = export_events(session, stream, request_id=request_id, fmt=format.value)
            if count == 0 and request_id is not None:
                error_console.print(f"Request {request} has no audit events; check the request id.", markup=False)
                raise typer.Exit(1)
        return count

    count = run_with_database(export)
    if output is not None:
        console.print(f"Wrote {count} events to {output}.", markup=False)


def check_output_path(output: Path) -> None:
    """Exit with status 2 when ``output`` cannot be written as a file."""
    if output.is_dir():
        error_console.print(f"{output} is a directory. Give the path of a file to write.", markup=False)
        raise typer.Exit(2)
    parent = output.parent
    if not parent.is_dir():
        error_console.print(f"The directory {parent} for {output} does not exist. Create it or choose another path.", markup=False)
        raise typer.Exit(2)


@contextmanager
def open_output(output: Path | None) -> Iterator[TextIO]:
    """Yield a text stream for ``output``, or standard output when it is None.

    A file is written under a temporary name in the same directory and
    renamed over ``output`` only when the block ends without an error, so a
    failed export leaves an existing file as it was. The new file is
    readable by its owner only, as :func:`tempfile.mkstemp` creates it.
    """
    if output is None:
        yield sys.stdout
        return
    try:
        handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    except OSError as error:
        error_console.print(f"Cannot write to {output.parent}: {error.strerror}.", markup=False)
        raise typer.Exit(2) from None
    try:
        # newline="" lets the csv module write its own CRLF line ends.
        with open(handle, "w", encoding="utf-8", newline="") as stream:
            yield stream
        os.replace(temporary, output)
    except BaseException:
        os.unlink(temporary)
        raise


@app.command("history")
def history_command(request: str = typer.Argument(..., help="Request id, as PP-00012 or 12.")) -> None:
    """Print the full audit chain of one request, oldest first, one line per event."""
    from storage.history import request_history

    request_id = parse_request_option(request)
    entries = run_with_database(lambda session: request_history(session, request_id))

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
