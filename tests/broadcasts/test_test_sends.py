"""Test sends go through the broadcast's own send path (issue 9, 2d): a transient error is retried
and its credit settled, a plugin exception or a missing connector never leaves one stuck, and a
test queued while its broadcast completes is still charged from what the broadcast kept for it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from broadcasts.connectors import REGISTRY
from broadcasts.dispatch import dispatch_run
from broadcasts.models import Broadcast, Message
from broadcasts.services import broadcast_test, broadcasts_tick
from tests.broadcasts.conftest import KE, UG
from wallets.selectors import reservation_state

pytestmark = pytest.mark.django_db


def send_test(shop, broadcast, captured, recipients=(UG,)):
    with captured(execute=True):
        return broadcast_test(broadcast=broadcast, recipients=list(recipients))


def test_a_transient_error_is_retried_and_the_credit_settles(
    shop, daytime, recorder, django_capture_on_commit_callbacks
):
    broadcast = shop.broadcast(shop.create(recipients=[KE], status="draft"))
    recorder.mode = "transient"
    (message,) = send_test(shop, broadcast, django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("sending", "provider_busy")
    assert reservation_state(broadcast_id=broadcast.pk).outstanding == message.cost  # held while it waits
    recorder.mode = "ok"
    daytime.shift(timedelta(minutes=10))
    broadcasts_tick()  # beat picks the due retry up (eager Celery sends it inline)
    message.refresh_from_db()
    assert message.status == "sent"
    assert recorder.sent == [message.pk, message.pk]  # the failed attempt, then the retry
    state = reservation_state(broadcast_id=broadcast.pk)
    assert (state.charged, state.outstanding) == (message.cost, 0)


def test_a_plugin_exception_does_not_leave_it_stuck(shop, daytime, recorder, django_capture_on_commit_callbacks):
    """A plugin that raises once the message was handed to it may or may not have sent it: an
    unknown outcome (SPEC §10). Not stuck, not charged, and never resent through a connector
    without idempotency, not even by the tick."""
    broadcast = shop.broadcast(shop.create(recipients=[KE], status="draft"))

    def broken(batch):
        raise RuntimeError("plugin bug")

    recorder.during_send = broken
    (message,) = send_test(shop, broadcast, django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "delivery_unknown")
    assert reservation_state(broadcast_id=broadcast.pk).outstanding == 0
    recorder.during_send = None
    daytime.shift(timedelta(minutes=10))
    broadcasts_tick()
    message.refresh_from_db()
    assert (message.status, recorder.sent) == ("failed", [])  # the tick did not send it again


def test_a_missing_connector_fails_it_and_releases(
    shop, daytime, recorder, monkeypatch, django_capture_on_commit_callbacks
):
    broadcast = shop.broadcast(shop.create(recipients=[KE], status="draft"))
    monkeypatch.delitem(REGISTRY, "recorder")
    (message,) = send_test(shop, broadcast, django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "connector_unavailable")
    assert reservation_state(broadcast_id=broadcast.pk).outstanding == 0


def test_a_test_queued_while_its_broadcast_completes_is_charged(
    shop, daytime, recorder, django_capture_on_commit_callbacks
):
    broadcast = shop.broadcast(shop.create(recipients=[KE]))
    (message,) = broadcast_test(broadcast=broadcast, recipients=[UG])  # queued; its task not run yet
    while dispatch_run(broadcast_id=str(broadcast.pk)) is not None:
        pass
    assert Broadcast.objects.get(pk=broadcast.pk).status == "sent"
    assert reservation_state(broadcast_id=broadcast.pk).outstanding == message.cost  # kept for the test
    daytime.shift(timedelta(minutes=3))
    broadcasts_tick()  # the lost test task is sent again
    message.refresh_from_db()
    assert message.status == "sent"
    state = reservation_state(broadcast_id=broadcast.pk)
    assert state.outstanding == 0
    assert state.charged == sum(Message.objects.filter(broadcast=broadcast).values_list("cost", flat=True))
