"""The audit hash chain: appends, concurrent writers, tamper detection, triggers and grants."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from types import SimpleNamespace
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import JSON, Connection, Engine, column, delete, insert, select, text, update
from sqlalchemy import table as sa_table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from storage.audit import GENESIS_HASH, compute_event_hash, record_event, verify_chain
from storage.db import make_engine, upgrade_database
from storage.grants import application_grants
from storage.models import Account, AuditChainHead, AuditEvent, PlanRequest

AT = datetime(2013, 3, 1, 14, 30, tzinfo=timezone.utc)
EVENTS = AuditEvent.__table__
HEAD = AuditChainHead.__table__


def add_requests(session: Session) -> None:
    # One account per request, because an account has at most one open request.
    for request_id in (1, 2):
        session.add(Account(id=f"ACME-{request_id}", status="collections"))
        session.add(
            PlanRequest(
                id=request_id,
                account_id=f"ACME-{request_id}",
                requested_by="UREQ",
                status="requested",
                as_of=date(2013, 3, 1),
                reason_category="cash_flow",
                current_revision=1,
                created_at=AT,
                updated_at=AT,
            )
        )
    session.flush()


def add_three_events(session: Session) -> None:
    """Add events 1 to 3 for request 1, by a Slack user, the policy job and the customer."""
    add_requests(session)
    record_event(session, actor="UREQ", action="request.created", at=AT, request_id=1, revision=1,
                 before={}, after={"balance": "430.55"})
    record_event(session, actor="system:policy", action="status.assessed", at=AT + timedelta(seconds=1),
                 request_id=1, revision=1, before={"status": "requested"}, after={"status": "assessed"},
                 details={"policy_version": "2026.1"})
    record_event(session, actor="customer", action="agreement.accepted", at=AT + timedelta(seconds=2),
                 request_id=1, revision=1, before={"status": "sent"}, after={"status": "accepted"})
    session.commit()


def disable_append_only_triggers(connection: Connection) -> None:
    """Remove the triggers, as a database owner could, so a test can tamper with rows."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
    else:
        connection.execute(text("DROP TRIGGER audit_events_no_update"))
        connection.execute(text("DROP TRIGGER audit_events_no_delete"))


def tamper(engine: Engine, statement: Any) -> None:
    with engine.begin() as connection:
        disable_append_only_triggers(connection)
        connection.execute(statement)


def test_record_event_chains_each_event(session: Session) -> None:
    add_three_events(session)

    rows = session.execute(select(EVENTS).order_by(EVENTS.c.sequence)).all()
    assert [row.sequence for row in rows] == [1, 2, 3]
    assert [row.id for row in rows] == [1, 2, 3]
    assert [row.actor_kind for row in rows] == ["slack_user", "system", "customer"]
    assert rows[0].previous_hash == GENESIS_HASH
    assert rows[1].previous_hash == rows[0].hash
    assert rows[2].previous_hash == rows[1].hash
    assert rows[1].details == {"policy_version": "2026.1"}


