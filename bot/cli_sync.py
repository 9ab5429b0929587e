"""``payplan sync``: pull changed accounts, invoices and payments from the configured sources."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from storage.connectors.base import ConnectorError, ConnectorUnavailable, IncrementalSource
from storage.connectors.csv_file import CsvConnector

console = Console()
error_console = Console(stderr=True)

def sync_command(
    source: str | None = typer.Option(None, "--source", help="Sync only this source, by its name in the connectors file."),
    since: str | None = typer.Option(
        None, "--since", help="Read records changed at or after this ISO 8601 time (UTC unless it has an offset), instead of the stored watermark."
    ),
) -> None:
    """Copy records changed since the last sync; safe to run again."""
    from bot.cli import _load_settings
    from bot.connector_setup import load_connectors
    from storage.connectors.sync import sync_source
    from storage.db import make_engine, make_session_factory, upgrade_database

    start = _parse_since(since)
    settings = _load_settings()
    if settings.connectors_file is None:
        error_console.print("PAYPLAN_CONNECTORS_FILE is not set; name the connectors file (see docs/connectors.md).", soft_wrap=True)
        raise typer.Exit(2)
    upgrade_database(settings.database_url)
    session_factory = make_session_factory(make_engine(settings.database_url))
    try:
        connectors = load_connectors(settings, session_factory)
    except ConnectorError as error:
        error_console.print(str(error), soft_wrap=True, markup=False)
        raise typer.Exit(2) from None
    if not connectors:
        console.print(f"The connectors file {settings.connectors_file} names no sources; nothing to sync.", soft_wrap=True, markup=False, highlight=False)
        return
    if source is not None:
        if source not in connectors:
            error_console.print(f"Unknown source {source!r}; the connectors file names {', '.join(sorted(connectors))}.", soft_wrap=True, markup=False)
            raise typer.Exit(2)
        connectors = {source: connectors[source]}

    # Every mapping is checked against its source before any record is read.
    # A source that cannot be reached is skipped (exit 1); any other problem
    # is in the settings or the mapping (exit 2).
    failed = False
    reachable = {}
    try:
        for name, connector in connectors.items():
            if isinstance(connector, (IncrementalSource, CsvConnector)):
                try:
                    connector.check_mapping()
                except ConnectorUnavailable as error:
                    error_console.print(f"{name}: sync failed, nothing stored: {error}", soft_wrap=True, markup=False)
                    failed = True
                    continue
            reachable[name] = connector
    except ConnectorError as error:
        error_console.print(str(error), soft_wrap=True, markup=False)
        raise typer.Exit(2) from None

    for name, connector in reachable.items():
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True) as progress:
            task = progress.add_task(f"{name}: starting", total=None)

            def show(kind: str, done: int, name: str = name, task: Any = task) -> None:
                progress.update(task, description=f"{name}: {done} {kind}")

            try:
                report = sync_source(session_factory, connector, now=datetime.now(timezone.utc), since=start, on_progress=show)
            except ConnectorError as error:
                error_console.print(f"{name}: sync failed, nothing stored: {error}", soft_wrap=True, markup=False)
                failed = True
                continue
        for problem in report.errors:
            console.print(f"{name}: skipped: {problem}", soft_wrap=True, markup=False, highlight=False)
        console.print(report.summary(), soft_wrap=True, markup=False, highlight=False)
        failed = failed or bool(report.errors)
    if failed:
        raise typer.Exit(1)


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        error_console.print(f"--since {value!r} is not an ISO 8601 time; use for example 2026-12-01T00:00:00Z.", soft_wrap=True, markup=False)
        raise typer.Exit(2) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment
