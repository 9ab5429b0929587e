"""payplan policy validate, evaluate and backtest, and payplan import uci-credit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli import app
from storage.db import make_engine, make_session_factory
from storage.models import Account, Invoice, Payment

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "examples" / "policies"
CASE = ROOT / "examples" / "cases" / "b2b-request.json"
UCI = ROOT / "examples" / "data" / "uci-default-of-credit-card-clients.csv"

runner = CliRunner()


@pytest.fixture(autouse=True)
def packaged_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAYPLAN_POLICY", raising=False)


@pytest.mark.parametrize("name", ["b2b", "consumer", "irs-installment-agreement"])
def test_validate_prints_summary(name: str) -> None:
    result = runner.invoke(app, ["policy", "validate", str(POLICIES / f"{name}.yaml")])

    assert result.exit_code == 0
    assert "valid" in result.stdout
    assert "Approval tiers" in result.stdout


def test_validate_lists_every_problem(tmp_path: Path) -> None:
    document = yaml.safe_load((POLICIES / "b2b.yaml").read_text())
    document["eligibility"]["max_balance"] = "-1"
    document["tiers"][0]["max_installments"] = 0
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document))

    result = runner.invoke(app, ["policy", "validate", str(path)])

    assert result.exit_code == 2
    assert "2 problem(s)" in result.stderr
    assert "eligibility.max_balance: Input should be greater than or equal to 0 (got '-1')" in result.stderr
    assert "tiers[0] (collections_manager).max_installments" in result.stderr


def test_validate_unknown_route_tier(tmp_path: Path) -> None:
    document = yaml.safe_load((POLICIES / "b2b.yaml").read_text())
    document["escalation"]["grade_tiers"]["E"] = "cfo"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(document))

    result = runner.invoke(app, ["policy", "validate", str(path)])

    assert result.exit_code == 2
    assert "escalation.grade_tiers.E: unknown tier" in result.stderr
    assert "'cfo'" in result.stderr


def test_evaluate_prints_decision() -> None:
    result = runner.invoke(app, ["policy", "evaluate", str(CASE), "--policy", str(POLICIES / "b2b.yaml")])

    assert result.exit_code == 0
    decision = json.loads(result.stdout)
    assert decision["policy_version"] == "b2b-2026.2"
    assert decision["route"][0] == "credit_analyst"


def test_evaluate_reads_stdin() -> None:
    result = runner.invoke(app, ["policy", "evaluate", "-"], input=CASE.read_text())

    assert result.exit_code == 0
    assert json.loads(result.stdout)["account_id"] == "ACME-001"


def test_evaluate_invalid_input_exits_2_with_paths() -> None:
    document = json.loads(CASE.read_text())
    document["request"]["installments"] = "many"
    document["account"]["invoices"][0]["paid"] = "yesterday"

    result = runner.invoke(app, ["policy", "evaluate", "-"], input=json.dumps(document))

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "request.installments:" in result.stderr
    assert "account.invoices[0].paid:" in result.stderr


def test_evaluate_not_json_exits_2() -> None:
    result = runner.invoke(app, ["policy", "evaluate", "-"], input="{not json")

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "not valid JSON" in result.stderr


def test_uci_import_and_backtest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sample = tmp_path / "uci.csv"
    sample.write_text("".join(UCI.read_text().splitlines(keepends=True)[:41]))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'uci.db'}")

    first = runner.invoke(app, ["import", "uci-credit", str(sample)])
    second = runner.invoke(app, ["import", "uci-credit", str(sample)])

    assert first.exit_code == 0, first.output
    assert "Added: 40 accounts" in first.stdout
    assert "Already present: 40" in second.stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'uci.db'}")
    with make_session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Account).where(Account.segment == "consumer", Account.currency == "TWD")) == 40
        assert session.scalar(select(func.count()).select_from(Invoice)) > 0
        assert session.scalar(select(func.count()).select_from(Payment)) > 0

    stricter = yaml.safe_load((POLICIES / "consumer.yaml").read_text())
    stricter["version"] = "consumer-stricter"
    stricter["eligibility"]["min_balance"] = "20000"
    stricter_path = tmp_path / "stricter.yaml"
    stricter_path.write_text(yaml.safe_dump(stricter))

    result = runner.invoke(app, ["policy", "backtest", "--policy", str(POLICIES / "consumer.yaml"), "--against", str(stricter_path)])

    assert result.exit_code == 0, result.output
    assert "40 accounts, as of 2005-10-31" in result.stdout
    assert "eligible share of assessed" in result.stdout
    assert "consumer-stricter" in result.stdout
    assert "account(s) change from consumer-2026.1 to consumer-stricter" in result.stdout
    assert "balance_below_min" in result.stdout