def test_event_hash_matches_documented_definition(session: Session) -> None:
    add_three_events(session)
    row = session.execute(select(EVENTS).where(EVENTS.c.sequence == 2)).one()

    # The definition in docs/audit.md, written out independently of storage.audit.
    content = {
        "action": "status.assessed",
        "actor": "system:policy",
        "actor_kind": "system",
        "after": {"status": "assessed"},
        "before": {"status": "requested"},
        "details": {"policy_version": "2026.1"},
        "occurred_at": "2013-03-01T14:30:01.000000Z",
        "previous_hash": row.previous_hash,
        "request_id": 1,
        "revision": 1,
        "sequence": 2,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert row.hash == hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def test_chain_head_follows_last_event(session: Session) -> None:
    add_three_events(session)

    head = session.execute(select(HEAD)).one()
    last = session.execute(select(EVENTS).where(EVENTS.c.sequence == 3)).one()
    assert head.last_sequence == 3
    assert head.last_hash == last.hash


def test_rolled_back_event_leaves_chain_intact(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        add_three_events(session)
    with session_factory() as session:
        record_event(session, actor="UREQ", action="request.withdrawn", at=AT, request_id=1, revision=1,
                     before={}, after={})
        session.flush()
        session.rollback()
    with session_factory() as session:
        record_event(session, actor="UREQ", action="request.withdrawn", at=AT, request_id=1, revision=1,
                     before={}, after={})
        session.commit()

        report = verify_chain(session)

    assert report.problem is None
    assert report.checked == 4


def test_verify_intact_chain(session: Session) -> None:
    add_three_events(session)

    report = verify_chain(session)

    assert report.ok
    assert report.checked == 3


def test_verify_empty_chain(session: Session) -> None:
    report = verify_chain(session)

    assert report.ok
    assert report.checked == 0
    assert report.last_hash == GENESIS_HASH


def test_concurrent_appends_form_one_chain(session_factory: sessionmaker[Session]) -> None:
    with session_factory() as session:
        add_requests(session)
        session.commit()
    writers, events_per_writer = 6, 8
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def append(writer: int) -> None:
        try:
            start.wait()
            for number in range(events_per_writer):
                with session_factory.begin() as session:
                    record_event(session, actor=f"U{writer}", action="test.append", at=AT, request_id=1,
                                 revision=1, before={}, after={"writer": writer, "number": number})
        except BaseException as error:  # collected and re-raised in the main thread
            errors.append(error)

    threads = [threading.Thread(target=append, args=(writer,)) for writer in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    with session_factory() as session:
        report = verify_chain(session)
        sequences = session.scalars(select(EVENTS.c.sequence).order_by(EVENTS.c.sequence)).all()
    assert report.problem is None
    assert report.checked == writers * events_per_writer
    assert sequences == list(range(1, writers * events_per_writer + 1))


# Each case changes one column of the middle event (id 2) with a SQL UPDATE
# that bypasses the ORM.
COLUMN_CHANGES = [
    ("occurred_at", AT + timedelta(hours=1)),
    ("actor", "UOTHER"),
    ("actor_kind", "slack_user"),
    ("action", "status.approved"),
    ("request_id", 2),
    ("request_id", None),
    ("revision", 2),
    ("before", {"status": "pending_approval"}),
    ("after", {"status": "approved"}),
    ("details", {}),
    ("previous_hash", GENESIS_HASH),
    ("hash", "f" * 64),
]


@pytest.mark.parametrize(("column", "value"), COLUMN_CHANGES, ids=[f"{c}={v!r}"[:40] for c, v in COLUMN_CHANGES])
def test_verify_detects_changed_column(session: Session, engine: Engine, column: str, value: Any) -> None:
    add_three_events(session)

    tamper(engine, update(EVENTS).where(EVENTS.c.id == 2).values({column: value}))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.event_id == 2
    assert report.problem.kind == "content_changed"
    assert report.checked == 1


def test_verify_detects_changed_id(session: Session, engine: Engine) -> None:
    add_three_events(session)

    tamper(engine, update(EVENTS).where(EVENTS.c.id == 2).values(id=99))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.event_id == 99
    assert report.problem.kind == "reordered"


def test_verify_detects_changed_sequence(session: Session, engine: Engine) -> None:
    add_three_events(session)

    tamper(engine, update(EVENTS).where(EVENTS.c.id == 2).values(sequence=2000))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.event_id == 3
    assert report.problem.kind == "row_deleted"


def test_verify_detects_rehashed_event(session: Session, engine: Engine) -> None:
    """An event changed and given a correct new hash breaks the next event's link."""
    add_three_events(session)
    row = session.execute(select(EVENTS).where(EVENTS.c.id == 2)).one()
    forged = {**row._mapping, "actor": "UOTHER"}
    forged_hash = compute_event_hash(SimpleNamespace(**forged))

    tamper(engine, update(EVENTS).where(EVENTS.c.id == 2).values(actor="UOTHER", hash=forged_hash))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.event_id == 3
    assert report.problem.kind == "previous_hash_mismatch"


@pytest.mark.parametrize(("deleted_id", "reported_id"), [(1, 2), (2, 3), (3, None)])
def test_verify_detects_deleted_row(session: Session, engine: Engine, deleted_id: int, reported_id: int | None) -> None:
    add_three_events(session)

    tamper(engine, delete(EVENTS).where(EVENTS.c.id == deleted_id))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.kind == "row_deleted"
    assert report.problem.event_id == reported_id


def test_verify_detects_swapped_rows(session: Session, engine: Engine) -> None:
    add_three_events(session)

    with engine.begin() as connection:
        disable_append_only_triggers(connection)
        connection.execute(update(EVENTS).where(EVENTS.c.id == 2).values(sequence=100))
        connection.execute(update(EVENTS).where(EVENTS.c.id == 3).values(sequence=2))
        connection.execute(update(EVENTS).where(EVENTS.c.id == 2).values(sequence=3))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.event_id == 3
    assert report.problem.kind == "reordered"


def forged_row(session: Session, previous_hash: str, sequence: int = 4) -> dict[str, Any]:
    values: dict[str, Any] = {
        "id": sequence,
        "sequence": sequence,
        "occurred_at": AT + timedelta(days=1),
        "actor": "UFORGER",
        "actor_kind": "slack_user",
        "action": "step.approved",
        "request_id": 1,
        "revision": 1,
        "before": {"status": "pending"},
        "after": {"status": "approved"},
        "details": {},
        "previous_hash": previous_hash,
    }
    values["hash"] = compute_event_hash(SimpleNamespace(**values))
    return values


def last_hash(session: Session) -> str:
    return session.scalar(select(EVENTS.c.hash).where(EVENTS.c.sequence == 3))


def test_verify_detects_forged_row_outside_chain_head(session: Session, engine: Engine) -> None:
    add_three_events(session)

    with engine.begin() as connection:
        connection.execute(insert(EVENTS).values(forged_row(session, last_hash(session))))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.event_id == 4
    assert report.problem.kind == "not_in_chain_head"


def test_verify_detects_forged_row_with_wrong_hash(session: Session, engine: Engine) -> None:
    add_three_events(session)
    values = {**forged_row(session, last_hash(session)), "hash": "0" * 64}

    with engine.begin() as connection:
        connection.execute(insert(EVENTS).values(values))
        connection.execute(update(HEAD).values(last_sequence=4, last_hash=values["hash"]))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.event_id == 4
    assert report.problem.kind == "content_changed"


def test_verify_detects_forged_row_with_wrong_link(session: Session, engine: Engine) -> None:
    add_three_events(session)
    values = forged_row(session, GENESIS_HASH)

    with engine.begin() as connection:
        connection.execute(insert(EVENTS).values(values))
        connection.execute(update(HEAD).values(last_sequence=4, last_hash=values["hash"]))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.event_id == 4
    assert report.problem.kind == "previous_hash_mismatch"


def test_verify_detects_changed_chain_head(session: Session, engine: Engine) -> None:
    add_three_events(session)

    with engine.begin() as connection:
        connection.execute(update(HEAD).values(last_hash="a" * 64))
    report = verify_chain(session)

    assert report.problem is not None
    assert report.problem.kind == "content_changed"
    assert "chain head" in report.problem.message


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET actor = 'UOTHER' WHERE id = 2", "DELETE FROM audit_events WHERE id = 2"])
def test_trigger_rejects_change(session: Session, engine: Engine, statement: str) -> None:
    add_three_events(session)

    with pytest.raises(DBAPIError, match="append-only"):
        with engine.begin() as connection:
            connection.execute(text(statement))

    assert verify_chain(session).ok


def test_trigger_rejects_truncate_on_postgresql(session: Session, engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    add_three_events(session)

    with pytest.raises(DBAPIError, match="append-only"):
        with engine.begin() as connection:
            connection.execute(text("TRUNCATE audit_events"))


@pytest.fixture
def application_role(engine: Engine) -> Any:
    """Create a role with the documented application grants, and drop it afterwards."""
    if engine.dialect.name != "postgresql":
        pytest.skip("roles and grants are PostgreSQL only")
    role = f"payplan_app_{secrets.token_hex(4)}"
    with engine.begin() as connection:
        schema = connection.scalar(text("SELECT current_schema()"))
        connection.execute(text(f"CREATE ROLE {role} NOLOGIN"))
        for statement in application_grants(role, schema):
            connection.execute(text(statement))
    yield role
    with engine.begin() as connection:
        connection.execute(text(f"DROP OWNED BY {role}"))
        connection.execute(text(f"DROP ROLE {role}"))


def test_application_role_appends_events(session: Session, engine: Engine, application_role: str) -> None:
    add_three_events(session)

    with Session(engine) as app_session:
        app_session.execute(text(f"SET LOCAL ROLE {application_role}"))
        record_event(app_session, actor="UREQ", action="request.withdrawn", at=AT, request_id=1, revision=1,
                     before={}, after={})
        app_session.commit()

    assert verify_chain(session).checked == 4


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET actor = 'UOTHER' WHERE id = 2",
        "DELETE FROM audit_events WHERE id = 2",
        "TRUNCATE audit_events",
    ],
)
def test_application_role_cannot_change_events(
    session: Session, engine: Engine, application_role: str, statement: str
) -> None:
    add_three_events(session)

    with pytest.raises(DBAPIError, match="permission denied for table audit_events"):
        with engine.begin() as connection:
            connection.execute(text(f"SET LOCAL ROLE {application_role}"))
            connection.execute(text(statement))


def test_application_grants_reject_odd_role_name() -> None:
    with pytest.raises(ValueError, match="not a plain identifier"):
        application_grants("app; DROP TABLE audit_events")


def test_upgrade_chains_existing_events(database_url: str) -> None:
    # 0002 is the last revision before the hash chain.
    upgrade_database(database_url, "0002")
    engine = make_engine(database_url)
    old_events = sa_table(
        "audit_events", column("id"), column("occurred_at"), column("actor"), column("action"),
        column("request_id"), column("revision"), column("before", JSON()), column("after", JSON()),
    )
    try:
        with engine.begin() as connection:
            # Ids 5 and 9, as rolled-back transactions leave gaps on PostgreSQL.
            for event_id, actor in ((5, "UREQ"), (9, "system:policy")):
                connection.execute(insert(old_events).values(
                    id=event_id, occurred_at=datetime(2013, 3, 1, 14, 30), actor=actor, action="request.created",
                    request_id=None, revision=None, before={}, after={"balance": "430.55"},
                ))

        upgrade_database(database_url)

        with Session(engine) as session:
            report = verify_chain(session)
            rows = session.execute(select(EVENTS.c.id, EVENTS.c.actor_kind).order_by(EVENTS.c.sequence)).all()
            record_event(session, actor="UREQ", action="request.withdrawn", at=AT, request_id=None, revision=None,
                         before={}, after={})
            session.commit()
            after_append = verify_chain(session)
    finally:
        engine.dispose()

    assert report.problem is None
    assert report.checked == 2
    assert [tuple(row) for row in rows] == [(1, "slack_user"), (2, "system")]
    assert after_append.problem is None
    assert after_append.checked == 3
