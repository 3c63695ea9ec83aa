"""Beat's tick: scheduled broadcasts start on time, exactly once, and dispatch survives restarts."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from broadcasts.claims import claim_batch as _claim
from broadcasts.claims import hand
from broadcasts.dispatch import dispatch_batch
from broadcasts.models import Broadcast, Message
from broadcasts.services import broadcasts_tick

DEAD = "a-worker-that-died"  # the claim token of a dispatcher that died holding its claim
PHONES = [f"+2567720{i:05d}" for i in range(10)]


def test_beat_ticks_often_enough_to_start_within_30_seconds():
    entry = django_settings.CELERY_BEAT_SCHEDULE["broadcasts-tick"]
    assert entry["task"] == "broadcasts.tasks.tick"
    assert entry["schedule"] <= timedelta(seconds=10)


@pytest.mark.django_db
def test_a_scheduled_broadcast_starts_when_due_and_not_before(shop, daytime, django_capture_on_commit_callbacks):
    at = timezone.now() + timedelta(minutes=30)
    broadcast = shop.broadcast(
        shop.create(recipients=PHONES[:3], schedule_mode="scheduled", scheduled_at=at.isoformat())
    )
    assert broadcasts_tick()["started"] == 0
    with time_machine.travel(at + timedelta(seconds=5), tick=False):
        result = broadcasts_tick()
    broadcast.refresh_from_db()
    assert result["started"] == 1
    assert broadcast.status == "sent"  # tasks run inline in tests: dispatch followed at once
    assert set(Message.objects.filter(broadcast=broadcast).values_list("status", flat=True)) == {"delivered"}
    assert shop.refresh().reserved == 0


@pytest.mark.django_db(transaction=True)
def test_two_beats_ticking_at_once_start_a_broadcast_once(shop, daytime, recorder):
    at = timezone.now() + timedelta(minutes=30)
    broadcast = shop.broadcast(shop.create(recipients=PHONES, schedule_mode="scheduled", scheduled_at=at.isoformat()))
    results = []
    barrier = threading.Barrier(2)

    def tick():
        try:
            with time_machine.travel(at + timedelta(seconds=1), tick=False):
                barrier.wait()
                results.append(broadcasts_tick()["started"])
        finally:
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 1]
    broadcast.refresh_from_db()
    assert broadcast.status == "sent"
    assert sorted(recorder.sent) == sorted(Message.objects.filter(broadcast=broadcast).values_list("id", flat=True))


@pytest.mark.django_db
def test_dispatch_survives_a_restart_of_workers_and_beat(shop, daytime, recorder):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:4]))
    Broadcast.objects.filter(pk=broadcast.pk).update(
        status="sending", dispatch_lease_until=timezone.now() + timedelta(seconds=60), dispatch_token="dead"
    )
    claimed, _ = _claim(broadcast, limit=1, now=timezone.now(), token=DEAD)
    hand(
        message_ids=[c.id for c in claimed], token=DEAD, broadcast_id=None
    )  # the worker died holding one message, handed over
    assert broadcasts_tick()["restarted"] == 0  # its lease still runs
    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=False):
        assert broadcasts_tick()["restarted"] == 1
    broadcast.refresh_from_db()
    assert broadcast.status == "partially_sent"
    assert sorted(Message.objects.filter(broadcast=broadcast).values_list("status", flat=True)) == [
        "failed",
        "sent",
        "sent",
        "sent",
    ]
    assert len(recorder.sent) == 3


@pytest.mark.django_db
def test_drip_sends_only_what_is_due_spread_over_the_minute(shop, daytime):
    broadcast = shop.broadcast(
        shop.create(recipients=PHONES, schedule_mode="drip", drip_rate=4, purpose="transactional")
    )
    start = timezone.now()
    sent_by_second = {}
    for second in (0, 14, 16, 44, 46, 59, 61, 75):
        with time_machine.travel(start + timedelta(seconds=second), tick=False):
            dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
        sent_by_second[second] = Message.objects.filter(broadcast=broadcast, sent_at__isnull=False).count()
    assert sent_by_second == {0: 1, 14: 1, 16: 2, 44: 3, 46: 4, 59: 4, 61: 5, 75: 6}


@pytest.mark.django_db
def test_resuming_a_drip_keeps_its_pace(shop, daytime):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:4], schedule_mode="drip", drip_rate=1))
    start = timezone.now()
    dispatch_batch(broadcast)
    shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/pause/")
    with time_machine.travel(start + timedelta(minutes=10), tick=False):
        shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/resume/")
        dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
        assert Message.objects.filter(broadcast=broadcast, sent_at__isnull=False).count() == 1
    with time_machine.travel(start + timedelta(minutes=11, seconds=1), tick=False):
        dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
        assert Message.objects.filter(broadcast=broadcast, sent_at__isnull=False).count() == 2


@pytest.mark.django_db
def test_quiet_hours_hold_french_marketing_until_the_window_opens(shop, recorder):
    from datetime import UTC, datetime

    from tests.broadcasts.conftest import FR, UG

    night = datetime(2026, 11, 28, 22, 0, tzinfo=UTC)  # Saturday 23:00 in Paris; Sunday is quiet too
    with time_machine.travel(night, tick=False):
        broadcast = shop.broadcast(shop.create(recipients=[FR, UG], text="Promo STOP"))
        dispatch_batch(broadcast)
    assert Message.objects.get(broadcast=broadcast, urn=f"tel:{FR}").status == "pending"
    with time_machine.travel(datetime(2026, 11, 29, 12, 0, tzinfo=UTC), tick=False):  # Sunday noon
        dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
    assert Message.objects.get(broadcast=broadcast, urn=f"tel:{FR}").status == "pending"
    with time_machine.travel(datetime(2026, 11, 30, 7, 1, tzinfo=UTC), tick=False):  # Monday 08:01 Paris
        dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
    assert Message.objects.get(broadcast=broadcast, urn=f"tel:{FR}").status == "sent"


@pytest.mark.django_db
def test_quiet_hours_hold_a_retry_too(shop, recorder):
    """A French marketing message that failed transiently at 21:59 is not retried at 22:00+."""
    from datetime import UTC, datetime

    from tests.broadcasts.conftest import FR

    evening = datetime(2026, 11, 26, 20, 59, tzinfo=UTC)  # Thursday 21:59 in Paris
    with time_machine.travel(evening, tick=False):
        broadcast = shop.broadcast(shop.create(recipients=[FR], text="Promo STOP"))
        recorder.mode = "transient"
        dispatch_batch(broadcast)
    message = Message.objects.get(broadcast=broadcast)
    assert (message.status, message.error_code) == ("sending", "provider_busy")
    recorder.mode = "ok"
    with time_machine.travel(datetime(2026, 11, 26, 21, 30, tzinfo=UTC), tick=False):  # 22:30, retry due
        dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
    message.refresh_from_db()
    assert recorder.sent == [message.pk]  # only the first attempt
    assert message.lease_until == datetime(2026, 11, 27, 7, 0, tzinfo=UTC)  # 08:00 Friday in Paris
    with time_machine.travel(datetime(2026, 11, 27, 7, 1, tzinfo=UTC), tick=False):
        dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
    message.refresh_from_db()
    assert (message.status, recorder.sent) == ("sent", [message.pk, message.pk])


@pytest.mark.django_db
def test_tick_requeues_test_sends_whose_task_was_lost(shop, daytime, recorder):
    from tests.broadcasts.conftest import UG

    broadcast = shop.broadcast(shop.create(recipients=[UG], status="draft"))
    shop.api.post(f"/api/v1/broadcasts/{broadcast.pk}/test/", {"recipients": [UG]}, format="json")
    message = Message.objects.get(broadcast=broadcast, is_test=True)
    assert message.status == "queued"  # on-commit callbacks never ran: the task was "lost"
    assert broadcasts_tick()["tests_requeued"] == 0  # give the original task its chance first
    with time_machine.travel(timezone.now() + timedelta(minutes=3), tick=False):
        assert broadcasts_tick()["tests_requeued"] == 1
    message.refresh_from_db()
    assert message.status == "sent"
    assert recorder.sent == [message.pk]
