"""``payplan report``: plan performance figures and the consistency report."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime
from enum import StrEnum

import typer
from rich.console import Console
from rich.table import Table

from storage.reporting import PlanReport, figure_rows, report_to_dict

app = typer.Typer(help="Plan performance figures for a date range.")
console = Console(soft_wrap=True, highlight=False)
error_console = Console(stderr=True, soft_wrap=True, highlight=False)


class ReportFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


@app.callback(invoke_without_command=True)
def report_command(
    start: datetime | None = typer.Option(None, "--from", formats=["%Y-%m-%d"], help="First day of requests to include (YYYY-MM-DD, UTC)."),
    end: datetime | None = typer.Option(None, "--to", formats=["%Y-%m-%d"], help="Last day of requests to include (YYYY-MM-DD, UTC); also the date up to which installments and payments count. Defaults to today."),
    format: ReportFormat = typer.Option(ReportFormat.TABLE, "--format", help="table, csv or json."),
) -> None:
    """Report outcomes, approval times, SLA breaches, recovery, defaults and uneven treatment."""
    from bot.clock import SystemClock, business_date
    from bot.cli_audit import session_factory_from_settings
    from bot.config import Settings
    from storage.reporting import compute_report

    start_date = start.date() if start else None
    end_date = end.date() if end else None
    as_of = end_date or business_date(SystemClock(), Settings().timezone)
    try:
        with session_factory_from_settings()() as session:
            report = compute_report(session, start=start_date, end=end_date, as_of=as_of)
    except ValueError as error:
        error_console.print(f"Invalid date range: {error}.", markup=False)
        raise typer.Exit(2) from None

    if format is ReportFormat.JSON:
        typer.echo(json.dumps(report_to_dict(report), indent=2))
    elif format is ReportFormat.CSV:
        write_csv(report)
    else:
        print_tables(report)


def write_csv(report: PlanReport) -> None:
    writer = csv.writer(sys.stdout)
    writer.writerow(["figure", "group", "value", "basis"])
    for row in figure_rows(report):
        writer.writerow([row.figure, row.group, row.value, row.basis])
    for group in report.consistency:
        for case in group.cases:
            writer.writerow([
                "uneven treatment",
                f"grade {group.risk_grade}, balance {group.balance_band}",
                case.outcome,
                f"request {case.request_id}, account {case.account_id}, balance {case.balance}: {'; '.join(case.reasons)}",
            ])


def print_tables(report: PlanReport) -> None:
    opened = "all requests" if report.start is None and report.end is None else f"requests opened {_day(report.start)} to {_day(report.end)}"
    title = f"Plan report: {opened}, installments and payments up to {report.as_of}"
    figures = Table("figure", "group", "value", "basis", title=title)
    for row in figure_rows(report):
        figures.add_row(row.figure, row.group, row.value, row.basis)
    console.print(figures)

    if not report.consistency:
        console.print("Consistency: no group of the same risk grade and balance band received different outcomes.")
        return
    uneven = Table("grade", "balance band", "request", "account", "balance", "outcome", "recorded reasons",
                   title="Similar accounts with different outcomes")
    for group in report.consistency:
        for case in group.cases:
            uneven.add_row(group.risk_grade, group.balance_band, str(case.request_id), case.account_id,
                           str(case.balance), case.outcome, "; ".join(case.reasons) or "none recorded")
    console.print(uneven)


def _day(value: date | None) -> str:
    return value.isoformat() if value else "any day"
