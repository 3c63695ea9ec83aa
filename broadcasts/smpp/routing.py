"""Which Celery queue a broadcast's dispatch goes to: with SMPP_QUEUE on, `smpp` when it sends
through an smpp connector; otherwise the default queue.

SMPP binds are long-lived sessions an SMSC caps per account, kept per worker process: a worker
consuming `smpp` with `--concurrency 1` holds `binds` sessions per node, where a prefork pool would
hold `binds` per child (docs/providers/smpp.md, "Process model"). A plain worker (no -Q) consumes
this queue too, so nothing waits without a consumer.
"""

from __future__ import annotations

import time
import uuid

from django.conf import settings

from broadcasts.models import Broadcast, Connector, Message

QUEUE = "smpp"
_CACHE_SECONDS = 30.0
# A no while the broadcast is still being prepared: asked again this soon (a later chunk can bring
# the first smpp messages), not at every chunk (the question scans the broadcast's messages: 200
# chunks of a 1,000,000-member list would each read all the rows written before them).
_PREPARING_NO_SECONDS = 5.0

_names: tuple[float, frozenset[str]] = (0.0, frozenset())
_routed: dict[str, tuple[float, bool]] = {}


def _smpp_connectors() -> frozenset[str]:
    global _names  # a per-process cache
    at, names = _names
    if time.monotonic() - at > _CACHE_SECONDS:
        names = frozenset(Connector.objects.filter(backend="smpp", active=True).values_list("name", flat=True))
        _names = (time.monotonic(), names)
    return names


def dispatch_queue(broadcast_id: uuid.UUID | str) -> str | None:
    """`smpp` when the broadcast has messages for an active smpp connector, else None (the default).

    A yes is kept (messages are not moved off a connector); a no for 30 s once the broadcast's
    messages all exist, for _PREPARING_NO_SECONDS while it is prepared in the background: a later
    chunk can bring the first smpp ones, and a no kept 30 s from an earlier chunk sent the whole
    broadcast to the default queue."""
    if not settings.SMPP_QUEUE:
        return None
    names = _smpp_connectors()
    if not names:
        return None
    key = str(broadcast_id)
    at, uses = _routed.get(key, (0.0, False))
    if uses or time.monotonic() - at < _CACHE_SECONDS:
        return QUEUE if uses else None
    uses = Message.objects.filter(broadcast_id=key, connector__in=names).exists()
    at = time.monotonic()
    if not uses and Broadcast.objects.filter(pk=key, preparing=True).exists():
        at -= _CACHE_SECONDS - _PREPARING_NO_SECONDS  # this no runs out sooner
    if len(_routed) > 10_000:
        _routed.clear()
    _routed[key] = (at, uses)
    return QUEUE if uses else None


def consumer_needed() -> bool:
    """/healthz: the `smpp` queue needs a consumer only while an active smpp connector exists
    (docker-compose declares it for every deployment; its smpp-worker runs with `--profile smpp`)."""
    return bool(_smpp_connectors())


def forget() -> None:
    """Drop this process's cached answers (tests; a connector just created is seen within 30 s)."""
    global _names
    _names = (0.0, frozenset())
    _routed.clear()
