"""Per-broadcast counters, read without recounting messages (SPEC §8 stats).

Every statement that inserts, moves or deletes messages (COPY at create, the claim, a batch's
record, reports, cancel, retry-failed, clicks…) appends, through statement-level triggers in the
database (migration 0006), one row of deltas per broadcast it touched to `BroadcastCount`, in its own
transaction: a rolled-back statement leaves no delta, and no path can forget to count. Appending
never waits on a lock, so counting adds no lock order to dispatch, reports or lifecycle actions.

A read adds up a broadcast's rows; beat folds them into one row per broadcast (`counts_fold`) so a
read stays a few rows whatever the number of messages. `counts_recount` recounts from the messages:
the suite compares it after every broadcast test, and `manage.py recountbroadcasts` repairs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction

COLUMNS = ("queued", "sent", "delivered", "read", "failed", "skipped", "cancelled", "clicked", "spent", "waiting")


def _counts(row: tuple[object, ...]) -> Counts:
    """A row of (broadcast_id, the eight counts, spent, waiting) as Counts."""
    queued, sent, delivered, read, failed, skipped, cancelled, clicked = (int(str(v)) for v in row[1:9])
    spent, waiting = Decimal(str(row[9])), int(str(row[10]))
    return Counts(queued, sent, delivered, read, failed, skipped, cancelled, clicked, spent, waiting)


@dataclass(frozen=True)
class Counts:
    queued: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    skipped: int = 0
    cancelled: int = 0
    clicked: int = 0
    spent: Decimal = field(default_factory=Decimal)
    waiting: int = 0  # pending: held by their not_before (SPEC §10); also counted in `queued`


def counts_for(*, broadcast_ids: Iterable[uuid.UUID | str]) -> dict[uuid.UUID, Counts]:
    """The counters of these broadcasts (zeros for one without messages): one indexed query."""
    ids = [uuid.UUID(str(i)) for i in broadcast_ids]
    if not ids:
        return {}
    sums = ", ".join(f"SUM({c})" for c in COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT broadcast_id, {sums} FROM broadcasts_broadcastcount"  # noqa: S608 - constant columns
            " WHERE broadcast_id = ANY(%s) GROUP BY broadcast_id",
            [ids],
        )
        found = {row[0]: _counts(row) for row in cursor.fetchall()}
    return {i: found.get(i, Counts()) for i in ids}


def counts_recount(*, broadcast_ids: Iterable[uuid.UUID | str] | None = None) -> dict[uuid.UUID, Counts]:
    """The same figures counted from the messages (slow at scale: for checks and repairs)."""
    where, params = "WHERE NOT is_test", []
    if broadcast_ids is not None:
        where += " AND broadcast_id = ANY(%s)"
        params = [[uuid.UUID(str(i)) for i in broadcast_ids]]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT broadcast_id,
                   COUNT(*) FILTER (WHERE status IN ('pending', 'queued', 'sending')),
                   COUNT(*) FILTER (WHERE sent_at IS NOT NULL),
                   COUNT(*) FILTER (WHERE status IN ('delivered', 'read')),
                   COUNT(*) FILTER (WHERE status = 'read'),
                   COUNT(*) FILTER (WHERE status = 'failed'),
                   COUNT(*) FILTER (WHERE status = 'skipped'),
                   COUNT(*) FILTER (WHERE status = 'cancelled'),
                   COUNT(*) FILTER (WHERE clicked),
                   COALESCE(SUM(cost) FILTER (WHERE status IN ('sent', 'delivered', 'read')), 0),
                   COUNT(*) FILTER (WHERE status = 'pending')
              FROM broadcasts_message {where}
             GROUP BY broadcast_id
            """,  # noqa: S608 - a constant filter
            params,
        )
        return {row[0]: _counts(row) for row in cursor.fetchall()}


def counts_fold(*, limit: int = 1000) -> int:
    """Fold each broadcast's delta rows into one row (up to `limit` broadcasts). Safe beside writers
    and another fold: a row is deleted once, and the deletion and the sum commit together."""
    sums = ", ".join(f"SUM({c})" for c in COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH busy AS (
                SELECT broadcast_id FROM broadcasts_broadcastcount GROUP BY broadcast_id HAVING COUNT(*) > 1 LIMIT %s
            ), gone AS (
                DELETE FROM broadcasts_broadcastcount WHERE broadcast_id IN (SELECT broadcast_id FROM busy)
                RETURNING *
            )
            INSERT INTO broadcasts_broadcastcount (broadcast_id, {", ".join(COLUMNS)})
            SELECT broadcast_id, {sums} FROM gone GROUP BY broadcast_id
            """,  # noqa: S608 - constant columns
            [limit],
        )
        return cursor.rowcount


@contextmanager
def _snapshot() -> Iterator[None]:
    """A transaction whose statements all read one snapshot (REPEATABLE READ): the counters and the
    messages they count are compared as of one instant while reports, claims and folds go on."""
    outermost = not connection.in_atomic_block  # inside a caller's transaction (tests), its snapshot rules
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def _differences(broadcast_ids: Iterable[uuid.UUID | str] | None) -> dict[uuid.UUID, tuple[Counts, Counts]]:
    """{broadcast: (counters, recount)} where they differ, inside the caller's snapshot: every
    broadcast with messages or with counter rows (counters left for a broadcast whose messages are
    gone count too)."""
    recount = counts_recount(broadcast_ids=broadcast_ids)
    if broadcast_ids is None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT DISTINCT broadcast_id FROM broadcasts_broadcastcount")
            ids = sorted(set(recount) | {row[0] for row in cursor.fetchall()})
    else:
        ids = [uuid.UUID(str(i)) for i in broadcast_ids]
    current = counts_for(broadcast_ids=ids)
    return {i: (current[i], recount.get(i, Counts())) for i in ids if current[i] != recount.get(i, Counts())}


def counts_check(*, broadcast_ids: Iterable[uuid.UUID | str] | None = None) -> dict[uuid.UUID, tuple[Counts, Counts]]:
    """{broadcast: (counters, recount)} for those that differ, both read from one snapshot."""
    with _snapshot():
        return _differences(broadcast_ids)


def counts_repair(*, broadcast_ids: Iterable[uuid.UUID | str] | None = None) -> list[uuid.UUID]:
    """Make the counters equal the recount (returns the broadcasts that differed).

    The difference is measured in one snapshot and appended as one more delta row per broadcast
    (recount − counters): nothing is deleted, so a delta committed meanwhile by a report or a claim
    (not in the snapshot, and not in the recount) still counts afterwards."""
    with _snapshot(), connection.cursor() as cursor:
        wrong = _differences(broadcast_ids)
        for broadcast_id, (counters, counted) in wrong.items():
            correction = [getattr(counted, c) - getattr(counters, c) for c in COLUMNS]
            cursor.execute(
                f"INSERT INTO broadcasts_broadcastcount (broadcast_id, {', '.join(COLUMNS)})"  # noqa: S608
                f" VALUES (%s, {', '.join(['%s'] * len(COLUMNS))})",
                [broadcast_id, *correction],
            )
    return list(wrong)
