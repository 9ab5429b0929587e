"""Prometheus counters served at ``/metrics``."""

from prometheus_client import Counter

REQUESTS_OPENED = Counter("payplan_requests_opened", "Plan requests opened, by eligibility", ["eligible"])
DECISIONS = Counter("payplan_decisions", "Approval decisions recorded, by tier and decision", ["tier", "decision"])
PLANS_ACTIVATED = Counter("payplan_plans_activated", "Agreements accepted by customers")
