"""The shared engine of every HTTP provider: many requests in flight, keep-alive, one deadline.

A backend describes one message as an `HttpCall` (`call_for`) and reads the provider's answer as a
`SendResult` (`result_for`); `HttpConnector.send` runs a batch's calls concurrently with aiohttp on
one event loop per worker process (a daemon thread), over one keep-alive connection pool per
connector. Each request has one total deadline, `PROVIDER_TIMEOUT` (connect + write + read).

Every request ends in one of three outcomes (SPEC §10): *not sent* (it failed before its headers
were written: DNS, refused, TLS, no free connection in time) is transient and always safe to send
again; *answered* (a status code) is accepted, transient or permanent per the backend; *unknown*
(written, but no complete answer: a read timeout, a reset, a 2xx whose body could not be read)
is `unknown`, which the dispatcher never sends again unless the connector is idempotent. Whether
the request was written is known from the moment aiohttp starts writing it on a connection
(`_Request.send`, told which request it is through a context variable of the request's task): an
error before that moment is *not sent*, any error after it *unknown*. A trace signal
(`on_request_headers_sent`) would say the same a few microseconds later, but every trace config
costs each request a dozen awaited signals: ~20 µs of the ~150 µs of CPU a request cost here.

A batch's requests are pulled by at most MAX_IN_FLIGHT coroutines (one per pooled connection), so a
request's deadline starts when a connection is free for it, not while it queues behind the batch.

Why aiohttp and not httpx: measured side by side on this 2-core machine against the same local
provider (docs/benchmarks.md), aiohttp posts ~9,000 requests/s from one process where httpx's
AsyncClient posts ~600/s and its thread-shared sync client ~1,300/s; the send engine was the larger
half of dispatch's time.
"""

from __future__ import annotations

import asyncio
import contextvars
import email.utils
import json
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

import aiohttp
from django.conf import settings

from accounts import metrics
from accounts.aio import LoopThread, close_sessions, loop_thread

from .base import BaseConnector, OutboundMessage, SendResult

CONNECT_TIMEOUT = 5.0
# Requests in flight per connector and worker process (connections in its pool).
MAX_IN_FLIGHT = 32


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
    headers: Mapping[str, str]  # case-insensitive (aiohttp's CIMultiDictProxy)
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


SEND_LOOP = "herald-send"


def provider_timeout() -> float:
    """The total deadline of one provider request, connect + write + read (SPEC §10)."""
    return float(settings.PROVIDER_TIMEOUT)


class _Written:
    """Set once aiohttp starts writing a request on a connection: from then on its outcome can be
    unknown."""

    __slots__ = ("written",)

    def __init__(self) -> None:
        self.written = False


# The request the current task is making (each request of a batch is made by one task at a time).
_WRITING: contextvars.ContextVar[_Written | None] = contextvars.ContextVar("herald_http_writing", default=None)


class _Request(aiohttp.ClientRequest):
    """aiohttp's request, which marks the current task's `_Written` as it starts writing."""

    async def send(self, conn: Any) -> aiohttp.ClientResponse:
        sent = _WRITING.get()
        if sent is not None:
            sent.written = True
        return await super().send(conn)


def _session(total: float) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=MAX_IN_FLIGHT, limit_per_host=0, ttl_dns_cache=300),
        # One deadline for the whole request. Time spent waiting for a free connection counts too;
        # a request that runs out of it there was never written (not sent: safe to retry).
        timeout=aiohttp.ClientTimeout(total=total, sock_connect=min(CONNECT_TIMEOUT, total)),
        # A provider's cookies must not follow one message to the next.
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
        request_class=_Request,
    )


def close_clients() -> None:
    """Close every pooled connection (tests, worker shutdown)."""
    close_sessions(SEND_LOOP)


def _form(data: Any) -> Any:
    """Form fields as pairs, in order; a list value repeats its name (Twilio's MediaUrl)."""
    if not isinstance(data, Mapping):
        return data
    pairs: list[tuple[str, str]] = []
    for name, value in data.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((str(name), str(item)))
    return pairs


