"""Signed agreement links for the customer page.

A token names the agreement, the revision it was issued for and its expiry.
It is signed with ``PAYPLAN_PORTAL_SECRET``; expiry is checked against the
workflow's clock, so a replayed history expires links on its own dates.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from itsdangerous import BadSignature, URLSafeSerializer

from bot.errors import AgreementLinkError


@dataclass(frozen=True)
class LinkClaims:
    agreement_id: int
    revision_id: int
    expires_at: datetime


class LinkSigner:
    def __init__(self, secret: str, public_url: str) -> None:
        if not secret:
            raise ValueError("the agreement link secret is empty; set PAYPLAN_PORTAL_SECRET")
        self._serializer = URLSafeSerializer(secret, salt="payplan-agreement")
        self._secret = secret.encode()
        self._public_url = public_url.rstrip("/")

    def token(self, claims: LinkClaims) -> str:
        payload = {"a": claims.agreement_id, "r": claims.revision_id, "e": claims.expires_at.isoformat()}
        return self._serializer.dumps(payload)

    def url(self, claims: LinkClaims) -> str:
        return f"{self._public_url}/agreements/{self.token(claims)}"

    def read(self, token: str) -> LinkClaims:
        """Return the claims of a genuine token; raise AgreementLinkError for any other."""
        try:
            payload = self._serializer.loads(token)
            return LinkClaims(int(payload["a"]), int(payload["r"]), datetime.fromisoformat(payload["e"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            raise AgreementLinkError(
                "This agreement link is not valid. Ask your account manager for a new link."
            ) from None

    def form_token(self, token: str) -> str:
        """Return the anti-forgery value the acceptance form must send back with ``token``."""
        return hmac.new(self._secret, f"form:{token}".encode(), hashlib.sha256).hexdigest()

    def check_form_token(self, token: str, value: str) -> bool:
        return hmac.compare_digest(self.form_token(token), value)
