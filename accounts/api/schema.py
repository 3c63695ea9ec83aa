"""Herald's OpenAPI schema: the Bearer key scheme, and the SPEC §4 error envelope on every operation."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .errors import TYPE_BY_STATUS


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "hk_<prefix>_<secret>",
            "description": "An API key: `Authorization: Bearer hk_…`. Keys carry scopes and an optional IP allowlist.",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.api.authentication.ClientSessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "Dashboard session login."}


# --- errors: the SPEC §4 envelope, declared once and added to every operation by rule ------------


ERROR_TYPES = sorted({*TYPE_BY_STATUS.values(), "idempotency_error", "api_error"})


class ErrorDetailSerializer(serializers.Serializer[Any]):
    type = serializers.ChoiceField(choices=ERROR_TYPES)
    code = serializers.CharField(help_text="Machine-readable, e.g. missing_scope, duplicate_phone, parse_error.")
    message = serializers.CharField(help_text="For people; never shows internals.")
    fields = serializers.DictField(  # type: ignore[assignment]  # DRF's metaclass pops declared fields
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per invalid field (dotted paths for nested ones); empty when no field is to blame.",
    )


class ErrorSerializer(serializers.Serializer[Any]):
    """SPEC §4: every error the API answers, whatever its status."""

    error = ErrorDetailSerializer()


ERROR_DESCRIPTIONS = {
    400: "invalid_request_error: a field, query parameter or header is invalid; `fields` names each one.",
    401: "authentication_error: no API key, or one that is malformed, unknown, revoked or expired.",
    402: "insufficient_credit: the wallet's available credit does not cover the cost; nothing was created.",
    403: "permission_error: the key lacks the scope, is used from an address it does not allow, "
    "or the client is suspended.",
    404: "not_found: no such object for this client (another client's ids answer 404 too).",
    406: "invalid_request_error (not_acceptable): the Accept header does not allow application/json.",
    409: "conflict: the object's state (or a name or phone already taken) does not allow it; or "
    "idempotency_error: the Idempotency-Key was used with another body, or its first request is still running.",
    413: "invalid_request_error (request_too_large): the body is over 5 MB.",
    415: "invalid_request_error (unsupported_media_type): the body's Content-Type is not one this operation reads.",
    429: "rate_limit_error: too many requests for this client; retry after `Retry-After` seconds.",
}
RETRY_AFTER = {
    "Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "Seconds to wait before retrying."}
}
# accounts.api.base refuses a NUL in any query parameter or body field, and parses any body sent.
EVERY_OPERATION = (400, 401, 403, 406, 413, 415, 429)


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """For @extend_schema(responses=...): the statuses no rule of HeraldAutoSchema can infer (402, 409 on DELETE)."""
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]) for code in codes}


def _names_other_objects(serializer: Any) -> bool:
    """True when a request body carries ids (UUIDs) of other objects, which answer 404 when unknown."""
    fields = getattr(serializer, "fields", None)
    if fields is None:
        return False
    for field in fields.values():
        inner = field.child if isinstance(field, serializers.ListField) else field
        if isinstance(inner, serializers.UUIDField) and not field.read_only:
            return True
    return False


class HeraldAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus every error status an operation can really answer.

    The rules, from the operation's own shape (docs/api.md, "Errors in the schema"): every
    operation 400, 401, 403, 406, 413, 415 and 429 (before any view runs, every request's key, scope
    and rate are checked, its Accept header negotiated, and its query string and any body it carries
    read: a NUL, malformed JSON, an unsupported Content-Type or a body over 5 MB is refused whatever
    the method); 409 on POST
    (Idempotency-Key), PUT and PATCH (state and uniqueness conflicts); 404 for a path parameter, or
    a body naming other objects by id. What no rule can see (402, 409 on a DELETE) the view
    declares with `error_responses()`.
    """

    def _map_basic_serializer(self, serializer: Any, direction: Any) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_basic_serializer(serializer, direction)
        # A body whose validation refuses unknown fields (`unknown_field`) says so.
        if direction == "request" and getattr(serializer, "refuses_unknown_fields", False):
            schema["additionalProperties"] = False
        return schema

    def _get_request_body(self, direction: Any = "request") -> Any:
        # A DELETE that reads a body (members removal) documents it, as POST's.
        if self.method == "DELETE" and self._delete_reads_body():
            self.method = "POST"
            try:
                return super()._get_request_body(direction)
            finally:
                self.method = "DELETE"
        return super()._get_request_body(direction)

    def _delete_reads_body(self) -> bool:
        declared = self.get_request_serializer()
        default = self._get_serializer()
        return declared is not None and type(declared) is not type(default)

    def error_statuses(self, operation: dict[str, Any]) -> set[int]:
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        codes = set(EVERY_OPERATION)
        if self.method in {"POST", "PUT", "PATCH"}:
            codes.add(409)
        if any(p["in"] == "path" for p in parameters) or (has_body and _names_other_objects(self._body_serializer())):
            codes.add(404)
        return codes

    def _body_serializer(self) -> Any:
        declared = self.get_request_serializer()
        if isinstance(declared, dict):  # {media type: serializer}
            declared = next(iter(declared.values()), None)
        return force_instance(declared)

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses: dict[str, Any] = operation["responses"]
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
        for code in sorted(self.error_statuses(operation) | declared):
            response = responses.setdefault(str(code), {"description": ERROR_DESCRIPTIONS.get(code, "")})
            response.setdefault("content", {"application/json": {"schema": error}})
            if not response.get("description"):
                response["description"] = ERROR_DESCRIPTIONS.get(code, "")
            if code == 429:
                response.setdefault("headers", RETRY_AFTER)
        operation["responses"] = dict(sorted(responses.items()))
        return operation
