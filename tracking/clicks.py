"""Clicks: recorded by the redirect in one statement, counted afterwards in batches (SPEC §12).

The redirect (tracking/views.py) only appends a row to `tracking_click`; it never updates a
counter, so clicks on one popular link never queue behind each other's row lock. `clicks_process`,
run every 2 s by beat (broadcasts.tasks.process_clicks, through broadcasts/clicks.py), claims the
unprocessed rows and adds them to each link's counters in one statement, so the pages that show
counters read a link row and never count the clicks table.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

MAX_USER_AGENT = 512

# One statement: the code's link, and a click appended when there is one. The link's URL is
# checked again here (http or https only), so no other stored value is ever redirected to.
# `set_config(..., true)` turns synchronous_commit off for this statement's own (autocommit)
# transaction only: the commit does not wait for its WAL flush (docs/tracking.md explains why that
# is safe and what it buys). It runs only when a click is written. The request key makes the
# statement idempotent: run again with the same key (the first run's answer was lost, not
# necessarily its commit), it inserts nothing and still answers the URL.
_RECORD = """
WITH target AS (
    SELECT c.code, c.link_id, c.message_id, l.url
      FROM tracking_linkcode c
      JOIN tracking_trackedlink l ON l.id = c.link_id
     WHERE c.code = %s AND l.url ~* '^https?://'
), click AS (
    INSERT INTO tracking_click
           (code_id, link_id, message_id, clicked_at, user_agent, ip_hash, is_bot, processed, request_key)
    SELECT code, link_id, message_id, statement_timestamp(), %s, %s, %s, false, %s
      FROM target
     WHERE %s OR set_config('synchronous_commit', 'off', true) = 'off'
        ON CONFLICT (request_key) WHERE request_key IS NOT NULL DO NOTHING
)
SELECT url FROM target
"""

_LOOKUP = """
SELECT l.url
  FROM tracking_linkcode c
  JOIN tracking_trackedlink l ON l.id = c.link_id
 WHERE c.code = %s AND l.url ~* '^https?://'
