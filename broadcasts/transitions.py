"""The one way a broadcast's status moves: a conditional UPDATE over states.ACTIONS.

`broadcast_move` is for the system's own moves (the dispatcher starting, completing or pausing
itself; beat starting a scheduled broadcast): it returns whether it won. `broadcast_transition` is
for a user's action: losing it (another action got there first) is a 409 naming the status now.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.utils import timezone

from accounts.exceptions import ConflictError

from .models import Broadcast
from .states import ACTIONS


def broadcast_move(broadcast_id: uuid.UUID | str, action: str, to: str, **updates: Any) -> bool:
    """Move the broadcast to `to` if `action` allows it from its status now; True if it moved."""
    spec = ACTIONS[action]
    if to not in spec.targets:
        raise ValueError(f"'{action}' cannot move a broadcast to {to}.")
    moved = Broadcast.objects.filter(pk=broadcast_id, status__in=spec.sources).update(
        status=to, updated_at=timezone.now(), **updates
    )
    return bool(moved)


def broadcast_transition(broadcast: Broadcast, action: str, to: str, **updates: Any) -> Broadcast:
    """A user's action: the broadcast moved (and refreshed), or a 409 when its status forbids it."""
    if not broadcast_move(broadcast.pk, action, to, **updates):
        current = Broadcast.objects.filter(pk=broadcast.pk).values_list("status", flat=True).first()
        raise ConflictError(f"{ACTIONS[action].describe} This one is {current}.")
    broadcast.refresh_from_db()
    return broadcast
