"""SPEC §10 dispatch guarantees, on real PostgreSQL with real threads where it matters."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from broadcasts.claims import claim_batch as _claim
from broadcasts.claims import hand
from broadcasts.connectors import StatusUpdate
from broadcasts.dispatch import dispatch_batch, dispatch_run
from broadcasts.leases import lease_acquire
from broadcasts.models import Broadcast, Connector, Message
from broadcasts.pacing import reserve_slots
from broadcasts.status_updates import messages_apply_status
from tests.factories.wallets import RouteFactory
from wallets.models import LedgerEntry
from wallets.selectors import reservation_state

DEAD = "a-worker-that-died"  # the claim token of a dispatcher that died holding its claim
PHONES = [f"+2567720{i:05d}" for i in range(40)]


def run(broadcast):
    while dispatch_run(broadcast_id=str(broadcast.pk)) is not None:
        pass
    broadcast.refresh_from_db()
    return broadcast


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("tps", [10_000, 15])  # one request group a batch; groups of three (issue 19)
def test_concurrent_dispatchers_never_send_a_message_twice(shop, daytime, settings, recorder, tps):
    settings.BROADCAST_BATCH_SIZE = 5
    Connector.objects.filter(name="recorder").update(tps=tps)
    broadcast = shop.broadcast(shop.create(recipients=PHONES))
    barrier = threading.Barrier(4)

    def worker():
        try:
            barrier.wait()
            while dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))[1]:
                pass
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(recorder.sent) == sorted(Message.objects.filter(broadcast=broadcast).values_list("id", flat=True))
    assert len(recorder.sent) == 40
    assert set(Message.objects.filter(broadcast=broadcast).values_list("status", flat=True)) == {"sent"}
    assert reservation_state(broadcast_id=broadcast.pk).captured == broadcast.estimated_cost


@pytest.mark.django_db
def test_only_one_dispatcher_holds_a_broadcast(shop, daytime):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:2]))
    token = lease_acquire(broadcast_id=broadcast.pk, token=None)
    assert token is not None
    assert lease_acquire(broadcast_id=broadcast.pk, token=None) is None  # the task ran twice
    assert dispatch_run(broadcast_id=str(broadcast.pk)) is None
    assert Message.objects.filter(broadcast=broadcast, status="queued").count() == 2
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert lease_acquire(broadcast_id=broadcast.pk, token=None) is not None  # its holder died


@pytest.mark.django_db
def test_a_worker_dying_mid_batch_never_causes_a_duplicate(shop, daytime, recorder):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:3]))
    claimed, _ = _claim(broadcast, limit=10, now=timezone.now(), token=DEAD)
    hand(
        message_ids=[c.id for c in claimed], token=DEAD, broadcast_id=None
    )  # handed to the provider, then the worker died
    assert len(claimed) == 3
    assert run(broadcast).status == "sending"  # nothing to do until the claims' lease runs out
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        broadcast = run(broadcast)
    # The recorder is not idempotent: the stuck messages fail rather than risk a second copy.
    assert recorder.sent == []
    assert set(Message.objects.filter(broadcast=broadcast).values_list("status", "error_code")) == {
        ("failed", "delivery_unknown")
    }
    assert broadcast.status == "failed"
    assert shop.refresh().reserved == 0


@pytest.mark.django_db
def test_messages_a_dead_worker_never_handed_over_are_simply_sent(shop, daytime, recorder):
    """Claimed, then the worker died before their chunk went out: nothing can have reached anyone,
    so even a non-idempotent provider gets them (once), instead of failing as delivery_unknown."""
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:3]))
    claimed, _ = _claim(broadcast, limit=10, now=timezone.now(), token=DEAD)
    hand(message_ids=[claimed[0].id], token=DEAD, broadcast_id=None)  # the first chunk went out, then the worker died
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        broadcast = run(broadcast)
    statuses = dict(Message.objects.filter(broadcast=broadcast).values_list("pk", "error_code"))
    assert statuses[claimed[0].id] == "delivery_unknown"
    assert sorted(recorder.sent) == sorted(c.id for c in claimed[1:])
    assert broadcast.status == "partially_sent"
    assert shop.refresh().reserved == 0


@pytest.mark.django_db
def test_an_idempotent_connector_gets_stuck_messages_again(shop, daytime):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:3]))
    claimed, _ = _claim(broadcast, limit=10, now=timezone.now(), token=DEAD)
    hand(message_ids=[c.id for c in claimed], token=DEAD, broadcast_id=None)
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        broadcast = run(broadcast)
    assert broadcast.status == "sent"
    assert set(Message.objects.filter(broadcast=broadcast).values_list("status", flat=True)) == {"delivered"}
    assert reservation_state(broadcast_id=broadcast.pk).charged == broadcast.estimated_cost


@pytest.mark.django_db
def test_transient_errors_are_retried_with_backoff_then_fail(shop, daytime, settings, recorder):
    settings.BROADCAST_MAX_RETRIES = 2
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:1]))
    recorder.mode = "transient"
    message = Message.objects.get(broadcast=broadcast)
    dispatch_batch(broadcast)
    message.refresh_from_db()
    assert (message.status, message.attempts, message.error_code) == ("sending", 1, "provider_busy")
    first_retry = message.lease_until
    assert timedelta(seconds=3) < first_retry - timezone.now() < timedelta(seconds=7)
    assert dispatch_batch(broadcast)[1] == 0  # not before the backoff
    for attempt in (2, 3):
        with time_machine.travel(timezone.now() + timedelta(minutes=attempt * 5)):
            dispatch_batch(broadcast)
            message.refresh_from_db()
    assert (message.status, message.attempts, message.error_code) == ("failed", 3, "max_retries_exceeded")
    assert len(recorder.sent) == 3
    with time_machine.travel(timezone.now() + timedelta(minutes=30)):
        assert run(broadcast).status == "failed"
    assert shop.refresh().reserved == 0


@pytest.mark.django_db
def test_a_transient_error_then_success(shop, daytime, recorder):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:1]))
    recorder.mode = "transient"
    dispatch_batch(broadcast)
    recorder.mode = "ok"
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        broadcast = run(broadcast)
    message = Message.objects.get(broadcast=broadcast)
    assert (message.status, message.attempts, message.error_code) == ("sent", 2, "")
    assert broadcast.status == "sent"


@pytest.mark.django_db
def test_permanent_errors_fail_at_once_and_release_their_credit(shop, daytime, recorder):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:2]))
    ids = list(Message.objects.filter(broadcast=broadcast).order_by("id").values_list("id", flat=True))
    recorder.outcomes = {ids[0]: "permanent"}
    broadcast = run(broadcast)
    assert dict(Message.objects.filter(broadcast=broadcast).values_list("id", "status")) == {
        ids[0]: "failed",
        ids[1]: "sent",
    }
    assert Message.objects.get(pk=ids[0]).error_code == "rejected"
    assert broadcast.status == "partially_sent"
    state = reservation_state(broadcast_id=broadcast.pk)
    assert state.captured == Message.objects.get(pk=ids[1]).cost
    assert state.outstanding == 0


@pytest.mark.django_db
def test_fifty_consecutive_failures_pause_the_broadcast(shop, daytime, settings, recorder):
    settings.BROADCAST_BATCH_SIZE = 20
    broadcast = shop.broadcast(shop.create(recipients=[f"+2567721{i:05d}" for i in range(70)]))
    recorder.mode = "permanent"
    broadcast = run(broadcast)
    assert broadcast.status == "paused"
    assert "50 consecutive failures" in broadcast.pause_reason
    assert "rejected" in broadcast.pause_reason
    assert len(recorder.sent) == 60  # the batch that crossed 50 finished; nothing after it
    assert Message.objects.filter(broadcast=broadcast, status="queued").count() == 10


@pytest.mark.django_db
def test_a_success_resets_the_failure_streak(shop, daytime, settings, recorder):
    settings.BROADCAST_BATCH_SIZE = 30
    broadcast = shop.broadcast(shop.create(recipients=[f"+2567721{i:05d}" for i in range(60)]))
    ids = list(Message.objects.filter(broadcast=broadcast).order_by("id").values_list("id", flat=True))
    recorder.mode = "permanent"
    recorder.outcomes = {ids[30]: "ok"}
    assert run(broadcast).status == "partially_sent"


@pytest.mark.django_db
def test_a_group_answered_all_accepted_ends_the_streak(shop, daytime, settings, recorder):
    """30 failures, a group of 10 accepted, 30 failures: never 50 in a row, so no pause (the reset
    is written by the sent UPDATE itself when a group's last answer was accepted)."""
    Connector.objects.filter(name="recorder").update(tps=50)  # request groups of 10
    broadcast = shop.broadcast(shop.create(recipients=[f"+2567721{i:05d}" for i in range(70)]))
    ids = list(Message.objects.filter(broadcast=broadcast).order_by("id").values_list("id", flat=True))
    recorder.mode = "permanent"
    recorder.outcomes = dict.fromkeys(ids[30:40], "ok")
    assert run(broadcast).status == "partially_sent"
    assert Broadcast.objects.get(pk=broadcast.pk).consecutive_failures == 30


@pytest.mark.django_db(transaction=True)
def test_tps_is_shared_by_every_worker(shop):
    connector = shop.connector
    calls = []
    for _ in range(3):
        called = time.monotonic()
        calls.append((called, reserve_slots(connector_id=str(connector.pk), count=10, tps=10)))
    # The slot each call got, on the first call's clock: a second apart (however long a call took).
    slots = [called - calls[0][0] + wait for called, wait in calls]
    assert calls[0][1] < 0.2
    assert 0.8 < slots[1] < 1.2
    assert 1.8 < slots[2] < 2.2


@pytest.mark.django_db
def test_a_batch_is_paced_at_the_connector_tps(shop, daytime):
    shop.connector.tps = 20
    shop.connector.save()
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:30], purpose="transactional"))
    started = time.monotonic()
    dispatch_batch(broadcast)
    elapsed = time.monotonic() - started
    assert 1.2 < elapsed < 3.0  # 30 messages at 20 a second: the last chunk waits ~1.3 s


