"""Time the account type-ahead (the external select's options handler) at 100,000 accounts.

The handler is driven through Bolt exactly as Slack calls it: a signed
``block_suggestion`` request to the app's ``dispatch``. The baseline is one
``SELECT 1`` round trip on the same database, measured in the same run, so
the ratio is the handler's cost in round trips.

Run: python benchmarks/bench_typeahead.py [--accounts 100000] [--repeat 200]
Set BENCH_POSTGRES_URL (for example postgresql+psycopg://postgres@127.0.0.1:5432/test)
to measure PostgreSQL too; it works in a schema of its own and drops it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot import slack_payloads  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.ids import Action, Block  # noqa: E402
from bot.runtime import build_runtime  # noqa: E402
from bot.slack_stub import SlackStub  # noqa: E402
from storage.db import make_engine, upgrade_database  # noqa: E402
from storage.models import Account  # noqa: E402

SIGNING_SECRET = "bench-signing-secret"
# Typed prefixes: a common one, a rare one, a name, one that matches nothing, and the empty query.
QUERIES = ["ACC-1", "ACC-09876", "north", "zzz", ""]


def fill_accounts(url: str, count: int) -> None:
    engine = make_engine(url)
    rows = [
        {"id": f"ACC-{n:06d}", "name": f"{('North', 'South', 'East', 'West')[n % 4]} Trading {n}", "status": "collections", "source": "bench"}
        for n in range(count)
    ]
    with engine.begin() as connection:
        for start in range(0, count, 10_000):
            connection.execute(insert(Account), rows[start : start + 10_000])
        # Refresh the planner's statistics, as PostgreSQL's autovacuum does after a bulk load;
        # without them it sorts every match instead of reading the index in order.
        connection.execute(text("ANALYZE"))
    engine.dispose()


def suggestion_body(value: str) -> str:
    payload = {
        "type": "block_suggestion",
        "user": {"id": slack_payloads.FAKE_USER_ID, "team_id": slack_payloads.FAKE_TEAM_ID},
        "team": {"id": slack_payloads.FAKE_TEAM_ID, "domain": slack_payloads.FAKE_TEAM_DOMAIN},
        "api_app_id": slack_payloads.FAKE_APP_ID,
        "token": slack_payloads.FAKE_VERIFICATION_TOKEN,
        "action_id": Action.ACCOUNT,
        "block_id": Block.ACCOUNT,
        "value": value,
        "view": {"id": "V0BENCH", "type": "modal", "callback_id": "payplan_request"},
    }
    return urlencode({"payload": json.dumps(payload)})


def measure(url: str, repeat: int) -> dict[str, float]:
    from slack_bolt import BoltRequest

    with SlackStub() as stub:
        settings = Settings(
            DATABASE_URL=url,
            SLACK_BOT_TOKEN="xoxb-bench",
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=stub.base_url,
            PAYPLAN_SLACK_CHANNEL="C0BENCH",
            PAYPLAN_APPROVERS={"collections_manager": ["U0BENCH"]},
            PAYPLAN_PORTAL_SECRET="bench",
        )
        runtime = build_runtime(settings, process_before_response=True)
        assert runtime.slack_app is not None

        def select_one() -> None:
            with runtime.session_factory() as session:
                session.execute(text("SELECT 1"))

        def options(value: str) -> None:
            body = suggestion_body(value)
            response = runtime.slack_app.dispatch(BoltRequest(body=body, headers=slack_payloads.sign(body, SIGNING_SECRET)))
            assert response.status == 200, response.body

        select_one()
        figures = {"baseline: SELECT 1": _median(select_one, repeat)}
        for value in QUERIES:
            figures[f"options for {value!r}"] = _median(lambda: options(value), repeat)
        runtime.engine.dispose()
        return figures


def _median(action, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def report(name: str, url: str, accounts: int, repeat: int) -> None:
    upgrade_database(url)
    started = time.perf_counter()
    fill_accounts(url, accounts)
    print(f"\n{name}: {accounts:,} accounts loaded in {time.perf_counter() - started:.1f} s; median of {repeat} calls each")
    figures = measure(url, repeat)
    baseline = figures["baseline: SELECT 1"]
    print("| measurement | median | ratio to SELECT 1 |")
    print("| --- | --- | --- |")
    for label, seconds in figures.items():
        print(f"| {label} | {seconds * 1000:.2f} ms | {seconds / baseline:.1f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000, help="accounts to create (default 100000)")
    parser.add_argument("--repeat", type=int, default=200, help="calls per measurement (default 200)")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        report("SQLite", f"sqlite:///{Path(folder) / 'typeahead.db'}", arguments.accounts, arguments.repeat)

    postgres_url = os.environ.get("BENCH_POSTGRES_URL")
    if not postgres_url:
        print("\nPostgreSQL skipped: set BENCH_POSTGRES_URL to measure it.")
        return
    admin = make_engine(postgres_url)
    schema = f"bench_{secrets.token_hex(4)}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
        report("PostgreSQL", url, arguments.accounts, arguments.repeat)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
