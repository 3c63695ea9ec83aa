"""Celery tasks of broadcasts: thin doors that load ids and call dispatch and services.

Nothing imports this module but Celery: work is enqueued by task name (queue.py), so the import
graph has no cycle.
"""

from __future__ import annotations

import structlog
from celery import Task, shared_task

from . import queue
from .clicks import clicks_apply_all
from .connectors import build_connector
from .dispatch import dispatch_run, send_tests
from .models import Connector
from .services import broadcasts_tick, prepare_run, series_fire_due
from .services.ab_test import ab_decide_due
from .services.recurring_runs import series_helpers_wanted
from .smpp import store as smpp_store  # noqa: F401 - registers the SMPP binds' database effects
from .status_updates import messages_apply_status

log = structlog.get_logger(__name__)


@shared_task(bind=True, name=queue.DISPATCH)
def dispatch_broadcast(self: Task, broadcast_id: str, token: str | None = None, lane: int = 0) -> None:
    """Send a broadcast's due messages for a while, then hand over to a continuation (lane > 0: a
    helper dispatcher of a large broadcast, dispatch.start_helpers)."""
    continuation = dispatch_run(broadcast_id=broadcast_id, token=token, lane=lane)
    if continuation is None:
        return
    next_token, delay = continuation
    if self.request.is_eager and delay > 0:
        # Tests run tasks inline: a continuation that has to wait is driven by the test's clock.
        return
    queue.dispatch(broadcast_id, next_token, lane=lane, countdown=delay)


@shared_task
def tick() -> dict[str, int]:
    """Beat, every 10 s: start due scheduled broadcasts; restart dispatchers that died."""
    return broadcasts_tick()


@shared_task
def fire_series() -> int:
    """Beat, every 10 s: create the due occurrences of recurring series (services/recurring_runs.py).
    A burst (thousands due in one minute) fans out first: helper runs on the worker's other
    processes share the due series with this one (SKIP LOCKED), each occurrence still created once."""
    for _ in range(series_helpers_wanted()):
        fire_series_help.delay()
    return series_fire_due()


@shared_task
def fire_series_help() -> int:
    """A helper run of a burst of due series (fire_series): the same firing, beside beat's own."""
    return series_fire_due()


@shared_task
def decide_ab_tests() -> int:
    """Beat, every 10 s: decide the A/B tests whose decide_after has passed (services/ab_test.py)."""
    return ab_decide_due()


@shared_task
def process_clicks() -> dict[str, int]:
    """Beat, every 2 s: count new clicks into their links, mark first-clicked messages `clicked`
    and announce them (batches of 5,000 while they come full)."""
    done = clicks_apply_all()
    return {"claimed": done.claimed, "clicked": done.clicked, "events": done.events}


@shared_task(name=queue.CONNECTOR_REPORTS)
def connector_reports(connector_id: str, provider_message_ids: list[str]) -> int:
    """Reports a plugin asked to give later (the simulator's, `delay` seconds after the send)."""
    connector = Connector.objects.filter(pk=connector_id).first()
    if connector is None:
        return 0
    updates = build_connector(connector).reports_for(provider_message_ids)
    return messages_apply_status(connector_name=connector.name, updates=updates).applied


# The name earlier releases enqueued: a task already in the broker still finds its handler.
simulator_report = shared_task(name="broadcasts.tasks.simulator_report")(connector_reports.run)


@shared_task(name=queue.SEND_TESTS)
def send_test_messages(broadcast_id: str, message_ids: list[int]) -> int:
    """Test sends: the broadcast's own send path (dispatch.send_tests)."""
    return send_tests(broadcast_id=broadcast_id, message_ids=message_ids)


@shared_task(bind=True, name=queue.PREPARE, acks_late=True)
def prepare_broadcast(self: Task, broadcast_id: str) -> None:
    """Prepare a large broadcast's messages chunk by chunk for a while, then go on in a new task
    (acks_late: a worker that dies mid-run is redelivered; beat's tick also restarts preparations)."""
    while prepare_run(broadcast_id=broadcast_id):
        if not self.request.is_eager:  # tests run tasks inline: they prepare to the end at once
            queue.prepare(broadcast_id)
            return
