"""Event names and ids (pure: no database)."""

from __future__ import annotations

import os
import time

MESSAGE_SENT = "message.sent"
MESSAGE_DELIVERED = "message.delivered"
MESSAGE_FAILED = "message.failed"
MESSAGE_READ = "message.read"
MESSAGE_CLICKED = "message.clicked"
MESSAGE_REPLIED = "message.replied"
BROADCAST_COMPLETED = "broadcast.completed"
BROADCAST_FAILED = "broadcast.failed"  # an occurrence of a recurring series could not be created
BROADCAST_VARIANT_WON = "broadcast.variant_won"  # an A/B test decided: the winner goes to the rest
CONTACT_OPTED_OUT = "contact.opted_out"
WEBHOOK_TEST = "webhook.test"
ALL = "*"

# What an endpoint may subscribe to. `webhook.test` is not among them: it goes only to the endpoint
# whose /test/ was called, whatever it subscribes to.
EVENT_TYPES: tuple[str, ...] = (
    MESSAGE_SENT,
    MESSAGE_DELIVERED,
    MESSAGE_FAILED,
    MESSAGE_READ,
    MESSAGE_CLICKED,
    MESSAGE_REPLIED,
    BROADCAST_COMPLETED,
    BROADCAST_FAILED,
    BROADCAST_VARIANT_WON,
    CONTACT_OPTED_OUT,
)
RECORDABLE = frozenset({*EVENT_TYPES, WEBHOOK_TEST})

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_event_id() -> str:
    """`evt_` + a ULID (48 bits of milliseconds, 80 random bits, Crockford base32): ids sort by time."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, index = divmod(value, 32)
        chars.append(_CROCKFORD[index])
    return "evt_" + "".join(reversed(chars))


def wants(subscribed: list[str], event_type: str) -> bool:
    return ALL in subscribed or event_type in subscribed