class TestDeliveryReports:
    @pytest.mark.django_db
    def test_out_of_order_reports_never_move_a_status_backwards(self, shop, daytime):
        broadcast = shop.broadcast(shop.create(recipients=PHONES[:1]))
        shop.connector.config = {"delay": 3600}  # reports come from the test, not the simulator
        shop.connector.save()
        dispatch_batch(broadcast)
        message = Message.objects.get(broadcast=broadcast)
        pid = message.provider_message_id
        read = messages_apply_status(connector_name="simulator", updates=[StatusUpdate(pid, "read")])
        late = messages_apply_status(
            connector_name="simulator", updates=[StatusUpdate(pid, "delivered"), StatusUpdate(pid, "failed")]
        )
        message.refresh_from_db()
        assert (read.applied, late.applied, late.ignored) == (1, 0, 2)
        assert message.status == "read"
        assert message.delivered_at is not None
        assert message.read_at is not None
        assert reservation_state(broadcast_id=broadcast.pk).refunded == 0

    @pytest.mark.django_db
    def test_unknown_ids_are_acknowledged_and_counted(self, shop):
        result = messages_apply_status(connector_name="simulator", updates=[StatusUpdate("sim-nope", "delivered")])
        assert (result.applied, result.unknown) == (0, 1)

    @pytest.mark.django_db
    def test_failure_after_sending_is_refunded(self, make_shop, daytime, django_capture_on_commit_callbacks):
        shop = make_shop()
        shop.connector.config = {"failure_rate": 1.0, "delay": 0, "seed": 1}
        shop.connector.save()
        with django_capture_on_commit_callbacks(execute=True):
            broadcast = shop.broadcast(shop.create(recipients=PHONES[:3]))
        broadcast.refresh_from_db()
        assert set(Message.objects.filter(broadcast=broadcast).values_list("status", "error_code")) == {
            ("failed", "simulated_failure")
        }
        assert broadcast.status == "sent"  # they left; the provider failed them afterwards
        state = reservation_state(broadcast_id=broadcast.pk)
        assert state.captured == state.refunded == broadcast.estimated_cost
        assert state.charged == 0
        assert shop.refresh().balance == 100
        detail = shop.api.get(f"/api/v1/broadcasts/{broadcast.pk}/").json()
        assert (detail["stats"]["sent"], detail["stats"]["failed"], detail["stats"]["delivered"]) == (3, 3, 0)

    @pytest.mark.django_db
    def test_a_zero_cost_failure_is_refunded_nothing_and_the_rest_of_its_batch_applies(self, shop, daytime, recorder):
        RouteFactory(
            country_code="NG",
            currency="USD",
            price_per_segment=Decimal("0"),
            route_code="FREE_NG",
            connector="recorder",
        )
        free = shop.broadcast(shop.create(recipients=["+2348031234567"]))
        paid = shop.broadcast(shop.create(recipients=PHONES[:2]))
        assert (free.estimated_cost, paid.estimated_cost > 0) == (0, True)
        dispatch_batch(free)
        dispatch_batch(paid)
        gone = Message.objects.get(broadcast=free)
        failed, delivered = Message.objects.filter(broadcast=paid).order_by("id")
        result = messages_apply_status(
            connector_name="recorder",  # the recorder reports nothing itself: the messages wait in `sent`
            updates=[
                StatusUpdate(gone.provider_message_id, "failed", "absent"),
                StatusUpdate(failed.provider_message_id, "failed", "absent"),
                StatusUpdate(delivered.provider_message_id, "delivered"),
            ],
        )
        assert (result.applied, result.ignored, result.unknown) == (3, 0, 0)
        statuses = dict(Message.objects.filter(broadcast__in=[free, paid]).values_list("id", "status"))
        assert statuses == {gone.pk: "failed", failed.pk: "failed", delivered.pk: "delivered"}
        assert reservation_state(broadcast_id=paid.pk).refunded == failed.cost > 0
        assert not LedgerEntry.objects.filter(broadcast_id=free.pk).exists()


