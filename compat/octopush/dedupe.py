"""Octopush's `request_id` (COMPAT.md §3.1): one campaign per request_id and client within 24 h."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from accounts.models import Client

from .models import OctopushRequest

REQUEST_ID_TTL = timedelta(hours=24)


def request_key(request_id: str) -> str:
    return hashlib.sha256(request_id.encode()).hexdigest()


def request_id_used(*, client: Client, request_id: str, now: datetime) -> bool:
    return OctopushRequest.objects.filter(
        client=client, request_key=request_key(request_id), created_at__gte=now - REQUEST_ID_TTL
    ).exists()


def request_id_claim(*, client: Client, request_id: str, now: datetime) -> OctopushRequest | None:
    """Take `request_id` for this client inside the caller's transaction: the row, or None when it
    was used within 24 h. A concurrent claim of the same id waits here until the first transaction
    ends: refused if it committed, taken if it rolled back. The client's expired rows go first."""
    OctopushRequest.objects.filter(client=client, created_at__lt=now - REQUEST_ID_TTL).delete()
    try:
        with transaction.atomic():
            return OctopushRequest.objects.create(client=client, request_key=request_key(request_id), created_at=now)
    except IntegrityError:
        return None


def request_id_link(*, claim: OctopushRequest, broadcast_id: uuid.UUID) -> None:
    OctopushRequest.objects.filter(pk=claim.pk).update(broadcast_id=broadcast_id)