class HttpConnector(BaseConnector):
    """Base of the HTTP backends: subclasses implement `call_for` and `result_for`."""

    transient_statuses: ClassVar[frozenset[int]] = frozenset({429})

    def call_for(self, message: OutboundMessage) -> HttpCall:
        raise NotImplementedError

    def result_for(self, message: OutboundMessage, answer: HttpAnswer) -> SendResult:
        raise NotImplementedError

    def error_result(self, message: OutboundMessage, exc: BaseException, *, written: bool) -> SendResult:
        """No answer. Before the request was written: not sent, transient. After: unknown."""
        name = type(exc).__name__
        if not written:
            code = "timeout" if isinstance(exc, TimeoutError) else "connection_error"
            return SendResult(message.id, False, transient=True, error_code=code, error_message=f"Not sent: {name}")
        return SendResult(
            message.id, False, unknown=True, error_code="delivery_unknown", error_message=f"No complete answer: {name}"
        )

    def refused(self, message: OutboundMessage, exc: Exception) -> SendResult:
        """`call_for` could not describe this message (a bad address, a missing template): it fails
        permanently, alone, and the rest of the batch still goes."""
        code = getattr(exc, "code", None) or f"{self.backend}_invalid_message"
        return SendResult(message.id, False, error_code=str(code), error_message=type(exc).__name__)

    async def _send_one(self, session: aiohttp.ClientSession, message: OutboundMessage) -> SendResult:
        try:
            call = self.call_for(message)
        except (ValueError, KeyError, TypeError) as exc:
            return self.refused(message, exc)
        headers = call.headers
        if call.auth:
            headers = {**headers, "Authorization": aiohttp.encode_basic_auth(*call.auth)}
        sent = _Written()
        _WRITING.set(sent)
        status: int | None = None
        try:
            async with session.request(
                call.method,
                call.url,
                headers=headers,
                json=call.json,
                data=_form(call.data),
                allow_redirects=False,
            ) as response:
                status, response_headers = response.status, response.headers
                answer = HttpAnswer(status, response_headers, await response.read())
        except aiohttp.InvalidURL as exc:
            return self.refused(message, exc)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            if status is None or 200 <= status < 300:
                return self.error_result(message, exc, written=sent.written)
            # The status line said no: the answer is known even though its body was cut short.
            answer = HttpAnswer(status, response_headers, b"")
        try:
            return self.result_for(message, answer)
        except Exception:  # noqa: BLE001 - a plugin bug must cost one message, never the batch
            # After a 2xx the provider has the message: accepted (never resent); otherwise failed.
            if answer.ok:
                return SendResult(message.id, True)
            return SendResult(message.id, False, error_code=f"{self.backend}_bad_response")

    async def _send_all(self, sender: LoopThread, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        # One pool per connector and process; the timeouts are part of the key, so a pool made with
        # other timeouts is never reused for these.
        total = provider_timeout()
        key = (self.connector_id, id(type(self)), CONNECT_TIMEOUT, total)
        session = sender.session(key, lambda: _session(total))
        results: list[SendResult | None] = [None] * len(batch)
        seconds = [0.0] * len(batch)  # each request's duration (/metrics' provider latency)
        pending = iter(enumerate(batch))

        async def pull() -> None:
            for index, message in pending:
                started = time.perf_counter()
                results[index] = await self._send_one(session, message)
                seconds[index] = time.perf_counter() - started

        await asyncio.gather(*(pull() for _ in range(min(MAX_IN_FLIGHT, len(batch)))))
        metrics.provider_requests(self.name, seconds)
        return cast(list[SendResult], results)  # every index filled: _send_one returns, never raises

    def send(self, batch: Sequence[OutboundMessage]) -> list[SendResult]:
        return self.submit(batch).result()

    def submit(self, batch: Sequence[OutboundMessage]) -> Future[list[SendResult]]:
        sender = loop_thread(SEND_LOOP)
        return asyncio.run_coroutine_threadsafe(self._send_all(sender, batch), sender.loop)


def utc_from_timestamp(value: Any) -> datetime | None:
    """A provider's Unix timestamp (seconds, as int or string) as an aware datetime, else None."""
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
