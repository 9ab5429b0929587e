"""Wiring: build the engine, policy, agent, workflow and Slack app from settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from agents.retries import RetryPolicy
from agents.summary import Summarizer
from bot.agent_usage import tokens_used_on
from bot.background import BackgroundNotifier, Pools, make_pools
from bot.summary_jobs import SummaryJobs
from bot.clock import Clock, SystemClock
from bot.config import Settings, load_policy
from bot.connector_setup import load_connectors
from bot.agreement_document import AgreementProfile
from bot.links import LinkSigner
from bot.permissions import ApproverDirectory
from bot.plan_notices import SlackThreadNotifier
from bot.publisher import SlackPublisher
from bot.slack_app import build_slack_app
from bot.workflow import Workflow
from policy.config import Policy
from storage.connectors.base import Connector
from storage.connectors.refresh import BalanceRefresher
from storage.db import make_engine, make_session_factory

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    engine: Engine
    session_factory: sessionmaker[Session]
    policy: Policy
    workflow: Workflow
    slack_client: WebClient | None
    slack_app: App | None
    # The sources in PAYPLAN_CONNECTORS_FILE, for write-back and the modal's live balance.
    connectors: dict[str, Connector] = field(default_factory=dict)
    balance_refresher: BalanceRefresher | None = None
    pools: Pools | None = None

    def close(self, timeout: float = 10.0) -> None:
        """Let queued listeners, slow work and Slack posts finish (up to ``timeout`` seconds), then release the database."""
        if self.pools is not None:
            if not self.pools.wait_idle(timeout=timeout):
                logger.warning("background work still running after %s s at shutdown", timeout)
            self.pools.shutdown(wait=True)
        self.engine.dispose()


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    with_slack: bool = True,
    process_before_response: bool = False,
) -> Runtime:
    """Build every long-lived object; the database schema must already be upgraded.

    Raises ConnectorError when the connectors file or its credentials are invalid.
    """
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    connectors = load_connectors(settings, session_factory)
    policy = load_policy(settings.policy_path)
    summarizer = build_summarizer(settings, session_factory)
    portal_secret = settings.portal_secret.get_secret_value() if settings.portal_secret else ""
    workflow = Workflow(
        session_factory=session_factory,
        policy=policy,
        summarizer=summarizer,
        approvers=settings.approvers,
        clock=clock or SystemClock(),
        timezone=settings.timezone,
        link_signer=LinkSigner(portal_secret, settings.public_url),
        agreement_link_days=settings.agreement_link_days,
        approver_limits=settings.approver_limits,
        summary_jobs=None,
        agreement_profile=AgreementProfile(settings.creditor_name, settings.payment_instructions),
    )
    workflow.summary_jobs = SummaryJobs(
        session_factory=session_factory,
        summarizer=summarizer,
        policy=policy,
        clock=workflow.clock,
        prices=settings.llm_prices,
        max_workers=settings.summary_workers,
        on_updated=workflow._summary_updated,
    )
    refresher = BalanceRefresher(session_factory, connectors, workflow.clock.now) if connectors else None
    if not with_slack:
        return Runtime(engine, session_factory, policy, workflow, None, None, connectors, refresher)

    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = WebClient(token=token, base_url=settings.slack_api_url)
    workflow.approver_directory = ApproverDirectory(
        settings.approvers, client=client, clock=workflow.clock, ttl=timedelta(seconds=settings.usergroup_cache_seconds)
    )
    workflow.notifier = SlackPublisher(
        client=client,
        channel=settings.slack_channel or "",
        session_factory=session_factory,
        policy=policy,
        approvers=settings.approvers,
        agreement_url=workflow.agreement_url,
        workflow=workflow,
        clock=workflow.clock,
    )
    workflow.thread_notifier = SlackThreadNotifier(client=client, session_factory=session_factory)
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    pools = make_pools(
        listener_workers=settings.listener_workers, slow_workers=settings.slow_workers, publish_workers=settings.publish_workers
    )
    if not process_before_response:
        # Publishing posts and refreshes App Homes; off the listener threads it never delays an ack.
        workflow.notifier = BackgroundNotifier(workflow.notifier, pools.publishers)
    slack_app = build_slack_app(
        workflow=workflow,
        client=client,
        signing_secret=signing_secret,
        process_before_response=process_before_response,
        listener_executor=pools.listener_executor,
        # With process_before_response the caller waits for the whole
        # listener (the demo relies on it), so nothing may be left running.
        slow_work=None if process_before_response else pools.slow_work,
    )
    return Runtime(engine, session_factory, policy, workflow, client, slack_app, connectors, refresher, pools)


def build_summarizer(settings: Settings, session_factory: sessionmaker[Session]) -> Summarizer:
    """Create the summarizer from settings, with the daily token budget read from stored runs."""

    def tokens_used_today() -> int:
        with session_factory() as session:
            return tokens_used_on(session, datetime.now(timezone.utc).date())

    return Summarizer(
        api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
        model=settings.llm_model,
        base_url=settings.openai_base_url,
        enabled=settings.llm_enabled,
        timeout_s=settings.llm_timeout_seconds,
        retry_policy=RetryPolicy(max_attempts=settings.llm_max_attempts),
        daily_token_budget=settings.llm_daily_token_budget,
        tokens_used_today=tokens_used_today,
    )
