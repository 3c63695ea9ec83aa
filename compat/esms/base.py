"""What both eSMS Africa endpoints share (COMPAT.md §4, seed 003): a Herald key as `Authorization:
Bearer`, FastAPI's error bodies — `{"detail": {"code", "message"}}` for a refusal,
`{"detail": [{"loc", "msg", "type"}]}` (422) for a request that does not validate — and money as JSON
numbers written from the exact Decimal. Herald's tenancy, scopes, IP allowlists, rate limits and
Idempotency-Key come from the native base view unchanged."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from accounts.api.authentication import ApiKeyAuthentication
from accounts.api.base import HeraldViewMixin
from accounts.api.inputs import JSONParser
from accounts.exceptions import HeraldError, InsufficientCreditError, NotFoundError
from compat.jsonnum import ExactJSONRenderer

log = structlog.get_logger(__name__)

# Herald's request fields as an eSMS user names them (in `loc`).
FIELD_NAMES = {
    "contact_lists": "contact_list_ids",
    "recipients": "contact_list_ids",  # "give at least one recipient": the lists were empty
    "sender": "sender_id",
}
# Herald's refusals that eSMS documents with a code of its own: (field, Herald code) → (status, eSMS code).
DOCUMENTED = {
    ("text", "text_too_long"): (400, "text_too_long"),
    ("sender", "sender_not_registered"): (403, "sender_id_not_approved"),
    ("text", "stop_mention_missing"): (400, "stop_mention_missing"),
    ("recipients", "no_valid_recipients"): (400, "no_valid_recipients"),
}
MISSING = "value_error.missing"


class EsmsError(exceptions.APIException):
    """`{"detail": {"code": code, "message": message}}` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status_code = status
        self.esms_code = code
        self.esms_message = message
        super().__init__(message)


class EsmsValidationError(exceptions.APIException):
    """FastAPI's RequestValidationError: 422 `{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`."""

    status_code = 422

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        super().__init__(items[0]["msg"] if items else "Invalid request.")


