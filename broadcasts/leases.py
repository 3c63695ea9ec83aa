"""Leases: who may dispatch a broadcast, and how long a claimed message is in a sender's hands.

One dispatcher per broadcast at a time holds a lease on the broadcast row (token + expiry). It is
at least four provider deadlines long (`PROVIDER_TIMEOUT`, SPEC §10) and renewed by every request
group's handed mark (claims.hand), so a dispatcher that is merely slow keeps it and one that
stalled loses it; whatever it does after losing it changes nothing (every write it makes carries
its token). A dispatcher that stops early hands the lease to its own continuation by token, so
beat's tick restarts a broadcast only when its dispatcher really died.

Lanes: a large broadcast has up to BROADCAST_DISPATCH_LANES dispatchers at once. Lane 0 is the one
above (its lease on the broadcast row; beat restarts it). Lanes 1… are helpers lane 0 starts while
it claims full batches, each with a lease of its own in a DispatchLane row, taken, renewed, handed
to its continuation and fenced exactly like lane 0's (claims.hand accepts either). A helper that
dies leaves its row to expire; lane 0 starts the lane again, and the dead helper's messages are
recovered like any dead sender's, when their message leases run out.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from .models import Broadcast, DispatchLane
from .states import DISPATCHABLE_BROADCAST


def lease_seconds() -> float:
    """A dispatcher's lease: four provider deadlines, and never under a minute."""
    return max(60.0, 4 * float(settings.PROVIDER_TIMEOUT))


def message_lease_seconds() -> float:
    """A claimed message's lease: it outlives the dispatcher's, so the broadcast's lease runs out
    (and beat's tick restarts the broadcast) before its messages can be claimed again."""
    return 2 * lease_seconds()


def lease_acquire(*, broadcast_id: uuid.UUID | str, token: str | None, lane: int = 0) -> str | None:
    """Take the broadcast's dispatch lease (or a helper lane's); returns the new token, or None if
    another holds it (a live lease under another token) or the broadcast is not sending."""
    if lane:
        return _lane_acquire(broadcast_id=broadcast_id, token=token, lane=lane)
    now = timezone.now()
    new_token = uuid.uuid4().hex
    condition = Q(dispatch_lease_until__isnull=True) | Q(dispatch_lease_until__lt=now)
    if token:
        condition |= Q(dispatch_token=token)
    taken = Broadcast.objects.filter(condition, pk=broadcast_id, status__in=DISPATCHABLE_BROADCAST).update(
        dispatch_lease_until=now + timedelta(seconds=lease_seconds()), dispatch_token=new_token
    )
    return new_token if taken else None


def lease_renew(*, broadcast_id: uuid.UUID | str, token: str, until: datetime) -> bool:
    return bool(Broadcast.objects.filter(pk=broadcast_id, dispatch_token=token).update(dispatch_lease_until=until))


def _lane_acquire(*, broadcast_id: uuid.UUID | str, token: str | None, lane: int) -> str | None:
    """A helper lane's lease: its row is made, or taken when expired or held under `token`."""
    new_token = uuid.uuid4().hex
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO broadcasts_dispatchlane AS l (broadcast_id, lane, token, lease_until)
            SELECT id, %(lane)s, %(new)s, clock_timestamp() + make_interval(secs => %(lease)s)
              FROM broadcasts_broadcast WHERE id = %(b)s AND status = ANY(%(dispatchable)s)
                ON CONFLICT (broadcast_id, lane) DO UPDATE
               SET token = EXCLUDED.token, lease_until = EXCLUDED.lease_until
             WHERE l.lease_until < clock_timestamp() OR l.token = %(token)s
         RETURNING l.id
            """,
            {
                "b": str(broadcast_id),
                "lane": lane,
                "new": new_token,
                "token": token or "",
                "lease": lease_seconds(),
                "dispatchable": sorted(DISPATCHABLE_BROADCAST),
            },
        )
        return new_token if cursor.fetchone() else None


def lane_live(*, broadcast_id: uuid.UUID | str, lane: int) -> bool:
    return DispatchLane.objects.filter(broadcast_id=broadcast_id, lane=lane, lease_until__gt=timezone.now()).exists()


def lease_handover(*, broadcast_id: uuid.UUID | str, token: str, wake_at: datetime, lane: int = 0) -> str | None:
    """Keep the lease for our continuation (woken at `wake_at`); returns its token."""
    next_token = uuid.uuid4().hex
    if lane:
        handed = DispatchLane.objects.filter(broadcast_id=broadcast_id, lane=lane, token=token).update(
            token=next_token, lease_until=wake_at + timedelta(seconds=lease_seconds())
        )
        return next_token if handed else None
    handed = Broadcast.objects.filter(pk=broadcast_id, dispatch_token=token).update(
        dispatch_token=next_token, dispatch_lease_until=wake_at + timedelta(seconds=lease_seconds())
    )
    return next_token if handed else None


def lease_release(*, broadcast_id: uuid.UUID | str, token: str, lane: int = 0) -> None:
    if lane:
        DispatchLane.objects.filter(broadcast_id=broadcast_id, lane=lane, token=token).delete()
        return
    Broadcast.objects.filter(pk=broadcast_id, dispatch_token=token).update(dispatch_lease_until=None, dispatch_token="")
