"""Sending due deliveries: claim, sign, POST many at once, record each attempt, schedule retries.

A claim is one statement: due `pending` attempts are taken with `SELECT … FOR UPDATE SKIP LOCKED`
and moved to `sending` with a lease, committed before any request, so two workers never send the
same attempt; a worker that dies leaves rows whose lease runs out, and the beat task puts them back.
Requests go out concurrently on one event loop per worker process (aiohttp, keep-alive), each with a
10 s limit and redirects not followed. The body is the event in the endpoint's `format` (formats.py),
signed the same way whatever the format. A failed attempt schedules the next one (RETRY_DELAYS with
jitter) while the event is less than 24 h old; an endpoint whose every attempt failed for 3 days is
disabled. Logs carry ids and counts, never URLs (they may hold tokens), secrets or payloads.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks import Webhook

from accounts import metrics
from accounts.aio import LoopThread, close_sessions, loop_thread
from accounts.sql_values import rows_by_id

from .addresses import BlockedAddressError, PublicOnlyResolver, check_literal_host, private_allowed
from .crypto import decrypt_text
from .formats import render, standard_body
from .models import WebhookDelivery, WebhookEndpoint

log = structlog.get_logger(__name__)

D = WebhookDelivery.Status

TIMEOUT = 10.0  # seconds for the whole request, SPEC §11
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
)
RETRY_WINDOW = timedelta(hours=24)
JITTER = 0.2  # each delay is scaled by a random factor in [0.8, 1.2]
DISABLE_AFTER = timedelta(days=3)
LEASE = timedelta(minutes=10)  # longer than a batch can take: BATCH_SIZE / MAX_IN_FLIGHT × TIMEOUT
RESPONSE_KEEP = 1024
USER_AGENT = "Herald-Webhooks/1.0"
DISABLED_ERROR = "endpoint_disabled"
# The endpoint's format has no shape for the event (an endpoint switched to `octopush` with attempts of
# other events still waiting): not sent, not retried, and no sign of a failing endpoint.
FORMAT_ERROR = "not_in_format: the endpoint's format has no shape for this event"
NOT_SENT = frozenset({DISABLED_ERROR, FORMAT_ERROR})


def batch_size() -> int:
    return int(settings.WEBHOOKS_BATCH_SIZE)


def max_in_flight() -> int:
    return int(settings.WEBHOOKS_MAX_IN_FLIGHT)


@dataclass(frozen=True)
class Claimed:
    id: int
    endpoint_id: Any
    event_id: str
    event_type: str
    attempt: int
    event_created_at: datetime
    data: str  # the event's data as JSON text
    url: str
    secret: str  # encrypted; decrypted (cached) when signing
    active: bool
    format: str = "standard"


@dataclass(frozen=True)
class Outcome:
    delivery: Claimed
    ok: bool
    attempted_at: datetime
    status_code: int | None = None
    response_body: str = ""
    duration_ms: int | None = None
    error: str = ""


# --- claim ------------------------------------------------------------------------------------------

CLAIM_SQL = """
WITH due AS (
    SELECT d.id FROM webhooks_webhookdelivery d
     WHERE d.status = 'pending' AND d.scheduled_at <= %(now)s
     ORDER BY d.scheduled_at
     LIMIT %(limit)s
       FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhooks_webhookdelivery d
   SET status = 'sending', lease_until = %(lease)s
  FROM due, webhooks_webhookevent e, webhooks_webhookendpoint ep
 WHERE d.id = due.id AND e.id = d.event_id AND ep.id = d.endpoint_id
RETURNING d.id, d.endpoint_id, d.event_id, d.event_type, d.attempt, e.created_at, e.data::text, ep.url, ep.secret,
          ep.active, ep.format
"""


def deliveries_claim(*, limit: int | None = None, now: datetime | None = None) -> list[Claimed]:
    """Take up to `limit` due attempts for this worker (committed before returning)."""
    now = now or timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, {"now": now, "limit": limit or batch_size(), "lease": now + LEASE})
        rows = cursor.fetchall()
    return [Claimed(*row) for row in rows]


def deliveries_release_stale(*, now: datetime | None = None) -> int:
    """Attempts left `sending` by a worker that died go back to `pending` (sent again: at least once)."""
    now = now or timezone.now()
    return WebhookDelivery.objects.filter(status=D.SENDING, lease_until__lt=now).update(
        status=D.PENDING, lease_until=None, scheduled_at=now
    )


# --- signing and the request ------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_body(*, event_id: str, type: str, created_at: datetime, data: str) -> str:
    """`{"id", "type", "created_at", "data"}`; `data` is already JSON text, spliced in as it is."""
    return standard_body(event_id=event_id, type=type, created_at=created_at, data=data)


def delivery_body(delivery: Claimed) -> str | None:
    """What this attempt POSTs: the event in its endpoint's format (None: the format has no shape for it)."""
    return render(
        format=delivery.format,
        event_id=delivery.event_id,
        type=delivery.event_type,
        created_at=delivery.event_created_at,
        data=delivery.data,
    )


def signed_headers(*, signer: Webhook, event_id: str, body: str, at: datetime | None = None) -> dict[str, str]:
    """Standard Webhooks headers; the signature is the `standardwebhooks` package's own
    (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`). Each attempt is signed afresh, so its
    timestamp is recent whatever the retry; the id is the event's on every attempt."""
    at = (at or timezone.now()).astimezone(UTC)
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signer.sign(msg_id=event_id, timestamp=at, data=body),
    }