"""


@lru_cache(maxsize=4)
def _ip_key(secret: str) -> bytes:
    # A key of its own, derived from SECRET_KEY: an IP hash is no use for anything signed with it.
    return hashlib.sha256(b"herald.tracking.click-ip\x00" + secret.encode()).digest()


def ip_hash(ip: str, *, secret: str) -> str:
    """HMAC-SHA256 of the client's address (hex): equal addresses give equal hashes while
    SECRET_KEY stays the same, and the address cannot be read back or guessed from a table of all
    IPv4 addresses without the key."""
    if not ip:
        return ""
    return hmac.new(_ip_key(secret), ip.encode(), hashlib.sha256).hexdigest()


def request_key() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, the version, 74 random bits. Unique
    without asking the database, and increasing, so the index on it grows at its right edge."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    rand_a, rand_b = (rand >> 64) & 0xFFF, rand & (2**62 - 1)
    return uuid.UUID(int=(ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)


class DatabaseUnavailableError(Exception):
    """PostgreSQL cannot answer now: it refused or dropped the connection, also on the re-run, or
    the statement timed out. Not raised for an error of the statement itself."""


# A broken or unreachable server, whether seen by psycopg on the fast path or by Django connecting.
_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)

_NEVER_BY_COUNT = 2**31 - 1


def _one_row(sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    """The first row of `sql`, in one round trip to PostgreSQL where possible; DatabaseUnavailableError
    when the server cannot be reached.

    Django checks a reused connection with a `SELECT 1` before a request's first query
    (CONN_HEALTH_CHECKS): a second round trip per click, which cost the redirect about a fifth of
    its throughput (docs/benchmarks.md). Here the statement runs straight on the open psycopg
    connection, prepared server-side: planned once per connection, not per click (off with
    TRACKING_PREPARED_STATEMENTS=0 behind a transaction-mode pooler older than PgBouncer 1.21).
    Only if that connection turns out broken (the server restarted or dropped it) is it closed
    and the statement run again, with the same parameters, on a new one, as the health check
    would have replaced it. The break may have come after the server committed, before we read
    its answer: every statement run here must therefore be idempotent (a read, or _RECORD with its
    request key). A statement that failed for any other reason is raised, not run twice. Inside a
    transaction (tests, a caller's atomic block) Django's own cursor is used, unchanged.
    """
    try:
        return _run(sql, params)
    except _UNAVAILABLE as exc:
        raise DatabaseUnavailableError(type(exc).__name__) from exc


def _run(sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    raw = connection.connection
    if raw is not None and not connection.in_atomic_block:
        try:
            # psycopg.Cursor, not the connection's factory (Django's client-side-binding ClientCursor,
            # which cannot prepare): bound and prepared server-side.
            prepare = settings.TRACKING_PREPARED_STATEMENTS
            if prepare and raw.prepare_threshold is None:
                # Django turns preparing off (for poolers); psycopg then ignores prepare=True. A
                # threshold no other statement reaches lets only the ones asked here be prepared.
                raw.prepare_threshold = _NEVER_BY_COUNT
            with psycopg.Cursor(raw) as cursor:
                cursor.execute(sql, params, prepare=prepare)
                return cursor.fetchone()
        except psycopg.Error:
            if not raw.broken:
                raise
            connection.close()  # dead: Django connects again below
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def click_record(*, code: str, user_agent: str, ip_hash: str, is_bot: bool, wait_for_flush: bool = False) -> str | None:
    """The stored URL of `code`, with its click appended (one statement, in autocommit); None for
    an unknown code (nothing written). At most one click, also when the statement had to be run
    again (its request key is drawn once, here). `wait_for_flush` keeps synchronous_commit as
    configured. DatabaseUnavailableError when PostgreSQL cannot be reached."""
    params = [code, user_agent[:MAX_USER_AGENT], ip_hash, is_bot, request_key(), wait_for_flush]
    row = _one_row(_RECORD, params)
    return row[0] if row else None


def link_url(*, code: str) -> str | None:
    """The stored URL of `code`, nothing written (HEAD). DatabaseUnavailableError when unreachable."""
    row = _one_row(_LOOKUP, [code])
    return row[0] if row else None


@dataclass(frozen=True, slots=True)
class FirstClick:
    """A message's earliest click by a person in one processed batch."""

    message_id: int
    url: str
    clicked_at: datetime


# Serializes processors (any key of this app's own): two batches processed at once could both count
# one recipient's first click as unique. Transaction-scoped: released by the caller's commit.
_PROCESS_LOCK = 0x7472_616B  # "trak"

_PROCESS = """
WITH batch AS (
    SELECT id, link_id, message_id, clicked_at, is_bot
      FROM tracking_click
     WHERE NOT processed
     ORDER BY id
     LIMIT %(limit)s
       FOR UPDATE SKIP LOCKED
), marked AS (
    UPDATE tracking_click c SET processed = true FROM batch b WHERE c.id = b.id
), newcomers AS (
    -- Recipients clicking a link for the first time: in no processed people's click of it (this
    -- statement's snapshot predates `marked`, so the batch's own rows are not "earlier").
    SELECT DISTINCT b.link_id, b.message_id
      FROM batch b
     WHERE NOT b.is_bot AND b.message_id IS NOT NULL
       AND NOT EXISTS (
           SELECT 1 FROM tracking_click p
            WHERE p.link_id = b.link_id AND p.message_id = b.message_id AND p.processed AND NOT p.is_bot
       )
), per_link AS (
    SELECT b.link_id,
           count(*) FILTER (WHERE NOT b.is_bot) AS clicks,
           count(*) FILTER (WHERE b.is_bot) AS bot_clicks,
           min(b.clicked_at) FILTER (WHERE NOT b.is_bot) AS first_at,
           max(b.clicked_at) FILTER (WHERE NOT b.is_bot) AS last_at,
           (SELECT count(*) FROM newcomers n WHERE n.link_id = b.link_id) AS unique_clicks
      FROM batch b
     GROUP BY b.link_id
), counted AS (
    UPDATE tracking_trackedlink l
       SET clicks = l.clicks + p.clicks,
           bot_clicks = l.bot_clicks + p.bot_clicks,
           unique_clicks = l.unique_clicks + p.unique_clicks,
           first_click_at = LEAST(l.first_click_at, p.first_at),
           last_click_at = GREATEST(l.last_click_at, p.last_at)
      FROM per_link p
     WHERE l.id = p.link_id
)
SELECT n.claimed, f.message_id, f.url, f.clicked_at
  FROM (SELECT count(*) AS claimed FROM batch) n
  LEFT JOIN LATERAL (
      SELECT DISTINCT ON (b.message_id) b.message_id, l.url, b.clicked_at
        FROM batch b
        JOIN tracking_trackedlink l ON l.id = b.link_id
       WHERE NOT b.is_bot AND b.message_id IS NOT NULL
       ORDER BY b.message_id, b.clicked_at, b.id
  ) f ON true
"""


@dataclass(frozen=True, slots=True)
class ProcessedBatch:
    claimed: int  # clicks counted (people's and bots')
    first_clicks: list[FirstClick]


def clicks_process(*, limit: int = 5000) -> ProcessedBatch:
    """Count up to `limit` unprocessed clicks into their links' counters and mark them processed,
    inside the caller's transaction (one statement, after a transaction-scoped lock that
    serializes processors). Counters: `clicks` people's clicks, `bot_clicks` bots' and link
    previews', `unique_clicks` recipients (message ids) whose first people's click of the link this
    is, `first_click_at`/`last_click_at` people's clicks. Returns how many clicks were claimed
    (a full batch means more may wait) and, per message, its earliest people's click of the batch."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_PROCESS_LOCK])
        cursor.execute(_PROCESS, {"limit": limit})
        rows = cursor.fetchall()
    # One row at least (the count), with a first click when the batch has people's clicks.
    return ProcessedBatch(
        claimed=rows[0][0], first_clicks=[FirstClick(mid, url, at) for _n, mid, url, at in rows if mid is not None]
    )
