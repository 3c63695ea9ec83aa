from typing import Any

import structlog
from celery import shared_task
from celery.signals import after_task_publish, beat_init

from .health import BEAT, BEAT_STARTED, queue_heartbeat
from .idempotency import idempotency_purge_expired
from .services import heartbeat_record

log = structlog.get_logger(__name__)


@shared_task
def heartbeat(queue: str = "celery") -> None:
    """Beat sends one per Celery queue, routed to that queue (settings.CELERY_BEAT_SCHEDULE); running
    it proves that queue has a consumer. /healthz names a queue whose heartbeat stopped."""
    heartbeat_record(name=queue_heartbeat(queue))


@shared_task
def purge_expired_idempotency_records() -> int:
    return idempotency_purge_expired()


# Beat proves it is alive itself, from its own process: a queue's heartbeat that never runs then
# means that queue has no consumer, not that beat is down.


def _record_from_beat(name: str) -> None:
    # Beat's scheduler (django-celery-beat) replaces a broken connection at the start of each tick.
    try:
        heartbeat_record(name=name)
    except Exception:  # never stop beat for its heartbeat; /healthz shows it stale
        log.warning("beat.heartbeat_not_recorded", heartbeat=name, exc_info=True)


def on_beat_publish(sender: str | None = None, **_: Any) -> None:
    if sender == heartbeat.name:
        _record_from_beat(BEAT)


@beat_init.connect
def on_beat_init(**_: Any) -> None:
    _record_from_beat(BEAT_STARTED)
    after_task_publish.connect(on_beat_publish, weak=False)