DELIVERY_LOOP = "herald-webhooks"


def _session(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=limit, limit_per_host=0, resolver=PublicOnlyResolver(), use_dns_cache=False
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
        auto_decompress=True,
    )


def close_clients() -> None:
    """Close every pooled connection (tests, worker shutdown)."""
    close_sessions(DELIVERY_LOOP)


def _blocked(exc: BaseException | None) -> bool:
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, BlockedAddressError) or isinstance(getattr(exc, "os_error", None), BlockedAddressError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


async def _post(
    session: aiohttp.ClientSession, gate: asyncio.Semaphore, delivery: Claimed, headers: dict[str, str], body: str
) -> Outcome:
    async with gate:  # waiting for a slot is not part of the endpoint's 10 s
        attempted_at = timezone.now()
        started = time.perf_counter()

        def outcome(ok: bool, **fields: Any) -> Outcome:
            ms = int((time.perf_counter() - started) * 1000)
            return Outcome(delivery, ok, attempted_at, duration_ms=ms, **fields)

        try:
            check_literal_host(delivery.url)
            async with session.post(
                delivery.url,
                data=body.encode(),
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=TIMEOUT),
            ) as response:
                raw = await response.content.read(RESPONSE_KEEP)
                text = raw.decode("utf-8", "replace").replace("\x00", "")
                status = response.status
        except BlockedAddressError:
            return outcome(False, error="blocked_address: the host resolves to a non-public address")
        except TimeoutError:
            return outcome(False, error=f"timeout: no answer within {TIMEOUT:g} s")
        except aiohttp.InvalidURL:
            return outcome(False, error="invalid_url")
        except (aiohttp.ClientError, OSError) as exc:
            if _blocked(exc):  # the resolver's refusal, wrapped by aiohttp in a connector error
                return outcome(False, error="blocked_address: the host resolves to a non-public address")
            return outcome(False, error=f"connection_error: {type(exc).__name__}")
        if 200 <= status < 300:
            return outcome(True, status_code=status, response_body=text)
        if 300 <= status < 400:
            return outcome(False, status_code=status, response_body=text, error=f"redirect_not_followed: HTTP {status}")
        return outcome(False, status_code=status, response_body=text, error=f"http_status: HTTP {status}")


async def _post_all(sender: LoopThread, batch: Sequence[tuple[Claimed, str]]) -> list[Outcome]:
    # The private-address rule is part of the key: a pool opened while private addresses were allowed
    # is never reused once they are not.
    limit = max_in_flight()
    session = sender.session((limit, private_allowed()), lambda: _session(limit))
    gate = asyncio.Semaphore(max_in_flight())
    signers: dict[str, Webhook] = {}
    jobs = []
    for delivery, body in batch:
        signer = signers.get(delivery.secret)
        if signer is None:
            signer = signers[delivery.secret] = Webhook(decrypt_text(delivery.secret))
        headers = signed_headers(signer=signer, event_id=delivery.event_id, body=body)
        jobs.append(_post(session, gate, delivery, headers, body))
    return list(await asyncio.gather(*jobs))


# --- recording --------------------------------------------------------------------------------------


def next_attempt_at(*, attempt: int, event_created_at: datetime, now: datetime) -> datetime | None:
    """When attempt `attempt + 1` goes, or None when the 24 h are over: each of RETRY_DELAYS once
    (jittered), then one last retry at the end of the window. The count never depends on the
    jitter (a low draw once fitted a second 10 h delay before the end: eight retries, not seven)."""
    deadline = event_created_at + RETRY_WINDOW
    if attempt <= len(RETRY_DELAYS):
        delay = RETRY_DELAYS[attempt - 1]
        when = now + delay * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - jitter, not a secret
        if when <= deadline:
            return when
    if deadline - now >= timedelta(minutes=1):
        return deadline
    return None


