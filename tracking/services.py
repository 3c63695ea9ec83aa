"""Writes of tracking: a broadcast's links and their per-recipient codes (called by broadcasts'
writer, in its transaction), and, in tracking/clicks.py, clicks and their counting."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence

from django.db import connection

from .rewrite import new_code

# Rounds of new codes for those that collided with an existing one (62^7 codes: one round is rare).
MAX_CODE_ROUNDS = 8


def links_write(
    *, client_id: uuid.UUID | str, broadcast_id: uuid.UUID | str, items: Sequence[tuple[int | None, str, str]]
) -> list[str]:
    """Record (message id, url, code) triples of one chunk, inside the caller's transaction: one
    row per distinct URL of the broadcast (its `recipients` counted up), one code per triple.
    Returns the codes as written, in the order of `items`: a code already taken (or drawn twice) is
    replaced, and the caller puts the new one in that message's text before writing it. Two
    statements per round of codes, whatever the size."""
    if not items:
        return []
    per_url = Counter(url for _mid, url, _code in items)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO tracking_trackedlink (id, client_id, broadcast_id, url, recipients, clicks, unique_clicks,
                                              bot_clicks, created_at)
            SELECT gen_random_uuid(), %(client)s, %(broadcast)s, u.url, u.n, 0, 0, 0, now()
              FROM unnest(%(urls)s::text[], %(counts)s::int[]) AS u(url, n)
            ON CONFLICT (broadcast_id, url)
            DO UPDATE SET recipients = tracking_trackedlink.recipients + EXCLUDED.recipients
            RETURNING url, id
            """,
            {
                "client": str(client_id),
                "broadcast": str(broadcast_id),
                "urls": list(per_url),
                "counts": list(per_url.values()),
            },
        )
        link_ids = {url: str(link_id) for url, link_id in cursor.fetchall()}
        codes = [code for _mid, _url, code in items]
        seen: set[str] = set()
        for index, code in enumerate(codes):
            if code in seen:  # the same code drawn twice in one chunk: the second one gets another
                codes[index] = _fresh(seen)
            seen.add(codes[index])
        waiting = list(range(len(items)))
        for _round in range(MAX_CODE_ROUNDS):
            cursor.execute(
                """
                INSERT INTO tracking_linkcode (code, link_id, message_id)
                SELECT * FROM unnest(%s::text[], %s::uuid[], %s::bigint[])
                ON CONFLICT (code) DO NOTHING
                RETURNING code
                """,
                [
                    [codes[i] for i in waiting],
                    [link_ids[items[i][1]] for i in waiting],
                    [items[i][0] for i in waiting],
                ],
            )
            written = {row[0] for row in cursor.fetchall()}
            waiting = [i for i in waiting if codes[i] not in written]
            if not waiting:
                return codes
            for i in waiting:  # taken by an earlier broadcast: draw again
                codes[i] = _fresh(seen)
                seen.add(codes[i])
    raise RuntimeError("Could not find free link codes.")  # 62^7 codes: never in practice


def _fresh(taken: set[str]) -> str:
    while (code := new_code()) in taken:
        pass
    return code
