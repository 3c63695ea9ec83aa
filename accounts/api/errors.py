"""SPEC §4's error envelope for every error the API can answer, including Django's own.

`{"error": {"type": ..., "code": ..., "message": ..., "fields": {name: [messages]}}}`
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views import csrf, defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import set_rollback

from accounts.exceptions import HeraldError

log = structlog.get_logger(__name__)

TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_credit",
    403: "permission_error",
    404: "not_found",
    405: "invalid_request_error",
    406: "invalid_request_error",
    409: "conflict",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}
NON_FIELD = "non_field_errors"
API_PREFIXES = ("/api/", "/hooks/")


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class MalformedRequest(exceptions.APIException):
    """A request Django refuses to parse (too many form fields or files, and the like): 400, not 500."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "The request is malformed."
    default_code = "bad_request"


def error_body(
    error_type: str, code: str, message: str, fields: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    return {"error": {"type": error_type, "code": code, "message": message, "fields": dict(fields or {})}}


def _flatten(detail: Any, prefix: str, out: dict[str, list[Any]]) -> None:
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            name = str(key) if not prefix else (prefix if key == NON_FIELD else f"{prefix}.{key}")
            _flatten(value, name, out)
    elif isinstance(detail, list):
        if all(not isinstance(item, Mapping | list) for item in detail):
            out.setdefault(prefix or NON_FIELD, []).extend(detail)
        else:
            for index, item in enumerate(detail):
                if item:  # many=True serializers put {} for the valid items
                    _flatten(item, f"{prefix}.{index}" if prefix else str(index), out)
    else:
        out.setdefault(prefix or NON_FIELD, []).append(detail)


def validation_envelope(detail: Any) -> dict[str, Any]:
    flat: dict[str, list[Any]] = {}
    _flatten(detail, "", flat)
    items = [(name, error) for name, errors in flat.items() for error in errors]
    if not items:
        return error_body("invalid_request_error", "invalid", "The request is invalid.")
    first_name, first = items[0]
    code = getattr(first, "code", None) or "invalid"
    message = str(first) if first_name == NON_FIELD else f"{first_name}: {first}"
    if len(items) > 1:
        message += f" (and {len(items) - 1} more error{'s' if len(items) > 2 else ''}; see fields)"
    fields = {name: [str(e) for e in errors] for name, errors in flat.items() if name != NON_FIELD}
    return error_body("invalid_request_error", str(code), message, fields)


def _normalize(exc: Exception) -> Exception:
    if isinstance(exc, DjangoValidationError):
        return exceptions.ValidationError(detail=as_serializer_error(exc))
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, TooManyFieldsSent):
        return MalformedRequest("The request has too many form fields.", code="too_many_fields")
    if isinstance(exc, TooManyFilesSent):
        return MalformedRequest("The request has too many files.", code="too_many_files")
    if isinstance(exc, SuspiciousOperation):
        return MalformedRequest()
    return exc


def build_error(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) of the envelope for any exception."""
    exc = _normalize(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, HeraldError):
        return exc.status_code, error_body(exc.error_type, exc.code, exc.message, exc.fields), headers
    if not isinstance(exc, exceptions.APIException):
        log.exception("api.unhandled_exception", exc_type=type(exc).__name__)
        return 500, error_body("api_error", "internal_error", "Something went wrong on our side."), headers
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        headers["Retry-After"] = str(max(1, math.ceil(wait)))
    if isinstance(exc, exceptions.ValidationError):
        return exc.status_code, validation_envelope(exc.detail), headers
    detail = exc.detail
    code = getattr(detail, "code", None) or exc.default_code
    if isinstance(exc, exceptions.Throttled):
        retry = headers.get("Retry-After")
        message = f"Too many requests; retry after {retry} seconds." if retry else "Too many requests."
    else:
        message = str(detail) if not isinstance(detail, list | dict) else str(exc.default_detail)
    if isinstance(exc, exceptions.ParseError):
        code = "parse_error"
    error_type = TYPE_BY_STATUS.get(exc.status_code, "api_error" if exc.status_code >= 500 else "invalid_request_error")
    return exc.status_code, error_body(error_type, str(code), message), headers


def herald_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    status_code, body, headers = build_error(exc)
    set_rollback()
    return Response(body, status=status_code, headers=headers)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def json_error(status_code: int, code: str, message: str) -> JsonResponse:
    error_type = TYPE_BY_STATUS.get(status_code, "api_error")
    return JsonResponse(error_body(error_type, code, message), status=status_code)


# Django-level handlers: errors raised outside DRF views (unknown URLs, middleware failures).
def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return json_error(400, "bad_request", "The request is malformed.")
    return defaults.bad_request(request, exception)  # type: ignore[arg-type]


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return json_error(403, "permission_denied", "You do not have permission to perform this action.")
    return defaults.permission_denied(request, exception)  # type: ignore[arg-type]


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return json_error(404, "not_found", "Not found.")
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path):
        return json_error(500, "internal_error", "Something went wrong on our side.")
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the envelope under /api/ (DRF's views check CSRF themselves, for sessions
    only; this catches any other view there), Django's page elsewhere."""
    if is_api_path(request.path):
        return json_error(403, "csrf_failed", f"CSRF check failed: {reason}" if reason else "CSRF check failed.")
    return csrf.csrf_failure(request, reason)


@csrf_exempt  # there is nothing here to protect, and a CSRF refusal would hide the 404 (any method)
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Catch-all for unknown /api/ URLs, so they answer the envelope even with DEBUG on."""
    message = f"No endpoint at {request.path}."
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            message = f"No endpoint at {request.path}; did you mean {request.path}/ (with the trailing slash)?"
    return json_error(404, "not_found", message)


class JsonErrorsMixin:
    """For DRF views whose own renderer is not JSON (the OpenAPI schema, Swagger UI): their errors
    (405 on another method, 406, …) still answer the JSON envelope, not YAML or HTML."""

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
