"""Account summaries for the approvers of a payment plan request.

The policy engine decides eligibility, risk grade and route, and this module
only describes the account. An OpenAI model writes the summary when a key is
configured. A deterministic offline summary built from the facts is used when
no key is configured, the model is disabled, or the model call fails.
``Summarizer.summarize`` does not raise for model failures.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import openai
from langchain_core.exceptions import ModelRefusalError
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field, ValidationError, field_validator

from agents.facts_bundle import PriorPlan, build_facts_bundle
from agents.grounding import FactIndex
from agents.redaction import Redactor
from agents.retries import RetryPolicy, call_with_retries
from agents.prompting import UNTRUSTED_CLOSE, UNTRUSTED_OPEN, Prompt, load_prompt, neutralize_markers
from policy.facts import AccountFacts, InvoiceRecord
from policy.signals import SignalKind

logger = logging.getLogger(__name__)

PROMPT_NAME = "account_summary"
PROMPT_VERSION = 2

MAX_HEADLINE_CHARS = 200
MAX_NARRATIVE_WORDS = 120
MAX_KEY_FACTS = 6
MAX_QUESTIONS = 3
# Only this many characters of the reason text are sent to the model.
MAX_REASON_CHARS = 2000
# Upper bound on the tokens of one response; a longer one is cut off and rejected.
MAX_OUTPUT_TOKENS = 1000
LENGTH_FAILURE = "the response was cut off at the output token limit (finish_reason length)"
# A summary that fails the grounding check is generated once more, then replaced.
MAX_GENERATIONS = 2
# Maximum length of a stored fallback_reason, so a verbose error body cannot bloat the record.
MAX_FALLBACK_REASON_CHARS = 300

OFFLINE_MARKER = "Offline summary (no language model)"


# The length limits below are checked by validators, not by Field constraints,
# so the schema sent to OpenAI has only plain types. OpenAI's strict json_schema
# mode accepts only a subset of JSON Schema keywords. The field descriptions
# repeat the limits because they are sent to the model.
class Signal(BaseModel):
    """A sensitive circumstance mentioned in the reason text."""

    kind: SignalKind = Field(description="Category of the circumstance.")
    quote: str = Field(description="Short quote copied word for word from the reason text.")

    @field_validator("quote")
    @classmethod
    def _quote_not_empty(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("signal quote is empty")
        return value


class AccountSummary(BaseModel):
    """Summary of one account for the approvers. It describes the account and never recommends a decision."""

    headline: str = Field(description=f"One line of at most {MAX_HEADLINE_CHARS} characters.")
    narrative: str = Field(description=f"Plain prose of at most {MAX_NARRATIVE_WORDS} words.")
    key_facts: list[str] = Field(description=f"At most {MAX_KEY_FACTS} items, each one figure from the input.")
    signals: list[Signal] = Field(description="Signals found in the reason text, or an empty list.")
    questions: list[str] = Field(description=f"At most {MAX_QUESTIONS} questions for the account manager.")

    @field_validator("headline")
    @classmethod
    def _check_headline(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("headline is empty")
        if "\n" in value or "\r" in value:
            raise ValueError("headline must be a single line")
        if len(value) > MAX_HEADLINE_CHARS:
            raise ValueError(f"headline has {len(value)} characters, maximum is {MAX_HEADLINE_CHARS}")
        return value

    @field_validator("narrative")
    @classmethod
    def _check_narrative(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("narrative is empty")
        words = len(value.split())
        if words > MAX_NARRATIVE_WORDS:
            raise ValueError(f"narrative has {words} words, maximum is {MAX_NARRATIVE_WORDS}")
        return value

    @field_validator("key_facts")
    @classmethod
    def _check_key_facts(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_KEY_FACTS:
            raise ValueError(f"{len(value)} key facts, maximum is {MAX_KEY_FACTS}")
        return value

    @field_validator("questions")
    @classmethod
    def _check_questions(cls, value: list[str]) -> list[str]:
        if len(value) > MAX_QUESTIONS:
            raise ValueError(f"{len(value)} questions, maximum is {MAX_QUESTIONS}")
        return value


class SummaryRecord(BaseModel):
    """A summary with the provenance the app stores next to it."""

    summary: AccountSummary
    source: Literal["openai", "offline"]
    # Snapshot name the API returned, else the model requested. None when no
    # request was sent.
    model: str | None
    prompt_name: str
    prompt_version: int
    # Token counts summed over every response received, or None when none arrived.
    input_tokens: int | None
    output_tokens: int | None
    latency_ms: int
    # True when a model call was attempted and failed. An intentionally offline
    # summary (no key, model disabled, budget used up) has False but still
    # gives its reason.
    fallback_used: bool
    fallback_reason: str | None
    # Model outputs checked for grounding, and how many of them failed.
    grounding_checks: int = 0
    grounding_failures: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready values."""
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class SummaryInput:
    """Everything the summary may draw on: facts, requested terms and the policy result."""

    facts: AccountFacts
    reason_category: str
    # Free text from the customer or account manager. Untrusted.
    reason_text: str
    balance: Decimal
    down_payment: Decimal
    installment_count: int
    first_due_date: date
    eligible: bool
    # Policy flags, each with at least "code" and "message".
    flags: list[dict[str, Any]]
    risk_grade: str
    # Approval tier names in order.
    route: list[str]
    # The account's invoices, for the payment trend and recent payments.
    invoices: Sequence[InvoiceRecord] = ()
    prior_plans: Sequence[PriorPlan] = ()
    # Policy risk factors, each with "name", "value" and "detail".
    risk_factors: Sequence[dict[str, Any]] = ()
    # The customer's name, replaced by a placeholder before anything is sent.
    customer_name: str | None = None