def test_simulator_failures_are_repeatable_with_a_seed():
    from broadcasts.connectors.simulator import SimulatorConnector

    def outcomes(seed, rate=0.5):
        plugin = SimulatorConnector(
            connector_id="x", name="sim", channel="sms", config={"failure_rate": rate, "seed": seed}
        )
        return [plugin.outcome(f"sim-{i}").status for i in range(200)]

    first = outcomes(42)
    assert first == outcomes(42)
    assert first != outcomes(43)
    assert 70 < first.count("failed") < 130
    assert set(outcomes(1, rate=0.0)) == {"delivered"}
    assert set(outcomes(1, rate=1.0)) == {"failed"}


@pytest.mark.django_db
def test_each_chunk_is_marked_handed_when_it_goes_out_and_not_before(shop, daytime, recorder):
    """Each request group is marked handed, write-ahead, when its slot has come and not before, in
    one statement per group (the fence: claims.hand), so a crash while a group waits for its pacing
    slot leaves it simply sendable."""
    Connector.objects.filter(name="recorder").update(tps=5)  # one message a group, 0.2 s apart
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:3]))
    ids = sorted(Message.objects.filter(broadcast=broadcast).values_list("id", flat=True))
    seen: list[list[bool]] = []

    def look(batch):
        handed = dict(Message.objects.filter(pk__in=ids).values_list("id", "handed_at"))
        seen.append([handed[i] is not None for i in ids])

    recorder.during_send = look
    with CaptureQueriesContext(connection) as queries:
        dispatch_batch(broadcast)
    assert seen == [[True, False, False], [True, True, False], [True, True, True]]
    marks = [q["sql"] for q in queries.captured_queries if "SET handed_at" in q["sql"]]
    assert len(marks) == 3
    assert sorted(recorder.sent) == ids


