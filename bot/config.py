"""Settings read once from the environment, and the policy file they point at."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.agent_usage import ModelPrice
from bot.policy_file import parse_policy_yaml, read_policy_document
from policy.config import Policy, parse_policy

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class Settings(BaseSettings):
    """Every setting payplan reads; the README's Configuration section explains each."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = Field("sqlite:///payplan.db", validation_alias="DATABASE_URL")
    slack_bot_token: SecretStr | None = Field(None, validation_alias="SLACK_BOT_TOKEN")
    slack_app_token: SecretStr | None = Field(None, validation_alias="SLACK_APP_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, validation_alias="SLACK_SIGNING_SECRET")
    slack_api_url: str = Field(DEFAULT_SLACK_API_URL, validation_alias="SLACK_API_URL")
    slack_channel: str | None = Field(None, validation_alias="PAYPLAN_SLACK_CHANNEL")
    # Slack user ids allowed to approve for each tier, as JSON:
    # {"collections_manager": ["U123"], "finance_controller": ["U456"]}
    approvers: dict[str, list[str]] = Field(default_factory=dict, validation_alias="PAYPLAN_APPROVERS")
    openai_api_key: SecretStr | None = Field(None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, validation_alias="OPENAI_BASE_URL")
    llm_model: str = Field("gpt-4o-mini", validation_alias="PAYPLAN_LLM_MODEL")
    llm_enabled: bool = Field(True, validation_alias="PAYPLAN_LLM_ENABLED")
    policy_path: Path | None = Field(None, validation_alias="PAYPLAN_POLICY")
    timezone: str = Field("UTC", validation_alias="PAYPLAN_TIMEZONE")
    public_url: str = Field("http://127.0.0.1:3000", validation_alias="PAYPLAN_PUBLIC_URL")
    portal_secret: SecretStr | None = Field(None, validation_alias="PAYPLAN_PORTAL_SECRET")
    agreement_link_days: int = Field(14, ge=1, le=365, validation_alias="PAYPLAN_AGREEMENT_LINK_DAYS")
    # Account-summary agent
    llm_timeout_seconds: float = Field(20.0, gt=0, le=120, validation_alias="PAYPLAN_LLM_TIMEOUT_SECONDS")
    llm_max_attempts: int = Field(3, ge=1, le=5, validation_alias="PAYPLAN_LLM_MAX_ATTEMPTS")
    llm_daily_token_budget: int | None = Field(None, ge=1, validation_alias="PAYPLAN_LLM_DAILY_TOKEN_BUDGET")
    llm_prices: dict[str, ModelPrice] = Field(default_factory=dict, validation_alias="PAYPLAN_LLM_PRICES")
    summary_workers: int = Field(2, ge=1, le=16, validation_alias="PAYPLAN_SUMMARY_WORKERS")
    # Source connectors (docs/connectors.md) and the request webhook (docs/webhooks.md)
    connectors_file: Path | None = Field(None, validation_alias="PAYPLAN_CONNECTORS_FILE")
    requests_webhook_secret: SecretStr | None = Field(None, validation_alias="PAYPLAN_REQUESTS_WEBHOOK_SECRET")
    salesforce_login_url: str = Field("https://login.salesforce.com", validation_alias="SALESFORCE_LOGIN_URL")
    salesforce_auth_flow: Literal["client_credentials", "jwt_bearer"] = Field("client_credentials", validation_alias="SALESFORCE_AUTH_FLOW")
    salesforce_client_id: str | None = Field(None, validation_alias="SALESFORCE_CLIENT_ID")
    salesforce_client_secret: SecretStr | None = Field(None, validation_alias="SALESFORCE_CLIENT_SECRET")
    salesforce_username: str | None = Field(None, validation_alias="SALESFORCE_USERNAME")
    salesforce_private_key_file: Path | None = Field(None, validation_alias="SALESFORCE_PRIVATE_KEY_FILE")
    netsuite_account_id: str | None = Field(None, validation_alias="NETSUITE_ACCOUNT_ID")
    netsuite_consumer_key: str | None = Field(None, validation_alias="NETSUITE_CONSUMER_KEY")
    netsuite_consumer_secret: SecretStr | None = Field(None, validation_alias="NETSUITE_CONSUMER_SECRET")
    netsuite_token_id: str | None = Field(None, validation_alias="NETSUITE_TOKEN_ID")
    netsuite_token_secret: SecretStr | None = Field(None, validation_alias="NETSUITE_TOKEN_SECRET")
    # Agreements, payments and plan monitoring
    payments_webhook_secret: SecretStr | None = Field(None, validation_alias="PAYPLAN_PAYMENTS_WEBHOOK_SECRET")
    creditor_name: str = Field("Your supplier", min_length=1, max_length=200, validation_alias="PAYPLAN_CREDITOR_NAME")
    payment_instructions: str = Field(
        "Pay by bank transfer and quote the agreement reference {reference}.",
        min_length=1,
        max_length=1000,
        validation_alias="PAYPLAN_PAYMENT_INSTRUCTIONS",
    )
    smtp_host: str | None = Field(None, validation_alias="PAYPLAN_SMTP_HOST")
    smtp_port: int = Field(587, ge=1, le=65535, validation_alias="PAYPLAN_SMTP_PORT")
    smtp_from: str | None = Field(None, validation_alias="PAYPLAN_SMTP_FROM")
    smtp_username: str | None = Field(None, validation_alias="PAYPLAN_SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(None, validation_alias="PAYPLAN_SMTP_PASSWORD")
    smtp_starttls: bool = Field(True, validation_alias="PAYPLAN_SMTP_STARTTLS")
    # Serving, Slack failures, approver groups and limits
    listener_workers: int = Field(32, ge=1, le=512, validation_alias="PAYPLAN_LISTENER_WORKERS")
    slow_workers: int = Field(4, ge=1, le=128, validation_alias="PAYPLAN_SLOW_WORKERS")
    publish_workers: int = Field(4, ge=1, le=64, validation_alias="PAYPLAN_PUBLISH_WORKERS")
    usergroup_cache_seconds: int = Field(300, ge=0, le=86400, validation_alias="PAYPLAN_USERGROUP_CACHE_SECONDS")
    # Largest balance each Slack user may approve, as JSON: {"U123": "5000.00"}
    approver_limits: dict[str, Decimal] = Field(default_factory=dict, validation_alias="PAYPLAN_APPROVER_LIMITS")
    # Connector and request webhook fixes (docs/connectors.md, docs/webhooks.md)
    netsuite_base_url: str | None = Field(None, validation_alias="NETSUITE_BASE_URL")
    requests_webhook_max_body_bytes: int = Field(1_048_576, ge=1024, le=16_777_216, validation_alias="PAYPLAN_REQUESTS_WEBHOOK_MAX_BODY_BYTES")
    # Scheduler: business calendar, approval SLAs, delegation, reminders and digests.
    holiday_country: str | None = Field(None, validation_alias="PAYPLAN_HOLIDAY_COUNTRY")
    holiday_subdivision: str | None = Field(None, validation_alias="PAYPLAN_HOLIDAY_SUBDIVISION")
    business_hours: Annotated[tuple[time, time], NoDecode] = Field((time(9), time(17)), validation_alias="PAYPLAN_BUSINESS_HOURS")
    # Business hours per tier until the nudge and until the escalation; "*" applies to unlisted tiers.
    sla_hours: dict[str, tuple[Decimal, Decimal]] = Field(
        default_factory=lambda: {"*": (Decimal(8), Decimal(16))}, validation_alias="PAYPLAN_SLA_HOURS"
    )
    backup_approvers: dict[str, list[str]] = Field(default_factory=dict, validation_alias="PAYPLAN_BACKUP_APPROVERS")
    delegates: dict[str, list[str]] = Field(default_factory=dict, validation_alias="PAYPLAN_DELEGATES")
    fallback_approvers: list[str] = Field(default_factory=list, validation_alias="PAYPLAN_FALLBACK_APPROVERS")
    # Slack signals that count as away besides /payplan away: presence, dnd, status.
    away_signals: list[Literal["presence", "dnd", "status"]] = Field(default_factory=list, validation_alias="PAYPLAN_AWAY_SIGNALS")
    max_revision_rounds: int = Field(3, ge=1, validation_alias="PAYPLAN_MAX_REVISION_ROUNDS")
    changes_wait_days: int = Field(5, ge=1, validation_alias="PAYPLAN_CHANGES_WAIT_DAYS")
    agreement_reminder_days: int = Field(3, ge=1, validation_alias="PAYPLAN_AGREEMENT_REMINDER_DAYS")
    digest_time: time = Field(time(8, 30), validation_alias="PAYPLAN_DIGEST_TIME")
    digest_recipients: list[str] = Field(default_factory=list, validation_alias="PAYPLAN_DIGEST_RECIPIENTS")
    # ISO weekday (1 is Monday) of the weekly digest with the chart.
    weekly_digest_weekday: int = Field(1, ge=1, le=7, validation_alias="PAYPLAN_WEEKLY_DIGEST_WEEKDAY")
    scheduler_enabled: bool = Field(True, validation_alias="PAYPLAN_SCHEDULER_ENABLED")
    customer_reminder_days: int = Field(3, ge=1, le=60, validation_alias="PAYPLAN_CUSTOMER_REMINDER_DAYS")
    customer_contact_hours: Annotated[tuple[time, time], NoDecode] = Field((time(8), time(21)), validation_alias="PAYPLAN_CUSTOMER_CONTACT_HOURS")
    customer_contact_limit: int = Field(7, ge=1, validation_alias="PAYPLAN_CUSTOMER_CONTACT_LIMIT")
    customer_contact_window_days: int = Field(7, ge=1, validation_alias="PAYPLAN_CUSTOMER_CONTACT_WINDOW_DAYS")

    @field_validator("business_hours", "customer_contact_hours", mode="before")
    @classmethod
    def _parse_business_hours(cls, value: object) -> object:
        if isinstance(value, str):
            start, separator, end = value.partition("-")
            if not separator:
                raise ValueError(f"hours {value!r} must look like 09:00-17:00")
            return (start.strip(), end.strip())
        return value

    @field_validator("business_hours", "customer_contact_hours")
    @classmethod
    def _hours_in_order(cls, hours: tuple[time, time]) -> tuple[time, time]:
        if hours[0] >= hours[1]:
            raise ValueError(f"hours start {hours[0]} must be before the end {hours[1]}")
        return hours

    @model_validator(mode="after")
    def _known_holiday_calendar(self) -> Settings:
        if self.holiday_country is None:
            return self
        supported = holidays.list_supported_countries()
        if self.holiday_country not in supported:
            raise ValueError(
                f"PAYPLAN_HOLIDAY_COUNTRY {self.holiday_country!r} is not a holiday calendar of the holidays package; "
                "use an ISO 3166 country code such as US or GB"
            )
        subdivisions = supported[self.holiday_country]
        if self.holiday_subdivision is not None and self.holiday_subdivision not in subdivisions:
            raise ValueError(
                f"PAYPLAN_HOLIDAY_SUBDIVISION {self.holiday_subdivision!r} is not a subdivision of {self.holiday_country}; "
                f"use one of {', '.join(subdivisions) or 'none (leave it unset)'}"
            )
        return self

    @field_validator("sla_hours")
    @classmethod
    def _nudge_before_escalation(cls, hours: dict[str, tuple[Decimal, Decimal]]) -> dict[str, tuple[Decimal, Decimal]]:
        for tier, (nudge, escalate) in hours.items():
            if not Decimal(0) < nudge < escalate:
                raise ValueError(f"SLA for {tier}: the nudge ({nudge} h) must be above 0 and below the escalation ({escalate} h)")
        return hours

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {name!r}; use an IANA name such as Europe/London or America/New_York") from None
        return name

    def missing_for_serve(self, *, http: bool) -> list[str]:
        """Return the environment variables ``payplan serve`` needs but does not have."""
        required = {
            "SLACK_BOT_TOKEN": self.slack_bot_token,
            "PAYPLAN_SLACK_CHANNEL": self.slack_channel,
            "PAYPLAN_APPROVERS": self.approvers or None,
            "PAYPLAN_PORTAL_SECRET": self.portal_secret,
        }
        if http:
            required["SLACK_SIGNING_SECRET"] = self.slack_signing_secret
        else:
            required["SLACK_APP_TOKEN"] = self.slack_app_token
        return [name for name, value in required.items() if not value]

    def missing_for_jobs(self) -> list[str]:
        """Return the environment variables ``payplan jobs run`` needs but does not have.

        A job posts to Slack and signs agreement links, so it needs the bot
        token and the portal secret.
        """
        required = {"SLACK_BOT_TOKEN": self.slack_bot_token, "PAYPLAN_PORTAL_SECRET": self.portal_secret}
        return [name for name, value in required.items() if not value]


def load_policy(path: Path | None) -> Policy:
    """Read and validate the policy file at ``path``, or the packaged default."""
    if path is None:
        text = resources.files("policy").joinpath("default_policy.yaml").read_text(encoding="utf-8")
        return parse_policy(parse_policy_yaml(text))
    return parse_policy(read_policy_document(path))
