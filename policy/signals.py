"""Signals found in free text, and the scrutiny each one adds to an assessment.

A signal is a circumstance the reason text mentions: a bankruptcy, a lawyer, a
death, text addressed to the summary model. The summary agent and a keyword
scan find signals; this module decides what each means for the request: the
flag it raises, that flag's severity, and whether the legal and compliance
tier joins the route.

Signals only ever add. :func:`apply_signals` returns flags and route steps to
append, never a removal, and never a blocking flag, so no text in a request
can change eligibility, drop a flag or shorten the route.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

SignalKind = Literal[
    "hardship",
    "dispute",
    "bankruptcy",
    "legal_representation",
    "deceased",
    "vulnerable_customer",
    "possible_fraud",
    "instruction_to_model",
]

# Flag severities shared with the assessment's own flags. A signal never
# raises a "blocker", because free text must not decide eligibility.
SignalSeverity = Literal["deviation", "info"]


@dataclass(frozen=True)
class SignalRule:
    """The flag and route change one kind of signal adds to an assessment."""

    kind: SignalKind
    flag_code: str
    severity: SignalSeverity
    message: str
    # True when the legal and compliance tier must join the route.
    adds_legal_review: bool


SIGNAL_RULES: Mapping[str, SignalRule] = {
    rule.kind: rule
    for rule in (
        SignalRule("hardship", "signal_hardship", "info", "the reason text mentions financial hardship", False),
        SignalRule("dispute", "signal_dispute", "info", "the reason text mentions a dispute", False),
        SignalRule(
            "bankruptcy", "signal_bankruptcy", "deviation", "the reason text mentions bankruptcy or insolvency", True
        ),
        SignalRule(
            "legal_representation",
            "signal_legal_representation",
            "deviation",
            "the reason text says the customer has legal representation",
            True,
        ),
        SignalRule("deceased", "signal_deceased", "deviation", "the reason text says the customer has died", True),
        # Consumer protection rules (for example the UK FCA's CONC 7) expect
        # vulnerable customers to get a compliance review.
        SignalRule(
            "vulnerable_customer",
            "signal_vulnerable_customer",
            "deviation",
            "the reason text describes a vulnerable customer",
            True,
        ),
        SignalRule(
            "possible_fraud", "signal_possible_fraud", "deviation", "the reason text suggests possible fraud", False
        ),
        SignalRule(
            "instruction_to_model",
            "signal_instruction_to_model",
            "deviation",
            "the reason text contains instructions addressed to the summary model; review who wrote it",
            False,
        ),
    )
}

SIGNAL_KINDS: tuple[str, ...] = tuple(SIGNAL_RULES)


class SignalLike(Protocol):
    """A found signal: its kind and the words quoted from the text."""

    @property
    def kind(self) -> str: ...

    @property
    def quote(self) -> str: ...


class AssessmentLike(Protocol):
    """The parts of an assessment result that signals are applied to."""

    @property
    def eligible(self) -> bool: ...

    @property
    def flags(self) -> Sequence[Any]: ...

    @property
    def route(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class SignalFlag:
    """A flag raised by a signal, with the quote that supports it."""

    code: str
    message: str
    severity: SignalSeverity
    kind: str
    quote: str

    def to_dict(self) -> dict[str, object]:
        """Return the flag in the shape stored with the assessment's own flags."""
        return {
            "code": self.code,
            "message": self.message,
            "limit": "no such mention",
            "actual": self.quote,
            "blocking": False,
            "severity": self.severity,
            "source": "signal",
        }


@dataclass(frozen=True)
class SignalEffect:
    """The flags and route steps that signals append to an assessment."""

    added_flags: tuple[SignalFlag, ...] = ()
    added_route: tuple[str, ...] = ()

    def route_after(self, route: Sequence[str]) -> list[str]:
        """Return ``route`` with the added steps appended."""
        return [*route, *self.added_route]


def apply_signals(assessment: AssessmentLike, signals: Iterable[SignalLike], *, legal_tier: str) -> SignalEffect:
    """Work out the flags and route steps that ``signals`` add to ``assessment``.

    A flag already present (by code) is not added twice, and the first quote
    of each kind is kept. The legal tier is added only to an eligible
    assessment's route, because an ineligible request has no route. Raises
    ValueError for a signal kind that has no rule.
    """
    present_codes = {_flag_code(flag) for flag in assessment.flags}
    added_flags: list[SignalFlag] = []
    needs_legal_review = False

    for signal in signals:
        rule = SIGNAL_RULES.get(signal.kind)
        if rule is None:
            raise ValueError(f"unknown signal kind {signal.kind!r}; known kinds are {', '.join(SIGNAL_KINDS)}")
        needs_legal_review = needs_legal_review or rule.adds_legal_review
        if rule.flag_code in present_codes:
            continue
        present_codes.add(rule.flag_code)
        added_flags.append(SignalFlag(rule.flag_code, rule.message, rule.severity, rule.kind, signal.quote))

    added_route: tuple[str, ...] = ()
    if needs_legal_review and assessment.eligible and legal_tier not in assessment.route:
        added_route = (legal_tier,)
    return SignalEffect(tuple(added_flags), added_route)


def _flag_code(flag: Any) -> str:
    if isinstance(flag, Mapping):
        return str(flag["code"])
    return str(flag.code)
