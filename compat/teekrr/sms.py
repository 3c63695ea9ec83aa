"""`POST /teekrr/sms` (seed 000, COMPAT.md §5): Teekrr's body renamed field by field into the native
create body and created by `broadcast_create`, so every rule — exactly one of template or text, a
registered sender, 10,000 recipients at most, the schedule window, credit, STOP mention, opt-outs,
quiet hours — is the native one. What only this layer can judge is how to read Teekrr's body: its
`type` names, and which key of a `recipientVariables` item is the phone number.

| Teekrr | native |
|---|---|
| `campaignName` | `name` |
| `type` `quick broadcast` / `schedule broadcast` | `schedule_mode` `now` / `scheduled` |
| `templateName` / `templateContent` | `template` / `text` |
| `scheduledAt` | `scheduled_at` |
| `keyword` | `sender` |
| `recipients` | `recipients` |
| `recipientVariables` `[{phone | phoneNumber | to, ...variables}]` | `recipient_variables` `[{phone, ...}]` |

A JSON `null` is an absent field (generated clients send them for unset options).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.throttles import COMPAT_SEND
from accounts.channels import Channel
from accounts.exceptions import HeraldError
from accounts.models import Scope
from broadcasts.models import Broadcast
from broadcasts.services import Accepted, broadcast_create
from wallets.pricing import money

from .base import TEMPLATE_CONTENT, TEMPLATE_NAME, TeekrrView, translate

TYPES: dict[str, str] = {
    "quick broadcast": Broadcast.ScheduleMode.NOW,
    "schedule broadcast": Broadcast.ScheduleMode.SCHEDULED,
}
# Teekrr field → native field; values pass through unchanged (the native create judges them).
RENAMED = {
    "campaignName": "name",
    TEMPLATE_NAME: "template",
    TEMPLATE_CONTENT: "text",
    "scheduledAt": "scheduled_at",
    "keyword": "sender",
    "recipients": "recipients",
}
FIELDS = frozenset({*RENAMED, "type", "recipientVariables"})
ADDRESS_KEYS = ("phone", "phoneNumber", "to")
# A variable the native create would read as the address instead of the phone number.
RESERVED_VARIABLES = ("urn",)
# Herald's broadcast statuses in Teekrr's lifecycle words (`pending → enqueued → send → …`).
STATUSES: dict[str, str] = {Broadcast.Status.QUEUED: "enqueued", Broadcast.Status.SENDING: "enqueued"}
ISO = serializers.DateTimeField()


def _error(errors: dict[str, list[ValidationError]], name: str, message: str, code: str = "invalid") -> None:
    errors.setdefault(name, []).append(ValidationError(message, code=code))


def recipient_variables(raw: Any, errors: dict[str, list[ValidationError]]) -> Any:
    """Teekrr's items → the native `{phone, ...variables}`; anything but a list passes through (the
    native create says what is wrong with it)."""
    if not isinstance(raw, list):
        return raw
    out: list[Any] = []
    for index, item in enumerate(raw):
        name = f"recipientVariables.{index}"
        if not isinstance(item, Mapping):
            _error(errors, name, "Each item must be an object with phone, phoneNumber or to.")
            continue
        keys = [key for key in ADDRESS_KEYS if item.get(key) not in (None, "")]
        if not keys:
            _error(errors, name, "Each item needs a phone, phoneNumber or to.", "required")
            continue
        if len(keys) > 1:
            message = f"Give one of phone, phoneNumber or to, not {' and '.join(keys)}."
            _error(errors, name, message, "ambiguous_address")
            continue
        address = item[keys[0]]
        if not isinstance(address, str) or not address.strip():
            _error(errors, f"{name}.{keys[0]}", "The phone number must be a string, e.g. '+256772000001'.")
            continue
        for reserved in RESERVED_VARIABLES:
            if reserved in item:
                _error(errors, f"{name}.{reserved}", f"'{reserved}' cannot be a variable name; rename it.", "reserved")
        variables = {key: value for key, value in item.items() if key not in ADDRESS_KEYS}
        out.append({"phone": address, **variables})
    return out


def native_request(body: Any) -> dict[str, Any]:
    """The native create body of a Teekrr body; ValidationError (Teekrr's names) when it cannot be read."""
    if not isinstance(body, Mapping):
        raise ValidationError("The body must be a JSON object.", code="invalid")
    errors: dict[str, list[ValidationError]] = {}
    for unknown in sorted(set(body) - FIELDS):
        _error(errors, unknown, f"Unknown field '{unknown}'.", "unknown_field")
    kind = body.get("type")
    if kind is None or kind == "":
        _error(errors, "type", "This field is required: 'quick broadcast' or 'schedule broadcast'.", "required")
    elif not isinstance(kind, str) or kind not in TYPES:
        _error(errors, "type", f"'{kind}' is not one of: quick broadcast, schedule broadcast.", "invalid_choice")
    content = body.get(TEMPLATE_CONTENT)
    if content is not None and not isinstance(content, str):
        _error(errors, TEMPLATE_CONTENT, "Must be a string.")  # the native text also takes {language: text}
    variables = recipient_variables(body.get("recipientVariables"), errors)
    if errors:
        raise ValidationError(errors)
    data: dict[str, Any] = {"name": body.get("campaignName"), "channel": Channel.SMS, "schedule_mode": TYPES[str(kind)]}
    for teekrr, native in RENAMED.items():
        if body.get(teekrr) is not None:
            data[native] = body[teekrr]
    if variables is not None:
        data["recipient_variables"] = variables
    return data


def answer(accepted: Accepted) -> dict[str, Any]:
    """COMPAT.md §5's proposed `data`, with what SPEC §8 says a create reports (segments, skips)."""
    broadcast = accepted.broadcast
    return {
        "broadcastUuid": str(broadcast.pk),
        "campaignName": broadcast.name,
        "status": STATUSES.get(broadcast.status, broadcast.status),
        "totalRecipients": broadcast.total_recipients,
        "totalSegments": broadcast.total_segments,
        "estimatedCost": money(broadcast.estimated_cost),
        "currency": broadcast.currency,
        "residualCredit": money(accepted.residual_credit),
        "scheduledAt": ISO.to_representation(broadcast.scheduled_at) if broadcast.scheduled_at else None,
        "skipped": {
            "invalid": broadcast.skipped_invalid,
            "optedOut": broadcast.skipped_opted_out,
            "unroutable": broadcast.skipped_unroutable,
            "duplicates": broadcast.duplicates,
        },
    }


class SmsView(TeekrrView):
    """Teekrr sends SMS only: the key needs `send_sms`; creates count against COMPAT_SEND_RATE_LIMIT."""

    write_scope = Scope.SEND_SMS.value

    def get_throttle_scope(self, request: Request) -> str:
        return COMPAT_SEND

    def post(self, request: Request) -> Response:
        data = native_request(request.data)  # its refusals already speak Teekrr
        # A rendered template's refusals (too long, no STOP) are on `text`: they name the field used.
        text_field = TEMPLATE_NAME if "template" in data and "text" not in data else TEMPLATE_CONTENT
        principal = self.principal
        try:
            accepted = broadcast_create(client=self.client, data=data, api_key=principal.api_key, user=principal.user)
        except (ValidationError, HeraldError) as exc:
            translated = translate(exc, text_field=text_field)
            if translated is exc:
                raise
            raise translated from exc
        return Response({"data": answer(accepted)}, status=status.HTTP_201_CREATED)
