"""The shared engine of every HTTP provider: many requests in flight, keep-alive, timeouts.

A backend describes one message as an `HttpCall` (`call_for`) and reads the provider's answer as a
`SendResult` (`result_for`); `HttpConnector.send` runs a batch's calls concurrently over one
keep-alive connection pool per connector and process, with a connect timeout of 5 s and a read
timeout of 30 s. A timeout or a connection error is transient (retried with backoff), and may have
reached the provider: that is why only idempotent connectors are ever resent after a crash.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from .base import BaseConnector, OutboundMessage, SendResult

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
# Requests in flight per connector and worker process. Measured (docs/benchmarks.md): 8–16 send
# faster than 32 here, where httpx's shared pool spends its time arbitrating threads.
MAX_IN_FLIGHT = 16


@dataclass(frozen=True)
class HttpCall:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: Any = None  # form fields: a dict; a list value repeats the name (Twilio's MediaUrl)
    auth: tuple[str, str] | None = None


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]  # case-insensitive (httpx.Headers)
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    raw = (headers.get("retry-after") or "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


_clients: dict[str, httpx.Client] = {}
_clients_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _client(key: str) -> httpx.Client:
    # The timeouts are part of the key: a pool made with other timeouts is never reused for these.
    key = f"{key}:{CONNECT_TIMEOUT}:{READ_TIMEOUT}"
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = httpx.Client(
                # Waiting for a free connection is bounded by the requests ahead, not by one read.
                timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT, pool=None),
                limits=httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT),
                follow_redirects=False,
            )
            _clients[key] = client
        return client


def _executor() -> ThreadPoolExecutor:
    global _pool  # one pool per worker process, made on first use
    with _clients_lock:
        if _pool is None:
            # No more threads than pooled connections: a thread never waits for a connection that
            # another is closing (httpcore's thread-shared pool can then fail a request it had sent).
            _pool = ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix="herald-send")
        return _pool


def close_clients() -> None:
    """Close every pooled connection (tests, worker shutdown)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


class HttpConnector(BaseConnector):
    """Base of the HTTP backends: subclasses implement `call_for` and `result_for`."""

    transient_statuses: ClassVar[frozenset[int]] = frozenset({429})

    def call_for(self, message: OutboundMessage) -> HttpCall:
        raise NotImplementedError

    def result_for(self, message: OutboundMessage, answer: HttpAnswer) -> SendResult:
        raise NotImplementedError

    def error_result(self, message: OutboundMessage, exc: Exception) -> SendResult:
        """A timeout or connection error: transient; it may or may not have reached the provider."""
        code = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection_error"
        return SendResult(message.id, False, transient=True, error_code=code, error_message=type(exc).__name__)

    def refused(self, message: OutboundMessage, exc: Exception) -> SendResult:
        """`call_for` could not describe this message (a bad address, a missing template): it fails
        permanently, alone, and the rest of the batch still goes."""
        code = getattr(exc, "code", None) or f"{self.backend}_invalid_message"
        return SendResult(message.id, False, error_code=str(code), error_message=type(exc).__name__)

    def _send_one(self, client: httpx.Client, message: OutboundMessage) -> SendResult:
        try:
            call = self.call_for(message)
        except (ValueError, KeyError, TypeError) as exc:
            return self.refused(message, exc)
        try:
            response = client.request(
                call.method, call.url, headers=call.headers, json=call.json, data=call.data, auth=call.auth
            )
        except httpx.HTTPError as exc:
            return self.error_result(message, exc)
        answer = HttpAnswer(response.status_code, response.headers, response.content)
        try:
            return self.result_for(message, answer)
        except Exception:  # noqa: BLE001 - a plugin bug must cost one message, never the batch
            # After a 2xx the provider has the message: accepted (never resent); otherwise failed.
            if answer.ok:
                return SendResult(message.id, True)
            return SendResult(message.id, False, error_code=f"{self.backend}_bad_response")

    def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        client = _client(f"{self.connector_id}:{id(type(self))}")
        if len(batch) == 1:
            return [self._send_one(client, batch[0])]
        return list(_executor().map(lambda m: self._send_one(client, m), batch))


def utc_from_timestamp(value: Any) -> datetime | None:
    """A provider's Unix timestamp (seconds, as int or string) as an aware datetime, else None."""
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
