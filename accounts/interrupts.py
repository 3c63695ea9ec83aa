"""What a Celery soft time limit can leave behind, and how a task recovers from it.

The limit is an exception raised by a signal handler wherever the task happens to be, psycopg's
waits included:

- inside a statement's wait, outside a transaction: the connection stays mid-command (psycopg's
  status ACTIVE) and every later statement fails with "another command is already in progress";
- inside the COMMIT of `transaction.atomic()`: Django's `__exit__` then fails to switch autocommit
  back on ("can't change 'autocommit' now: connection in transaction status ACTIVE"), so the
  exception that comes out is that ProgrammingError, with the time limit only in its context, and
  Django is left with autocommit off outside any atomic block: the next `atomic()` "pretends" to be
  inside one, every statement fails, and once the connection is closed every later task of the
  process fails with "Cannot open a new connection in an atomic block".

`time_limit_behind` finds the limit behind such an exception; `connection_recover` forgets Django's
transaction state and closes a connection left that way (the interrupted statement, alone on its
connection, either committed on the server or did not, as after a crash), while a connection in a
caller's healthy transaction (tests run tasks eagerly inside theirs) is left alone.
"""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection as default_connection

log = structlog.get_logger(__name__)


def time_limit_behind(exc: BaseException | None) -> bool:
    """True when `exc` is the soft time limit, or was raised while handling it (its context chain)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, SoftTimeLimitExceeded):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def connection_broken(conn: Any) -> bool:
    """A connection an interrupted statement or COMMIT left unusable (see above)."""
    raw = conn.connection
    if raw is None:
        return False
    if raw.info.transaction_status == psycopg.pq.TransactionStatus.ACTIVE:
        return True  # a command still in progress: nothing runs between statements
    # Herald always runs in autocommit outside atomic blocks: off there, an __exit__ was cut short.
    return not conn.in_atomic_block and not conn.autocommit


def connection_reset(conn: Any) -> None:
    """Forget Django's transaction state on `conn` and close it: the next statement opens another."""
    conn.in_atomic_block = False
    conn.savepoint_ids = []
    conn.atomic_blocks = []
    conn.needs_rollback = False
    conn.closed_in_transaction = False
    conn.run_on_commit = []
    conn.commit_on_exit = True
    conn.close()
    conn.autocommit = True  # what the next connection starts with (close() leaves the flag)


def connection_recover(conn: Any = None) -> bool:
    """Reset `conn` (this thread's default connection) if an interrupt left it broken; True if it did."""
    conn = conn if conn is not None else default_connection
    if not connection_broken(conn):
        return False
    log.warning("database.connection_reset_after_interrupt")
    connection_reset(conn)
    return True
