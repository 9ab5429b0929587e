"""The hash and the exports of events whose text JSON writes in unusual ways."""

from __future__ import annotations

import csv
import hashlib
import io
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.audit import export_events, record_event, verify_chain
from tests.storage.test_audit_chain import AT, EVENTS, add_requests

LONE_SURROGATE = "\ud800"
LINE_SEPARATORS = "a\u2028b\u2029c\u0085d"


def test_lone_surrogate_is_hashed_and_verified(session: Session) -> None:
    add_requests(session)
    record_event(session, actor="UREQ", action="step.rejected", at=AT, request_id=1, revision=1,
                 before={}, after={"comment": f"bad {LONE_SURROGATE} text"})
    session.commit()

    row = session.execute(select(EVENTS)).one()
    content = {
        "action": "step.rejected", "actor": "UREQ", "actor_kind": "slack_user",
        "after": {"comment": f"bad {LONE_SURROGATE} text"}, "before": {}, "details": {},
        "occurred_at": "2013-03-01T14:30:00.000000Z", "previous_hash": "0" * 64,
        "request_id": 1, "revision": 1, "sequence": 1,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert row.hash == hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    assert verify_chain(session).ok


def test_jsonl_export_escapes_line_separators(session: Session) -> None:
    add_requests(session)
    record_event(session, actor="UREQ", action="step.rejected", at=AT, request_id=1, revision=1,
                 before={}, after={"comment": LINE_SEPARATORS + LONE_SURROGATE, "name": "Zoë"})
    session.commit()

    output = io.StringIO()
    export_events(session, output, fmt="jsonl")
    text = output.getvalue()

    assert text.splitlines() == [text.rstrip("\n")]
    assert "\\u2028" in text
    assert "\\u2029" in text
    assert "\\u0085" in text
    assert "\\ud800" in text
    assert "Zoë" in text
    text.encode("utf-8")
    assert json.loads(text)["after"]["comment"] == LINE_SEPARATORS + LONE_SURROGATE


def test_csv_export_escapes_lone_surrogate(session: Session) -> None:
    add_requests(session)
    record_event(session, actor="UREQ", action="step.rejected", at=AT, request_id=1, revision=1,
                 before={}, after={"comment": LONE_SURROGATE})
    session.commit()

    output = io.StringIO()
    export_events(session, output, fmt="csv")
    output.getvalue().encode("utf-8")
    rows = list(csv.DictReader(io.StringIO(output.getvalue())))

    assert json.loads(rows[0]["after"]) == {"comment": LONE_SURROGATE}
    assert rows[0]["revision"] == "1"
