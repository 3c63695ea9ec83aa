"""Work handed to Celery, by task name.

The modules that enqueue work (services, recording) never import `broadcasts.tasks`, which imports
them: the import graph stays without cycles, and a plugin returns follow-up work (`ReportLater`)
instead of enqueuing it. A signature by name still honours `CELERY_TASK_ALWAYS_EAGER` in tests.
"""

from __future__ import annotations

import uuid

from celery import current_app
from django.db import transaction

from .smpp.routing import dispatch_queue

DISPATCH = "broadcasts.tasks.dispatch_broadcast"
SEND_TESTS = "broadcasts.tasks.send_test_messages"
PREPARE = "broadcasts.tasks.prepare_broadcast"
CONNECTOR_REPORTS = "broadcasts.tasks.connector_reports"


def _enqueue(name: str, *args: object, countdown: float | None = None, queue: str | None = None) -> None:
    signature = current_app.signature(name, args=args)
    if queue is not None:
        signature.set(queue=queue)
    if countdown is None:
        signature.apply_async()
    else:
        signature.apply_async(countdown=countdown)


def dispatch(
    broadcast_id: uuid.UUID | str, token: str | None = None, *, lane: int = 0, countdown: float | None = None
) -> None:
    """Run (or continue, with the lease's token) a broadcast's dispatcher, or one of its helper lanes."""
    # Broadcasts sending through an smpp connector go to the `smpp` queue (broadcasts/smpp/routing.py).
    to = dispatch_queue(broadcast_id)
    if lane:
        _enqueue(DISPATCH, str(broadcast_id), token, lane, countdown=countdown, queue=to)
    else:
        _enqueue(DISPATCH, str(broadcast_id), token, countdown=countdown, queue=to)


def dispatch_on_commit(broadcast_id: uuid.UUID | str) -> None:
    """Start a dispatcher once the transaction that made the broadcast sendable commits."""
    broadcast_id = str(broadcast_id)
    transaction.on_commit(lambda: dispatch(broadcast_id))


def prepare(broadcast_id: uuid.UUID | str, *, countdown: float | None = None) -> None:
    """Prepare (or go on preparing) a large broadcast's messages in the background."""
    _enqueue(PREPARE, str(broadcast_id), countdown=countdown)


def prepare_on_commit(broadcast_id: uuid.UUID | str) -> None:
    broadcast_id = str(broadcast_id)
    transaction.on_commit(lambda: prepare(broadcast_id))


def send_tests(broadcast_id: uuid.UUID | str, message_ids: list[int]) -> None:
    _enqueue(SEND_TESTS, str(broadcast_id), list(message_ids), queue=dispatch_queue(broadcast_id))


def connector_reports(connector_id: str, provider_message_ids: list[str], *, delay: float) -> None:
    """Ask a connector for these messages' reports `delay` seconds from now (a plugin's ReportLater)."""
    _enqueue(CONNECTOR_REPORTS, connector_id, list(provider_message_ids), countdown=delay)
