"""Claims: the exactly-once guard of every sweep.

A job inserts a :class:`JobMark` with a unique (job, item, occurrence) key
and does its work in the same transaction. On PostgreSQL a second replica's
insert of the same key waits for the first transaction. It then fails with a
unique violation, so only one replica acts. If the first rolls back because
Slack failed, the item stays due for the next sweep. On SQLite one writer at a time
holds the database, which gives the same result.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from storage.models import JobMark

logger = logging.getLogger(__name__)


@contextmanager
def claim(
    session_factory: sessionmaker[Session],
    *,
    job: str,
    item_key: str,
    occurrence: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
) -> Iterator[Session | None]:
    """Yield a session whose transaction contains the claim, or None when the item was already claimed.

    The transaction commits when the block ends and rolls back, releasing
    the claim, when it raises.
    """
    session = session_factory()
    try:
        session.begin()
        session.add(JobMark(job=job, item_key=item_key, occurrence=occurrence, done_at=now, detail=detail or {}))
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            logger.debug("%s %s %s was already claimed", job, item_key, occurrence)
            yield None
            return
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def was_claimed(session: Session, *, job: str, item_key: str, occurrence: str) -> bool:
    query = select(JobMark.id).where(JobMark.job == job, JobMark.item_key == item_key, JobMark.occurrence == occurrence)
    return session.scalar(query) is not None
