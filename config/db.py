"""Database helpers shared by the apps."""

from __future__ import annotations

from typing import Any

from django.db import connection


def relax_commit(cursor: Any) -> bool:
    """Let the transaction `cursor` is in commit without waiting for its WAL flush (`SET LOCAL
    synchronous_commit TO OFF`): a few milliseconds per commit on this machine's disk, and row locks
    held that much shorter.

    For writes that a database crash may lose harmlessly, or that a later commit with a flush makes
    durable anyway (WAL is flushed in order: the handed mark's commit flushes the claim before it).
    Only in the outermost transaction: inside a caller's, the setting would cover the caller's own
    writes too, so it is left alone there. Returns whether it was relaxed.
    """
    if not connection.in_atomic_block or connection.savepoint_ids:
        return False
    cursor.execute("SET LOCAL synchronous_commit TO OFF")
    return True
