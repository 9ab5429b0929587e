"""verify_chain on a live database and on rows changed into unreadable or out-of-range values."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from storage.audit import AuditChainError, record_event, verify_chain
from tests.storage.test_audit_chain import AT, EVENTS, HEAD, add_requests, add_three_events, forged_row, last_hash, tamper


def test_verify_during_appends_has_no_false_alarm(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        add_requests(session)
        session.commit()
    writers, events_per_writer = 3, 40
    errors: list[BaseException] = []

    def append(writer: int) -> None:
        try:
            for number in range(events_per_writer):
                with session_factory.begin() as session:
                    record_event(session, actor=f"U{writer}", action="test.append", at=AT, request_id=1,
                                 revision=1, before={}, after={"number": number})
        except BaseException as error:  # collected and re-raised in the main thread
            errors.append(error)

    threads = [threading.Thread(target=append, args=(writer,)) for writer in range(writers)]
    for thread in threads:
        thread.start()
    problems = []
    runs = 0
    while any(thread.is_alive() for thread in threads) or runs == 0:
        with session_factory() as session:
            report = verify_chain(session)
        runs += 1
        if report.problem is not None:
            problems.append(report.problem)
    for thread in threads:
        thread.join()

    assert errors == []
    assert problems == []
    with session_factory() as session:
        assert verify_chain(session).checked == writers * events_per_writer


def sqlite_only(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's column types reject this value, so only SQLite can store it")


@pytest.mark.parametrize(
    ("column", "value"),
    [("occurred_at", "not a time"), ("before", "{not json"), ("after", "[1,"), ("details", "")],
)
def test_verify_reports_unreadable_column(session: Session, engine: Engine, column: str, value: str) -> None:
    sqlite_only(engine)
    add_three_events(session)

    tamper(engine, text(f"UPDATE audit_events SET {column} = :value WHERE id = 2").bindparams(value=value))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.event_id == 2
    assert report.problem.kind == "content_changed"
    assert f"its {column}" in report.problem.message


@pytest.mark.parametrize("value", [2.5, "two"])
def test_verify_reports_non_integer_sequence(session: Session, engine: Engine, value: Any) -> None:
    sqlite_only(engine)
    add_three_events(session)

    tamper(engine, text("UPDATE audit_events SET sequence = :value WHERE id = 2").bindparams(value=value))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.event_id == 2
    assert report.problem.kind == "content_changed"
    assert "not a whole number" in report.problem.message


@pytest.mark.parametrize("sequence", [0, -1, 9])
def test_verify_reports_sequence_out_of_range(session: Session, engine: Engine, sequence: int) -> None:
    add_three_events(session)

    with engine.begin() as connection:
        connection.execute(insert(EVENTS).values({**forged_row(session, last_hash(session), sequence=4), "sequence": sequence}))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.event_id == 4
    assert report.problem.kind == "not_in_chain_head"
    assert f"sequence {sequence}, out of the chain head's range 1 to 3" in report.problem.message


def test_verify_names_one_deleted_event(session: Session, engine: Engine) -> None:
    add_three_events(session)

    tamper(engine, delete(EVENTS).where(EVENTS.c.id == 2))
    report = verify_chain(session)

    assert report.problem is not None
    assert "event 2 was deleted before event 3" in report.problem.message


def test_verify_names_deleted_last_events(session: Session, engine: Engine) -> None:
    add_three_events(session)

    tamper(engine, delete(EVENTS).where(EVENTS.c.id >= 2))
    report = verify_chain(session)

    assert report.problem is not None
    assert "events 2 to 3 were deleted" in report.problem.message


def test_verify_reports_every_event_deleted(session: Session, engine: Engine) -> None:
    add_three_events(session)

    tamper(engine, delete(EVENTS))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.kind == "row_deleted"
    assert report.problem.message == "no events are stored but the chain head counts 3; every event was deleted"


def test_verify_reports_missing_chain_head(session: Session, engine: Engine) -> None:
    add_three_events(session)

    with engine.begin() as connection:
        connection.execute(delete(HEAD))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.kind == "chain_head_changed"
    assert "chain head row (audit_chain_head id 1) is missing" in report.problem.message


def test_verify_reports_non_integer_chain_head(session: Session, engine: Engine) -> None:
    sqlite_only(engine)
    add_three_events(session)

    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_chain_head SET last_sequence = 'three'"))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.kind == "chain_head_changed"
    assert "'three' is not a whole number" in report.problem.message


def test_append_without_chain_head_says_restore(session: Session, engine: Engine) -> None:
    add_requests(session)
    session.commit()
    with engine.begin() as connection:
        connection.execute(delete(HEAD))

    record_event(session, actor="UREQ", action="request.created", at=AT, request_id=1, revision=1, before={}, after={})
    with pytest.raises(AuditChainError, match="restore the database from a backup"):
        session.flush()


def test_trigger_rejects_replacing_insert(session: Session, engine: Engine) -> None:
    add_three_events(session)
    forged = {**forged_row(session, last_hash(session), sequence=2), "actor": "UFORGER"}
    statement = insert(EVENTS).values(forged)
    if engine.dialect.name == "sqlite":
        statement = statement.prefix_with("OR REPLACE")
    else:
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        statement = postgresql_insert(EVENTS).values(forged).on_conflict_do_update(index_elements=["id"], set_={"actor": "UFORGER"})

    with pytest.raises(DBAPIError, match="append-only"):
        with engine.begin() as connection:
            connection.execute(statement)

    assert verify_chain(session).ok
