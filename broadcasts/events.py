"""What broadcasts announce to integrators (SPEC §11): message.sent, .delivered, .read, .failed,
.replied and broadcast.completed, built here and recorded in webhooks' outbox inside the transaction
of the change, so none is lost and none is sent for a change that rolled back.

The statements that move messages return `EVENT_COLUMNS` (RETURNING), so a batch's events cost no
extra read of its rows: one query to learn which types the client's endpoints want, and, when some
do, webhooks' one INSERT per type for the whole batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection

from webhooks import events as types
from webhooks.selectors import event_types_wanted
from webhooks.services import event_record, events_record

# The message columns an event is made of, in this order (a RETURNING list or a SELECT list).
EVENT_COLUMNS = (
    "m.id, m.client_id, m.broadcast_id, m.contact_id, m.urn, m.channel, m.status, m.provider_message_id,"
    " m.sent_at, m.delivered_at, m.read_at, m.failed_at, m.error_code, m.error_message"
)
MessageRow = tuple[Any, ...]

_AT = {
    types.MESSAGE_SENT: ("sent_at", 8),
    types.MESSAGE_DELIVERED: ("delivered_at", 9),
    types.MESSAGE_READ: ("read_at", 10),
    types.MESSAGE_FAILED: ("failed_at", 11),
}
STATUS_EVENT = {"sent": types.MESSAGE_SENT, "delivered": types.MESSAGE_DELIVERED, "read": types.MESSAGE_READ}
STATUS_EVENT["failed"] = types.MESSAGE_FAILED


def message_data(row: MessageRow) -> dict[str, Any]:
    """The base fields of every message.* event, from a row of EVENT_COLUMNS."""
    mid, _client, broadcast_id, contact_id, urn, channel, status, provider_id = row[:8]
    return {
        "message_id": mid,
        "broadcast_id": broadcast_id,
        "contact_id": contact_id,
        "urn": urn,
        "channel": channel,
        "status": status,
        "provider_message_id": provider_id,
    }


def _event_data(event_type: str, row: MessageRow) -> dict[str, Any]:
    data = message_data(row)
    column, index = _AT[event_type]
    data[column] = row[index]
    if event_type == types.MESSAGE_FAILED:
        data["error_code"], data["error_message"] = row[12], row[13]
    return data


def messages_announce(event_type: str, rows: Sequence[MessageRow]) -> int:
    """Record `event_type` for these messages (rows of EVENT_COLUMNS, any clients), in the caller's
    transaction. Returns the number of events recorded."""
    by_client: dict[Any, list[MessageRow]] = defaultdict(list)
    for row in rows:
        by_client[row[1]].append(row)
    recorded = 0
    for client_id, client_rows in by_client.items():
        if event_type in event_types_wanted(client_id=client_id):
            items: list[Mapping[str, Any]] = [_event_data(event_type, row) for row in client_rows]
            recorded += events_record(client_id=client_id, type=event_type, items=items)
    return recorded


def messages_announce_ids(event_type: str, ids_by_client: Mapping[Any, Sequence[int]]) -> int:
    """`messages_announce` for messages just moved, named by id: their rows (EVENT_COLUMNS, as the
    caller's transaction wrote them) are read only for the clients that want `event_type`. Reading
    14 columns back from every UPDATE cost ~25 µs a message in Python (bench_smpp), wanted or not."""
    recorded = 0
    for client_id, ids in ids_by_client.items():
        if ids and event_type in event_types_wanted(client_id=client_id):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {EVENT_COLUMNS} FROM broadcasts_message m WHERE m.id = ANY(%s) ORDER BY m.id",  # noqa: S608
                    [list(ids)],
                )
                rows = cursor.fetchall()
            recorded += events_record(
                client_id=client_id, type=event_type, items=[_event_data(event_type, row) for row in rows]
            )
    return recorded


def reply_announce(*, reply: Any, message: Any | None) -> int:
    """message.replied: the reply, with the message it answers (a Message; its own fields are null
    when the reply answers none we know of)."""
    if types.MESSAGE_REPLIED not in event_types_wanted(client_id=reply.client_id):
        return 0
    data = {
        "message_id": None,
        "broadcast_id": reply.broadcast_id,
        "contact_id": reply.contact_id,
        "urn": reply.urn,
        "channel": reply.channel,
        "status": None,
        "provider_message_id": None,
        "reply_id": reply.pk,
        "text": reply.text,
        "keyword": reply.keyword,
        "received_at": reply.received_at,
    }
    if message is not None:
        data.update(
            message_id=message.pk,
            broadcast_id=message.broadcast_id,
            status=message.status,
            provider_message_id=message.provider_message_id,
        )
    return event_record(client_id=reply.client_id, type=types.MESSAGE_REPLIED, data=data)


def broadcast_completed_announce(*, broadcast: Any, counts: dict[str, int], cost: Any, completed_at: datetime) -> int:
    if types.BROADCAST_COMPLETED not in event_types_wanted(client_id=broadcast.client_id):
        return 0
    data = {
        "broadcast_id": broadcast.pk,
        "name": broadcast.name,
        "channel": broadcast.channel,
        "status": broadcast.status,
        "total_recipients": broadcast.total_recipients,
        "counts": {str(status): n for status, n in sorted(counts.items())},
        "cost": cost,
        "currency": broadcast.currency,
        "completed_at": completed_at,
    }
    return event_record(client_id=broadcast.client_id, type=types.BROADCAST_COMPLETED, data=data)


def broadcast_failed_announce(*, broadcast: Any, occurrence_at: datetime, error_code: str, error_message: str) -> int:
    """broadcast.failed: an occurrence of the recurring series `broadcast` could not be created (a
    402 insufficient_credit, or a rule its audience now breaks); the series goes on."""
    if types.BROADCAST_FAILED not in event_types_wanted(client_id=broadcast.client_id):
        return 0
    data = {
        "broadcast_id": broadcast.pk,
        "name": broadcast.name,
        "channel": broadcast.channel,
        "status": "failed",
        "occurrence_at": occurrence_at,
        "error_code": error_code,
        "error_message": error_message,
    }
    return event_record(client_id=broadcast.client_id, type=types.BROADCAST_FAILED, data=data)


def variant_won_announce(*, broadcast: Any, results: list[dict[str, Any]], decided_at: datetime) -> int:
    """broadcast.variant_won: an A/B test was decided; `results` are each variant's figures and rate."""
    if types.BROADCAST_VARIANT_WON not in event_types_wanted(client_id=broadcast.client_id):
        return 0
    data = {
        "broadcast_id": broadcast.pk,
        "name": broadcast.name,
        "channel": broadcast.channel,
        "metric": (broadcast.ab_test or {}).get("metric"),
        "winner": broadcast.ab_winner,
        "variants": results,
        "decided_at": decided_at,
    }
    return event_record(client_id=broadcast.client_id, type=types.BROADCAST_VARIANT_WON, data=data)
