"""What both legacy endpoints share (COMPAT.md §3.2): a POST of form fields carrying `user_login`
(the client's id) and `api_key` (a Herald API key), and an XML answer `<octopush><error_code>…`
with HTTP 200 for refusals too, as the `octopush` package reads it: success iff `error_code` is
`000`, else it raises `Exception(octopush.ERRORS[code])` — so every code answered here is a key of
that table. Herald's tenancy, scopes, IP allowlists, rate limits and Idempotency-Key come from the
native base view unchanged.

HTTP statuses other than 200: 429 (rate limit, with `Retry-After`; the package raises with the
body), 409 (an Idempotency-Key conflict, a header the package never sends), 404 (a path Herald
does not emulate) and 500. XML is built with ElementTree, never by pasting strings; characters XML
1.0 cannot carry are dropped from echoed values so the answer always parses."""

from __future__ import annotations

import math
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import structlog
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from accounts.api.authentication import ApiKeyAuthentication
from accounts.api.base import HeraldViewMixin
from accounts.api.principal import Principal
from accounts.api.throttles import rate_limit_settle
from accounts.exceptions import HeraldError, IdempotencyError
from compat.octopush.base import (
    LOGIN_INCORRECT,
    NO_CREDIT,
    NO_LOGIN,
    SUSPENDED,
    TOO_MANY_REQUESTS,
    UNDEFINED,
    OctopushError,
    validation_error,
)

log = structlog.get_logger(__name__)

# The legacy codes (the `octopush` package's ERRORS) beyond those API v1 shares (imported above).
SUCCESS = 0  # written "000"
POST_MISSING = 100
TEXT_TOO_LONG = 102
NO_PASSWORD = 109
NO_QUALITY = 112
PARAMETER_COUNT = 115
SHA1_MISSING = 123
SHA1_MISMATCH = 124
NO_ACCESS = 207
RECIPIENT_NOT_ALLOWED = 209

CONTENT_TYPE = "text/xml; charset=utf-8"
# Characters XML 1.0 cannot carry (control characters, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class LegacyError(exceptions.APIException):
    """A refusal answered `<octopush><error_code>code</error_code></octopush>`, HTTP 200 unless
    said otherwise. `detail` is Herald's explanation: logged, not sent (the legacy shape has no
    place for it)."""

    def __init__(self, code: int, detail: str = "", *, status: int = 200) -> None:
        self.legacy_code = code
        self.status_code = status
        super().__init__(detail or str(code))


# --- XML -----------------------------------------------------------------------------------------


def xml_text(value: object) -> str:
    return _NOT_XML.sub("", str(value))