def item(loc: list[str | int], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": kind}


def esms_loc(field: str) -> list[str | int]:
    """`contact_lists.2` → ["contact_list_ids", 2]."""
    parts: list[str | int] = []
    for index, part in enumerate(field.split(".")):
        name = FIELD_NAMES.get(part, part) if index == 0 else part
        parts.append(int(name) if name.isdigit() else name)
    return parts


def _error_type(code: str) -> str:
    return MISSING if code == "required" else f"value_error.{code or 'invalid'}"


def validation_error(exc: DjangoValidationError) -> exceptions.APIException:
    """A refusal of the native create or precheck, as eSMS answers it: a code it documents (or
    Herald's own code for a rule eSMS does not have) in the object shape, any other field error in
    the 422 list shape."""
    if not hasattr(exc, "error_dict"):
        return EsmsValidationError(
            [item([], message, _error_type(str(e.code or ""))) for e in exc.error_list for message in e.messages]
        )
    items: list[dict[str, Any]] = []
    for field, errors in exc.error_dict.items():
        for error in errors:
            code = str(error.code or "invalid")
            documented = DOCUMENTED.get((field.partition(".")[0], code))
            message = " ".join(error.messages)
            if documented is not None:
                return EsmsError(documented[0], documented[1], message)
            items.append(item(esms_loc(field), message, _error_type(code)))
    return EsmsValidationError(items)


def herald_error(exc: HeraldError) -> EsmsError:
    if isinstance(exc, InsufficientCreditError):
        return EsmsError(422, "insufficient_balance", exc.message)
    if isinstance(exc, NotFoundError) and exc.code == "contact_list_not_found":
        return EsmsError(400, "invalid_list", exc.message)
    return EsmsError(exc.status_code, exc.code, exc.message)


def _drf_validation(exc: exceptions.ValidationError) -> EsmsValidationError:
    """The Idempotency-Key header's own check, or a NUL in the body."""
    detail = exc.detail
    items: list[dict[str, Any]] = []
    if isinstance(detail, Mapping):
        for name, messages in detail.items():
            for message in messages if isinstance(messages, list) else [messages]:
                code = getattr(message, "code", "invalid")
                if name == "Idempotency-Key":
                    items.append({"loc": ["header", name], "msg": str(message), "type": f"value_error.{code}"})
                else:
                    items.append(item(esms_loc(str(name)), str(message), f"value_error.{code}"))
    return EsmsValidationError(items or [item([], str(detail), "value_error.invalid")])


def esms_error(exc: Exception) -> tuple[int, Any, dict[str, str]]:
    """(status, body, headers) of any exception, in eSMS's (FastAPI's) shapes."""
    headers: dict[str, str] = {}
    if isinstance(exc, DjangoValidationError):
        exc = validation_error(exc)
    elif isinstance(exc, HeraldError):
        exc = herald_error(exc)
    elif isinstance(exc, Http404):
        exc = EsmsError(404, "not_found", "Not found.")
    elif isinstance(exc, RequestDataTooBig):
        exc = EsmsError(413, "request_too_large", "The request body is too large.")
    elif isinstance(exc, exceptions.ValidationError):
        exc = _drf_validation(exc)
    if isinstance(exc, EsmsError):
        return exc.status_code, {"detail": {"code": exc.esms_code, "message": exc.esms_message}}, headers
    if isinstance(exc, EsmsValidationError):
        return 422, {"detail": exc.items}, headers
    if not isinstance(exc, exceptions.APIException):
        log.exception("compat.esms.unhandled_exception", exc_type=type(exc).__name__)
        return 500, {"detail": {"code": "internal_error", "message": "Internal server error."}}, headers
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        headers["WWW-Authenticate"] = "Bearer"
        message = str(exc.detail) if isinstance(exc, exceptions.AuthenticationFailed) else "Missing API key."
        return 401, {"detail": {"code": "invalid_api_key", "message": message}}, headers
    if isinstance(exc, exceptions.Throttled):
        wait = max(1, math.ceil(getattr(exc, "wait", None) or 1))
        headers["Retry-After"] = str(wait)
        message = f"Rate limit exceeded; retry after {wait} seconds."
        return 429, {"detail": {"code": "rate_limit_exceeded", "message": message}}, headers
    if isinstance(exc, exceptions.ParseError):
        return 422, {"detail": [item([], str(exc.detail), "value_error.jsondecode")]}, headers
    if isinstance(exc, exceptions.MethodNotAllowed):
        return 405, {"detail": "Method Not Allowed"}, headers  # FastAPI's own words
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.default_detail)
    if isinstance(exc, exceptions.PermissionDenied):
        code = exc.get_codes()
        code = "insufficient_scope" if code == "missing_scope" else str(code)
        return 403, {"detail": {"code": code, "message": detail}}, headers
    return exc.status_code, {"detail": {"code": str(exc.default_code), "message": detail}}, headers


def esms_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    status, body, headers = esms_error(exc)
    set_rollback()
    return Response(body, status=status, headers=headers)


class AnyJSONParser(JSONParser):
    """The body is read as JSON whatever its Content-Type says, as FastAPI reads a JSON body."""

    media_type = "*/*"


class EsmsAuthentication(ApiKeyAuthentication):
    def authenticate_header(self, request: Request) -> str:
        return "Bearer"  # a 401, as eSMS answers a missing or bad key (not DRF's 403)


class EsmsView(HeraldViewMixin, APIView):
    """Base of both endpoints: sending SMS needs the key's `send_sms` scope."""

    authentication_classes = [EsmsAuthentication]
    parser_classes = [AnyJSONParser]
    renderer_classes = [ExactJSONRenderer]
    schema = None  # left out of /api/schema/ (SPEC §14)
    write_scope = "send_sms"

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response]:
        return esms_exception_handler

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        renderer = ExactJSONRenderer()  # JSON whatever the Accept header says
        return renderer, renderer.media_type
