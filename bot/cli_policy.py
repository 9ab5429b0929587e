"""``payplan policy ...`` commands and ``payplan import uci-credit``."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from bot.config import Settings, load_policy
from policy.config import Policy, PolicyError, PolicyProblem, parse_policy
from policy.contract import CaseError, decision_json, evaluate_case, parse_case

policy_app = typer.Typer(help="Check, evaluate and backtest policy files.", no_args_is_help=True)
console = Console()
error_console = Console(stderr=True)

INVALID = 2


@policy_app.command("validate")
def validate(path: Path = typer.Argument(..., help="Policy YAML file to check.")) -> None:
    """Check a policy file; list every problem (exit 2) or print a summary of the policy."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        error_console.print(f"Cannot read {path}: {error.strerror}. Give the path of a policy YAML file.", markup=False)
        raise typer.Exit(INVALID) from None
    except yaml.YAMLError as error:
        error_console.print(f"{path} is not valid YAML: {error}", markup=False)
        raise typer.Exit(INVALID) from None
    try:
        policy = parse_policy(document)
    except PolicyError as error:
        _print_problems(path, error.problems)
        raise typer.Exit(INVALID) from None
    print_summary(policy, console)


@policy_app.command("evaluate")
def evaluate(
    case_file: str = typer.Argument("-", metavar="[FILE|-]", help="JSON case to evaluate; - or nothing reads standard input."),
    policy_path: Path | None = typer.Option(None, "--policy", help="Policy YAML file; default PAYPLAN_POLICY or the packaged policy."),
) -> None:
    """Evaluate one JSON case and print one JSON decision; invalid input exits 2 with every bad field on stderr."""
    policy = _policy_or_exit(policy_path)
    try:
        text = sys.stdin.read() if case_file == "-" else Path(case_file).read_text(encoding="utf-8")
    except OSError as error:
        error_console.print(f"Cannot read {case_file}: {error.strerror}.", markup=False)
        raise typer.Exit(INVALID) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        error_console.print(f"(document): not valid JSON: {error}", markup=False)
        raise typer.Exit(INVALID) from None
    try:
        case = parse_case(document, policy)
    except CaseError as error:
        for json_path, message in error.problems.items():
            error_console.print(f"{json_path}: {message}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(INVALID) from None
    result = evaluate_case(policy, case)
    sys.stdout.write(json.dumps(decision_json(policy, case, result), indent=2) + "\n")


@policy_app.command("backtest")
def backtest(
    policy_path: Path | None = typer.Option(None, "--policy", help="Policy YAML file; default PAYPLAN_POLICY or the packaged policy."),
    against: Path | None = typer.Option(None, "--against", help="Second policy file; show what changes account by account."),
    as_of: str | None = typer.Option(None, help="Business date (YYYY-MM-DD); default the last day of the month after the latest invoice."),
    installments: int = typer.Option(12, min=1, help="Monthly installments of the standard request."),
    show: int = typer.Option(20, min=0, help="Account differences to list with --against."),
) -> None:
    """Evaluate a standard request for every account in DATABASE_URL and print the distribution."""
    from bot import backtest as bt
    from storage.db import make_engine, make_session_factory

    policy = _policy_or_exit(policy_path)
    other = _policy_or_exit(against) if against else None
    session_factory = make_session_factory(make_engine(Settings().database_url))
    with session_factory() as session:
        day = _date_or_exit(as_of) if as_of else bt.default_as_of(session)
        if day is None:
            error_console.print("The database has no invoices. Import some first, for example with payplan import uci-credit.")
            raise typer.Exit(1)
        with console.status("Loading accounts"):
            portfolio = bt.load_portfolio(session, day)
    console.print(f"{len(portfolio)} accounts, as of {day.isoformat()}, standard request of {installments} monthly installments.")

    runs = [policy] + ([other] if other else [])
    results = []
    for run_policy in runs:
        with _progress(f"Evaluating under {run_policy.version}") as progress:
            task = progress.add_task("evaluate", total=len(portfolio))
            results.append(
                bt.evaluate_portfolio(run_policy, portfolio, day, installments=installments, on_progress=lambda done: progress.update(task, completed=done))
            )
    _print_distributions([(run_policy.version, bt.distribution(outcomes)) for run_policy, outcomes in zip(runs, results)])
    if other:
        _print_differences(bt.differences(results[0], results[1]), policy.version, other.version, show)


def import_uci_command(path: Path = typer.Argument(..., help="The UCI default of credit card clients CSV.")) -> None:
    """Load the UCI credit card clients as consumer accounts in TWD (see examples/data/README.md)."""
    from storage.db import make_engine, make_session_factory, upgrade_database
    from storage.uci_import import UciFileError, import_uci_credit

    if not path.is_file():
        error_console.print(f"File not found: {path}. Give the path of the CSV file.", markup=False)
        raise typer.Exit(INVALID)
    settings = Settings()
    upgrade_database(settings.database_url)
    session_factory = make_session_factory(make_engine(settings.database_url))
    with _progress("Importing") as progress:
        task = progress.add_task("import", total=None)
        with session_factory.begin() as session:
            try:
                report = import_uci_credit(session, path, on_progress=lambda done, total: progress.update(task, completed=done, total=total))
            except UciFileError as error:
                error_console.print(str(error), markup=False)
                raise typer.Exit(INVALID) from None
    for line, column, value, message in report.errors:
        console.print(f"row {line}, column {column}, value {value!r}: {message}", markup=False, highlight=False, soft_wrap=True)
    console.print(
        f"Rows read: {report.rows_read}. Added: {report.accounts_added} accounts, {report.invoices_added} invoices, "
        f"{report.payments_added} payments. Already present: {report.unchanged}. Rows skipped: {len(report.errors)}.",
        highlight=False,
        soft_wrap=True,
    )
    if report.errors:
        raise typer.Exit(1)


def print_summary(policy: Policy, out: Console) -> None:
    """Print a one-screen summary of a valid policy."""
    eligibility = policy.eligibility
    terms = policy.terms
    out.print(f"[bold]{policy.version}[/bold] · {policy.currency} · valid")
    if policy.description:
        out.print(policy.description, markup=False)
    out.print(
        f"Eligible: balance {eligibility.min_balance} to {eligibility.max_balance}, segments {', '.join(eligibility.segments)}, "
        f"disputed share at most {eligibility.max_disputed_share}, {eligibility.max_prior_defaults} prior default(s) in "
        f"{eligibility.prior_default_lookback_days} days; referred: "
        + (", ".join(f"{status} → {tier}" for status, tier in policy.referred_statuses.items()) or "none"),
        markup=False,
    )
    table = Table("tier", "label", "max balance", "max months", title="Approval tiers, lowest first")
    for tier in policy.tiers:
        table.add_row(tier.name, tier.label, str(tier.max_balance), str(tier.max_installments))
    out.print(table)
    reviews = [f"legal: {policy.legal_review.tier.name} above {policy.legal_review.balance_above}"]
    if policy.detailed_assessment:
        detail = policy.detailed_assessment
        triggers = [f"grades {', '.join(detail.grades)}" if detail.grades else "", f"balance above {detail.balance_above}" if detail.balance_above is not None else ""]
        triggers += ["prior default" if detail.prior_default else "", f"disputed share above {detail.disputed_share_above}" if detail.disputed_share_above is not None else ""]
        reviews.insert(0, f"detailed assessment: {detail.tier.name} for {', '.join(t for t in triggers if t) or 'no trigger'}")
    if policy.hardship.review_tier:
        reviews.append(f"hardship: {policy.hardship.review_tier}, {policy.hardship.extra_installments} extra months")
    out.print("Reviews: " + "; ".join(reviews), markup=False)
    interest = terms.interest
    apr = "no interest" if interest.mode == "none" else f"amortized APR {interest.standard_apr}% standard, cap {interest.max_apr}% ({interest.above_cap} above)"
    by_grade = ", ".join(f"{grade} {months}" for grade, months in terms.max_installments_by_grade.items()) or f"all {policy.schedule.max_installments}"
    out.print(
        f"Terms: down payment at least {terms.down_payment_min_share} of the balance and {terms.down_payment_min_amount}; "
        f"installment at least {terms.min_installment_amount}; max months by grade {by_grade}; {', '.join(policy.schedule.frequencies)}; "
        f"first due in {policy.schedule.min_first_due_days}–{policy.schedule.max_first_due_days} days; {apr}; "
        f"setup fee {terms.setup_fee}, late fee {terms.late_fee} after {terms.grace_days} grace days, default after {terms.default_after_missed} missed; "
        f"rounding {policy.schedule.rounding}"
        + (f", due dates moved off {policy.schedule.business_day_country} holidays" if policy.schedule.business_day_country else ""),
        markup=False,
    )
    if policy.documents:
        out.print("Documents: " + "; ".join(f"{rule.code}" for rule in policy.documents), markup=False)
    for source in policy.sources:
        out.print(f"Source: {source}", markup=False, style="dim")


def _print_problems(path: Path, problems: Iterable[PolicyProblem]) -> None:
    problems = list(problems)
    error_console.print(f"{path}: {len(problems)} problem(s)", markup=False, soft_wrap=True)
    for problem in problems:
        # One line per problem, so the output can be searched and parsed.
        error_console.print(f"  {problem.path}: {problem.message} (got {problem.value})", markup=False, highlight=False, soft_wrap=True)


def _policy_or_exit(path: Path | None) -> Policy:
    try:
        return load_policy(path if path is not None else Settings().policy_path)
    except PolicyError as error:
        error_console.print(str(error), markup=False, soft_wrap=True)
        raise typer.Exit(INVALID) from None


def _date_or_exit(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        error_console.print(f"--as-of {text!r} is not a date; write it as YYYY-MM-DD.", markup=False)
        raise typer.Exit(INVALID) from None


def _progress(label: str) -> Progress:
    return Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=error_console, transient=True)


def _print_distributions(runs: list[tuple[str, Any]]) -> None:
    table = Table("", *[version for version, _ in runs], title="Distribution")
    rows: list[list[str]] = [
        ["accounts", *[str(d.accounts) for _, d in runs]],
        ["not assessable (no open balance or unusable terms)", *[str(d.not_assessable) for _, d in runs]],
        ["eligible share of assessed", *[f"{d.eligible_share:.2%}" for _, d in runs]],
    ]
    grades = sorted({grade for _, d in runs for grade in d.grades})
    rows += [[f"grade {grade}", *[str(d.grades[grade]) for _, d in runs]] for grade in grades]
    routes = sorted({route for _, d in runs for route in d.routes}, key=lambda route: -sum(d.routes[route] for _, d in runs))
    rows += [[f"route {route}", *[str(d.routes[route]) for _, d in runs]] for route in routes[:8]]
    flags: Counter[str] = sum((d.flags for _, d in runs), Counter())
    rows += [[f"flag {code}", *[str(d.flags[code]) for _, d in runs]] for code, _ in flags.most_common(8)]
    for row in rows:
        table.add_row(*row)
    console.print(table)


def _print_differences(changes: list[Any], before: str, after: str, show: int) -> None:
    accounts = len({change.account_id for change in changes})
    console.print(f"{accounts} account(s) change from {before} to {after} ({len(changes)} field changes).")
    if not changes or show == 0:
        return
    table = Table("account", "field", before, after, title=f"First {min(show, len(changes))} changes")
    for change in changes[:show]:
        table.add_row(change.account_id, change.field, change.before, change.after)
    console.print(table)
