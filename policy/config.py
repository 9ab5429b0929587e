"""The policy file: a YAML document validated into pydantic models.

Parsing takes an already-loaded mapping so that this package stays free of
I/O; ``bot.config`` reads the file.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

NonNegativeMoney = Annotated[Decimal, Field(ge=0, decimal_places=2)]
Share = Annotated[Decimal, Field(ge=0, le=1)]

ROUNDING_MODES = {"half_up": ROUND_HALF_UP}


class PolicyError(ValueError):
    """Raised when a policy document is invalid; the message lists every problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EligibilityRules(_Strict):
    min_balance: NonNegativeMoney
    max_balance: NonNegativeMoney
    max_disputed_share: Share
    allow_second_open_plan: bool = False

    @model_validator(mode="after")
    def _bounds_in_order(self) -> EligibilityRules:
        if self.min_balance > self.max_balance:
            raise ValueError(f"min_balance {self.min_balance} is above max_balance {self.max_balance}")
        return self


class Tier(_Strict):
    """One approval tier: who may approve plans up to these limits."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    max_balance: NonNegativeMoney
    max_installments: int = Field(ge=1)


class LegalReview(_Strict):
    tier: Tier
    balance_above: NonNegativeMoney


class ScheduleRules(_Strict):
    max_installments: int = Field(ge=1, le=120)
    max_first_due_days: int = Field(ge=0, le=365)
    rounding: Literal["half_up"] = "half_up"


class RiskRules(_Strict):
    """Thresholds for the A–E grade; each grade needs every figure at or better than its row."""

    # grade -> (minimum on-time share, maximum average days late)
    grades: dict[Literal["A", "B", "C", "D"], tuple[Share, Decimal]]


class Policy(_Strict):
    version: str = Field(min_length=1)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    eligibility: EligibilityRules
    tiers: list[Tier] = Field(min_length=1)
    legal_review: LegalReview
    schedule: ScheduleRules
    risk: RiskRules

    @field_validator("tiers")
    @classmethod
    def _tiers_ascending(cls, tiers: list[Tier]) -> list[Tier]:
        names = [tier.name for tier in tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique, got {names}")
        for lower, upper in zip(tiers, tiers[1:]):
            if upper.max_balance < lower.max_balance or upper.max_installments < lower.max_installments:
                raise ValueError(
                    f"tier {upper.name} must allow at least what {lower.name} allows "
                    "(tiers are listed from lowest to highest authority)"
                )
        return tiers

    @property
    def rounding_mode(self) -> str:
        return ROUNDING_MODES[self.schedule.rounding]

    def tier(self, name: str) -> Tier:
        """Return the tier called ``name``, including the legal review tier."""
        for tier in [*self.tiers, self.legal_review.tier]:
            if tier.name == name:
                return tier
        raise KeyError(f"unknown tier {name!r}; tiers are {self.tier_names()}")

    def tier_names(self) -> list[str]:
        return [tier.name for tier in self.tiers] + [self.legal_review.tier.name]


def parse_policy(document: Any) -> Policy:
    """Validate a loaded YAML document into a :class:`Policy`.

    Raises :class:`PolicyError` listing each problem with its path in the
    document, the bad value and what is allowed.
    """
    if not isinstance(document, dict):
        raise PolicyError(f"policy must be a mapping at the top level, got {type(document).__name__}")
    try:
        return Policy.model_validate(document)
    except ValidationError as error:
        lines = []
        for problem in error.errors():
            path = ".".join(str(part) for part in problem["loc"]) or "(top level)"
            lines.append(f"{path}: {problem['msg']} (got {problem.get('input')!r})")
        raise PolicyError("invalid policy:\n  " + "\n  ".join(lines)) from None
