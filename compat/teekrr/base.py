"""What a Teekrr endpoint shares: a Herald key as `Authorization: Bearer`, JSON in and out, and errors in
Herald's envelope (SPEC §4) with the fields named as the Teekrr user sent them (`campaignName`,
`scheduledAt`, `recipientVariables.3`…). Each error body also carries Teekrr's own top-level keys
(docs.teekrr.com "Response envelope": `{"message": ..., "errors": [{"field", "message"}]}`, `errors`
only on a 400 validation failure), so code written against either reads it. Tenancy, scopes, IP
allowlists, rate limits and Idempotency-Key come from the native base view unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback

from accounts.api.authentication import ApiKeyAuthentication
from accounts.api.base import HeraldViewMixin
from accounts.api.errors import build_error, error_body
from accounts.api.inputs import JSONParser
from accounts.exceptions import HeraldError

TEMPLATE_CONTENT = "templateContent"
TEMPLATE_NAME = "templateName"

# The native create's fields as a Teekrr user named them (COMPAT.md §5). `text` is whichever of
# templateContent / templateName the request used: a rendered template can be too long too.
FIELD_NAMES = {
    "name": "campaignName",
    "schedule_mode": "type",
    "template": TEMPLATE_NAME,
    "scheduled_at": "scheduledAt",
    "sender": "keyword",
    "recipient_variables": "recipientVariables",
}
# Native messages that name native fields, in Teekrr's words: (native field, code) → message.
MESSAGES = {
    ("template", "template_or_text"): "Give exactly one of templateName or templateContent.",
    ("recipients", "no_recipients"): "Give at least one recipient: recipients or recipientVariables.",
    ("recipient_variables", "exclusive"): "Give recipients or recipientVariables, not both.",
    ("scheduled_at", "required"): "A 'schedule broadcast' needs scheduledAt.",
    ("scheduled_at", "unexpected"): "scheduledAt is only for type 'schedule broadcast'.",
}
NATIVE_WORDS = re.compile(r"\b(scheduled_at|recipient_variables|schedule_mode)\b")


def teekrr_field(field: str, *, text_field: str = TEMPLATE_CONTENT) -> str:
    """`recipient_variables.3.code` → `recipientVariables.3.code`; `text` → the content field used."""
    head, dot, rest = field.partition(".")
    name = text_field if head == "text" else FIELD_NAMES.get(head, head)
    return name + dot + rest


def teekrr_message(message: str, *, field: str = "", code: str | None = None) -> str:
    head = field.partition(".")[0]
    fixed = MESSAGES.get((head, code or ""))
    if fixed is not None:
        return fixed
    return NATIVE_WORDS.sub(lambda match: teekrr_field(match.group(1)), message)


def translate(exc: Exception, *, text_field: str = TEMPLATE_CONTENT) -> Exception:
    """A refusal of the native create, with Teekrr's field names in its fields and messages."""
    if isinstance(exc, DjangoValidationError) and hasattr(exc, "error_dict"):
        renamed: dict[str, list[DjangoValidationError]] = {}
        for field, errors in exc.error_dict.items():
            name = teekrr_field(field, text_field=text_field)
            for error in errors:
                message = teekrr_message(" ".join(error.messages), field=field, code=error.code)
                renamed.setdefault(name, []).append(DjangoValidationError(message, code=error.code))
        return DjangoValidationError(renamed)
    if isinstance(exc, HeraldError) and exc.fields:
        exc.fields = {teekrr_field(k, text_field=text_field): v for k, v in exc.fields.items()}
    return exc


def teekrr_body(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """Herald's envelope plus Teekrr's top-level `message` (and `errors` on a 400 naming fields)."""
    error = body["error"]
    body["message"] = error["message"]
    if status == 400 and error["fields"]:
        body["errors"] = [{"field": name, "message": m} for name, messages in error["fields"].items() for m in messages]
    return body


def teekrr_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    status, body, headers = build_error(exc)
    set_rollback()
    return Response(teekrr_body(status, body), status=status, headers=headers)


class TeekrrView(HeraldViewMixin, APIView):
    """Base of the Teekrr endpoints: API keys only (no dashboard session), JSON only."""

    authentication_classes = [ApiKeyAuthentication]
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    schema = None  # left out of /api/schema/ (SPEC §14)

    def get_exception_handler(self) -> Callable[[Exception, dict[str, Any]], Response]:
        return teekrr_exception_handler

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        renderer = JSONRenderer()  # JSON whatever the Accept header says
        return renderer, renderer.media_type


@csrf_exempt  # nothing to protect, and a CSRF refusal would hide the 404
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any other path under /teekrr/ (Herald emulates `POST /sms`), in the same error shape."""
    body = error_body("not_found", "not_found", f"No endpoint at {request.path}; Herald's Teekrr API has POST /sms.")
    return JsonResponse(teekrr_body(404, body), status=404)