class SummaryFailure(Exception):
    """A model response that cannot be used: cut off, refused, malformed or ungrounded."""


class Summarizer:
    """Writes account summaries with an OpenAI model, or offline without one."""

    def __init__(
        self,
        *,
        api_key: str | None,
        model: str = "gpt-4o-mini",
        base_url: str | None = None,
        timeout_s: float = 20.0,
        enabled: bool = True,
        max_output_tokens: int = MAX_OUTPUT_TOKENS,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        daily_token_budget: int | None = None,
        tokens_used_today: Callable[[], int] | None = None,
    ) -> None:
        self.model = model
        self.enabled = enabled
        self.prompt = load_prompt(PROMPT_NAME, PROMPT_VERSION)
        self.retry_policy = retry_policy or RetryPolicy()
        self.daily_token_budget = daily_token_budget
        self._tokens_used_today = tokens_used_today
        self._sleep = sleep
        self._api_key = api_key or None
        self._structured_model = None
        if enabled and self._api_key:
            # Retries are done by call_with_retries, which does not retry quota
            # or context-length errors and caps Retry-After; openai's own retry
            # does neither, so it is off. timeout_s bounds each attempt.
            chat = ChatOpenAI(
                model=model,
                api_key=self._api_key,
                base_url=base_url,
                timeout=timeout_s,
                max_retries=0,
                max_tokens=max_output_tokens,
                temperature=0,
                use_responses_api=False,
            )
            self._structured_model = chat.with_structured_output(
                AccountSummary, method="json_schema", include_raw=True
            )

    @property
    def uses_model(self) -> bool:
        """True when summarize() would send a request to the model."""
        return self._structured_model is not None

    def summarize(self, inp: SummaryInput) -> SummaryRecord:
        """Summarize the account, falling back to the offline summary on any model failure.

        An output that fails the grounding check is regenerated once; a second
        failure gives the offline summary.
        """
        started = time.perf_counter()
        if not self.enabled:
            return self._offline_record(inp, started, reason="model disabled", fallback_used=False)
        if self._structured_model is None:
            return self._offline_record(inp, started, reason="no OPENAI_API_KEY", fallback_used=False)
        budget_note = self._budget_exhausted()
        if budget_note is not None:
            return self._offline_record(inp, started, reason=budget_note, fallback_used=False)

        redactor = Redactor(
            known_names=[inp.customer_name] if inp.customer_name else [], account_ids=[inp.facts.account_id]
        )
        bundle = build_facts_bundle(inp, account_label=redactor.placeholder("ACCOUNT", inp.facts.account_id))
        messages = build_messages(self.prompt, inp, redactor=redactor, bundle=bundle)
        fact_index = FactIndex(bundle)
        sent_reason = redactor.redact(inp.reason_text)
        usage = _Usage()

        problems: list[str] = []
        for _ in range(MAX_GENERATIONS):
            try:
                raw, parsed = self._generate(messages, usage)
            except Exception as exc:
                # The catch is broad on purpose. Besides openai's errors, a malformed
                # response surfaces as ValueError, KeyError, TypeError or a pydantic
                # ValidationError, and none of them may block the approval flow.
                usage.add_from_error(exc)
                return self._failure_record(inp, started, exc, usage=usage)

            problem = check_output(parsed, fact_index, sent_reason)
            usage.grounding_checks += 1
            if problem is None:
                return SummaryRecord(
                    summary=_for_display(parsed, redactor, inp.reason_text),
                    source="openai",
                    model=raw.response_metadata.get("model_name") or self.model,
                    prompt_name=self.prompt.name,
                    prompt_version=self.prompt.version,
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    latency_ms=_elapsed_ms(started),
                    fallback_used=False,
                    fallback_reason=None,
                    grounding_checks=usage.grounding_checks,
                    grounding_failures=usage.grounding_failures,
                )
            usage.grounding_failures += 1
            problems.append(problem)
            logger.warning(
                "account summary for account %s failed the grounding check: %s", inp.facts.account_id, problem
            )

        reason = f"the model's summary failed the grounding check twice ({problems[-1]})"
        return self._failure_record(inp, started, SummaryFailure(reason), usage=usage)

    def _generate(self, messages: list[BaseMessage], usage: _Usage) -> tuple[BaseMessage, AccountSummary]:
        """Call the model with retries and return the raw message and the parsed summary."""
        assert self._structured_model is not None
        result = call_with_retries(
            lambda: self._structured_model.invoke(messages), self.retry_policy, sleep=self._sleep  # type: ignore[union-attr]
        )
        raw: BaseMessage = result["raw"]
        usage.add(raw)
        finish_reason = raw.response_metadata.get("finish_reason")
        if finish_reason == "length":
            raise SummaryFailure(LENGTH_FAILURE)
        parsing_error = result["parsing_error"]
        if parsing_error is not None:
            raise parsing_error
        parsed = result["parsed"]
        if not isinstance(parsed, AccountSummary):
            raise SummaryFailure(f"model returned no summary (parsed is {type(parsed).__name__})")
        return raw, parsed

    def _budget_exhausted(self) -> str | None:
        if self.daily_token_budget is None or self._tokens_used_today is None:
            return None
        used = self._tokens_used_today()
        if used < self.daily_token_budget:
            return None
        return f"daily token budget used up ({used:,} of {self.daily_token_budget:,} tokens today)"

    def _offline_record(
        self,
        inp: SummaryInput,
        started: float,
        *,
        reason: str,
        fallback_used: bool,
        usage: _Usage | None = None,
    ) -> SummaryRecord:
        record = offline_record(inp, reason=reason, fallback_used=fallback_used, model=self.model if fallback_used else None)
        # A failed call still names the requested model. Its token counts are
        # kept when the API returned a response, because a refusal or an
        # unparseable response is billed too.
        return record.model_copy(
            update={
                "input_tokens": usage.input_tokens if usage else None,
                "output_tokens": usage.output_tokens if usage else None,
                "latency_ms": _elapsed_ms(started),
                "grounding_checks": usage.grounding_checks if usage else 0,
                "grounding_failures": usage.grounding_failures if usage else 0,
            }
        )

    def _failure_record(self, inp: SummaryInput, started: float, error: BaseException, *, usage: _Usage) -> SummaryRecord:
        reason = describe_error(error, secret=self._api_key)
        known = isinstance(error, (openai.OpenAIError, ModelRefusalError, ValidationError, SummaryFailure))
        logger.warning(
            "account summary by model %s failed for account %s, using offline summary: %s",
            self.model,
            inp.facts.account_id,
            reason,
            # A traceback helps only for errors other than API failures and invalid output.
            exc_info=None if known else error,
        )
        return self._offline_record(inp, started, reason=reason, fallback_used=True, usage=usage)