@pytest.mark.django_db
@pytest.mark.parametrize(("batch_groups", "due", "claimed"), [(0, 40, 5), (4, 40, 20), (4, 13, 13), (4, 3, 3)])
def test_a_full_batch_holds_the_backends_batch_groups(shop, daytime, settings, recorder, batch_groups, due, claimed):
    """BaseConnector.batch_groups: a batch that found BROADCAST_BATCH_SIZE due claims on, up to that
    many of its connector's groups (here groups of 5: tps 25 × the 0.2 s tick), so a backend whose
    group is a whole batch (smpp) still has one group in flight while the last is recorded."""
    settings.BROADCAST_BATCH_SIZE = 5
    Connector.objects.filter(name="recorder").update(tps=25)
    recorder.batch_groups = batch_groups  # (the fixture puts 0 back)
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:due]))
    outcome, count = dispatch_batch(Broadcast.objects.get(pk=broadcast.pk))
    assert (count, outcome.sent, len(recorder.sent)) == (claimed, claimed, claimed)
    assert Message.objects.filter(broadcast=broadcast, status="sent").count() == claimed


def test_smpp_claims_eight_groups_a_batch():
    from broadcasts.claims import Claimed
    from broadcasts.sending import batch_rest

    batch = [Claimed(i, "tel:+256772000001", "carrier", "Hi", Decimal(1), False, "", ()) for i in range(500)]
    assert batch_rest(batch, {"carrier": ("smpp", 100_000)}) == 3_500  # 8 groups of 500
    assert batch_rest(batch, {"carrier": ("smpp", 500)}) == 300  # groups of 100 (tps 500 × 0.2 s)
    assert batch_rest(batch, {"carrier": ("smpp", 100)}) == 0  # 8 groups of 20: the batch holds more
    assert batch_rest(batch, {"carrier": ("http", 100_000)}) == 0  # BROADCAST_BATCH_SIZE alone
    mixed = [*batch[:490], *(Claimed(i, "tel:+256772000002", "web", "Hi", Decimal(1), False) for i in range(10))]
    assert batch_rest(mixed, {"carrier": ("smpp", 100_000), "web": ("http", 100_000)}) == 0  # not every one asks
