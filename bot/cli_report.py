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

console = Console(soft_wrap=True, highlight=False)
error_console = Console(stderr=True, soft_wrap=True, highlight=False)


class ReportFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def report_command(
    start: str | None = typer.Option(None, "--from", metavar="YYYY-MM-DD", help="First day of requests to include (YYYY-MM-DD, UTC)."),
    end: str | None = typer.Option(None, "--to", metavar="YYYY-MM-DD", help="Last day of requests to include (YYYY-MM-DD, UTC); also the date up to which installments and payments count. Defaults to today."),
    format: ReportFormat = typer.Option(ReportFormat.TABLE, "--format", help="table, csv or json."),
) -> None:
    """Report outcomes, approval times, SLA breaches, recovery, defaults and uneven treatment."""
    from bot.clock import SystemClock, business_date
    from bot.cli import _load_settings
    from bot.cli_audit import run_with_database
    from storage.reporting import compute_report

    start_date = parse_day("--from", start)
    end_date = parse_day("--to", end)
    if start_date is not None and end_date is not None and start_date > end_date:
        error_console.print(f"Invalid date range: --from {start_date} is after --to {end_date}; swap them.", markup=False)
        raise typer.Exit(2)
    as_of = end_date or business_date(SystemClock(), _load_settings().timezone)
    report = run_with_database(lambda session: compute_report(session, start=start_date, end=end_date, as_of=as_of))

    if format is ReportFormat.JSON:
        typer.echo(json.dumps(report_to_dict(report), indent=2))
    elif format is ReportFormat.CSV:
        write_csv(report)
    else:
        print_tables(report)


def parse_day(option: str, text: str | None) -> date | None:
    """Parse a YYYY-MM-DD option value; exit with status 2 naming the value when it is not a real date."""
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        error_console.print(f"{option} {text} is not a valid date; give a calendar date as YYYY-MM-DD.", markup=False)
        raise typer.Exit(2) from None


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