class _Usage:
    """Token counts and grounding results summed over the attempts of one summary."""

    def __init__(self) -> None:
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.grounding_checks = 0
        self.grounding_failures = 0

    def add(self, raw: BaseMessage) -> None:
        self._add_counts(*_token_counts(raw))

    def add_from_error(self, error: BaseException) -> None:
        """Count the tokens of a response that openai rejected, such as one cut off at the limit."""
        completion = getattr(error, "completion", None)
        counts = getattr(completion, "usage", None)
        if counts is not None:
            self._add_counts(counts.prompt_tokens, counts.completion_tokens)

    def _add_counts(self, input_tokens: int | None, output_tokens: int | None) -> None:
        if input_tokens is not None:
            self.input_tokens = (self.input_tokens or 0) + input_tokens
        if output_tokens is not None:
            self.output_tokens = (self.output_tokens or 0) + output_tokens


def offline_record(
    inp: SummaryInput, *, reason: str, fallback_used: bool = False, model: str | None = None
) -> SummaryRecord:
    """Return the offline summary as a record, written without a model."""
    return SummaryRecord(
        summary=offline_summary(inp),
        source="offline",
        model=model,
        prompt_name=PROMPT_NAME,
        prompt_version=PROMPT_VERSION,
        input_tokens=None,
        output_tokens=None,
        latency_ms=0,
        fallback_used=fallback_used,
        fallback_reason=reason,
    )


