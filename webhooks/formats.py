"""The body an endpoint receives, by its `format` (SPEC §14: a migrating user's receivers keep working).

- `standard`: Herald's envelope `{"id", "type", "created_at", "data"}` (SPEC §11).
- `octopush`: Octopush's own callback bodies, as its delivery-report and inbound-SMS webhooks post
  them (COMPAT.md §3.1): `{channel, message_id, number, status, delivery_date, meta_data}` for
  message.sent / .delivered / .read / .failed, `{message_id, number, text, sim_card_number,
  reception_date}` for message.replied. `message_id` is the campaign's `sms_ticket` (`sms_` + the
  broadcast id's hex), dates are "Y-m-d H:i:s" in UTC. Other events have no Octopush shape and are
  not sent to such an endpoint.
- `teekrr`: Herald's envelope with Teekrr's event names `delivered` / `failed` (seed 000) for
  message.delivered / message.failed; every other event keeps its Herald name.

Whatever the format, the body is signed the same way (Standard Webhooks headers over the exact body
sent), retried the same way and listed the same way; `webhook.test` is always the standard envelope.
Pure: no database.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from . import events as types

STANDARD = "standard"
OCTOPUSH = "octopush"
TEEKRR = "teekrr"

# Herald's failure codes an Octopush receiver knows under another status than NOT_DELIVERED.
OCTOPUSH_FAILED_STATUS = {
    "delivery_unknown": "UNKNOWN_DELIVERY",  # the provider's answer never came (SPEC §10)
    "invalid_number": "BAD_DESTINATION",
    "opted_out": "BLACKLISTED_NUMBER",
    "twilio_21610": "BLACKLISTED_NUMBER",  # the recipient unsubscribed
    "twilio_21211": "BAD_DESTINATION",  # not a valid phone number
    "twilio_21614": "BAD_DESTINATION",  # not a mobile number
}
OCTOPUSH_STATUS = {
    types.MESSAGE_SENT: "ACK",  # accepted by the first carrier
    types.MESSAGE_DELIVERED: "DELIVERED",
    types.MESSAGE_READ: "READ",
}
OCTOPUSH_DATE = {
    types.MESSAGE_SENT: "sent_at",
    types.MESSAGE_DELIVERED: "delivered_at",
    types.MESSAGE_READ: "read_at",
    types.MESSAGE_FAILED: "failed_at",
}
OCTOPUSH_EVENTS = frozenset({*OCTOPUSH_STATUS, types.MESSAGE_FAILED, types.MESSAGE_REPLIED})
TEEKRR_NAMES = {types.MESSAGE_DELIVERED: "delivered", types.MESSAGE_FAILED: "failed"}

FORMAT_EVENTS: dict[str, frozenset[str]] = {
    STANDARD: frozenset(types.EVENT_TYPES),
    OCTOPUSH: OCTOPUSH_EVENTS,
    TEEKRR: frozenset(types.EVENT_TYPES),
}


def events_of(format: str) -> frozenset[str]:
    """The event types an endpoint of this format can receive (what `["*"]` means for it)."""
    return FORMAT_EVENTS.get(format, FORMAT_EVENTS[STANDARD])


def supports(format: str, event_type: str) -> bool:
    return event_type == types.WEBHOOK_TEST or event_type in events_of(format)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def standard_body(*, event_id: str, type: str, created_at: datetime, data: str) -> str:
    """`{"id", "type", "created_at", "data"}`; `data` is already JSON text, spliced in as it is."""
    return f'{{"id":{json.dumps(event_id)},"type":{json.dumps(type)},"created_at":"{_iso(created_at)}","data":{data}}}'


def sms_ticket(broadcast_id: Any) -> str | None:
    """Octopush's campaign ticket for a broadcast id: `sms_` + its hex (compat/octopush answers the same)."""
    if not broadcast_id:
        return None
    try:
        return "sms_" + uuid.UUID(str(broadcast_id)).hex
    except ValueError:
        return None


def _number(urn: Any) -> str:
    """The address without its URN scheme: `tel:+33…` → `+33…` (a Telegram chat id stays as it is)."""
    text = str(urn or "")
    scheme, sep, path = text.partition(":")
    return path if sep and scheme.isalpha() else text


def _octopush_date(value: Any, fallback: datetime) -> str:
    moment = fallback
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = fallback
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def octopush_status(event_type: str, data: dict[str, Any]) -> str:
    if event_type == types.MESSAGE_FAILED:
        return OCTOPUSH_FAILED_STATUS.get(str(data.get("error_code") or ""), "NOT_DELIVERED")
    return OCTOPUSH_STATUS.get(event_type, "UNDEFINED")


def octopush_body(*, type: str, created_at: datetime, data: dict[str, Any]) -> dict[str, Any]:
    if type == types.MESSAGE_REPLIED:
        return {
            "message_id": sms_ticket(data.get("broadcast_id")),
            "number": _number(data.get("urn")),
            "text": data.get("text") or "",
            "sim_card_number": None,  # Herald does not record which of its numbers received the reply
            "reception_date": _octopush_date(data.get("received_at"), created_at),
        }
    return {
        "channel": data.get("channel") or "sms",
        "message_id": sms_ticket(data.get("broadcast_id")),
        "number": _number(data.get("urn")),
        "status": octopush_status(type, data),
        "delivery_date": _octopush_date(data.get(OCTOPUSH_DATE.get(type, "")), created_at),
        "meta_data": {},
    }


def render(*, format: str, event_id: str, type: str, created_at: datetime, data: str) -> str | None:
    """The body to POST for this event in this format; None when the format has no shape for it."""
    if type == types.WEBHOOK_TEST or format not in (OCTOPUSH, TEEKRR):
        return standard_body(event_id=event_id, type=type, created_at=created_at, data=data)
    if format == TEEKRR:
        return standard_body(event_id=event_id, type=TEEKRR_NAMES.get(type, type), created_at=created_at, data=data)
    if type not in OCTOPUSH_EVENTS:
        return None
    return json.dumps(octopush_body(type=type, created_at=created_at, data=json.loads(data)), separators=(",", ":"))
