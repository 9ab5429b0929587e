"""Errors the workflow raises, each with a code and a message fit for users."""

from __future__ import annotations


class PayplanError(Exception):
    """Base error: ``code`` is stable for logs and tests, ``user_message`` is shown to people."""

    code = "payplan_error"

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message


class NotFound(PayplanError):
    code = "not_found"


class PermissionDenied(PayplanError):
    code = "permission_denied"


class AlreadyDecided(PayplanError):
    code = "already_decided"


class InvalidInput(PayplanError):
    """Input that cannot be used; ``field_errors`` maps a form field to its problem."""

    code = "invalid_input"

    def __init__(self, user_message: str, field_errors: dict[str, str] | None = None) -> None:
        super().__init__(user_message)
        self.field_errors = field_errors or {}


class OpenRequestExists(InvalidInput):
    """The account already has an open request; ``request_id`` is that request."""

    code = "open_request_exists"

    def __init__(self, account_id: str, request_id: int) -> None:
        message = f"Account {account_id} already has open request {request_id}; decide or withdraw it before opening another."
        super().__init__(message, {"account": message})
        self.account_id = account_id
        self.request_id = request_id


class AgreementLinkError(PayplanError):
    code = "agreement_link_invalid"


class IntegrityMismatch(PayplanError):
    code = "integrity_mismatch"