def check_output(summary: AccountSummary, fact_index: FactIndex, sent_reason: str) -> str | None:
    """Return why a model summary cannot be used, or None when it is grounded.

    Every number and date in the headline, narrative and key facts must come
    from the facts bundle, and every signal quote must occur in the reason
    text the model was sent.
    """
    for label, text in (("headline", summary.headline), ("narrative", summary.narrative), *(
        ("key fact", fact) for fact in summary.key_facts
    )):
        result = fact_index.check(text)
        if not result.grounded:
            return f"{label} has figures not in the facts: {', '.join(result.ungrounded)}"
    normalized_reason = _normalize(sent_reason)
    for signal in summary.signals:
        if _normalize(signal.quote) not in normalized_reason:
            return f"the quote for signal {signal.kind} does not occur in the reason text"
    return None


def _normalize(text: str) -> str:
    return " ".join(text.split()).casefold()


def _for_display(summary: AccountSummary, redactor: Redactor, reason_text: str) -> AccountSummary:
    """Restore placeholders and add keyword signals the model did not report.

    Instructions to the model are also found by keyword, so an injection
    attempt is reported even when the model follows it and stays silent.
    """
    signals = [Signal(kind=signal.kind, quote=redactor.restore(signal.quote)) for signal in summary.signals]
    reported = {signal.kind for signal in signals}
    signals.extend(signal for signal in detect_signals(reason_text) if signal.kind not in reported)
    return AccountSummary.model_construct(
        headline=redactor.restore(summary.headline),
        narrative=redactor.restore(summary.narrative),
        key_facts=[redactor.restore(fact) for fact in summary.key_facts],
        signals=signals,
        questions=[redactor.restore(question) for question in summary.questions],
    )


def build_messages(
    prompt: Prompt,
    inp: SummaryInput,
    *,
    redactor: Redactor | None = None,
    bundle: dict[str, Any] | None = None,
) -> list[BaseMessage]:
    """Build the system and user messages: the facts bundle, then the redacted, delimited reason text."""
    redactor = redactor or Redactor(
        known_names=[inp.customer_name] if inp.customer_name else [], account_ids=[inp.facts.account_id]
    )
    if bundle is None:
        bundle = build_facts_bundle(inp, account_label=redactor.placeholder("ACCOUNT", inp.facts.account_id))
    facts_json = json.dumps(bundle, indent=1, sort_keys=False)

    reason = inp.reason_text
    notes = []
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[:MAX_REASON_CHARS]
        notes.append(f"The reason text was cut to its first {MAX_REASON_CHARS:,} characters.")
    if not reason.strip():
        notes.append("No reason text was given.")
    reason = neutralize_markers(redactor.redact(reason))

    user = prompt.render_user(
        facts_json=facts_json,
        reason_open=UNTRUSTED_OPEN,
        reason_text=reason,
        reason_close=UNTRUSTED_CLOSE,
        reason_note=" ".join(notes),
    )
    return [SystemMessage(content=prompt.system), HumanMessage(content=user)]


def describe_error(error: BaseException, *, secret: str | None = None) -> str:
    """Describe a model failure in one short line, with the API key and key-like strings masked."""
    name = _error_name(error)
    if isinstance(error, ModelRefusalError):
        text = f"model refused: {error}"
    elif isinstance(error, SummaryFailure):
        text = str(error)
    elif isinstance(error, openai.LengthFinishReasonError):
        text = LENGTH_FAILURE
    elif isinstance(error, ValidationError):
        # Leave out the input values pydantic would print, because they echo model output.
        problems = []
        for item in error.errors():
            location = ".".join(str(part) for part in item["loc"]) or "output"
            problems.append(f"{location}: {item['msg']}")
        text = f"{name}: model output does not match {error.title}: {'; '.join(problems)}"
    elif isinstance(error, openai.APIStatusError):
        body = error.body if isinstance(error.body, dict) else {}
        message = body.get("message") or error.message
        code = f", code {error.code}" if error.code else ""
        text = f"{name} (HTTP {error.status_code}{code}): {message}"
    else:
        text = f"{name}: {error}"

    if secret:
        text = text.replace(secret, "***")
    text = _KEY_PATTERN.sub("sk-***", text)
    text = " ".join(text.split())
    if len(text) > MAX_FALLBACK_REASON_CHARS:
        text = text[: MAX_FALLBACK_REASON_CHARS - 3] + "..."
    return text