RECORD_SQL = """
UPDATE webhooks_webhookdelivery d
   SET (status, attempted_at, status_code, response_body, duration_ms, error, next_retry_at, lease_until) = (
       SELECT v.status, v.attempted_at, v.code, v.body, v.ms, v.error, v.next_retry, NULL::timestamptz
         FROM jsonb_to_record(%(rows)s::jsonb -> d.id::text)
              AS v(status text, attempted_at timestamptz, code int, body text, ms int, error text,
                   next_retry timestamptz))
 WHERE d.id = ANY(%(ids)s::bigint[]) AND d.status = 'sending'
"""
# Each attempt reads its outcome by id (accounts/sql_values.py): no join with the batch's list that
# statistics counting no `sending` delivery could plan as a loop over the list per attempt.


def endpoints_disable(*, endpoint_ids: Sequence[Any], reason: str) -> int:
    """Disable these endpoints and cancel their waiting attempts (one transaction: the caller's)."""
    if not endpoint_ids:
        return 0
    now = timezone.now()
    count = WebhookEndpoint.objects.filter(pk__in=endpoint_ids, active=True).update(
        active=False, disabled_reason=reason[:500], updated_at=now
    )
    WebhookDelivery.objects.filter(endpoint_id__in=endpoint_ids, status=D.PENDING).update(
        status=D.FAILED, error=DISABLED_ERROR, next_retry_at=None
    )
    return count


def deliveries_record(outcomes: Sequence[Outcome], *, now: datetime | None = None) -> None:
    """Write every attempt's outcome, schedule retries, and keep each endpoint's health, in one transaction."""
    now = now or timezone.now()
    ok_endpoints = {o.delivery.endpoint_id for o in outcomes if o.ok}
    failing = {o.delivery.endpoint_id for o in outcomes if not o.ok and o.error not in NOT_SENT} - ok_endpoints
    with transaction.atomic():
        dead: list[tuple[Any, datetime | None]] = []
        if failing:
            dead = list(
                WebhookEndpoint.objects.filter(
                    pk__in=failing, active=True, failing_since__lte=now - DISABLE_AFTER
                ).values_list("pk", "failing_since")
            )
            WebhookEndpoint.objects.filter(pk__in=failing, failing_since__isnull=True).update(failing_since=now)
        if ok_endpoints:
            WebhookEndpoint.objects.filter(pk__in=ok_endpoints, failing_since__isnull=False).update(failing_since=None)
        dead_ids = {endpoint_id for endpoint_id, _since in dead}
        retries: list[WebhookDelivery] = []
        values: dict[int, dict[str, Any]] = {}
        for o in outcomes:
            d = o.delivery
            retry_at = None
            if not o.ok and o.error not in NOT_SENT and d.endpoint_id not in dead_ids:
                retry_at = next_attempt_at(attempt=d.attempt, event_created_at=d.event_created_at, now=now)
            if retry_at is not None:
                retries.append(
                    WebhookDelivery(
                        endpoint_id=d.endpoint_id,
                        event_id=d.event_id,
                        event_type=d.event_type,
                        attempt=d.attempt + 1,
                        scheduled_at=retry_at,
                    )
                )
            values[d.id] = {
                "status": D.SUCCEEDED if o.ok else D.FAILED,
                "attempted_at": o.attempted_at,
                "code": o.status_code,
                "body": o.response_body,
                "ms": o.duration_ms,
                "error": o.error[:500],
                "next_retry": retry_at,
            }
        with connection.cursor() as cursor:
            cursor.execute(RECORD_SQL, {"rows": rows_by_id(values), "ids": list(values)})
        if retries:
            WebhookDelivery.objects.bulk_create(retries, ignore_conflicts=True)
        for endpoint_id, since in dead:
            assert since is not None  # noqa: S101 - the filter selected failing_since <= …
            reason = f"Every delivery attempt failed for 3 days (since {_iso(since)}); PATCH active: true resumes."
            endpoints_disable(endpoint_ids=[endpoint_id], reason=reason)
            log.warning("webhooks.endpoint_auto_disabled", endpoint_id=str(endpoint_id))
    metrics.webhook_attempts(o.ok for o in outcomes)


def deliveries_send(batch: Sequence[Claimed]) -> list[Outcome]:
    """Send a claimed batch and record it. Attempts whose endpoint was disabled meanwhile are not sent."""
    if not batch:
        return []
    outcomes = [Outcome(d, False, timezone.now(), error=DISABLED_ERROR) for d in batch if not d.active]
    live: list[tuple[Claimed, str]] = []
    for d in batch:
        body = delivery_body(d) if d.active else None
        if body is not None:
            live.append((d, body))
        elif d.active:
            outcomes.append(Outcome(d, False, timezone.now(), error=FORMAT_ERROR))
    if live:
        sender = loop_thread(DELIVERY_LOOP)
        outcomes.extend(sender.run(_post_all(sender, live)))
    deliveries_record(outcomes)
    succeeded = sum(1 for o in outcomes if o.ok)
    log.info("webhooks.batch_sent", attempts=len(outcomes), succeeded=succeeded, failed=len(outcomes) - succeeded)
    return outcomes
