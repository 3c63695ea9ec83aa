"""Defects found by reading the dispatch path (issue 9, 2a–i), each pinned by a test that fails
without its fix. The recorder (tests/broadcasts/recorder.py) is a non-idempotent provider."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from broadcasts import dispatch
from broadcasts.claims import claim_batch as _claim
from broadcasts.claims import hand
from broadcasts.connectors import StatusUpdate
from broadcasts.dispatch import dispatch_batch, dispatch_run
from broadcasts.models import Broadcast, Connector, Message
from broadcasts.services import lifecycle
from broadcasts.status_updates import messages_apply_status
from wallets.selectors import reservation_state

pytestmark = pytest.mark.django_db

DEAD = "a-worker-that-died"  # the claim token of a dispatcher that died holding its claim
PHONES = [f"+2567721{i:05d}" for i in range(80)]


def run(broadcast):
    while dispatch_run(broadcast_id=str(broadcast.pk)) is not None:
        pass
    broadcast.refresh_from_db()
    return broadcast


def test_a_slow_batch_keeps_its_leases_so_no_one_takes_it_over(shop, daytime, recorder):
    """(a) A batch slower than the leases (low tps, slow provider) is not taken over mid-flight."""
    Connector.objects.filter(name="recorder").update(tps=5)  # one message a chunk
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:4]))
    seen: list[tuple[int, int]] = []

    def slow_provider(batch):
        daytime.shift(timedelta(seconds=30))  # each chunk takes 30 s: four outlast both leases
        now = timezone.now()
        expired = Message.objects.filter(broadcast=broadcast, status="sending", lease_until__lte=now).count()
        lease = Broadcast.objects.get(pk=broadcast.pk).dispatch_lease_until
        seen.append((expired, int(lease is not None and lease > now)))

    recorder.during_send = slow_provider
    run(broadcast)
    assert seen == [(0, 1)] * 4
    assert sorted(recorder.sent) == sorted(Message.objects.filter(broadcast=broadcast).values_list("id", flat=True))
    assert reservation_state(broadcast_id=broadcast.pk).captured == broadcast.estimated_cost


def test_cancel_during_a_batch_past_run_seconds_releases_the_credit(shop, daytime, recorder, settings, monkeypatch):
    """(b) The continuation's handover fails on the token cancel cleared; the credit is released."""
    settings.BROADCAST_BATCH_SIZE = 5
    monkeypatch.setattr(dispatch, "RUN_SECONDS", 0.0)
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:12]))

    def cancel_mid_batch(batch):
        recorder.during_send = None
        lifecycle.broadcast_cancel(broadcast=Broadcast.objects.get(pk=broadcast.pk))

    recorder.during_send = cancel_mid_batch
    assert dispatch_run(broadcast_id=str(broadcast.pk)) is None
    broadcast.refresh_from_db()
    assert broadcast.status == "cancelled"
    state = reservation_state(broadcast_id=broadcast.pk)
    assert state.outstanding == 0
    assert shop.refresh().reserved == 0
    assert Message.objects.filter(broadcast=broadcast, status="sent").count() == 5


def test_a_worker_dying_during_a_retry_is_not_resent(shop, daytime, recorder):
    """(c) A crash during a retry attempt is a crash: not resent to a non-idempotent provider."""
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:1]))
    recorder.mode = "transient"
    dispatch_batch(broadcast)
    message = Message.objects.get(broadcast=broadcast)
    assert (message.status, message.error_code) == ("sending", "provider_busy")
    recorder.mode = "ok"
    daytime.shift(timedelta(minutes=10))  # the retry is due
    claimed, _ = _claim(broadcast, limit=10, now=timezone.now(), token=DEAD)  # claimed for the retry…
    hand(message_ids=[message.pk], token=DEAD, broadcast_id=None)  # …handed over, then the worker died
    assert [c.id for c in claimed] == [message.pk]
    daytime.shift(timedelta(minutes=10))  # its lease runs out
    run(broadcast)
    assert recorder.sent == [message.pk]  # the first attempt only
    message.refresh_from_db()
    assert (message.status, message.error_code) == ("failed", "delivery_unknown")


def test_retry_failed_requeues_exactly_what_it_reserved(shop, daytime, recorder, monkeypatch):
    """(e) A failure report landing during retry-failed does not add an unpaid message; sent_at resets."""
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:3]))
    first, second, _third = Message.objects.filter(broadcast=broadcast).order_by("pk")
    recorder.outcomes = {first.pk: "permanent"}
    run(broadcast)
    second.refresh_from_db()
    reserve = lifecycle.wallet_reserve

    def report_arrives_meanwhile(**kwargs):
        messages_apply_status(
            connector_name="recorder", updates=[StatusUpdate(second.provider_message_id, "failed", "absent")]
        )
        return reserve(**kwargs)

    monkeypatch.setattr(lifecycle, "wallet_reserve", report_arrives_meanwhile)
    lifecycle.broadcast_retry_failed(broadcast=broadcast)
    statuses = dict(Message.objects.filter(broadcast=broadcast).values_list("pk", "status"))
    assert (statuses[first.pk], statuses[second.pk]) == ("queued", "failed")
    assert Message.objects.get(pk=first.pk).sent_at is None
    reserved = reservation_state(broadcast_id=broadcast.pk)
    assert reserved.outstanding == first.cost


