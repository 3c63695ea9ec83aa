"""Rate limits shared by every process: a sliding-window log in Redis, or PostgreSQL counters.

Limits are written `N/<period>` where the period is a unit (s, m, h, d) with an optional
multiplier: `10/15m`, `3600/h`, `100/30s`. With Redis (REDIS_URL), each hit is one Lua script run
atomically on the server, using the server's clock, so all gunicorn workers and hosts share one
window. Without Redis (embedded `make run`), a fixed-window counter row is upserted in PostgreSQL.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rate:
    limit: int
    window_seconds: int

    def __str__(self) -> str:
        return f"{self.limit}/{self.window_seconds}s"


def parse_rate(text: str) -> Rate:
    """`10/15m` → Rate(10, 900). ValueError with a readable message when malformed."""
    match = _RATE.match(text or "")
    if not match:
        raise ValueError(f"'{text}' is not a rate; write N/period, e.g. 10/15m, 3600/h or 100/30s.")
    limit, multiplier, unit = int(match[1]), int(match[2] or 1), match[3]
    if limit < 1 or multiplier < 1:
        raise ValueError(f"'{text}' must allow at least 1 request in a period of at least 1 {unit}.")
    return Rate(limit=limit, window_seconds=multiplier * _UNIT_SECONDS[unit])


def validate_rate_limit(value: str) -> None:
    """Model-field validator: '' (use the setting) or a rate `parse_rate` reads. Every door (admin,
    createclient, services) refuses a malformed per-client limit when it is saved."""
    if value == "":
        return
    try:
        parse_rate(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_rate") from None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int  # seconds until a request would be allowed again (0 when allowed)
    token: str = ""  # names the hit an allowed request added, so `give_back` can remove exactly it


_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(oldest[2]) + window - now}
"""


class RedisRateLimiter:
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix
        self.script: Any = self.client.register_script(_SLIDING_WINDOW)

    def hit(self, key: str, rate: Rate) -> Decision:
        member = uuid.uuid4().hex
        allowed, wait_ms = self.script(
            keys=[f"{self.prefix}:rl:{key}"], args=[rate.window_seconds * 1000, rate.limit, member]
        )
        if allowed:
            return Decision(True, 0, member)
        return Decision(False, max(1, math.ceil(int(wait_ms) / 1000)))

    def give_back(self, key: str, token: str) -> None:
        """Take an allowed hit out of the window again (a request that turned out not to count)."""
        self.client.zrem(f"{self.prefix}:rl:{key}", token)

    def reset(self, key: str) -> None:
        self.client.delete(f"{self.prefix}:rl:{key}")


class PostgresRateLimiter:
    def hit(self, key: str, rate: Rate) -> Decision:
        now = time.time()
        window_start = int(now // rate.window_seconds) * rate.window_seconds
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO accounts_ratelimitcounter (key, window_start, hits) VALUES (%s, %s, 1)
                ON CONFLICT (key, window_start) DO UPDATE SET hits = accounts_ratelimitcounter.hits + 1
                RETURNING hits
                """,
                [key, window_start],
            )
            (hits,) = cursor.fetchone()
        if hits <= rate.limit:
            return Decision(True, 0, str(window_start))
        return Decision(False, max(1, math.ceil(window_start + rate.window_seconds - now)))

    def give_back(self, key: str, token: str) -> None:
        """Take an allowed hit out of its window's counter again (token: the window's start)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE accounts_ratelimitcounter SET hits = hits - 1"
                " WHERE key = %s AND window_start = %s AND hits > 0",
                [key, int(token)],
            )

    def reset(self, key: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM accounts_ratelimitcounter WHERE key = %s", [key])


@lru_cache(maxsize=1)
def get_limiter() -> RedisRateLimiter | PostgresRateLimiter:
    if settings.REDIS_URL:
        return RedisRateLimiter(settings.REDIS_URL, settings.REDIS_KEY_PREFIX)
    return PostgresRateLimiter()
