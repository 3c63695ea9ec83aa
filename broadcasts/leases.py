"""Leases: who may dispatch a broadcast, and how long a claimed message is in a sender's hands.

One dispatcher per broadcast at a time holds a lease on the broadcast row (token + expiry), renewed
before every chunk it sends. A dispatcher that stops early hands the lease to its own continuation
by token, so beat's tick restarts a broadcast only when its dispatcher really died. Each claimed
message carries its own lease, extended over every chunk's wait and send, so a slow batch is never
mistaken for a dead one.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from .connectors.http import CONNECT_TIMEOUT, MAX_IN_FLIGHT, READ_TIMEOUT
from .models import Broadcast, Message
from .states import DISPATCHABLE_BROADCAST

LEASE_SECONDS = 60
MESSAGE_LEASE_MARGIN = 120


def lease_acquire(*, broadcast_id: uuid.UUID | str, token: str | None) -> str | None:
    """Take the broadcast's dispatch lease; returns the new token, or None if another holds it."""
    now = timezone.now()
    new_token = uuid.uuid4().hex
    condition = Q(dispatch_lease_until__isnull=True) | Q(dispatch_lease_until__lt=now)
    if token:
        condition |= Q(dispatch_token=token)
    taken = Broadcast.objects.filter(condition, pk=broadcast_id, status__in=DISPATCHABLE_BROADCAST).update(
        dispatch_lease_until=now + timedelta(seconds=LEASE_SECONDS), dispatch_token=new_token
    )
    return new_token if taken else None


def lease_renew(*, broadcast_id: uuid.UUID | str, token: str, until: datetime) -> bool:
    return bool(Broadcast.objects.filter(pk=broadcast_id, dispatch_token=token).update(dispatch_lease_until=until))


def lease_handover(*, broadcast_id: uuid.UUID | str, token: str, wake_at: datetime) -> str | None:
    """Keep the lease for our continuation (woken at `wake_at`); returns its token."""
    next_token = uuid.uuid4().hex
    handed = Broadcast.objects.filter(pk=broadcast_id, dispatch_token=token).update(
        dispatch_token=next_token, dispatch_lease_until=wake_at + timedelta(seconds=LEASE_SECONDS)
    )
    return next_token if handed else None


def lease_release(*, broadcast_id: uuid.UUID | str, token: str) -> None:
    Broadcast.objects.filter(pk=broadcast_id, dispatch_token=token).update(dispatch_lease_until=None, dispatch_token="")


def send_budget_seconds(count: int) -> float:
    """The longest `count` messages can take in one plugin call (every request timing out)."""
    rounds = math.ceil(count / MAX_IN_FLIGHT)
    return rounds * (CONNECT_TIMEOUT + READ_TIMEOUT)


def keep_leases(
    *,
    broadcast_id: uuid.UUID | str,
    token: str | None,
    message_ids: list[int],
    seconds: float,
    handed: Sequence[int] = (),
) -> None:
    """Before each paced chunk: the broadcast's lease and the in-flight messages' leases outlast it,
    so neither beat's tick nor another dispatcher takes over a batch that is merely slow. `handed`
    (a chunk going out at once) is marked handed to the provider in the same UPDATE."""
    now = timezone.now()
    if token:
        lease_renew(broadcast_id=broadcast_id, token=token, until=now + timedelta(seconds=LEASE_SECONDS + seconds))
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE broadcasts_message
               SET lease_until = %(until)s,
                   handed_at = CASE WHEN id = ANY(%(handed)s) THEN %(now)s ELSE handed_at END
             WHERE id = ANY(%(ids)s) AND status = %(sending)s
            """,
            {
                "until": now + timedelta(seconds=MESSAGE_LEASE_MARGIN + seconds),
                "handed": list(handed),
                "now": now,
                "ids": message_ids,
                "sending": Message.Status.SENDING,
            },
        )
