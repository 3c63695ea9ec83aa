"""Writing planned message rows: COPY, chunk by chunk, inside the caller's transaction.

Rows whose links were rewritten (track_links) get their ids from the message sequence first, so
their short codes can be recorded with the message they belong to (tracking.services.links_write,
one INSERT of links and one of codes per chunk); a code that turns out to be taken is replaced in
its row's text (same length: the same parts and price) before the COPY.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import connection

from tracking.services import links_write

from .models import Broadcast, Message
from .planning import Row

COPY_COLUMNS = (
    "broadcast_id", "client_id", "contact_id", "urn", "channel", "text", "encoding", "segments", "cost",
    "route_code", "connector", "country_code", "status", "error_code", "error_message", "attempts",
    "not_before", "lease_until", "is_test", "clicked", "queued_at", "created_at", "language", "parameters",
    "wait_reason", "variant",
)  # fmt: skip


def _next_ids(count: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence('broadcasts_message', 'id')) FROM generate_series(1, %s)", [count]
        )
        return [row[0] for row in cursor.fetchall()]


def _record_links(broadcast: Broadcast, rows: list[Row], ids: list[int]) -> None:
    items = [(mid, url, code) for mid, row in zip(ids, rows, strict=True) for url, code in row.links or ()]
    written = iter(links_write(client_id=broadcast.client_id, broadcast_id=broadcast.pk, items=items))
    for row in rows:
        for index, (url, code) in enumerate(row.links or ()):
            final = next(written)
            if final != code:  # taken already: the row carries the code that was recorded
                row.text = row.text.replace(f"/r/{code}", f"/r/{final}", 1)
                row.links[index] = (url, final)  # type: ignore[index]


def messages_write(broadcast: Broadcast, rows: list[Row], *, now: datetime, is_test: bool = False) -> list[int]:
    """COPY `rows` as messages of `broadcast`. Returns their ids when they were allocated here (rows
    with short links, and test sends), else an empty list."""
    if not rows:
        return []
    with_ids = is_test or any(r.links for r in rows)
    ids = _next_ids(len(rows)) if with_ids else []
    if any(r.links for r in rows):
        _record_links(broadcast, rows, ids)
    # Ids go in as text: psycopg's UUID dumper is Python-level, and at a million rows it shows.
    broadcast_id, client_id, channel = str(broadcast.pk), str(broadcast.client_id), broadcast.channel
    queued = Message.Status.QUEUED
    columns = ("id", *COPY_COLUMNS) if with_ids else COPY_COLUMNS
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3: COPY goes through the driver's own cursor
        with raw.copy(f"COPY broadcasts_message ({', '.join(columns)}) FROM STDIN") as copy:
            write = copy.write_row
            for index, r in enumerate(rows):
                contact = r.contact_id
                values = (
                    broadcast_id, client_id, contact if contact is None else str(contact), r.urn, channel,
                    r.text, r.encoding, r.segments, r.cost, r.route_code, r.connector, r.country_code, r.status,
                    r.error_code, "", 0, None if is_test else r.not_before, None, is_test, False,
                    now if r.status == queued else None, now, r.language,
                    None if r.parameters is None else json.dumps(r.parameters), "" if is_test else r.wait_reason,
                    r.variant,
                )  # fmt: skip
                write((ids[index], *values) if with_ids else values)
    return ids