def _error_name(error: BaseException) -> str:
    # langchain-openai re-raises openai's errors as its own subclasses, for
    # example RateLimitError as OpenAIRateLimitError. Report the openai class
    # name, which is the one OpenAI's documentation uses.
    if isinstance(error, openai.OpenAIError):
        for cls in type(error).__mro__:
            if cls.__module__.split(".")[0] == "openai":
                return cls.__name__
    return type(error).__name__


# OpenAI secret keys start with "sk-", and error messages may echo part of one.
_KEY_PATTERN = re.compile(r"sk-[A-Za-z0-9_\-*]{6,}")


def _token_counts(raw: BaseMessage) -> tuple[int | None, int | None]:
    usage = getattr(raw, "usage_metadata", None)
    if not usage:
        return None, None
    return usage.get("input_tokens"), usage.get("output_tokens")


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


# ---------------------------------------------------------------------------
# Offline summary
# ---------------------------------------------------------------------------

# Case-insensitive patterns per signal kind, each anchored at a word start.
# Keyword matching finds the common phrasings and misses paraphrases, which
# only the model path can catch.
SIGNAL_PATTERNS: tuple[tuple[SignalKind, tuple[str, ...]], ...] = (
    (
        "hardship",
        (r"lost (?:my |his |her |their |our )?jobs?", r"unemploy\w*", r"hardship\w*", r"medical", r"illness\w*"),
    ),
    ("dispute", (r"disput\w*", r"wrong invoices?", r"not received")),
    ("bankruptcy", (r"bankrupt\w*", r"chapter (?:7|11)\b", r"insolven\w*")),
    ("legal_representation", (r"attorneys?", r"lawyers?", r"solicitors?", r"counsel\b")),
    ("deceased", (r"deceased", r"passed away", r"died\b")),
    ("instruction_to_model", (r"ignore (?:all )?previous", r"you are now", r"approve this")),
)

_COMPILED_SIGNAL_PATTERNS = tuple(
    (kind, re.compile(r"\b(?:" + "|".join(patterns) + ")", re.IGNORECASE)) for kind, patterns in SIGNAL_PATTERNS
)

# Maximum length of a quote taken around a keyword match, in characters.
MAX_QUOTE_CHARS = 160

# Kinds the approver should hear about before anyone contacts the customer.
_SENSITIVE_KINDS = ("bankruptcy", "legal_representation", "deceased")


def detect_signals(text: str) -> list[Signal]:
    """Find signals in the reason text by keyword, at most one per kind.

    Each quote is the sentence around the first match, copied from the text and
    cut to MAX_QUOTE_CHARS around the match when the sentence is longer.
    """
    signals = []
    for kind, pattern in _COMPILED_SIGNAL_PATTERNS:
        match = pattern.search(text)
        if match:
            signals.append(Signal(kind=kind, quote=_quote_around(text, match.start(), match.end())))
    return signals


