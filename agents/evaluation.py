"""Labelled evaluation cases for the summary agent, and the scores it gets on them.

A case is one JSON file: the facts, requested terms and policy result of an
account, the reason text, the signal kinds a good summary reports and the
figures it must mention. :func:`evaluate` runs a summarizer on every case
and reports signal precision and recall, how many expected figures appeared,
the grounding rate, tokens and latency.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from agents.summary import SummaryInput, SummaryRecord
from policy.facts import AccountFacts


class CaseError(ValueError):
    """An evaluation case file is missing a field or contains an invalid value."""


@dataclass(frozen=True)
class EvalCase:
    name: str
    summary_input: SummaryInput
    expected_signals: frozenset[str]
    # Text a good summary contains, such as an amount as the bundle gives it.
    expected_facts: tuple[str, ...]


@dataclass
class CaseResult:
    name: str
    record: SummaryRecord
    found_signals: frozenset[str]
    expected_signals: frozenset[str]
    missing_facts: tuple[str, ...]
    expected_fact_count: int


@dataclass
class EvalReport:
    results: list[CaseResult] = field(default_factory=list)

    @property
    def true_positives(self) -> int:
        return sum(len(result.found_signals & result.expected_signals) for result in self.results)

    @property
    def signal_precision(self) -> Decimal | None:
        found = sum(len(result.found_signals) for result in self.results)
        return _ratio(self.true_positives, found)

    @property
    def signal_recall(self) -> Decimal | None:
        expected = sum(len(result.expected_signals) for result in self.results)
        return _ratio(self.true_positives, expected)

    @property
    def fact_recall(self) -> Decimal | None:
        expected = sum(result.expected_fact_count for result in self.results)
        missing = sum(len(result.missing_facts) for result in self.results)
        return _ratio(expected - missing, expected)

    @property
    def grounding_rate(self) -> Decimal | None:
        checks = sum(result.record.grounding_checks for result in self.results)
        failures = sum(result.record.grounding_failures for result in self.results)
        return _ratio(checks - failures, checks)

    @property
    def model_summaries(self) -> int:
        return sum(1 for result in self.results if result.record.source == "openai")

    @property
    def input_tokens(self) -> int:
        return sum(result.record.input_tokens or 0 for result in self.results)

    @property
    def output_tokens(self) -> int:
        return sum(result.record.output_tokens or 0 for result in self.results)

    @property
    def max_latency_ms(self) -> int:
        return max((result.record.latency_ms for result in self.results), default=0)

    @property
    def total_latency_ms(self) -> int:
        return sum(result.record.latency_ms for result in self.results)

    def to_dict(self) -> dict[str, Any]:
        """Return the scores and the per-case outcome as JSON-ready values."""
        return {
            "cases": len(self.results),
            "model_summaries": self.model_summaries,
            "signal_precision": _text(self.signal_precision),
            "signal_recall": _text(self.signal_recall),
            "fact_recall": _text(self.fact_recall),
            "grounding_rate": _text(self.grounding_rate),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_latency_ms": self.total_latency_ms,
            "max_latency_ms": self.max_latency_ms,
            "results": [
                {
                    "name": result.name,
                    "source": result.record.source,
                    "fallback_reason": result.record.fallback_reason,
                    "found_signals": sorted(result.found_signals),
                    "expected_signals": sorted(result.expected_signals),
                    "missing_facts": list(result.missing_facts),
                }
                for result in self.results
            ],
        }


class Summarizer(Protocol):
    def summarize(self, inp: SummaryInput) -> SummaryRecord: ...


def load_cases(folder: Path) -> list[EvalCase]:
    """Load every ``*.json`` case in ``folder``, sorted by file name."""
    paths = sorted(folder.glob("*.json"))
    if not paths:
        raise CaseError(f"no evaluation cases (*.json) found in {folder}")
    return [parse_case(json.loads(path.read_text(encoding="utf-8")), source=str(path)) for path in paths]


def parse_case(data: dict[str, Any], *, source: str) -> EvalCase:
    """Build a case from its JSON document; raise CaseError naming the file and the field."""
    try:
        facts_data = dict(data["facts"])
        facts = AccountFacts(
            account_id=str(facts_data["account_id"]),
            as_of=date.fromisoformat(facts_data["as_of"]),
            invoice_count=int(facts_data["invoice_count"]),
            total_billed=Decimal(facts_data["total_billed"]),
            settled_count=int(facts_data["settled_count"]),
            on_time_share=_decimal(facts_data.get("on_time_share")),
            average_days_late=_decimal(facts_data.get("average_days_late")),
            max_days_late=facts_data.get("max_days_late"),
            disputed_count=int(facts_data["disputed_count"]),
            open_invoice_count=int(facts_data["open_invoice_count"]),
            open_balance=Decimal(facts_data["open_balance"]),
            past_due_balance=Decimal(facts_data["past_due_balance"]),
            disputed_open_balance=Decimal(facts_data["disputed_open_balance"]),
            oldest_open_days_past_due=facts_data.get("oldest_open_days_past_due"),
            aging={bucket: Decimal(amount) for bucket, amount in facts_data.get("aging", {}).items()},
        )
        terms = data["terms"]
        policy = data["policy"]
        summary_input = SummaryInput(
            facts=facts,
            reason_category=terms["reason_category"],
            reason_text=data.get("reason_text", ""),
            balance=Decimal(terms["balance"]),
            down_payment=Decimal(terms["down_payment"]),
            installment_count=int(terms["installment_count"]),
            first_due_date=date.fromisoformat(terms["first_due_date"]),
            eligible=bool(policy["eligible"]),
            flags=list(policy.get("flags", [])),
            risk_grade=policy["risk_grade"],
            route=list(policy["route"]),
            customer_name=data.get("customer_name"),
        )
        return EvalCase(
            name=str(data["name"]),
            summary_input=summary_input,
            expected_signals=frozenset(data.get("expected_signals", [])),
            expected_facts=tuple(data.get("expected_facts", [])),
        )
    except KeyError as error:
        raise CaseError(f"{source}: missing field {error.args[0]!r}") from None
    except (ValueError, ArithmeticError, TypeError) as error:
        raise CaseError(f"{source}: invalid value: {error}") from None


def evaluate(summarizer: Summarizer, cases: Iterable[EvalCase]) -> EvalReport:
    """Summarize every case and score the results."""
    report = EvalReport()
    for case in cases:
        record = summarizer.summarize(case.summary_input)
        summary = record.summary
        text = " ".join([summary.headline, summary.narrative, *summary.key_facts])
        report.results.append(
            CaseResult(
                name=case.name,
                record=record,
                found_signals=frozenset(signal.kind for signal in summary.signals),
                expected_signals=case.expected_signals,
                missing_facts=tuple(fact for fact in case.expected_facts if fact not in text),
                expected_fact_count=len(case.expected_facts),
            )
        )
    return report


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _ratio(numerator: int, denominator: int) -> Decimal | None:
    if denominator == 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.001"))


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