def test_the_claim_uses_the_partial_index_and_a_batch_has_a_fixed_query_count(shop, daytime, recorder, settings):
    """(f) The claim reads only messages still to send; a batch's queries do not grow with its size."""
    settings.BROADCAST_BATCH_SIZE = 500
    small = shop.broadcast(shop.create(recipients=PHONES[:5]))
    large = shop.broadcast(shop.create(recipients=PHONES[5:80]))
    counts = []
    for broadcast in (small, large):
        with CaptureQueriesContext(connection) as queries:
            dispatch_batch(broadcast)
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[1] <= 21
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE broadcasts_message")  # the statistics autovacuum keeps; fresh rows have none
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM broadcasts_message WHERE broadcast_id = %s AND NOT is_test"
            " AND status IN ('pending', 'queued', 'sending') ORDER BY id LIMIT 500",
            [large.pk],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "message_to_dispatch" in plan


def test_an_unreadable_connector_pauses_the_broadcast_with_a_reason(shop, daytime, recorder):
    """(g) FIELD_ENCRYPTION_KEY changed: the broadcast pauses saying what to do; nothing is lost."""
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:3]))
    with connection.cursor() as cursor:
        cursor.execute("UPDATE broadcasts_connector SET config = 'fernet:not-a-token' WHERE name = 'recorder'")
    run(broadcast)
    assert broadcast.status == "paused"
    assert "config cannot be read" in broadcast.pause_reason
    assert set(Message.objects.filter(broadcast=broadcast).values_list("status", "attempts")) == {("queued", 0)}
    assert recorder.sent == []


def test_crash_recovery_does_not_trip_the_failure_breaker(shop, daytime, recorder):
    """(h) 60 messages failed as delivery_unknown by one crash are not 60 provider failures."""
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:60]))
    claimed, _ = _claim(broadcast, limit=500, now=timezone.now(), token=DEAD)
    hand(message_ids=[c.id for c in claimed], token=DEAD, broadcast_id=None)  # handed over, then the worker died
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        broadcast = run(broadcast)
    assert Message.objects.filter(broadcast=broadcast, error_code="delivery_unknown").count() == 60
    assert broadcast.status == "failed"
    assert broadcast.pause_reason == ""


def test_wallet_is_locked_only_after_the_deferred_checks(shop, daytime):
    """(i) The foreign keys of the new rows are checked before the wallet row is locked."""
    with CaptureQueriesContext(connection) as queries:
        response = shop.create(recipients=PHONES[:3])
    assert response.status_code == 201, response.content
    sqls = [q["sql"] for q in queries.captured_queries]
    immediate = next(i for i, sql in enumerate(sqls) if sql.startswith("SET CONSTRAINTS ALL IMMEDIATE"))
    lock = next(i for i, sql in enumerate(sqls) if "wallets_wallet" in sql and re.search(r"FOR (NO KEY )?UPDATE", sql))
    assert immediate < lock
    assert Decimal(response.json()["estimated_cost"]) > 0


def _update_plans(queries) -> list[str]:
    """EXPLAIN every UPDATE of messages these captured queries ran (client-side binding: the SQL
    Django records is the statement as sent)."""
    plans = []
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if "UPDATE broadcasts_message" in sql and "SET status" in sql:
                cursor.execute("EXPLAIN " + sql)
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans


def test_records_and_reports_find_their_messages_without_a_join_stale_statistics_can_spoil(
    shop, daytime, recorder, settings
):
    """The record of a group (sent, failed, retry) and a batch of reports once joined the messages
    with a list of values; with statistics taken while every message was queued the planner made
    that a nested loop reading the list once per message (100-150 ms for a group of 500 in
    bench_smpp) or a scan of the whole table per batch. Each message now looks up its own values by
    id: no join, whatever the statistics."""
    settings.BROADCAST_BATCH_SIZE = 500
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:60]))
    messages = list(Message.objects.filter(broadcast=broadcast).order_by("pk"))
    recorder.outcomes = {messages[0].pk: "permanent", messages[1].pk: "transient"}
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE broadcasts_message")  # every message queued: no `sending`, no `sent` known
    with CaptureQueriesContext(connection) as recorded:
        dispatch_batch(broadcast)
    sent = list(
        Message.objects.filter(broadcast=broadcast, status="sent").values_list("provider_message_id", flat=True)
    )
    assert len(sent) == 58
    with CaptureQueriesContext(connection) as reported:
        result = messages_apply_status(
            connector_name="recorder",
            updates=[StatusUpdate(pid, "delivered") for pid in sent[:30]]
            + [StatusUpdate(pid, "failed", "absent") for pid in sent[30:]],
        )
    assert result.applied == 58
    plans = _update_plans(recorded.captured_queries) + _update_plans(reported.captured_queries)
    assert len(plans) == 5  # sent, failed, retry; delivered, failed
    for plan in plans:
        # A report's own lookup by provider id (in its CTE) is the one loop a plan may have.
        assert "Join" not in plan, plan
        assert plan.count("Nested Loop") == (1 if "CTE r" in plan else 0), plan
    statuses = dict(Message.objects.filter(broadcast=broadcast).values_list("pk", "status"))
    assert (statuses[messages[0].pk], statuses[messages[1].pk]) == ("failed", "sending")
    assert Message.objects.get(pk=messages[1].pk).wait_reason == "retry"
    assert Message.objects.filter(broadcast=broadcast, status="failed", error_code="absent").count() == 28


def test_an_ab_tests_rest_is_rewritten_without_a_join(shop, daytime):
    """The A/B rest's rewrite (ab_test.UPDATE_REST), the same shape: each message reads its values by
    id, so no plan can read a chunk's values once per message of the rest."""
    from accounts.sql_values import rows_by_id
    from broadcasts.services.ab_test import UPDATE_REST

    broadcast = shop.broadcast(shop.create(recipients=PHONES[:3]))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE broadcasts_message")
        cursor.execute(
            "EXPLAIN " + UPDATE_REST,
            {"rows": rows_by_id({1: {"text": "x"}}), "ids": [1, 2], "now": timezone.now(), "broadcast": broadcast.pk},
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Join" not in plan, plan
    assert "Nested Loop" not in plan, plan
