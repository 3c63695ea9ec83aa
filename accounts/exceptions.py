"""Domain errors raised by services anywhere in Herald, mapped to the API error envelope.

Services raise these (or Django's ValidationError for bad input); they know nothing of HTTP. The
API's exception handler (accounts/api/errors.py) turns each into SPEC §4's envelope, the dashboard
into a message, a management command into a CommandError.
"""

from __future__ import annotations


class HeraldError(Exception):
    status_code = 400
    error_type = "invalid_request_error"
    default_code = "invalid"
    default_message = "The request is invalid."

    def __init__(
        self, message: str | None = None, *, code: str | None = None, fields: dict[str, list[str]] | None = None
    ) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.fields = fields or {}
        super().__init__(self.message)


class ConflictError(HeraldError):
    """The object's state does not allow the action (e.g. pausing a finished broadcast)."""

    status_code = 409
    error_type = "conflict"
    default_code = "conflict"
    default_message = "The current state does not allow this action."


class InsufficientCreditError(HeraldError):
    status_code = 402
    error_type = "insufficient_credit"
    default_code = "insufficient_credit"
    default_message = "The wallet does not have enough available credit."


class NotFoundError(HeraldError):
    status_code = 404
    error_type = "not_found"
    default_code = "not_found"
    default_message = "Not found."


class PermissionDeniedError(HeraldError):
    status_code = 403
    error_type = "permission_error"
    default_code = "permission_denied"
    default_message = "You do not have permission to perform this action."


class IdempotencyError(HeraldError):
    status_code = 409
    error_type = "idempotency_error"
    default_code = "idempotency_error"
    default_message = "This Idempotency-Key cannot be used for this request."


def describe_validation_error(exc: object) -> str:
    """One line for a Django ValidationError, for management commands and admin messages."""
    from django.core.exceptions import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)
