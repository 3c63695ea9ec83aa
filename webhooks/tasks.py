"""Celery tasks of webhooks: thin doors into webhooks.delivery."""

from __future__ import annotations

from celery import Task, shared_task


@shared_task(bind=True)
def deliver(self: Task) -> int:
    """Send due attempts, a batch per task. A full batch first hands the rest to another task, so
    every worker process takes a batch while this one waits on its receivers."""
    from .delivery import batch_size, deliveries_claim, deliveries_send

    sent = 0
    while True:
        batch = deliveries_claim(limit=batch_size())
        full = len(batch) == batch_size()
        if full and not self.request.is_eager:
            deliver.delay()
        sent += len(deliveries_send(batch))
        # Inline (tests) there is no other worker: keep going here until nothing is due.
        if not (full and self.request.is_eager):
            return sent


@shared_task
def tick() -> int:
    """Beat, every 5 s: the safety net. Attempts a dead worker left `sending` go back to `pending`,
    and due retries (which nothing else announces) are sent."""
    from .delivery import deliveries_release_stale

    released = deliveries_release_stale()
    deliver.delay()
    return released
