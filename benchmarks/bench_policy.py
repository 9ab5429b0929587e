"""Time the policy engine over a synthetic portfolio against merely loading that portfolio.

Each account has 24 monthly invoices, the last two still open, with days
late drawn from a fixed seed. The raw rows are text, as a database driver or
a CSV reader returns them.

- Baseline: turn the raw rows into the engine's structures
  (``InvoiceRecord`` with Decimal amounts and dates, ``AccountProfile``).
- Evaluation: for each loaded account, compute its facts and assess a
  standard 12-month request, including the schedule, the counter-proposal
  and the alternatives, as ``payplan policy evaluate`` does.

Accounts are generated and processed in chunks, so memory stays flat for any
``--accounts``. Everything runs in one process on one core.

Run: python benchmarks/bench_policy.py [--accounts N] [--policy PATH]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import yaml

from policy.config import Policy, parse_policy
from policy.engine import AccountProfile, Terms, assess
from policy.facts import InvoiceRecord, compute_facts

AS_OF = date(2026, 3, 31)
INVOICES_PER_ACCOUNT = 24
CHUNK = 5000
DEFAULT_POLICY = Path(__file__).resolve().parent.parent / "examples" / "policies" / "b2b.yaml"
TARGET_PER_SECOND = 5000

RawInvoice = tuple[str, str, str, str, str, str]


def raw_accounts(first: int, count: int, rng: random.Random) -> list[tuple[str, list[RawInvoice]]]:
    """Return accounts as text rows: (number, amount, issued, due, paid or "", disputed "0"/"1")."""
    accounts = []
    for index in range(first, first + count):
        rows = []
        habit = rng.choice((0, 0, 0, 2, 5, 15, 40))
        for month in range(INVOICES_PER_ACCOUNT):
            issued = AS_OF - timedelta(days=30 * (INVOICES_PER_ACCOUNT - month) + 10)
            due = issued + timedelta(days=30)
            open_item = month >= INVOICES_PER_ACCOUNT - 2
            paid = "" if open_item else (due + timedelta(days=max(0, habit + rng.randint(-5, 10)))).isoformat()
            amount = f"{rng.randint(5_000, 900_000) // 100}.{rng.randint(0, 99):02d}"
            rows.append((f"B{index:06d}-{month:02d}", amount, issued.isoformat(), due.isoformat(), paid, "1" if rng.random() < 0.03 else "0"))
        accounts.append((f"B{index:06d}", rows))
    return accounts


def load(raw: list[tuple[str, list[RawInvoice]]]) -> list[tuple[str, AccountProfile, list[InvoiceRecord]]]:
    """Parse text rows into the engine's structures; this is the baseline."""
    profile = AccountProfile()
    loaded = []
    for account_id, rows in raw:
        invoices = [
            InvoiceRecord(number, date.fromisoformat(issued), date.fromisoformat(due), Decimal(amount), disputed == "1", date.fromisoformat(paid) if paid else None)
            for number, amount, issued, due, paid, disputed in rows
        ]
        loaded.append((account_id, profile, invoices))
    return loaded


def evaluate(policy: Policy, loaded: list[tuple[str, AccountProfile, list[InvoiceRecord]]]) -> int:
    eligible = 0
    first_due = AS_OF + timedelta(days=30)
    for account_id, profile, invoices in loaded:
        facts = compute_facts(account_id, invoices, AS_OF)
        terms = Terms(facts.open_balance, Decimal(0), 12, first_due)
        result = assess(policy, facts, terms, as_of=AS_OF, open_plan_count=0, account=profile)
        eligible += result.eligible
    return eligible


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts to evaluate (default 100000)")
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY, help="policy YAML file (default examples/policies/b2b.yaml)")
    parser.add_argument("--seed", type=int, default=20260331, help="random seed of the synthetic portfolio")
    options = parser.parse_args()
    policy = parse_policy(yaml.safe_load(options.policy.read_text(encoding="utf-8")))
    rng = random.Random(options.seed)

    # Wall-clock and CPU seconds: on a shared machine the process waits for a
    # core, and CPU time is the closer measure of "per core".
    load_wall = load_cpu = evaluate_wall = evaluate_cpu = 0.0
    eligible = 0
    for first in range(0, options.accounts, CHUNK):
        raw = raw_accounts(first, min(CHUNK, options.accounts - first), rng)
        wall, cpu = time.perf_counter(), time.process_time()
        loaded = load(raw)
        load_wall += time.perf_counter() - wall
        load_cpu += time.process_time() - cpu
        wall, cpu = time.perf_counter(), time.process_time()
        eligible += evaluate(policy, loaded)
        evaluate_wall += time.perf_counter() - wall
        evaluate_cpu += time.process_time() - cpu

    rate = options.accounts / evaluate_cpu
    print(f"policy {policy.version}; {options.accounts} accounts x {INVOICES_PER_ACCOUNT} invoices; {eligible} eligible")
    print(f"baseline (load into engine structures): wall {load_wall:.2f} s, CPU {load_cpu:.2f} s, {options.accounts / load_cpu:,.0f} accounts per CPU second")
    print(f"evaluation (facts + assessment):        wall {evaluate_wall:.2f} s, CPU {evaluate_cpu:.2f} s, {rate:,.0f} evaluations per CPU second")
    print(f"ratio evaluation / baseline: {evaluate_cpu / load_cpu:.2f}x (CPU), {evaluate_wall / load_wall:.2f}x (wall)")
    print(f"target {TARGET_PER_SECOND:,} evaluations per CPU second: {'met' if rate >= TARGET_PER_SECOND else 'not met'}")
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs visible, one process")


if __name__ == "__main__":
    main()
