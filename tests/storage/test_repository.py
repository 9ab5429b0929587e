"""Query helpers: invoice history, past-due episodes and account search."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from policy.facts import InvoiceRecord, compute_facts
from storage.importer import import_invoices
from storage.models import Account, Invoice
from storage.repository import PastDueEpisode, _prefix_query, invoice_history, past_due_episodes, search_accounts
from tests.conftest import EXAMPLE_CSV


def add_invoices(session: Session, account_id: str, rows: list[tuple[date, date, str, date | None]]) -> None:
    session.add(Account(id=account_id))
    for number, (invoice_date, due_date, amount, settled_date) in enumerate(rows, start=1):
        session.add(
            Invoice(
                invoice_number=f"{account_id}-{number}",
                account_id=account_id,
                invoice_date=invoice_date,
                due_date=due_date,
                amount=Decimal(amount),
                settled_date=settled_date,
            )
        )


def add_hand_made_accounts(session: Session) -> None:
    # A: candidate days 2/1, 2/15 and 3/8. On 2/1, A-1 (100.00) is past due
    # and A-2 (50.00) is open but not yet due.
    add_invoices(
        session,
        "A",
        [
            (date(2013, 1, 1), date(2013, 1, 31), "100.00", date(2013, 2, 10)),
            (date(2013, 1, 15), date(2013, 2, 14), "50.00", date(2013, 2, 20)),
            (date(2013, 2, 5), date(2013, 3, 7), "30.00", None),
        ],
    )
    # B: paid on time, then one day late. Paid during the day after the due
    # date, B-2 is not open at the end of that day, so B was never past due.
    add_invoices(
        session,
        "B",
        [
            (date(2013, 1, 1), date(2013, 1, 31), "20.00", date(2013, 1, 31)),
            (date(2013, 2, 1), date(2013, 3, 3), "20.00", date(2013, 3, 4)),
        ],
    )
    # C: 40.00 past due on 4/1 and again on 5/2, so the earlier day wins.
    add_invoices(
        session,
        "C",
        [
            (date(2013, 3, 1), date(2013, 3, 31), "40.00", date(2013, 4, 5)),
            (date(2013, 4, 1), date(2013, 5, 1), "40.00", date(2013, 5, 10)),
        ],
    )
    # D: on 2/10 both D-1 and D-2 are past due, and D-3 is open but not yet due.
    add_invoices(
        session,
        "D",
        [
            (date(2013, 1, 1), date(2013, 1, 31), "10.00", date(2013, 3, 1)),
            (date(2013, 1, 10), date(2013, 2, 9), "25.50", date(2013, 2, 12)),
            (date(2013, 2, 5), date(2013, 3, 7), "99.99", date(2013, 3, 7)),
        ],
    )
    session.commit()


def test_past_due_episodes_hand_made(session: Session) -> None:
    add_hand_made_accounts(session)

    episodes = past_due_episodes(session)

    assert episodes == [
        PastDueEpisode("A", date(2013, 2, 1), open_balance=Decimal("150.00"), past_due_balance=Decimal("100.00")),
        PastDueEpisode("C", date(2013, 4, 1), open_balance=Decimal("80.00"), past_due_balance=Decimal("40.00")),
        PastDueEpisode("D", date(2013, 2, 10), open_balance=Decimal("135.49"), past_due_balance=Decimal("35.50")),
    ]


def test_past_due_episodes_agree_with_facts(session: Session) -> None:
    add_hand_made_accounts(session)

    for episode in past_due_episodes(session):
        facts = compute_facts(episode.account_id, invoice_history(session, episode.account_id), episode.as_of)
        assert facts.open_balance == episode.open_balance, episode.account_id
        assert facts.past_due_balance == episode.past_due_balance, episode.account_id


def test_past_due_episodes_empty_database(session: Session) -> None:
    assert past_due_episodes(session) == []


@cache
def brute_force_worst_days() -> dict[str, tuple[date, Decimal, Decimal]]:
    """Read the example file with the csv module and try every day of each account's history.

    Returns, for each account ever past due, the earliest day with the
    largest past-due balance, with the open and past-due balances that day.
    """
    def parse(value: str) -> date:
        return datetime.strptime(value, "%m/%d/%Y").date()

    invoices_by_account: dict[str, list[tuple[date, date, Decimal, date]]] = defaultdict(list)
    with EXAMPLE_CSV.open(newline="") as handle:
        for row in csv.DictReader(handle):
            invoices_by_account[row["customerID"]].append(
                (parse(row["InvoiceDate"]), parse(row["DueDate"]), Decimal(row["InvoiceAmount"]), parse(row["SettledDate"]))
            )

    worst: dict[str, tuple[date, Decimal, Decimal]] = {}
    for account_id, invoices in invoices_by_account.items():
        day = min(invoice_date for invoice_date, _, _, _ in invoices)
        last_day = max(settled for _, _, _, settled in invoices)
        while day <= last_day:
            open_items = [(due, amount) for issued, due, amount, settled in invoices if issued <= day < settled]
            open_balance = sum((amount for _, amount in open_items), Decimal("0"))
            past_due_balance = sum((amount for due, amount in open_items if due < day), Decimal("0"))
            if past_due_balance > 0 and (account_id not in worst or past_due_balance > worst[account_id][2]):
                worst[account_id] = (day, open_balance, past_due_balance)
            day += timedelta(days=1)
    return worst


def test_past_due_episodes_example_file(session: Session, example_csv: Path) -> None:
    import_invoices(session, example_csv)
    session.commit()
    expected = brute_force_worst_days()

    episodes = past_due_episodes(session)

    assert len(episodes) == len(expected)
    assert 60 <= len(episodes) <= 90
    for episode in episodes:
        day, open_balance, past_due_balance = expected[episode.account_id]
        assert episode.as_of == day, episode.account_id
        assert episode.open_balance == open_balance, episode.account_id
        assert episode.past_due_balance == past_due_balance, episode.account_id


def test_invoice_history_oldest_first(session: Session) -> None:
    add_hand_made_accounts(session)

    history = invoice_history(session, "A")

    assert [record.invoice_number for record in history] == ["A-1", "A-2", "A-3"]
    assert history[0] == InvoiceRecord(
        invoice_number="A-1",
        invoice_date=date(2013, 1, 1),
        due_date=date(2013, 1, 31),
        amount=Decimal("100.00"),
        disputed=False,
        settled_date=date(2013, 2, 10),
    )


def test_invoice_history_unknown_account_empty(session: Session) -> None:
    assert invoice_history(session, "NO-SUCH-ACCOUNT") == []


def test_search_accounts_by_id_and_name(session: Session) -> None:
    session.add_all(
        [
            Account(id="0379-NEVHP", name="Northwind Traders"),
            Account(id="0465-DTULQ", name="Contoso"),
            Account(id="100_PCT", name=None),
            Account(id="1000-ABCDE", name="Fabrikam"),
        ]
    )
    session.commit()

    def ids(prefix: str, limit: int = 20) -> list[str]:
        return [account.id for account in search_accounts(session, prefix, limit)]

    assert ids("0") == ["0379-NEVHP", "0465-DTULQ"]
    assert ids("0379-nev") == ["0379-NEVHP"]
    assert ids("north") == ["0379-NEVHP"]
    assert ids("100_") == ["100_PCT"]
    assert ids("%") == []
    # How "1000-ABCDE" and "100_PCT" sort depends on the database collation.
    assert sorted(ids("")) == ["0379-NEVHP", "0465-DTULQ", "1000-ABCDE", "100_PCT"]
    assert ids("", limit=2) == ["0379-NEVHP", "0465-DTULQ"]


def test_search_accounts_uses_prefix_indexes(session: Session) -> None:
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        pytest.skip("the plan check reads SQLite's EXPLAIN QUERY PLAN")
    session.add_all([Account(id=f"ACC-{n:04d}", name=f"Trader {n}") for n in range(200)])
    session.commit()

    found = search_accounts(session, "trader 1", limit=5)

    assert [account.name for account in found] == ["Trader 1", "Trader 10", "Trader 100", "Trader 101", "Trader 102"]
    for column, index in ((Account.id, "ix_accounts_lower_id"), (Account.name, "ix_accounts_lower_name")):
        query = _prefix_query(column, "trader 1", 5).compile(bind, compile_kwargs={"literal_binds": True})
        plan = " ".join(str(row) for row in session.execute(text(f"EXPLAIN QUERY PLAN {query}")))
        assert index in plan
