from celery import shared_task

from .idempotency import idempotency_purge_expired
from .services import heartbeat_record

BEAT_HEARTBEAT = "beat"


@shared_task
def heartbeat() -> None:
    """Scheduled by beat every 15 s; /healthz shows when it last ran (proves beat and a worker live)."""
    heartbeat_record(name=BEAT_HEARTBEAT)


@shared_task
def purge_expired_idempotency_records() -> int:
    return idempotency_purge_expired()
