"""What both Octopush endpoints share (COMPAT.md §3.1): the `api-key` + `api-login` headers, the
`{"code": N, "message": "..."}` error body with Octopush's numeric codes, JSON numbers written from
the exact Decimal, and an integer `Retry-After`. Herald's tenancy, scopes, IP allowlists, rate
limits and Idempotency-Key come from the native base view unchanged."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from accounts.api.authentication import ApiKeyAuthentication
from accounts.api.base import HeraldViewMixin
from accounts.api.principal import Principal
from accounts.exceptions import HeraldError, IdempotencyError
from compat.jsonnum import ExactJSONRenderer

log = structlog.get_logger(__name__)

# Octopush's return codes (dev.octopush.com "return-codes"; the legacy `octopush` package's ERRORS).
LOGIN_INCORRECT = 101
NO_RECIPIENTS = 103
NO_CREDIT = 104
BAD_SENDER = 106
NO_TEXT = 107
NO_LOGIN = 108
NO_RECIPIENT_LIST = 110
SUSPENDED = 113
NO_VALID_NUMBER = 117
DUPLICATE_REQUEST = 120
STOP_MISSING = 121
UNDEFINED = 125
NO_COUNTRY = 150
COUNTRY_NOT_SERVED = 151
LOW_COST_UNAVAILABLE = 152
TOO_MANY_REQUESTS = 429

MESSAGES = {
    LOGIN_INCORRECT: "Incorrect login details.",
    NO_RECIPIENTS: "Your message has no recipients.",
    NO_CREDIT: "You have run out of credit.",
    BAD_SENDER: "You have entered the Sender incorrectly.",
    NO_TEXT: "The text of your message is missing.",
    NO_LOGIN: "You have not entered your login details.",
    NO_RECIPIENT_LIST: "You have not entered the list of recipient.",
    SUSPENDED: "Your account is not validated.",
    NO_VALID_NUMBER: "Your recipient list contains no correct numbers. "
    "Have you formatted your numbers by including the international dialling code?",
    DUPLICATE_REQUEST: "A SMS with the same request_id has already been sent.",
    STOP_MISSING: "Mention STOP is missing.",
    UNDEFINED: "An undefined error has occurred.",
    NO_COUNTRY: "No country was found for this prefix.",
    COUNTRY_NOT_SERVED: "The recipient country is not part of the countries serviced by Herald.",
    LOW_COST_UNAVAILABLE: "Low cost SMS are not available for the recipient country; send sms_premium.",
    TOO_MANY_REQUESTS: "Too many requests.",
}


class OctopushError(exceptions.APIException):
    """An answer in Octopush's shape: `{"code": code, "message": ...}` with an HTTP status. The
    message is the code's own words, then Herald's `detail` (or the detail alone, when the code's
    words would not fit it: code 107 for a text that is there but too long)."""

    def __init__(self, code: int, detail: str = "", *, status: int = 400, alone: bool = False) -> None:
        message = MESSAGES.get(code, MESSAGES[UNDEFINED])
        self.octopush_code = code
        if detail and alone:
            message = detail
        elif detail and detail != message:
            message = f"{message} {detail}"
        self.octopush_message = message
        self.status_code = status
        super().__init__(self.octopush_message)


class OctopushAuthentication(ApiKeyAuthentication):
    """A Herald API key in `api-key`, the client's id in `api-login`. Either missing: 401 code 108;
    a bad key or a login of another client: 401 code 101."""

    def authenticate(self, request: Request) -> tuple[Principal, Any] | None:
        raw, login = request.headers.get("api-key", "").strip(), request.headers.get("api-login", "").strip()
        if not raw or not login:
            return None  # the permission check answers NotAuthenticated: code 108
        try:
            client_id = uuid.UUID(login)
        except ValueError:
            raise exceptions.AuthenticationFailed("Incorrect login details.", code="login_mismatch") from None
        return self.authenticate_key(raw, client_id=client_id)

    def authenticate_header(self, request: Request) -> str:
        return ""  # Octopush sends no challenge


def _field_error(exc: DjangoValidationError) -> tuple[str, str, str]:
    """(field, code, message) of the first error Herald reported."""
    if hasattr(exc, "error_dict"):
        field, errors = next(iter(exc.error_dict.items()))
        first = errors[0]
        return field, str(first.code or "invalid"), " ".join(first.messages)
    first = exc.error_list[0]
    return "", str(first.code or "invalid"), " ".join(first.messages)


# Herald's request fields as an Octopush user named them.
FIELD_NAMES = {
    "recipient_variables": "recipients",
    "scheduled_at": "send_at",
    "tier": "type",
    "optimize_text": "auto_optimize_text",
    "simulate": "simulation_mode",
    "track_links": "recipient_tracking",
    "skip_opted_out": "auto_delete_optout_contacts",
}


def octopush_field(field: str) -> str:
    head, dot, rest = field.partition(".")
    return FIELD_NAMES.get(head, head) + dot + rest


def validation_error(exc: DjangoValidationError) -> OctopushError:
    """A refusal of the native create, as Octopush would name it (`no_valid_recipients` is refined
    by the send view, which can look at the recipients)."""
    field, code, message = _field_error(exc)
    name = octopush_field(field)
    detail = f"{name}: {message}" if name and not message.startswith(name) else message
    head = field.partition(".")[0]
    if code == "stop_mention_missing":
        return OctopushError(STOP_MISSING)
    if head in ("text", "template"):
        if code in ("required", "blank", "template_or_text"):
            return OctopushError(NO_TEXT)
        return OctopushError(NO_TEXT, detail, alone=True)
    if head == "sender":
        return OctopushError(BAD_SENDER, detail)
    if head in ("recipients", "recipient_variables"):
        if code == "no_valid_recipients":
            return OctopushError(NO_VALID_NUMBER)
        return OctopushError(NO_RECIPIENTS, detail)
    return OctopushError(UNDEFINED, detail)


def herald_error(exc: HeraldError) -> OctopushError:
    """Herald's refusals are Octopush's 400s (a taken list name, a 402…), except a forbidden or
    unknown object and an Idempotency-Key conflict, which keep their status."""
    if exc.code in ("insufficient_credit", "no_wallet"):
        return OctopushError(NO_CREDIT, exc.message)
    if exc.status_code in (403, 404) or isinstance(exc, IdempotencyError):
        return OctopushError(UNDEFINED, exc.message, status=exc.status_code)
    return OctopushError(UNDEFINED, exc.message)


def octopush_error(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) of any exception, in Octopush's shape."""
    headers: dict[str, str] = {}
    if isinstance(exc, DjangoValidationError):
        exc = validation_error(exc)
    elif isinstance(exc, HeraldError):
        exc = herald_error(exc)
    if isinstance(exc, OctopushError):
        return exc.status_code, {"code": exc.octopush_code, "message": exc.octopush_message}, headers
    if not isinstance(exc, exceptions.APIException):
        log.exception("compat.octopush.unhandled_exception", exc_type=type(exc).__name__)
        return 500, {"code": UNDEFINED, "message": MESSAGES[UNDEFINED]}, headers
    if isinstance(exc, exceptions.NotAuthenticated):
        return 401, {"code": NO_LOGIN, "message": MESSAGES[NO_LOGIN]}, headers
    if isinstance(exc, exceptions.AuthenticationFailed):
        return 401, {"code": LOGIN_INCORRECT, "message": MESSAGES[LOGIN_INCORRECT]}, headers
    if isinstance(exc, exceptions.Throttled):
        wait = max(1, math.ceil(getattr(exc, "wait", None) or 1))
        headers["Retry-After"] = str(wait)
        return 429, {"code": TOO_MANY_REQUESTS, "message": MESSAGES[TOO_MANY_REQUESTS]}, headers
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.default_detail)
    if isinstance(exc, exceptions.PermissionDenied):
        if exc.get_codes() == "client_suspended":
            return 403, {"code": SUSPENDED, "message": f"{MESSAGES[SUSPENDED]} {detail}"}, headers
        return 403, {"code": UNDEFINED, "message": detail}, headers
    if isinstance(exc, exceptions.ValidationError):  # the Idempotency-Key header's own check
        return 400, {"code": UNDEFINED, "message": str(exc.detail)}, headers
    return exc.status_code, {"code": UNDEFINED, "message": detail}, headers


def octopush_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    status, body, headers = octopush_error(exc)
    set_rollback()
    return Response(body, status=status, headers=headers)


class OctopushView(HeraldViewMixin, APIView):
    """Base of both endpoints. Subclasses set `write_scope` / `read_scope` and `throttle_scope`."""

    authentication_classes = [OctopushAuthentication]
    parser_classes = [JSONParser]
    renderer_classes = [ExactJSONRenderer]
    schema = None  # left out of /api/schema/ (SPEC §14)

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response]:
        return octopush_exception_handler

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        renderer = ExactJSONRenderer()  # JSON whatever the Accept header says, as Octopush answers
        return renderer, renderer.media_type


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any other path under /octopush/v1/public/ (Herald emulates two endpoints)."""
    return JsonResponse(
        {"code": UNDEFINED, "message": "This endpoint does not exist in Herald's Octopush API."}, status=404
    )
