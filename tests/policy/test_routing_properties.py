"""Routing is monotone: a larger balance or a longer plan never gets a lower tier."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policy.engine import AccountProfile, Terms, assess
from tests.policy.helpers import AS_OF, clean_facts, example_policy

POLICIES = {name: example_policy(name) for name in ("b2b", "consumer", "irs-installment-agreement")}
PROFILES = {
    "b2b": AccountProfile(),
    "consumer": AccountProfile(segment="consumer", currency="TWD"),
    "irs-installment-agreement": AccountProfile(),
}


def approval_level(policy, route: list[str]) -> int:
    """Return the index of the route's approval tier, lowest authority 0."""
    approval = [tier.name for tier in policy.tiers]
    return max(approval.index(name) for name in route if name in approval)


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(sorted(POLICIES)),
    small=st.integers(min_value=1000, max_value=1_000_000),
    extra=st.integers(min_value=0, max_value=20_000_000),
    short=st.integers(min_value=1, max_value=40),
    longer=st.integers(min_value=0, max_value=40),
    frequency=st.sampled_from(["weekly", "biweekly", "monthly"]),
    days=st.integers(min_value=1, max_value=90),
    settled=st.integers(min_value=0, max_value=12),
    disputed=st.integers(min_value=0, max_value=40),
)
def test_larger_or_longer_never_lower(name, small, extra, short, longer, frequency, days, settled, disputed) -> None:
    policy = POLICIES[name]
    profile = PROFILES[name]
    facts = clean_facts("5000.00", settled=settled, disputed_open=str(disputed * 100))
    first_due = AS_OF + timedelta(days=days)
    low = Terms(Decimal(small), Decimal(0), short, first_due, frequency)
    high = Terms(Decimal(small + extra), Decimal(0), short + longer, first_due, frequency)

    low_result = assess(policy, facts, low, as_of=AS_OF, open_plan_count=0, account=profile)
    high_result = assess(policy, facts, high, as_of=AS_OF, open_plan_count=0, account=profile)
    if not (low_result.eligible and high_result.eligible):
        return

    assert approval_level(policy, high_result.route) >= approval_level(policy, low_result.route)
    # Review steps (credit analyst, legal, hardship) never drop out either.
    assert set(low_result.route) - set(high_result.route) <= {tier.name for tier in policy.tiers}


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_route_step_is_a_policy_tier(name: str) -> None:
    policy = POLICIES[name]
    result = assess(policy, clean_facts("5000.00"), Terms(Decimal("5000.00"), Decimal(0), 6, AS_OF + timedelta(days=20)), as_of=AS_OF, open_plan_count=0, account=PROFILES[name])

    assert set(result.route) <= set(policy.tier_names())
