"""Concatenated MO, reassembled in the database: each part is stored (SmppMoPart) before its
deliver_sm is answered, so a receiving process that dies between two parts loses nothing, and the
message goes to the inbound path once its last part is in, whichever process received which part.

Called inside the store's transaction. A transaction-scoped advisory lock per connector serializes
the parts of one connector: two parts of one message received at once on two binds (two processes)
each see the other, and the message is made whole exactly once. A part delivered again is the same
row (unique), and parts of a message still incomplete after MO_TTL are dropped (counted in the log,
never their text or number).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta

import structlog
from django.db import connection
from django.utils import timezone

from .models import SmppMoPart
from .receipts import MoPart

log = structlog.get_logger(__name__)

MO_TTL = timedelta(minutes=10)

Key = tuple[str, str, int, int]  # source, destination, ref, total


def mo_whole(*, connector_name: str, parts: Sequence[MoPart]) -> list[MoPart]:
    """The MO messages these parts complete (single messages as they are), in arrival order."""
    if not any(_concatenated(p) for p in parts):
        return list(parts)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"smpp-mo:{connector_name}"])
    stale, _ = SmppMoPart.objects.filter(connector=connector_name, received_at__lt=now - MO_TTL).delete()
    if stale:
        log.warning("smpp.mo_incomplete_dropped", connector=connector_name, parts=stale)
    SmppMoPart.objects.bulk_create(
        [
            SmppMoPart(
                connector=connector_name, source=p.source[:32], destination=p.destination[:32],
                ref=p.ref or 0, total=p.total, seq=p.seq, text=p.text,
            )
            for p in parts
            if _concatenated(p)
        ],
        ignore_conflicts=True,
    )  # fmt: skip
    keys = {_key(p) for p in parts if _concatenated(p)}
    held: dict[Key, dict[int, SmppMoPart]] = defaultdict(dict)
    for row in SmppMoPart.objects.filter(
        connector=connector_name, source__in={k[0] for k in keys}, ref__in={k[2] for k in keys}
    ):
        key = (row.source, row.destination, row.ref, row.total)
        if key in keys:
            held[key][row.seq] = row
    whole: dict[Key, MoPart] = {}
    done: list[int] = []
    for key, rows in held.items():
        if len(rows) >= key[3] and all(seq in rows for seq in range(1, key[3] + 1)):
            text = "".join(rows[seq].text for seq in range(1, key[3] + 1))
            whole[key] = MoPart(key[0], key[1], text)
            done += [row.id for row in rows.values()]
    if done:
        SmppMoPart.objects.filter(id__in=done).delete()
    out: list[MoPart] = []
    for part in parts:
        if not _concatenated(part):
            out.append(part)
        elif (found := whole.pop(_key(part), None)) is not None:
            out.append(found)  # once, where its first part of this batch came
    return out


def _concatenated(part: MoPart) -> bool:
    return part.ref is not None and part.total > 1


def _key(part: MoPart) -> Key:
    return (part.source[:32], part.destination[:32], part.ref or 0, part.total)
