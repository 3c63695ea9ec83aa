"""Idempotency-Key store (SPEC §4): the first response to a POST is kept 24 h per client.

A repeat with the same key and the same request replays that response; the same key with a
different request is a 409; a repeat while the first is still running is a 409 too. The record is
inserted (and committed) before the view runs, so the unique constraint on (client, key) decides
which of two concurrent requests runs.

Proof of life: the request that holds a key also holds a PostgreSQL session-level advisory lock on
it (`idempotency_lock_id`), taken before its record is inserted and released when the record is
completed or abandoned. A session lock ends with its session, so a holder whose process died, or
whose connection was closed (CONN_MAX_AGE=0 closes it at the end of every request), no longer
holds it. A record still in flight after IDEMPOTENCY_LOCK_TIMEOUT is taken over only by a request
that can take that lock: a slow holder that is still running keeps answering 409. Each gunicorn
thread has its own connection, so the lock is released on the connection that took it. This needs
real sessions: behind a pooler, use session pooling (PgBouncer's transaction mode would share them).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import structlog
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from .exceptions import IdempotencyError
from .models import Client, IdempotencyRecord

MAX_KEY_LENGTH = 255

log = structlog.get_logger(__name__)


def request_fingerprint(*, method: str, path: str, data: Any, files: dict[str, Any] | None = None) -> str:
    """A hash of what the request asks for: method, path, parsed body and uploaded files' contents.

    Hashing the parsed body (not raw bytes) makes a repeat with reordered JSON keys, or a multipart
    upload with a new boundary, count as the same request.
    """
    digest = hashlib.sha256(f"{method.upper()} {path}\n".encode())
    if hasattr(data, "lists"):  # a QueryDict (form or multipart): keep every value of each key
        payload: Any = dict(data.lists())
    else:
        payload = data
    digest.update(json.dumps(payload, sort_keys=True, cls=JSONEncoder, default=str).encode())
    for name in sorted(files or {}):
        upload = files[name]  # type: ignore[index]
        file_digest = hashlib.sha256()
        for chunk in upload.chunks():
            file_digest.update(chunk)
        upload.seek(0)
        digest.update(f"\n{name}:{file_digest.hexdigest()}".encode())
    return digest.hexdigest()


def idempotency_lock_id(*, client_id: uuid.UUID | str, key: str) -> int:
    """The advisory lock (one signed 64-bit key) that proves a request with `key` is still running.

    64-bit keys and the two-32-bit-key form used elsewhere (contact imports) never collide: PostgreSQL
    keeps them apart."""
    digest = hashlib.blake2b(f"idempotency:{client_id}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _try_lock(lock_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [lock_id])
        (locked,) = cursor.fetchone()
    return bool(locked)


def _unlock(lock_id: int) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [lock_id])
    except DatabaseError:  # the session is gone or broken, and its locks with it
        log.warning("idempotency.unlock_failed", exc_info=True)


def idempotency_begin(*, client: Client, key: str, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    """Claim `key` for this request. Returns (record, True) to run the request, (record, False) to replay.

    With (record, True) this connection holds the key's lock until `idempotency_complete` or
    `idempotency_abandon` (or until the connection closes)."""
    now = timezone.now()
    IdempotencyRecord.objects.filter(client=client, key=key, created_at__lt=now - settings.IDEMPOTENCY_TTL).delete()
    lock_id = idempotency_lock_id(client_id=client.pk, key=key)
    # Not held: another request with this key is running right now (or is between its lock and its
    # insert); then it is only read here, never claimed or taken over.
    locked = _try_lock(lock_id)
    try:
        existing = IdempotencyRecord.objects.filter(client=client, key=key).first()
        if (
            existing is not None
            and locked
            and existing.state == IdempotencyRecord.State.IN_FLIGHT
            and existing.created_at < now - settings.IDEMPOTENCY_LOCK_TIMEOUT
        ):
            # A running holder keeps the lock; we have it, so that holder is gone: take the key over.
            IdempotencyRecord.objects.filter(pk=existing.pk, state=IdempotencyRecord.State.IN_FLIGHT).delete()
            log.warning("idempotency.taken_over", client_id=str(client.pk), record_id=existing.pk)
            existing = None
        if existing is None and locked:
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(client=client, key=key, fingerprint=fingerprint)
            except IntegrityError:  # inserted by a request that did not take the lock (an older release)
                existing = IdempotencyRecord.objects.filter(client=client, key=key).first()
            else:
                locked = False  # the request keeps it: released by idempotency_complete / _abandon
                return record, True
        if existing is None:
            raise IdempotencyError("This Idempotency-Key is busy; retry in a moment.", code="idempotency_in_flight")
        if existing.fingerprint != fingerprint:
            raise IdempotencyError(
                "This Idempotency-Key was already used with a different request; use a new key for a new request.",
                code="idempotency_key_reused",
            )
        if existing.state == IdempotencyRecord.State.IN_FLIGHT:
            raise IdempotencyError(
                "A request with this Idempotency-Key is still being processed; retry in a moment.",
                code="idempotency_in_flight",
            )
        return existing, False
    finally:
        if locked:
            _unlock(lock_id)


def idempotency_complete(*, record: IdempotencyRecord, status: int, body: Any, headers: dict[str, str]) -> None:
    """Keep the response for replays, then let the key's lock go."""
    try:
        stored_body = json.loads(json.dumps(body, cls=JSONEncoder)) if body is not None else None
        IdempotencyRecord.objects.filter(pk=record.pk).update(
            state=IdempotencyRecord.State.COMPLETED,
            response_status=status,
            response_body=stored_body,
            response_headers=headers,
            completed_at=timezone.now(),
        )
    finally:
        _unlock(idempotency_lock_id(client_id=record.client_id, key=record.key))


def idempotency_abandon(*, record: IdempotencyRecord) -> None:
    """Forget a request that failed on our side (5xx) so the client's retry runs for real."""
    try:
        IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT).delete()
    finally:
        _unlock(idempotency_lock_id(client_id=record.client_id, key=record.key))


def idempotency_purge_expired() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - settings.IDEMPOTENCY_TTL).delete()
    return deleted
