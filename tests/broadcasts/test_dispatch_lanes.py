"""Issue 19 (speed): a large broadcast has more than one dispatcher (leases.py, "Lanes"). Lane 0
starts helper lanes while it claims full batches; each lane holds a lease of its own, fenced by
claims.hand like lane 0's; a helper sends what is due and stops, finishing the broadcast if it sent
the last; every message still leaves once. Real PostgreSQL; the live layer runs the same lanes in
real worker processes (tests/live, production settings: two lanes).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from broadcasts import queue
from broadcasts.claims import claim_batch, hand
from broadcasts.dispatch import dispatch_run, start_helpers
from broadcasts.leases import lane_live, lease_acquire, lease_handover, lease_release
from broadcasts.models import Broadcast, DispatchLane, Message
from broadcasts.services import broadcast_pause
from wallets.selectors import reservation_state

PHONES = [f"+2567725{i:05d}" for i in range(80)]


@pytest.fixture
def lanes(settings, monkeypatch):
    """Two lanes, batches of 5, and the enqueued helpers kept for the test to run (tasks run
    inline in tests, which would run a helper inside its lane 0)."""
    settings.BROADCAST_DISPATCH_LANES = 2
    settings.BROADCAST_BATCH_SIZE = 5
    enqueued: list[tuple[str, str | None, int]] = []
    monkeypatch.setattr(
        queue,
        "dispatch",
        lambda broadcast_id, token=None, *, lane=0, countdown=None: enqueued.append((str(broadcast_id), token, lane)),
    )
    return enqueued


def statuses(broadcast):
    return Counter(Message.objects.filter(broadcast=broadcast, is_test=False).values_list("status", flat=True))


def run_lane(broadcast_id: str, token: str | None, lane: int) -> None:
    continuation = dispatch_run(broadcast_id=broadcast_id, token=token, lane=lane)
    while continuation is not None:
        continuation = dispatch_run(broadcast_id=broadcast_id, token=continuation[0], lane=lane)


@pytest.mark.django_db
def test_a_full_batch_starts_each_helper_lane_once_with_its_lease_taken_for_it(
    shop, daytime, recorder, lanes, settings
):
    settings.BROADCAST_DISPATCH_LANES = 3
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:20]))
    run_lane(str(broadcast.pk), None, 0)
    assert [(b, lane) for b, _token, lane in lanes] == [(str(broadcast.pk), 1), (str(broadcast.pk), 2)]
    # Lane 0 sent it all inline and completed the broadcast: the lanes' rows went with it, and the
    # helpers' tasks, run now, take nothing and leave none.
    broadcast.refresh_from_db()
    assert broadcast.status == "sent"
    assert not DispatchLane.objects.filter(broadcast=broadcast).exists()
    for broadcast_id, token, lane in list(lanes):
        run_lane(broadcast_id, token, lane)
    assert not DispatchLane.objects.filter(broadcast=broadcast).exists()
    assert sorted(Counter(recorder.sent).values()) == [1] * 20

    # Each lane's lease is taken under the token its task carries, so a second start finds them live.
    lanes.clear()
    other = shop.broadcast(shop.create(recipients=PHONES[20:26]))
    lanes.clear()
    assert start_helpers(str(other.pk)) == 2
    held = dict(DispatchLane.objects.filter(broadcast=other).values_list("lane", "token"))
    assert held == {lane: token for _b, token, lane in lanes}
    assert start_helpers(str(other.pk)) == 0
    assert len(lanes) == 2


@pytest.mark.django_db
def test_a_small_broadcast_starts_no_helper(shop, daytime, recorder, lanes, settings):
    settings.BROADCAST_BATCH_SIZE = 50
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:20]))
    run_lane(str(broadcast.pk), None, 0)
    assert lanes == []
    assert Broadcast.objects.get(pk=broadcast.pk).status == "sent"


@pytest.mark.django_db
def test_a_helper_lane_is_fenced_by_its_own_lease_and_the_broadcast_status(shop, daytime, recorder, lanes):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:6]))
    assert lease_acquire(broadcast_id=broadcast.pk, token=None) is not None  # lane 0 holds its own lease
    token = lease_acquire(broadcast_id=broadcast.pk, token=None, lane=1)
    assert token is not None
    assert lease_acquire(broadcast_id=broadcast.pk, token=None, lane=1) is None  # live: nobody else
    claimed, _ = claim_batch(broadcast, limit=6, now=timezone.now(), token=token)
    ids = [m.id for m in claimed]
    assert hand(message_ids=ids[:2], token=token, broadcast_id=broadcast.pk) == ids[:2]
    # Its lease ran out (it stalled): the next group is not handed, though the claim is still its own.
    DispatchLane.objects.filter(broadcast=broadcast, lane=1).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert hand(message_ids=ids[2:4], token=token, broadcast_id=broadcast.pk) == []
    # Another run takes the expired lane; the stalled one's token is fenced out for good.
    fresh = lease_acquire(broadcast_id=broadcast.pk, token=None, lane=1)
    assert fresh is not None
    assert fresh != token
    assert not lane_live(broadcast_id=broadcast.pk, lane=2)
    DispatchLane.objects.filter(broadcast=broadcast, lane=1).update(
        token=token, lease_until=timezone.now() + timedelta(seconds=60)
    )
    broadcast_pause(broadcast=Broadcast.objects.get(pk=broadcast.pk))
    assert hand(message_ids=ids[2:4], token=token, broadcast_id=broadcast.pk) == []  # paused: every lane stops
    # A lane's lease is only taken while the broadcast sends.
    DispatchLane.objects.filter(broadcast=broadcast).delete()
    assert lease_acquire(broadcast_id=broadcast.pk, token=None, lane=1) is None


@pytest.mark.django_db
def test_a_helper_lane_renews_its_lease_once_half_has_run_out_and_hands_it_to_its_continuation(
    shop, daytime, recorder, lanes
):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:4]))
    token = lease_acquire(broadcast_id=broadcast.pk, token=None, lane=1)
    assert token is not None
    claimed, _ = claim_batch(broadcast, limit=4, now=timezone.now(), token=token)
    nearly_out = timezone.now() + timedelta(seconds=5)
    DispatchLane.objects.filter(broadcast=broadcast, lane=1).update(lease_until=nearly_out)
    assert hand(message_ids=[claimed[0].id], token=token, broadcast_id=broadcast.pk) == [claimed[0].id]
    renewed = DispatchLane.objects.get(broadcast=broadcast, lane=1).lease_until
    assert renewed > nearly_out + timedelta(seconds=30)
    # Lane 0's lease is not touched by a helper's renewal.
    assert Broadcast.objects.get(pk=broadcast.pk).dispatch_lease_until is None
    # Handed to its continuation by token; the old token no longer counts.
    next_token = lease_handover(broadcast_id=broadcast.pk, token=token, wake_at=timezone.now(), lane=1)
    assert next_token is not None
    assert hand(message_ids=[claimed[1].id], token=token, broadcast_id=broadcast.pk) == []
    assert lease_acquire(broadcast_id=broadcast.pk, token=next_token, lane=1) is not None
    lease_release(broadcast_id=broadcast.pk, token="not-the-holder", lane=1)
    assert DispatchLane.objects.filter(broadcast=broadcast, lane=1).exists()


@pytest.mark.django_db
def test_a_helper_leaves_later_messages_to_lane_0_and_completes_the_broadcast_when_it_sent_the_last(
    shop, daytime, recorder, lanes
):
    broadcast = shop.broadcast(shop.create(recipients=PHONES[:8]))
    later = sorted(Message.objects.filter(broadcast=broadcast).values_list("pk", flat=True))[-3:]
    Message.objects.filter(pk__in=later).update(not_before=timezone.now() + timedelta(minutes=5))
    token = lease_acquire(broadcast_id=broadcast.pk, token=None, lane=1)
    run_lane(str(broadcast.pk), token, 1)
    # It sent the five due and stopped without waiting: the three later ones are lane 0's.
    assert len(recorder.sent) == 5
    assert statuses(broadcast) == Counter({"sent": 5, "queued": 3})
    assert Broadcast.objects.get(pk=broadcast.pk).status != "sent"
    assert not DispatchLane.objects.filter(broadcast=broadcast).exists()
    Message.objects.filter(pk__in=later).update(not_before=None)
    token = lease_acquire(broadcast_id=broadcast.pk, token=None, lane=1)
    run_lane(str(broadcast.pk), token, 1)
    broadcast.refresh_from_db()
    assert broadcast.status == "sent"
    assert reservation_state(broadcast_id=broadcast.pk).outstanding == 0
    assert shop.refresh().reserved == 0


@pytest.mark.django_db(transaction=True)
def test_two_lanes_side_by_side_send_every_message_once_and_complete(shop, daytime, recorder, lanes, monkeypatch):
    """Lane 0 and its helper in two threads (two database sessions), on the real claim and fence."""
    broadcast = shop.broadcast(shop.create(recipients=PHONES))
    broadcast_id = str(broadcast.pk)
    lanes.clear()  # the create's own dispatch on commit: the test runs lane 0 itself
    senders: dict[int, set[str]] = {}
    original = recorder.send

    def send(self, batch):
        senders.setdefault(threading.get_ident(), set()).update(m.id for m in batch)
        time.sleep(0.01)  # a provider's round trip: the lanes overlap
        return original(self, batch)

    monkeypatch.setattr(recorder, "send", send)
    errors: list[BaseException] = []

    def helper() -> None:
        try:
            deadline = time.monotonic() + 10
            while not lanes and time.monotonic() < deadline:
                time.sleep(0.005)
            for enqueued_id, token, lane in lanes:
                run_lane(enqueued_id, token, lane)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=helper)
    thread.start()
    run_lane(broadcast_id, None, 0)
    thread.join(30)
    assert not errors
    assert [lane for _b, _t, lane in lanes] == [1]
    assert len(senders) == 2, "both lanes sent"
    assert sorted(Counter(recorder.sent).values()) == [1] * len(PHONES)
    # Whichever lane sent the last, the broadcast completed (sent) and its reservation is settled.
    deadline = time.monotonic() + 10
    while Broadcast.objects.get(pk=broadcast_id).status != "sent" and time.monotonic() < deadline:
        run_lane(broadcast_id, None, 0)  # lane 0's continuation, as its delayed task would
        time.sleep(0.05)
    assert Broadcast.objects.get(pk=broadcast_id).status == "sent"
    assert statuses(broadcast) == Counter({"sent": len(PHONES)})
    assert shop.refresh().reserved == 0
    assert not DispatchLane.objects.filter(broadcast_id=broadcast_id).exists()


def test_a_helper_lanes_task_continues_as_the_same_lane(lanes, monkeypatch):
    from broadcasts import tasks

    monkeypatch.setattr(tasks, "dispatch_run", lambda *, broadcast_id, token, lane: ("next-token", 0.0))
    tasks.dispatch_broadcast.apply(args=("b-1", "token", 1))
    tasks.dispatch_broadcast.apply(args=("b-2", "token"))  # a task enqueued before lanes existed
    assert lanes == [("b-1", "next-token", 1), ("b-2", "next-token", 0)]