def _quote_around(text: str, start: int, end: int) -> str:
    sentence_start = max(text.rfind(mark, 0, start) for mark in ".!?\n") + 1
    ends = [position for position in (text.find(mark, end) for mark in ".!?\n") if position != -1]
    sentence_end = min(ends) if ends else len(text)

    if sentence_end - sentence_start > MAX_QUOTE_CHARS:
        margin = max(0, (MAX_QUOTE_CHARS - (end - start)) // 2)
        sentence_start = max(sentence_start, start - margin)
        sentence_end = min(sentence_end, end + margin)
    return text[sentence_start:sentence_end].strip()


def offline_summary(inp: SummaryInput) -> AccountSummary:
    """Build a summary from the facts and the policy result alone, without a model.

    The output is deterministic for a given input, and the headline starts with
    OFFLINE_MARKER so a reader can tell it apart from a model's summary.
    """
    facts = inp.facts
    signals = detect_signals(inp.reason_text)

    headline = (
        f"{OFFLINE_MARKER}: account {facts.account_id}, open balance {format_money(facts.open_balance)}, "
        f"{format_money(facts.past_due_balance)} past due"
    )
    if len(headline) > MAX_HEADLINE_CHARS:
        headline = headline[: MAX_HEADLINE_CHARS - 3] + "..."

    return AccountSummary(
        headline=headline,
        narrative=_offline_narrative(inp),
        key_facts=_offline_key_facts(inp),
        signals=signals,
        questions=_offline_questions(inp, signals),
    )


def format_money(amount: Decimal) -> str:
    """Format an amount with thousands separators and two decimals, e.g. 1,234.50."""
    return f"{amount:,.2f}"


def _format_share(share: Decimal) -> str:
    return f"{share * 100:.1f}%"


def _offline_narrative(inp: SummaryInput) -> str:
    facts = inp.facts
    sentences = [f"Written from the account facts as of {facts.as_of.isoformat()}, without the language model."]

    if facts.open_invoice_count == 0:
        sentences.append("No invoices are open.")
    else:
        open_text = (
            f"{facts.open_invoice_count} open invoices total {format_money(facts.open_balance)}, "
            f"of which {format_money(facts.past_due_balance)} is past due"
        )
        if facts.oldest_open_days_past_due is not None:
            open_text += f" and the oldest is {facts.oldest_open_days_past_due} days past due"
        sentences.append(open_text + ".")

    if facts.disputed_open_balance > 0:
        sentences.append(
            f"{format_money(facts.disputed_open_balance)} of the open balance is disputed "
            f"({_format_share(facts.disputed_share)})."
        )

    if facts.settled_count == 0 or facts.on_time_share is None:
        sentences.append("No invoices have been settled, so there is no payment history.")
    else:
        sentences.append(
            f"Of {facts.settled_count} settled invoices, {_format_share(facts.on_time_share)} were paid on time, "
            f"{facts.average_days_late} days late on average and at most {facts.max_days_late} days late."
        )

    sentences.append(
        f"The request is {inp.installment_count} installments on a balance of {format_money(inp.balance)} "
        f"after a down payment of {format_money(inp.down_payment)}, first due {inp.first_due_date.isoformat()}."
    )
    route = " then ".join(inp.route) if inp.route else "none"
    eligibility = "eligible" if inp.eligible else "not eligible"
    sentences.append(f"Policy result: {eligibility}, risk grade {inp.risk_grade}, route {route}.")
    return " ".join(sentences)


def _offline_key_facts(inp: SummaryInput) -> list[str]:
    facts = inp.facts
    aging = ", ".join(f"{bucket} {format_money(amount)}" for bucket, amount in facts.aging.items())
    flag_codes = ", ".join(str(flag.get("code", "?")) for flag in inp.flags) or "none"
    on_time = "n/a" if facts.on_time_share is None else _format_share(facts.on_time_share)
    return [
        f"Open balance {format_money(facts.open_balance)} across {facts.open_invoice_count} invoices, "
        f"{format_money(facts.past_due_balance)} past due",
        f"Aging: {aging or 'none'}",
        f"History: {facts.settled_count} of {facts.invoice_count} invoices settled, {on_time} on time",
        f"Disputed: {facts.disputed_count} invoices, {format_money(facts.disputed_open_balance)} of the open balance",
        f"Request: {inp.installment_count} installments, down payment {format_money(inp.down_payment)}, "
        f"first due {inp.first_due_date.isoformat()}",
        f"Policy flags: {flag_codes}",
    ]


def _offline_questions(inp: SummaryInput, signals: list[Signal]) -> list[str]:
    kinds = {signal.kind for signal in signals}
    questions = []

    sensitive = [kind.replace("_", " ") for kind in _SENSITIVE_KINDS if kind in kinds]
    if sensitive:
        questions.append(
            f"The reason mentions {' and '.join(sensitive)}. "
            "Has legal or compliance been told before the customer is contacted?"
        )
    if "instruction_to_model" in kinds:
        questions.append("The reason text contains instructions addressed to an automated reviewer. Who wrote it?")
    if inp.facts.disputed_open_balance > 0:
        questions.append(
            f"Does the plan include the disputed {format_money(inp.facts.disputed_open_balance)}, "
            "or will the dispute be resolved first?"
        )
    if inp.down_payment == 0:
        questions.append("Can the customer make a down payment?")
    return questions[:MAX_QUESTIONS]
