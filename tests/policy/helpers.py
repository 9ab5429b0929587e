"""Shared builders for policy tests: policies from files, facts and terms."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path

import yaml

from policy.config import Policy, parse_policy
from policy.engine import Terms
from policy.facts import AccountFacts, InvoiceRecord, compute_facts

AS_OF = date(2026, 3, 31)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policies"


def default_document() -> dict:
    return yaml.safe_load(resources.files("policy").joinpath("default_policy.yaml").read_text())


def example_document(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())


def example_policy(name: str) -> Policy:
    return parse_policy(example_document(name))


def clean_facts(open_amount: str, *, settled: int = 10, disputed_open: str = "0", typical: str = "1000.00") -> AccountFacts:
    """Facts of an account that paid ``settled`` invoices on time and owes ``open_amount`` now."""
    history = [
        InvoiceRecord(f"H{n:03d}", AS_OF - timedelta(days=400 - 20 * n), AS_OF - timedelta(days=370 - 20 * n), Decimal(typical), False, AS_OF - timedelta(days=370 - 20 * n))
        for n in range(settled)
    ]
    open_items = [InvoiceRecord("O001", AS_OF - timedelta(days=40), AS_OF - timedelta(days=10), Decimal(open_amount), False, None)]
    if Decimal(disputed_open) > 0:
        open_items.append(InvoiceRecord("O002", AS_OF - timedelta(days=40), AS_OF - timedelta(days=10), Decimal(disputed_open), True, None))
    return compute_facts("ACCT", history + open_items, AS_OF)


def terms(balance: str, count: int = 6, *, down: str = "0", days: int = 30, frequency: str = "monthly", apr: str = "0") -> Terms:
    return Terms(Decimal(balance), Decimal(down), count, AS_OF + timedelta(days=days), frequency, Decimal(apr))
