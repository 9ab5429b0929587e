"""The ``payplan`` command line."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.error import URLError

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from bot.cli_agent import agent_app
from bot import cli_audit, cli_plans, cli_policy, cli_report
from bot.cli_sync import sync_command
from bot.cli_jobs import jobs_app, scheduler_tier_settings
from bot.config import Settings, load_policy
from policy.config import PolicyError
from storage.connectors.base import ConnectorError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

app = typer.Typer(help="Payment plan requests, approvals and agreements, run from Slack.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
import_app = typer.Typer(help="Load receivables data.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(agent_app, name="agent")
app.add_typer(cli_audit.app, name="audit")
app.command("report")(cli_report.report_command)
app.command("sync")(sync_command)
app.add_typer(cli_plans.app, name="plans")
app.add_typer(cli_plans.payments_app, name="payments")
app.add_typer(cli_policy.policy_app, name="policy")
import_app.command("uci-credit")(cli_policy.import_uci_command)
app.add_typer(jobs_app, name="jobs")

console = Console()
error_console = Console(stderr=True)
logger = logging.getLogger(__name__)

README_CONFIGURATION = "README.md, section Configuration"


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "slack_bolt.App", "slack_sdk.web.base_client"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Alembic revision to upgrade to.")) -> None:
    """Create or upgrade the schema of the database at DATABASE_URL."""
    from storage.db import upgrade_database

    settings = _load_settings()
    open_database(settings, create=True)
    try:
        upgrade_database(settings.database_url, revision)
    except SQLAlchemyError as error:
        exit_on_database_error(settings.database_url, error)
    console.print(f"Database at {_display_url(settings.database_url)} upgraded to revision {revision!r}.")


@import_app.command("invoices")
def import_invoices_command(path: Path = typer.Argument(..., help="CSV file in the accounts receivable export format.")) -> None:
    """Load invoices, their accounts and payments from a CSV file into DATABASE_URL."""
    from storage.db import upgrade_database
    from storage.importer import ImportFileError, import_invoices

    if path.is_dir():
        error_console.print(f"{path} is a folder. Give the path of a CSV file.", soft_wrap=True, markup=False)
        raise typer.Exit(2)
    if not path.is_file():
        error_console.print(f"File not found: {path}. Give the path of a CSV file.", soft_wrap=True, markup=False)
        raise typer.Exit(2)
    settings = _load_settings()
    session_factory = open_database(settings, create=True)
    try:
        upgrade_database(settings.database_url)
    except SQLAlchemyError as error:
        exit_on_database_error(settings.database_url, error)

    with Progress(TextColumn("Importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console, transient=True) as progress:
        task = progress.add_task("import", total=None)

        def show_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        with session_factory.begin() as session:
            try:
                report = import_invoices(session, path, on_progress=show_progress)
            except ImportFileError as error:
                error_console.print(str(error), soft_wrap=True, markup=False)
                raise typer.Exit(2) from None

    for row_error in report.errors:
        # soft_wrap keeps each report line whole, so it can be searched and parsed.
        where = f"row {row_error.row}" if row_error.column is None else f"row {row_error.row}, column {row_error.column}, value {row_error.value!r}"
        console.print(
            f"{where}: {row_error.message}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    console.print(
        f"Rows read: {report.rows_read}. Added: {report.invoices_added} invoices, {report.accounts_added} accounts, "
        f"{report.payments_added} payments. Already present: {report.unchanged}. Rows skipped: {report.skipped}.",
        soft_wrap=True,
        highlight=False,
    )
    if report.errors:
        raise typer.Exit(1)


@app.command()
def demo(
    db: Path = typer.Option(Path("payplan-demo.db"), help="SQLite file for the demo database; replaced if it exists."),
    csv: Path | None = typer.Option(None, help="Invoice CSV to replay; defaults to the bundled IBM sample."),
    verbose: bool = typer.Option(False, help="Log every step."),
) -> None:
    """Replay real receivables history through the whole workflow, offline."""
    from bot.demo import run_demo

    _configure_logging(verbose)
    if not verbose:
        logging.getLogger().setLevel(logging.WARNING)
    run_demo(db_path=db, csv_path=csv, console=console)


@app.command()
def serve(
    http: bool = typer.Option(False, "--http", help="Serve Slack over HTTP (POST /slack/events) instead of Socket Mode."),
    port: int = typer.Option(3000, help="TCP port for HTTP mode and the agreement pages."),
    host: str = typer.Option("0.0.0.0", help="Address to listen on."),
    verbose: bool = typer.Option(False, help="Log at DEBUG level."),
) -> None:
    """Run the Slack app and the agreement pages."""
    import uvicorn

    from bot.runtime import build_runtime
    from bot.server import build_asgi_app
    from storage.db import upgrade_database

    _configure_logging(verbose)
    settings = _load_settings()
    exit_if_missing(settings.missing_for_serve(http=http))

    try:
        policy = load_policy(settings.policy_path)
    except PolicyError as error:
        error_console.print(str(error), soft_wrap=True, markup=False)
        raise typer.Exit(2) from None
    unknown_tiers = sorted(set(settings.approvers) - set(policy.tier_names()))
    if unknown_tiers:
        error_console.print(
            f"PAYPLAN_APPROVERS names unknown tiers {unknown_tiers}; the policy's tiers are {policy.tier_names()}.",
            soft_wrap=True,
            markup=False,
        )
        raise typer.Exit(2)
    for variable, names in scheduler_tier_settings(settings).items():
        unknown = sorted(set(names) - set(policy.tier_names()))
        if unknown:
            error_console.print(f"{variable} names unknown tiers {unknown}; the policy's tiers are {policy.tier_names()}.", soft_wrap=True, markup=False)
            raise typer.Exit(2)

    try:
        upgrade_database(settings.database_url)
    except SQLAlchemyError as error:
        exit_on_database_error(settings.database_url, error)
    try:
        runtime = build_runtime(settings)
    except ConnectorError as error:
        error_console.print(str(error), soft_wrap=True, markup=False)
        raise typer.Exit(2) from None
    except (URLError, SlackApiError, OSError) as error:
        # Bolt checks the bot token with auth.test while the app is built.
        error_console.print(
            f"Cannot reach Slack at {settings.slack_api_url} to check SLACK_BOT_TOKEN: {error}. Check the token and SLACK_API_URL.",
            soft_wrap=True,
            markup=False,
        )
        raise typer.Exit(2) from None
    assert runtime.slack_app is not None
    _check_connector_mappings(runtime.connectors)
    webhook_secret = settings.requests_webhook_secret.get_secret_value() if settings.requests_webhook_secret else None
    payments_secret = settings.payments_webhook_secret.get_secret_value() if settings.payments_webhook_secret else None
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    asgi = build_asgi_app(
        slack_app=runtime.slack_app if http else None,
        workflow=runtime.workflow,
        requests_webhook_secret=webhook_secret,
        payments_secret=payments_secret,
        signing_secret=signing_secret,
        requests_webhook_max_body_bytes=settings.requests_webhook_max_body_bytes,
    )
    scheduler = None
    if settings.scheduler_enabled:
        from bot.jobs.scheduler import build_context, start_scheduler

        scheduler = start_scheduler(build_context(runtime, settings))
    if not http:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        assert settings.slack_app_token is not None
        # NOTE: tests build this handler against the Slack stub and feed it a
        # request, but none opens the websocket, which needs a live workspace.
        handler = SocketModeHandler(runtime.slack_app, settings.slack_app_token.get_secret_value())
        handler.connect()
        logger.info("connected to Slack in Socket Mode")
    logger.info("serving on %s:%s (Slack over %s)", host, port, "HTTP" if http else "Socket Mode")
    uvicorn.run(asgi, host=host, port=port, log_level="warning")
    if scheduler is not None:
        scheduler.shutdown(wait=False)
    runtime.close()
    logger.info("payplan stopped")


def _check_connector_mappings(connectors: dict) -> None:
    """Exit with status 2 when a mapping names a field its source lacks; log and go on when a source is unreachable."""
    from storage.connectors.base import ConnectorUnavailable, IncrementalSource, MappingError

    from storage.connectors.csv_file import CsvConnector

    for name, connector in connectors.items():
        if isinstance(connector, CsvConnector):
            try:
                connector.check_mapping()
            except ConnectorError as error:
                # The file may be put in place before the next sync, so serving goes on.
                logger.warning("%s", error)
            continue
        if not isinstance(connector, IncrementalSource):
            continue
        try:
            connector.check_mapping()
        except MappingError as error:
            error_console.print(str(error), soft_wrap=True, markup=False)
            raise typer.Exit(2) from None
        except (ConnectorUnavailable, ConnectorError) as error:
            logger.error("could not check the mapping of source %s at start: %s", name, error)


def _load_settings() -> Settings:
    """Read the settings; exit with status 2 naming each invalid variable."""
    try:
        return Settings()
    except ValidationError as error:
        for problem in error.errors():
            name = ".".join(str(part) for part in problem["loc"])
            error_console.print(f"Invalid setting: {name}={problem.get('input')!r}: {problem['msg']}. See {README_CONFIGURATION}.", soft_wrap=True, markup=False)
        raise typer.Exit(2) from None
    except SettingsError as error:
        error_console.print(f"Invalid setting: {error}. JSON values such as PAYPLAN_APPROVERS must be valid JSON. See {README_CONFIGURATION}.", soft_wrap=True, markup=False)
        raise typer.Exit(2) from None


def exit_if_missing(names: list[str]) -> None:
    """Print each missing environment variable in ``names`` and exit with status 2; return if there are none."""
    if not names:
        return
    for name in names:
        error_console.print(f"Missing setting: {name} is not set. See {README_CONFIGURATION}.", soft_wrap=True)
    raise typer.Exit(2)


def open_database(settings: Settings, *, create: bool = False) -> sessionmaker[Session]:
    """Return a session factory for DATABASE_URL, whose schema must exist; exit with status 2 saying what to fix.

    A SQLite file that does not exist is reported instead of opened, because
    opening it would create an empty database without tables. With
    ``create``, as for ``payplan db upgrade``, only its folder must exist.
    """
    from storage.db import make_engine, make_session_factory

    try:
        url = make_url(settings.database_url)
    except ArgumentError:
        # A URL with "@" may carry a password, so its value is not printed.
        value_text = "" if "@" in settings.database_url else f" {settings.database_url!r}"
        error_console.print(
            f"Invalid setting: DATABASE_URL{value_text} is not a database URL. Give one such as "
            f"sqlite:///payplan.db or postgresql+psycopg://user@host/payplan. See {README_CONFIGURATION}.",
            soft_wrap=True,
            markup=False,
        )
        raise typer.Exit(2) from None
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        path = Path(url.database)
        if path.is_dir():
            error_console.print(f"DATABASE_URL names {path}, which is a directory. Give the path of the SQLite file.", soft_wrap=True, markup=False)
            raise typer.Exit(2)
        if create and not path.parent.is_dir():
            error_console.print(
                f"The folder {path.parent} of the SQLite database in DATABASE_URL does not exist. Create it, or fix DATABASE_URL.",
                soft_wrap=True,
                markup=False,
            )
            raise typer.Exit(2)
        if not create and not path.exists():
            error_console.print(
                f"The SQLite database {path} in DATABASE_URL does not exist. Run `payplan db upgrade` to create it, or fix DATABASE_URL.",
                soft_wrap=True,
                markup=False,
            )
            raise typer.Exit(2)
    try:
        return make_session_factory(make_engine(settings.database_url))
    except SQLAlchemyError as error:
        exit_on_database_error(settings.database_url, error)


def exit_on_database_error(database_url: str, error: SQLAlchemyError) -> NoReturn:
    """Log ``error``, print what failed and how to fix it, and exit with status 2."""
    logger.error("database at %s failed: %s", _display_url(database_url), error)
    # The driver's own message, such as "no such table: audit_events", without SQLAlchemy's SQL and link.
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    error_console.print(
        f"The database at DATABASE_URL ({_display_url(database_url)}) failed: {reason}. Check the URL and that "
        "the server is running, and run `payplan db upgrade` if tables are missing.",
        soft_wrap=True,
        markup=False,
    )
    raise typer.Exit(2) from None


def _display_url(url: str) -> str:
    """Hide a password in a database URL before printing it."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "an invalid URL"
