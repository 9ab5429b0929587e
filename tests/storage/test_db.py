"""Engine setup and Alembic migrations."""

from __future__ import annotations

import warnings

from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.exc import IntegrityError, SAWarning
from sqlalchemy.orm import Session, sessionmaker

from storage.db import alembic_config, make_engine, upgrade_database
from storage.models import Account, Base, Invoice


def test_migrations_match_models(engine: Engine) -> None:
    with engine.connect() as connection, warnings.catch_warnings():
        # SQLAlchemy cannot reflect SQLite's expression indexes (lower(name)),
        # so on SQLite those are left out of the comparison with this warning.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index", SAWarning)
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index", UserWarning)
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    assert differences == []


def test_migrations_create_every_table(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())

    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_downgrade_then_upgrade_again(database_url: str) -> None:
    upgrade_database(database_url)
    command.downgrade(alembic_config(database_url), "base")
    engine = make_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}

        upgrade_database(database_url)
        inspector = inspect(engine)
        assert set(inspector.get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_works_from_any_directory(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    upgrade_database(database_url)

    engine = make_engine(database_url)
    try:
        assert "invoices" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(session: Session) -> None:
    session.add(
        Invoice(
            invoice_number="0000000001",
            account_id="NO-SUCH-ACCOUNT",
            invoice_date=date(2013, 1, 2),
            due_date=date(2013, 2, 1),
            amount=Decimal("1.00"),
        )
    )

    with pytest.raises(IntegrityError):
        session.flush()


def test_engine_serves_several_threads(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        session.add_all([Account(id=f"ACC-{number}") for number in range(8)])
        session.commit()

    def count_accounts(_: int) -> int:
        with session_factory() as session:
            return session.scalar(select(func.count()).select_from(Account)) or 0

    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = list(pool.map(count_accounts, range(8)))

    assert counts == [8] * 8
