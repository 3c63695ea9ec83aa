"""Idempotency-Key store (SPEC §4): the first response to a POST is kept 24 h per client.

A repeat with the same key and the same request replays that response; the same key with a
different request is a 409; a repeat while the first is still running is a 409 too. The record is
inserted (and committed) before the view runs, so the unique constraint on (client, key) decides
which of two concurrent requests runs. A record left in flight by a process that died is taken over
after IDEMPOTENCY_LOCK_TIMEOUT.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from .exceptions import IdempotencyError
from .models import Client, IdempotencyRecord

MAX_KEY_LENGTH = 255


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


def idempotency_begin(*, client: Client, key: str, fingerprint: str) -> tuple[IdempotencyRecord, bool]:
    """Claim `key` for this request. Returns (record, True) to run the request, (record, False) to replay."""
    now = timezone.now()
    IdempotencyRecord.objects.filter(client=client, key=key).filter(
        Q(created_at__lt=now - settings.IDEMPOTENCY_TTL)
        | Q(state=IdempotencyRecord.State.IN_FLIGHT, created_at__lt=now - settings.IDEMPOTENCY_LOCK_TIMEOUT)
    ).delete()
    for _ in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(client=client, key=key, fingerprint=fingerprint), True
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(client=client, key=key).first()
        if existing is None:  # the holder gave the key up between our insert and read; try again
            continue
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
    raise IdempotencyError("This Idempotency-Key is busy; retry in a moment.", code="idempotency_in_flight")


def idempotency_complete(*, record: IdempotencyRecord, status: int, body: Any, headers: dict[str, str]) -> None:
    stored_body = json.loads(json.dumps(body, cls=JSONEncoder)) if body is not None else None
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.COMPLETED,
        response_status=status,
        response_body=stored_body,
        response_headers=headers,
        completed_at=timezone.now(),
    )


def idempotency_abandon(*, record: IdempotencyRecord) -> None:
    """Forget a request that failed on our side (5xx) so the client's retry runs for real."""
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT).delete()


def idempotency_purge_expired() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=timezone.now() - settings.IDEMPOTENCY_TTL).delete()
    return deleted
