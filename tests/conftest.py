"""Database fixtures shared by the whole test suite.

A test that takes ``database_url``, ``engine``, ``session_factory`` or
``session`` runs once on SQLite and once on PostgreSQL. The PostgreSQL run
needs ``PAYPLAN_TEST_DATABASE_URL``, for example
``postgresql+psycopg://postgres@127.0.0.1:5432/test``, and is skipped when it
is unset or the server cannot be reached. Each PostgreSQL test gets its own
schema, dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from storage.db import make_engine, make_session_factory, upgrade_database

POSTGRES_URL_VARIABLE = "PAYPLAN_TEST_DATABASE_URL"
EXAMPLE_CSV = Path(__file__).resolve().parent.parent / "examples" / "data" / "ibm-accounts-receivable.csv"


@pytest.fixture(scope="session")
def postgres_admin_engine() -> Iterator[Engine]:
    """Connect to the server named by PAYPLAN_TEST_DATABASE_URL, or skip."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set; PostgreSQL tests skipped")

    engine = make_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        engine.dispose()
        shown_url = make_url(url).render_as_string(hide_password=True)
        pytest.skip(f"PostgreSQL at {shown_url} did not answer: {exc.orig}")

    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Return the URL of an empty database: a new SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'payplan.db'}"
        return

    admin_engine: Engine = request.getfixturevalue("postgres_admin_engine")
    schema = f"t_{secrets.token_hex(6)}"
    with admin_engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))

    # libpq's "options" sets search_path on every connection, so tables,
    # Alembic's version table and queries all land in the new schema.
    url = admin_engine.url
    options = " ".join(filter(None, [url.query.get("options"), f"-csearch_path={schema}"]))
    try:
        yield url.update_query_dict({"options": options}).render_as_string(hide_password=False)
    finally:
        with admin_engine.begin() as connection:
            # A connection the test left open would block the drop, so fail
            # after a while instead of hanging.
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a SQLite file upgraded to the latest migration, for tests to copy."""
    path = tmp_path_factory.mktemp("template") / "payplan.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture
def engine(request: pytest.FixtureRequest, database_url: str) -> Iterator[Engine]:
    """Return an engine for a database upgraded to the latest migration."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        # Copying a migrated file is much faster than running the
        # migrations again for every test.
        shutil.copyfile(request.getfixturevalue("sqlite_template"), url.database)
    else:
        upgrade_database(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """Return a session that is closed, rolling back anything uncommitted, after the test."""
    with session_factory() as session:
        yield session


@pytest.fixture
def example_csv() -> Path:
    """Return the path of the IBM accounts receivable sample in examples/data."""
    return EXAMPLE_CSV
