"""WhatsApp free text (SPEC §14): ad-hoc text goes out only inside Meta's customer-service window.

A WhatsApp broadcast with `text` instead of a template reaches only the numbers that wrote to the
connector that will send it (the one its route names) within the last 24 hours, as a `type: text`
message; every other recipient is skipped with `error_code` `whatsapp_window_closed`. Meta's window
belongs to the WhatsApp number and the business number it wrote to, so a reply counts by its URN and
its connector, not by the contact (a contact whose phone changed has a new window). The window is
checked twice:

- when the message is planned (precheck, create, a background chunk): skipped then, counted in the
  broadcast's `skipped.whatsapp_window_closed` and the precheck's `whatsapp_window_closed_count`,
  never priced nor reserved;
- when a dispatcher claims it, since a scheduled, dripped, quiet-hours or retried message may go
  long after it was planned: a message whose window closed meanwhile is skipped then, its reserved
  cost released, never charged, counted like the others (`window_recheck`).

docs/broadcasts.md, "WhatsApp free text", has the decisions.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal

import structlog
from django.db import connection, transaction
from django.db.models import F

from accounts.channels import Channel

from . import billing
from .claims import Claimed, give_back
from .lock_objects import broadcast_for_update
from .models import Broadcast, Message, Reply
from .states import DISPATCHABLE_BROADCAST, SKIP_CLAIMED_FROM

log = structlog.get_logger(__name__)

WINDOW = timedelta(hours=24)  # Meta's customer-service window
SKIP_WINDOW_CLOSED = "whatsapp_window_closed"
CLOSED_MESSAGE = "No message from this number to the connector in the last 24 hours (WhatsApp's service window)."


def is_free_text(*, channel: str, template: str | None) -> bool:
    """A WhatsApp broadcast with ad-hoc text: the window rule applies. Templates go to anyone."""
    return channel == Channel.WHATSAPP and not template


def broadcast_is_free_text(broadcast: Broadcast) -> bool:
    return is_free_text(channel=broadcast.channel, template=broadcast.template_name)


def open_windows(
    *, client_id: uuid.UUID | str, pairs: Iterable[tuple[str, str]], now: datetime
) -> set[tuple[str, str]]:
    """The (URN, connector name) pairs of `pairs` whose URN wrote to that connector (a reply of this
    client) in the 24 hours before `now`: one query on the replies' (client, urn, received_at)
    index, whatever the number of pairs."""
    wanted = set(pairs)
    if not wanted:
        return set()
    found = (
        Reply.objects.filter(
            client_id=client_id,
            urn__in={urn for urn, _name in wanted},
            connector__name__in={name for _urn, name in wanted},
            received_at__gt=now - WINDOW,
        )
        .values_list("urn", "connector__name")
        .distinct()
    )
    return {(urn, name) for urn, name in found if (urn, name) in wanted}


# --- at dispatch -------------------------------------------------------------------------------


def window_recheck(*, broadcast: Broadcast, claimed: list[Claimed], token: str, now: datetime) -> list[Claimed]:
    """The claimed messages that may go: all of them, unless `broadcast` is WhatsApp free text, whose
    messages outside their window are skipped now (`window_skip`). A message handed to a provider
    before (`recovering`) is left to the unknown-outcome rules: it may have been delivered."""
    if not broadcast_is_free_text(broadcast):
        return claimed
    checkable = [m for m in claimed if not m.recovering]
    inside = open_windows(client_id=broadcast.client_id, pairs={(m.urn, m.connector) for m in checkable}, now=now)
    closed = [m for m in checkable if (m.urn, m.connector) not in inside]
    if not closed:
        return claimed
    skipped = set(window_skip(broadcast_id=broadcast.pk, messages=closed, token=token))
    # Not skipped: the broadcast stopped meanwhile (a pause or cancel decides for them) or another
    # dispatcher holds them now. Never sent by this one.
    give_back(message_ids=[m.id for m in closed if m.id not in skipped], token=token)
    gone = {m.id for m in closed}
    return [m for m in claimed if m.id not in gone]


def window_skip(*, broadcast_id: uuid.UUID | str, messages: Sequence[Claimed], token: str) -> list[int]:
    """Skip claimed messages (never handed over) whose window closed: `skipped` /
    `whatsapp_window_closed`, cost 0, their reserved cost released, the broadcast's counts moved
    from recipients to skipped; all in one transaction, in the lock order (the broadcast row, then
    its messages, then the wallet). Nothing while the broadcast is not sending. Returns the ids."""
    if not messages:
        return []
    by_id = {m.id: m for m in messages}
    with transaction.atomic():
        broadcast = broadcast_for_update(broadcast_id)
        if broadcast.status not in DISPATCHABLE_BROADCAST:
            return []
        with connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE broadcasts_message
                   SET status = %(skipped)s, error_code = %(code)s, error_message = %(message)s, cost = 0,
                       lease_until = NULL, attempts = GREATEST(attempts - 1, 0)
                 WHERE id = ANY(%(ids)s) AND status = ANY(%(from)s) AND claim_token = %(token)s
                   AND handed_at IS NULL
             RETURNING id, segments
                """,
                {
                    "skipped": Message.Status.SKIPPED,
                    "code": SKIP_WINDOW_CLOSED,
                    "message": CLOSED_MESSAGE,
                    "ids": list(by_id),
                    "from": sorted(SKIP_CLAIMED_FROM),
                    "token": token,
                },
            )
            rows = cursor.fetchall()
        if not rows:
            return []
        release = sum((by_id[mid].cost for mid, _segments in rows), Decimal(0))
        if release:
            billing.release(broadcast_id=broadcast.pk, amount=release)
        segments = sum(parts for _mid, parts in rows)
        Broadcast.objects.filter(pk=broadcast.pk).update(
            skipped_window_closed=F("skipped_window_closed") + len(rows),
            total_recipients=F("total_recipients") - min(len(rows), broadcast.total_recipients),
            total_segments=F("total_segments") - min(segments, broadcast.total_segments),
        )
    log.info("broadcast.whatsapp_window_closed", broadcast_id=str(broadcast_id), skipped=len(rows))
    return [mid for mid, _segments in rows]
