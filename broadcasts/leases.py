"""Leases: who may dispatch a broadcast, and how long a claimed message is in a sender's hands.

One dispatcher per broadcast at a time holds a lease on the broadcast row (token + expiry). It is
at least four provider deadlines long (`PROVIDER_TIMEOUT`, SPEC §10) and renewed by every request
group's handed mark (claims.hand), so a dispatcher that is merely slow keeps it and one that
stalled loses it; whatever it does after losing it changes nothing (every write it makes carries
its token). A dispatcher that stops early hands the lease to its own continuation by token, so
beat's tick restarts a broadcast only when its dispatcher really died.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import Broadcast
from .states import DISPATCHABLE_BROADCAST


def lease_seconds() -> float:
    """A dispatcher's lease: four provider deadlines, and never under a minute."""
    return max(60.0, 4 * float(settings.PROVIDER_TIMEOUT))


def message_lease_seconds() -> float:
    """A claimed message's lease: it outlives the dispatcher's, so the broadcast's lease runs out
    (and beat's tick restarts the broadcast) before its messages can be claimed again."""
    return 2 * lease_seconds()


def lease_acquire(*, broadcast_id: uuid.UUID | str, token: str | None) -> str | None:
    """Take the broadcast's dispatch lease; returns the new token, or None if another holds it."""
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


def lease_handover(*, broadcast_id: uuid.UUID | str, token: str, wake_at: datetime) -> str | None:
    """Keep the lease for our continuation (woken at `wake_at`); returns its token."""
    next_token = uuid.uuid4().hex
    handed = Broadcast.objects.filter(pk=broadcast_id, dispatch_token=token).update(
        dispatch_token=next_token, dispatch_lease_until=wake_at + timedelta(seconds=lease_seconds())
    )
    return next_token if handed else None


def lease_release(*, broadcast_id: uuid.UUID | str, token: str) -> None:
    Broadcast.objects.filter(pk=broadcast_id, dispatch_token=token).update(dispatch_lease_until=None, dispatch_token="")
