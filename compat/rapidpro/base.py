"""What every RapidPro v2 endpoint shares (COMPAT.md §2.2): `Token` keys answered with 403 when
wrong, DRF's own error shapes (never Herald's envelope), 250-a-page cursor pages with absolute
`next` URLs, RapidPro's datetime format, and its query-parameter rules. Herald's tenancy, scopes,
IP allowlists, rate limits and Idempotency-Key come from the native base view unchanged."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from accounts.api.authentication import ApiKeyAuthentication
from accounts.api.base import HeraldViewMixin
from accounts.api.errors import PayloadTooLarge, _normalize
from accounts.api.pagination import HeraldCursorPagination
from accounts.api.throttles import API, COMPAT_SEND
from accounts.exceptions import HeraldError

log = structlog.get_logger(__name__)

NON_FIELD = "non_field_errors"
PAGE_SIZE = 250
MAX_ITEMS = 100  # RapidPro's limit on the items of a list field (urns, contacts, groups, fields)
TRUE_VALUES = frozenset({"true", "y", "yes", "1"})


class TokenAuthentication(ApiKeyAuthentication):
    """A Herald API key as `Authorization: Token <key>` (RapidPro's scheme) or `Bearer <key>`. No
    `WWW-Authenticate` challenge: like RapidPro, a bad or missing key is a 403."""

    schemes = (b"token", b"bearer")

    def authenticate_header(self, request: Request) -> str:
        return ""


class BadQuery(exceptions.APIException):
    """A query parameter RapidPro refuses: 400 `{"detail": …}`."""

    status_code = 400
    default_detail = "Invalid query."


def _detail(exc: exceptions.APIException) -> Any:
    detail = exc.detail
    return detail if isinstance(detail, dict | list) else {"detail": str(detail)}


def rapidpro_error(exc: Exception) -> tuple[int, Any, dict[str, str]]:
    """(status, body, headers) in DRF's shapes, as RapidPro answers them. Herald's own refusals
    (402 insufficient credit, 409 conflicts, rule violations) are 400s with their message, so that
    the client shows it (it turns anything but 400/403/404/429 into a bare HTTP error)."""
    headers: dict[str, str] = {}
    exc = _normalize(exc)  # Django's own exceptions as DRF's
    if isinstance(exc, HeraldError):
        if exc.status_code == 404:
            return 404, {"detail": "Not found."}, headers
        if exc.status_code in (401, 403):
            return 403, {"detail": exc.message}, headers
        if exc.fields:
            return 400, {name: list(messages) for name, messages in exc.fields.items()}, headers
        return 400, {NON_FIELD: [exc.message]}, headers
    if not isinstance(exc, exceptions.APIException):
        log.exception("compat.unhandled_exception", exc_type=type(exc).__name__)
        return 500, {"detail": "Server error."}, headers
    if isinstance(exc, exceptions.Throttled):
        wait = max(1, math.ceil(getattr(exc, "wait", None) or 1))
        headers["Retry-After"] = str(wait)
        return 429, {"detail": f"Request was throttled. Expected available in {wait} seconds."}, headers
    if isinstance(exc, exceptions.NotAuthenticated):
        return 403, {"detail": "Authentication credentials were not provided."}, headers
    if isinstance(exc, exceptions.AuthenticationFailed):
        return 403, {"detail": str(exc.detail)}, headers
    if isinstance(exc, exceptions.PermissionDenied) and exc.get_codes() == "missing_scope":
        # RapidPro's words (the client reports any 403 as a token error).
        return 403, {"detail": "You do not have permission to perform this action."}, headers
    if isinstance(exc, exceptions.NotFound):
        return 404, {"detail": "Not found."}, headers
    if isinstance(exc, PayloadTooLarge):
        return 413, {"detail": str(exc.detail)}, headers
    return exc.status_code, _detail(exc), headers


def rapidpro_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    status, body, headers = rapidpro_error(exc)
    set_rollback()
    return Response(body, status=status, headers=headers)


class RapidProPagination(CursorPagination):
    """DRF's cursor pages as RapidPro serves them: 250 a page, no size parameter, `cursor`, and
    absolute `next`/`previous` URLs that keep every filter (the client follows `next` verbatim)."""

    page_size = PAGE_SIZE
    page_size_query_param = None
    offset_cutoff = HeraldCursorPagination.offset_cutoff  # see there: rows sharing a timestamp
    cursor_query_param = "cursor"
    ordering: Any = ("-created_at", "-pk")


class RapidProView(HeraldViewMixin, APIView):
    """Base of every RapidPro endpoint. Subclasses set `write_scope` (or `required_scope`) and
    `send_methods` (the methods that create broadcasts: COMPAT_SEND_RATE_LIMIT)."""

    authentication_classes = [TokenAuthentication]
    schema = None  # left out of /api/schema/ (SPEC §14)
    send_methods: frozenset[str] = frozenset()
    ordering: tuple[str, ...] = ("-created_at", "-pk")

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response]:
        return rapidpro_exception_handler

    def get_throttle_scope(self, request: Request) -> str:
        return COMPAT_SEND if request.method in self.send_methods else API

    def paginate(self, queryset: Any, serialize: Callable[[Any], dict[str, Any]]) -> Response:
        paginator = RapidProPagination()
        paginator.ordering = self.ordering
        page: list[Any] | None = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response([serialize(item) for item in page or []])


# --- values -------------------------------------------------------------------------------------


def format_datetime(value: datetime | None) -> str | None:
    """RapidPro's datetimes: UTC, always six fractional digits, `Z`."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_datetime(value: str) -> datetime | None:
    """A `before`/`after` value; None when unreadable (RapidPro then answers an empty list)."""
    text = value.strip().replace(" ", "+")  # a `+00:00` offset sent unencoded arrives as a space
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def str_to_bool(value: str | None) -> bool:
    return (value or "").strip().lower() in TRUE_VALUES


def uuid_param(request: Request, name: str) -> uuid.UUID | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise BadQuery(f"Param '{name}': {raw} is not a valid UUID.") from None


def before_after(request: Request, queryset: Any, field: str) -> Any:
    """RapidPro's `before` (<=) and `after` (>=); an unreadable value matches nothing."""
    for name, lookup in (("before", "lte"), ("after", "gte")):
        raw = request.query_params.get(name)
        if raw:
            parsed = parse_datetime(raw)
            if parsed is None:
                return queryset.none()
            queryset = queryset.filter(**{f"{field}__{lookup}": parsed})
    return queryset


def one_lookup(request: Request, names: tuple[str, ...], *, required: bool) -> tuple[str, str] | None:
    """The one `?uuid=`/`?urn=`… a write or delete names: (name, value)."""
    given = [(name, request.query_params[name]) for name in names if request.query_params.get(name)]
    if len(given) > 1:
        raise BadQuery(f"URL can only contain one of the following parameters: {', '.join(sorted(names))}")
    if not given:
        if required:
            raise BadQuery(f"URL must contain one of the following parameters: {', '.join(sorted(names))}")
        return None
    return given[0]


def list_value(value: object, *, limit: int = MAX_ITEMS) -> list[Any]:
    """A list field's value as DRF's ListField checks it; ValueError in its words for anything
    but a list (null included: callers that read null otherwise check it first) or too many items."""
    if not isinstance(value, list):
        raise ValueError(f'Expected a list of items but got type "{type(value).__name__}".')
    if len(value) > limit:
        raise ValueError(f"Ensure this field has no more than {limit} elements.")
    return value


def json_object(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise exceptions.ValidationError({NON_FIELD: ["Request body should be a single JSON object"]})
    return data


@csrf_exempt  # API clients send no CSRF token: a POST to an unknown endpoint is a 404, not a 403
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Every other path under /api/v2/ (flows, runs, campaigns…): the client's TembaNoSuchObjectError."""
    return JsonResponse({"detail": "Not found."}, status=404)
