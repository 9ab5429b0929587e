"""Storing summary runs, pricing their tokens and reporting usage per day and model.

Prices come only from the configured price table (``PAYPLAN_LLM_PRICES``). A
model without an entry gets no cost, and the usage report says so, rather
than a guessed price.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from agents.summary import SummaryRecord
from bot import metrics
from storage.models import SummaryRun

logger = logging.getLogger(__name__)

MICROS = Decimal("1000000")
TOKENS_PER_PRICE_UNIT = Decimal("1000000")


class ModelPrice(BaseModel):
    """Price of one model's tokens, per million tokens, in the team's billing currency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_million: Decimal = Field(ge=0)
    output_per_million: Decimal = Field(ge=0)


def cost_of(record: SummaryRecord, prices: dict[str, ModelPrice], requested_model: str | None) -> Decimal | None:
    """Return the cost of a record's tokens, or None when no price or no token count is known.

    The price is looked up by the model name the API returned, then by the
    requested model name, because OpenAI returns dated snapshot names.
    """
    if record.input_tokens is None and record.output_tokens is None:
        return None
    price = None
    for name in (record.model, requested_model):
        if name and name in prices:
            price = prices[name]
            break
    if price is None:
        return None
    input_cost = Decimal(record.input_tokens or 0) * price.input_per_million / TOKENS_PER_PRICE_UNIT
    output_cost = Decimal(record.output_tokens or 0) * price.output_per_million / TOKENS_PER_PRICE_UNIT
    return (input_cost + output_cost).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def record_run(
    session: Session,
    record: SummaryRecord,
    *,
    account_id: str,
    request_id: int | None,
    now: datetime,
    prices: dict[str, ModelPrice],
    requested_model: str | None,
) -> SummaryRun:
    """Store one summary run and count it in the Prometheus metrics."""
    cost = cost_of(record, prices, requested_model)
    if cost is None and record.input_tokens is not None:
        logger.warning(
            "no price for model %s in PAYPLAN_LLM_PRICES; the cost of the summary for account %s is not recorded",
            record.model,
            account_id,
        )
    run = SummaryRun(
        request_id=request_id,
        account_id=account_id,
        created_at=now,
        usage_date=now.astimezone(timezone.utc).date(),
        source=record.source,
        prompt_name=record.prompt_name,
        prompt_version=record.prompt_version,
        model=record.model,
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        latency_ms=record.latency_ms,
        fallback_used=record.fallback_used,
        fallback_reason=record.fallback_reason,
        grounding_checks=record.grounding_checks,
        grounding_failures=record.grounding_failures,
        cost_micros=None if cost is None else int(cost * MICROS),
    )
    session.add(run)
    metrics.observe_summary(record, cost)
    return run


def tokens_used_on(session: Session, day: date) -> int:
    """Return the input and output tokens of every summary run stored for ``day`` (UTC)."""
    query = select(
        func.coalesce(func.sum(SummaryRun.input_tokens), 0) + func.coalesce(func.sum(SummaryRun.output_tokens), 0)
    ).where(SummaryRun.usage_date == day)
    return int(session.scalar(query) or 0)


@dataclass(frozen=True)
class UsageRow:
    """Summary runs of one day and model, with their tokens and cost."""

    day: date
    model: str
    runs: int
    fallbacks: int
    input_tokens: int
    output_tokens: int
    # None when at least one run of the group has no price.
    cost: Decimal | None
    grounding_checks: int
    grounding_failures: int


def usage_by_day_and_model(session: Session, *, since: date) -> list[UsageRow]:
    """Sum summary runs from ``since`` onwards per UTC day and model, oldest day first."""
    model = func.coalesce(SummaryRun.model, "offline")
    query = (
        select(
            SummaryRun.usage_date,
            model,
            func.count(),
            func.sum(case((SummaryRun.fallback_used, 1), else_=0)),
            func.coalesce(func.sum(SummaryRun.input_tokens), 0),
            func.coalesce(func.sum(SummaryRun.output_tokens), 0),
            func.sum(SummaryRun.cost_micros),
            func.count(SummaryRun.cost_micros),
            func.count(SummaryRun.input_tokens),
            func.coalesce(func.sum(SummaryRun.grounding_checks), 0),
            func.coalesce(func.sum(SummaryRun.grounding_failures), 0),
        )
        .where(SummaryRun.usage_date >= since)
        .group_by(SummaryRun.usage_date, model)
        .order_by(SummaryRun.usage_date, model)
    )
    rows = []
    for day, name, runs, fallbacks, input_tokens, output_tokens, cost_micros, priced, billed, checks, failures in session.execute(query):
        # A group is priced only when every run that used tokens has a cost.
        cost = Decimal(int(cost_micros or 0)) / MICROS if priced >= billed else None
        rows.append(
            UsageRow(day, name, runs, int(fallbacks or 0), int(input_tokens), int(output_tokens), cost, int(checks), int(failures))
        )
    return rows
