"""The detail page of a local-time broadcast says when its first and last waiting messages go
(dashboard.selectors.local_time_bounds): the earliest and latest `not_before` of its pending
messages, read through the partial index `message_waiting_not_before` (dashboard migration 0001),
so a local-time broadcast to a million stays a two-probe query (bench/bench_local_time.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection

from broadcasts.models import Broadcast, Message
from dashboard.selectors import local_time_bounds

pytestmark = pytest.mark.django_db

TWO_DAYS_BEFORE = datetime(2027, 6, 13, 12, 0, tzinfo=UTC)
KAMPALA_TEN = datetime(2027, 6, 15, 7, 0, tzinfo=UTC)
PARIS_TEN = datetime(2027, 6, 15, 8, 0, tzinfo=UTC)
NEW_YORK_TEN = datetime(2027, 6, 15, 14, 0, tzinfo=UTC)


def local_broadcast(shop) -> Broadcast:
    with time_machine.travel(TWO_DAYS_BEFORE, tick=False):
        response = shop.create(
            recipients=["+256772000001", "+33612345678", "+12125550123"],
            schedule_mode="local_time",
            local_time={"date": "2027-06-15", "time": "10:00"},
            purpose="transactional",
        )
    assert response.status_code == 201, response.content
    return Broadcast.objects.get(pk=response.json()["id"])


def test_the_bounds_are_the_first_and_last_waiting_messages_times(shop):
    broadcast = local_broadcast(shop)
    assert local_time_bounds(broadcast=broadcast) == (KAMPALA_TEN, NEW_YORK_TEN)
    # Once Kampala's has gone, the first waiting one is Paris'; once all have gone, nothing waits.
    Message.objects.filter(broadcast=broadcast, not_before=KAMPALA_TEN).update(status="sent")
    assert local_time_bounds(broadcast=broadcast) == (PARIS_TEN, NEW_YORK_TEN)
    Message.objects.filter(broadcast=broadcast).update(status="sent")
    assert local_time_bounds(broadcast=broadcast) == (None, None)


def test_the_bounds_read_the_waiting_index_not_every_message(shop):
    broadcast = local_broadcast(shop)
    query = Message.objects.filter(
        broadcast=broadcast, is_test=False, status=Message.Status.PENDING, not_before__isnull=False
    ).order_by("not_before")[:1]
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: the planner must be able to use it
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "message_waiting_not_before" in plan, plan
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'message_waiting_not_before'")
        [(definition,)] = cursor.fetchall()
    assert "(broadcast_id, not_before)" in definition
    assert "WHERE (((status)::text = 'pending'::text) AND (NOT is_test))" in definition


def test_waiting_reasons_count_in_sql_and_say_when_they_stopped(shop, monkeypatch):
    from dashboard import selectors

    broadcast = local_broadcast(shop)
    Message.objects.filter(broadcast=broadcast, not_before=NEW_YORK_TEN).update(wait_reason="quiet_hours")
    with time_machine.travel(TWO_DAYS_BEFORE, tick=False):
        reasons = selectors.waiting_reasons(broadcast=broadcast)
        assert [(w.reason, w.count, w.first, w.more) for w in reasons] == [
            ("scheduled", 2, KAMPALA_TEN, False),
            ("quiet_hours", 1, NEW_YORK_TEN, False),
        ]
        monkeypatch.setattr(selectors, "WAITING_SCANNED", 2)  # scans two of the three, then says "more"
        reasons = selectors.waiting_reasons(broadcast=broadcast)
    assert sum(w.count for w in reasons) == 2
    assert all(w.more for w in reasons)
