"""Every row lock broadcasts take, in one place and one order (Saleor's pattern).

Lock order across apps: the broadcast row, then its messages (by pk), then the wallet, then the
reservation (wallets/lock_objects.py). Taking locks in one order is what keeps retry-failed, cancel,
test sends and the dispatcher's settlement from deadlocking each other. Claims lock messages with
`FOR UPDATE SKIP LOCKED` in claims.py, also by id.

A broadcast row is locked `FOR NO KEY UPDATE` (`no_key=True`): every locker still excludes every
other, but a transaction checking a foreign key to the row (`FOR KEY SHARE`, at its COMMIT: the
constraints are deferred) does not wait. A send's record that applies an early report updates its
messages twice, so PostgreSQL checks their foreign key to the broadcast at COMMIT; with `FOR UPDATE`
that check waited for a preparation chunk holding the broadcast while the chunk waited for the
wallet the record held: a deadlock, and a group's answers lost (tests/broadcasts/test_lock_strength.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime

from django.db.models import QuerySet

from accounts.exceptions import ConflictError

from .models import Broadcast, Message
from .states import ACTIONS


def broadcast_for_update(broadcast_id: uuid.UUID | str) -> Broadcast:
    """The broadcast row, locked until the end of the caller's transaction."""
    return Broadcast.objects.select_for_update(no_key=True).get(pk=broadcast_id)


def broadcast_for_action(broadcast: Broadcast, action: str) -> Broadcast:
    """The broadcast row, locked, if `action` is allowed from its status now; a 409 otherwise."""
    locked = broadcast_for_update(broadcast.pk)
    if locked.status not in ACTIONS[action].sources:
        raise ConflictError(f"{ACTIONS[action].describe} This one is {locked.status}.")
    return locked


def messages_for_update(messages: QuerySet[Message]) -> QuerySet[Message]:
    """These messages, locked in pk order (one order for every locker: no deadlock between two)."""
    return messages.select_for_update().order_by("pk")


def series_due_for_update(*, now: datetime, skip: Collection[uuid.UUID]) -> Broadcast | None:
    """The recurring series due first at `now` (but those in `skip`), locked; one another
    transaction holds is skipped, not waited for (two beats fire different series)."""
    return (
        Broadcast.objects.select_for_update(skip_locked=True, no_key=True)
        .filter(status=Broadcast.Status.SCHEDULED, schedule_mode=Broadcast.ScheduleMode.RECURRING, next_run_at__lte=now)
        .exclude(pk__in=list(skip))
        .order_by("next_run_at")
        .first()
    )


def series_due_chunk_for_update(*, now: datetime, limit: int, skip: Collection[uuid.UUID]) -> list[Broadcast]:
    """Up to `limit` recurring series due at `now` (but those in `skip`), locked, the earliest due
    first; those another transaction holds are skipped (a burst's firing runs share the due ones)."""
    return list(
        Broadcast.objects.select_for_update(skip_locked=True, of=("self",), no_key=True)
        .filter(status=Broadcast.Status.SCHEDULED, schedule_mode=Broadcast.ScheduleMode.RECURRING, next_run_at__lte=now)
        .exclude(pk__in=list(skip))
        .order_by("next_run_at", "pk")[:limit]
    )


def ab_test_due_for_update(*, now: datetime, skip: Collection[uuid.UUID]) -> Broadcast | None:
    """The A/B test due for its decision first at `now` (but those in `skip`), locked; one another
    transaction holds is skipped (two beats decide different tests, and each test once). A paused
    test, or one still being prepared, waits."""
    return (
        Broadcast.objects.select_for_update(skip_locked=True, no_key=True)
        .filter(
            ab_status="testing",
            ab_decide_at__lte=now,
            status__in=[Broadcast.Status.QUEUED, Broadcast.Status.SENDING],
            preparing=False,
        )
        .exclude(pk__in=list(skip))
        .order_by("ab_decide_at")
        .first()
    )
