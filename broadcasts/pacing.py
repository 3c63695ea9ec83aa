"""Sending within a connector's `tps`, shared by every worker, on PostgreSQL's clock.

Each dispatcher reserves slots for a whole chunk with one atomic UPDATE of the connector row:
`start = greatest(next, now)`, `next = start + n / tps`. It then waits until `start` and sends the
chunk spread over its window. Workers never overlap windows, so the sum stays within `tps`. One
UPDATE per chunk (not per message) keeps the row cold.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from django.db import connection

T = TypeVar("T")

# Chunks are sent at most every TICK seconds, so one chunk is tps × TICK messages.
TICK = 0.2


def reserve_slots(*, connector_id: str, count: int, tps: int) -> float:
    """Reserve `count` sends; returns seconds to wait before the first of them."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE broadcasts_connector
               SET pacing_next_at = GREATEST(COALESCE(pacing_next_at, clock_timestamp()), clock_timestamp())
                                    + make_interval(secs => %s::float8 / %s)
             WHERE id = %s
         RETURNING EXTRACT(EPOCH FROM (pacing_next_at - make_interval(secs => %s::float8 / %s) - clock_timestamp()))
            """,
            [count, tps, connector_id, count, tps],
        )
        row = cursor.fetchone()
    return max(0.0, float(row[0])) if row else 0.0


def paced(
    items: Sequence[T], *, connector_id: str, tps: int, on_slot: Callable[[float, Sequence[T]], None] | None = None
) -> Iterator[Sequence[T]]:
    """Yield `items` in chunks, each at its reserved time. `on_slot(wait, chunk)` runs as soon as a
    chunk's slot is known, before waiting for it (the dispatcher extends its leases over the wait)."""
    chunk_size = max(1, int(tps * TICK))
    for start in range(0, len(items), chunk_size):
        chunk = items[start : start + chunk_size]
        wait = reserve_slots(connector_id=connector_id, count=len(chunk), tps=tps)
        if on_slot is not None:
            on_slot(wait, chunk)
        if wait > 0:
            time.sleep(wait)
        yield chunk