def add(parent: ET.Element, tag: str, text: object = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {name: xml_text(value) for name, value in attributes.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def octopush_root(code: int = SUCCESS) -> ET.Element:
    """`<octopush><error_code>NNN</error_code>…`, the code on three digits (`000`, `101`…)."""
    root = ET.Element("octopush")
    add(root, "error_code", f"{code:03d}")
    return root


def xml_document(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def error_document(code: int) -> str:
    return xml_document(octopush_root(code))


class XMLRenderer(BaseRenderer):
    """The views answer the XML document as a string (so an Idempotency-Key replay, stored as
    JSON, gives back the same bytes)."""

    media_type = "text/xml"
    format = "xml"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return data.encode() if isinstance(data, str) else b""


# --- auth ----------------------------------------------------------------------------------------


def form_field(form: Any, name: str) -> str | None:
    """A form field's value (the last, if repeated), or None when it was not sent."""
    value = form.get(name) if hasattr(form, "get") else None
    return value if isinstance(value, str) else None


class LegacyAuthentication(ApiKeyAuthentication):
    """POST fields `user_login` (the client's id, any UUID spelling) and `api_key` (a Herald API key).
    Not a POST: 100; no login: 108; no key: 109; a bad key or the login of another client: 101."""

    def authenticate(self, request: Request) -> tuple[Principal, Any] | None:
        if request.method != "POST":
            raise LegacyError(POST_MISSING, f"{request.method} is not POST.")
        form = request.data
        login, raw = (form_field(form, "user_login") or "").strip(), (form_field(form, "api_key") or "").strip()
        if not login:
            raise LegacyError(NO_LOGIN)
        if not raw:
            raise LegacyError(NO_PASSWORD)
        try:
            client_id = uuid.UUID(login)
        except ValueError:
            raise LegacyError(LOGIN_INCORRECT, "user_login is not a client id.") from None
        return self.authenticate_key(raw, client_id=client_id)

    def authenticate_header(self, request: Request) -> str:
        return ""  # Octopush sends no challenge


# --- errors --------------------------------------------------------------------------------------


def refusal(exc: DjangoValidationError) -> LegacyError:
    """A refusal of the native create under the code API v1 gives it (the same table)."""
    mapped = validation_error(exc)
    return LegacyError(mapped.octopush_code, mapped.octopush_message)


def legacy_error(exc: Exception) -> tuple[int, int, dict[str, str], str]:
    """(HTTP status, legacy code, headers, Herald's explanation) of any exception."""
    if isinstance(exc, DjangoValidationError):
        exc = refusal(exc)
    if isinstance(exc, LegacyError):
        return exc.status_code, exc.legacy_code, {}, str(exc.detail)
    if isinstance(exc, OctopushError):
        return 200, exc.octopush_code, {}, exc.octopush_message
    if isinstance(exc, HeraldError):
        code = NO_CREDIT if exc.code in ("insufficient_credit", "no_wallet") else UNDEFINED
        return (exc.status_code if isinstance(exc, IdempotencyError) else 200), code, {}, exc.message
    if not isinstance(exc, exceptions.APIException):
        log.exception("compat.octopush_legacy.unhandled_exception", exc_type=type(exc).__name__)
        return 500, UNDEFINED, {}, "unhandled"
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.default_detail)
    if isinstance(exc, exceptions.Throttled):
        wait = max(1, math.ceil(getattr(exc, "wait", None) or 1))
        return 429, TOO_MANY_REQUESTS, {"Retry-After": str(wait)}, detail
    if isinstance(exc, exceptions.NotAuthenticated):
        return 200, NO_LOGIN, {}, detail
    if isinstance(exc, exceptions.AuthenticationFailed):
        return 200, LOGIN_INCORRECT, {}, detail
    if isinstance(exc, exceptions.PermissionDenied):
        return 200, (SUSPENDED if exc.get_codes() == "client_suspended" else NO_ACCESS), {}, detail
    if isinstance(exc, exceptions.ParseError | exceptions.UnsupportedMediaType | exceptions.MethodNotAllowed):
        return 200, POST_MISSING, {}, detail
    return (200 if exc.status_code < 500 else exc.status_code), UNDEFINED, {}, str(exc.detail)


def legacy_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    status, code, headers, _detail = legacy_error(exc)
    # The code only: a refusal's words can quote a recipient's number or the text (never logged).
    log.info("compat.octopush_legacy.refused", code=code, status=status)
    set_rollback()
    response = Response(error_document(code), status=status, headers=headers)
    response.octopush_refusal = status == 200  # type: ignore[attr-defined]
    return response


class LegacyView(HeraldViewMixin, APIView):
    """Base of both endpoints. Subclasses set `write_scope` (both are POSTs) and `throttle_scope`."""

    authentication_classes = [LegacyAuthentication]
    parser_classes = [FormParser, MultiPartParser]
    renderer_classes = [XMLRenderer]
    schema = None  # left out of /api/schema/ (SPEC §14)

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response]:
        return legacy_exception_handler

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        renderer = XMLRenderer()  # XML whatever the Accept header says (the package sends `Accept: text`)
        return renderer, renderer.media_type

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(response, "octopush_refusal", False):
            # A refusal is a 4xx natively, and a refused send is given back to the rate limit; here
            # it is a 200, so say what it is before the base view settles the limit.
            rate_limit_settle(request, status_code=400, replayed=False)
        return super().finalize_response(request, response, *args, **kwargs)


def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Any other path under /octopush-legacy/api/ (sub-accounts, options, the /json variants…)."""
    return HttpResponse(error_document(UNDEFINED), status=404, content_type=CONTENT_TYPE)
