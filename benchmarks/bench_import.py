"""Time `payplan import invoices` against plain CSV parsing of the same file.

The baseline reads every row with the csv module and parses its dates and
amounts, which any importer must do. The ratio shows what validation,
conflict checks and database writes add on top, and is steadier than
seconds on a busy machine.

Run: python benchmarks/bench_import.py [--repeat N]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from collections.abc import Callable
from pathlib import Path

from storage.db import make_engine, make_session_factory, upgrade_database
from storage.importer import import_invoices

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "data" / "ibm-accounts-receivable.csv"


def parse_only(path: Path) -> int:
    rows = 0
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for record in csv.DictReader(handle):
            datetime.strptime(record["InvoiceDate"], "%m/%d/%Y")
            datetime.strptime(record["DueDate"], "%m/%d/%Y")
            Decimal(record["InvoiceAmount"])
            rows += 1
    return rows


def import_once(path: Path) -> float:
    """Import ``path`` into a new SQLite file and return the seconds the import took."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade_database(url)
        engine = make_engine(url)
        started = time.perf_counter()
        with make_session_factory(engine).begin() as session:
            report = import_invoices(session, path)
        elapsed = time.perf_counter() - started
        engine.dispose()
    assert report.invoices_added == 2466, report
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each measurement (default 5)")
    arguments = parser.parse_args()

    baseline = [_timed(parse_only, SAMPLE) for _ in range(arguments.repeat)]
    imports = [import_once(SAMPLE) for _ in range(arguments.repeat)]

    baseline_median = statistics.median(baseline)
    import_median = statistics.median(imports)
    print(f"rows: 2466, runs: {arguments.repeat}")
    print(f"baseline (csv parse only): median {baseline_median * 1000:.1f} ms")
    print(f"payplan import on SQLite:  median {import_median * 1000:.1f} ms")
    print(f"ratio import / baseline:   {import_median / baseline_median:.1f}x")


def _timed(function: Callable[[Path], object], path: Path) -> float:
    started = time.perf_counter()
    function(path)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
