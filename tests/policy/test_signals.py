"""Signals add flags and route steps to an assessment and never remove anything."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policy.signals import SIGNAL_KINDS, SIGNAL_RULES, apply_signals

LEGAL_TIER = "legal_compliance"
TIERS = ["collections_manager", "finance_controller", "revenue_operations_lead", LEGAL_TIER]


@dataclass(frozen=True)
class FoundSignal:
    kind: str
    quote: str


@dataclass(frozen=True)
class Result:
    eligible: bool
    flags: list[dict[str, object]] = field(default_factory=list)
    route: list[str] = field(default_factory=list)


signals_strategy = st.lists(
    st.builds(FoundSignal, kind=st.sampled_from(SIGNAL_KINDS), quote=st.text(min_size=1, max_size=20)), max_size=10
)
flag_codes = st.sampled_from(["balance_above_max", "legal_review_required", *(rule.flag_code for rule in SIGNAL_RULES.values())])
results_strategy = st.builds(
    Result,
    eligible=st.booleans(),
    flags=st.lists(flag_codes.map(lambda code: {"code": code, "message": code}), max_size=5),
    route=st.lists(st.sampled_from(TIERS), max_size=3, unique=True),
)


@given(result=results_strategy, signals=signals_strategy)
def test_signals_only_add(result: Result, signals: list[FoundSignal]) -> None:
    effect = apply_signals(result, signals, legal_tier=LEGAL_TIER)
    new_route = effect.route_after(result.route)
    existing_codes = {flag["code"] for flag in result.flags}

    assert new_route[: len(result.route)] == result.route
    assert all(tier not in result.route for tier in effect.added_route)
    assert all(flag.code not in existing_codes for flag in effect.added_flags)
    assert all(flag.to_dict()["blocking"] is False for flag in effect.added_flags)
    assert all(flag.severity in ("deviation", "info") for flag in effect.added_flags)
    if not result.eligible:
        assert effect.added_route == ()


@given(result=results_strategy, signals=signals_strategy)
def test_applying_twice_adds_nothing_more(result: Result, signals: list[FoundSignal]) -> None:
    first = apply_signals(result, signals, legal_tier=LEGAL_TIER)
    after = Result(
        result.eligible,
        [*result.flags, *(flag.to_dict() for flag in first.added_flags)],
        first.route_after(result.route),
    )

    second = apply_signals(after, signals, legal_tier=LEGAL_TIER)

    assert second.added_flags == ()
    assert second.added_route == ()


@pytest.mark.parametrize("kind", ["bankruptcy", "legal_representation", "deceased", "vulnerable_customer"])
def test_legal_kinds_add_legal_tier(kind: str) -> None:
    effect = apply_signals(Result(True, [], ["collections_manager"]), [FoundSignal(kind, "quote")], legal_tier=LEGAL_TIER)

    assert effect.added_route == (LEGAL_TIER,)
    assert effect.added_flags[0].code == f"signal_{kind}"
    assert effect.added_flags[0].severity == "deviation"


@pytest.mark.parametrize("kind", ["possible_fraud", "instruction_to_model"])
def test_review_kinds_add_flag_only(kind: str) -> None:
    effect = apply_signals(Result(True, [], ["collections_manager"]), [FoundSignal(kind, "quote")], legal_tier=LEGAL_TIER)

    assert effect.added_route == ()
    assert [flag.code for flag in effect.added_flags] == [f"signal_{kind}"]
    assert effect.added_flags[0].to_dict()["actual"] == "quote"


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown signal kind 'lottery_win'"):
        apply_signals(Result(True), [FoundSignal("lottery_win", "won")], legal_tier=LEGAL_TIER)
