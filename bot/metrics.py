"""Prometheus counters served at ``/metrics``."""

from decimal import Decimal
from typing import Any

from prometheus_client import Counter, Histogram

REQUESTS_OPENED = Counter("payplan_requests_opened", "Plan requests opened, by eligibility", ["eligible"])
DECISIONS = Counter("payplan_decisions", "Approval decisions recorded, by tier and decision", ["tier", "decision"])
PLANS_ACTIVATED = Counter("payplan_plans_activated", "Agreements accepted by customers")

# Account-summary agent. Cost is a float here because Prometheus stores
# floats; the exact Decimal cost is stored per run in summary_runs.
SUMMARIES = Counter("payplan_summaries", "Account summaries stored, by source and whether a failed call fell back", ["source", "fallback_used"])
LLM_TOKENS = Counter("payplan_llm_tokens", "Language model tokens used by account summaries, by model and direction", ["model", "direction"])
LLM_COST = Counter("payplan_llm_cost", "Cost of language model tokens, in the price table's currency, by model", ["model"])
LLM_UNPRICED_RUNS = Counter("payplan_llm_unpriced_runs", "Summary runs whose model has no entry in PAYPLAN_LLM_PRICES", ["model"])
GROUNDING_CHECKS = Counter("payplan_summary_grounding_checks", "Model summaries checked for grounding, by result", ["result"])
SUMMARY_LATENCY = Histogram(
    "payplan_summary_latency_seconds",
    "Time to produce an account summary, model calls and retries included",
    ["source"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 20, 40, 80),
)


def observe_summary(record: Any, cost: Decimal | None) -> None:
    """Count one stored summary run: tokens, cost, grounding and latency."""
    model = record.model or "offline"
    SUMMARIES.labels(source=record.source, fallback_used=str(record.fallback_used).lower()).inc()
    if record.input_tokens:
        LLM_TOKENS.labels(model=model, direction="input").inc(record.input_tokens)
    if record.output_tokens:
        LLM_TOKENS.labels(model=model, direction="output").inc(record.output_tokens)
    if cost is not None:
        LLM_COST.labels(model=model).inc(float(cost))
    elif record.input_tokens is not None:
        LLM_UNPRICED_RUNS.labels(model=model).inc()
    failures = record.grounding_failures
    if failures:
        GROUNDING_CHECKS.labels(result="ungrounded").inc(failures)
    if record.grounding_checks - failures:
        GROUNDING_CHECKS.labels(result="grounded").inc(record.grounding_checks - failures)
    SUMMARY_LATENCY.labels(source=record.source).observe(record.latency_ms / 1000)
