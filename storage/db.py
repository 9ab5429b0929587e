"""Engine and session setup, and schema upgrades through Alembic.

The Slack app shares one engine between its worker threads, so SQLite
connections are opened with ``check_same_thread=False`` and every thread takes
its own connection from the pool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``, set up for use from several threads.

    On SQLite every new connection turns on foreign key enforcement, which
    SQLite leaves off by default. Keyword arguments go to
    :func:`sqlalchemy.create_engine`.

    An in-memory SQLite URL gives each thread its own empty database, so the
    app needs a file URL.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, **kwargs)

    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("check_same_thread", False)
    engine = create_engine(parsed, connect_args=connect_args, **kwargs)
    event.listen(engine, "connect", _enable_sqlite_foreign_keys)
    return engine


def _enable_sqlite_foreign_keys(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Create the session factory for ``engine``.

    Objects stay loaded after commit, so code can still read them once the
    transaction has ended, for example to build a Slack message.
    """
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """Build the Alembic configuration for the database at ``url``.

    The project has no ``alembic.ini``. Use this configuration with
    :mod:`alembic.command`, for example to draft a new migration::

        command.revision(alembic_config(url), message="add x", autogenerate=True)
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Config stores options in a ConfigParser, which treats "%" as the start
    # of an interpolation, and URL-encoded passwords or options contain "%".
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(url: str, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` to the database at ``url``."""
    command.upgrade(alembic_config(url), revision)
