"""Preparation with its next chunks planned on a second thread (services/prepare_ahead.py), as a
worker runs it: outside any transaction, so these tests commit (transaction=True). The rest of the
large-audience tests run inside the test's transaction, where preparation plans in-line."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest

from broadcasts import queue
from broadcasts.models import Broadcast, Message
from broadcasts.services import prepare, prepare_ahead
from broadcasts.services.prepare_ahead import prepare_run
from wallets.models import Wallet
from wallets.selectors import reservation_state
from wallets.services import wallet_reserve, wallet_topup

from .test_large_audiences import create, members

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def large_from_50(settings):
    settings.BROADCAST_SYNC_LIMIT = 50  # as test_large_audiences' `limit`


@pytest.fixture(autouse=True)
def worker_runs_nothing(monkeypatch):
    """Committed for real, a create would start the (eager) preparation and dispatch tasks at
    once: here the tests run preparation themselves, and nothing is sent."""
    monkeypatch.setattr(queue, "_enqueue", lambda *args, **kwargs: None)


@pytest.fixture
def threads_seen(monkeypatch):
    """The names of the threads that planned chunks."""
    seen: list[str] = []
    real = prepare.plan_at

    def spy(context, cursor):
        seen.append(threading.current_thread().name)
        return real(context, cursor)

    monkeypatch.setattr(prepare, "plan_at", spy)
    monkeypatch.setattr(prepare_ahead, "plan_at", spy)
    return seen


def exact(broadcast_id, count):
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    messages = Message.objects.filter(broadcast=broadcast)
    assert (broadcast.preparing, broadcast.preparation_processed, broadcast.total_recipients) == (False, count, count)
    assert (messages.count(), messages.values("urn").distinct().count()) == (count, count)
    assert broadcast.estimated_cost == sum(m.cost for m in messages)
    assert reservation_state(broadcast_id=broadcast.pk).outstanding == broadcast.estimated_cost
    return broadcast


def test_chunks_are_planned_on_the_second_thread_and_written_once(shop, daytime, monkeypatch, threads_seen):
    monkeypatch.setattr(prepare, "PREPARE_CHUNK", 25)
    broadcast_id = create(shop, members(shop, 130)).json()["id"]

    assert prepare_run(broadcast_id=broadcast_id) is False

    exact(broadcast_id, 130)
    assert len(threads_seen) == 7  # the named recipients (none), then 6 chunks of the lists
    assert all(name.startswith("plan-ahead-") for name in threads_seen)
    assert not [t for t in threading.enumerate() if t.name.startswith("plan-ahead-")]  # joined


def test_a_run_that_ends_mid_way_drops_its_plans_and_the_next_run_goes_on(shop, daytime, monkeypatch):
    monkeypatch.setattr(prepare, "PREPARE_CHUNK", 25)
    broadcast_id = create(shop, members(shop, 130)).json()["id"]

    assert prepare_run(broadcast_id=broadcast_id, seconds=0) is True  # out of time before the first chunk
    assert Message.objects.filter(broadcast_id=broadcast_id).count() == 0
    assert prepare_run(broadcast_id=broadcast_id) is False

    exact(broadcast_id, 130)


def test_a_plan_that_no_longer_starts_at_the_cursor_is_planned_again(shop, daytime, monkeypatch):
    monkeypatch.setattr(prepare, "PREPARE_CHUNK", 25)
    broadcast_id = create(shop, members(shop, 60)).json()["id"]
    broadcast = Broadcast.objects.get(pk=broadcast_id)
    stale = prepare.plan_at(prepare.load_context(broadcast, now=broadcast.created_at), "")
    assert prepare.prepare_chunk(broadcast_id=broadcast_id) == "more"  # the named recipients: the cursor moved on

    assert prepare.prepare_chunk(broadcast_id=broadcast_id, planned=stale) == "more"  # not written: planned again
    assert prepare_run(broadcast_id=broadcast_id) is False

    exact(broadcast_id, 60)


def test_an_error_while_planning_ahead_is_raised_in_the_worker_and_writes_nothing(shop, daytime, monkeypatch):
    monkeypatch.setattr(prepare, "PREPARE_CHUNK", 25)
    broadcast_id = create(shop, members(shop, 60)).json()["id"]

    def broken(context, cursor):
        raise RuntimeError("the planner broke")

    monkeypatch.setattr(prepare_ahead, "plan_at", broken)
    with pytest.raises(RuntimeError, match="the planner broke"):
        prepare_run(broadcast_id=broadcast_id)
    assert Message.objects.filter(broadcast_id=broadcast_id).count() == 0
    monkeypatch.setattr(prepare_ahead, "plan_at", prepare.plan_at)
    assert prepare_run(broadcast_id=broadcast_id) is False  # the advisory lock was released
    exact(broadcast_id, 60)


def test_credit_taken_between_planning_and_writing_pauses_without_writing(shop, daytime, monkeypatch):
    monkeypatch.setattr(prepare, "PREPARE_CHUNK", 40)
    broadcast_id = create(shop, members(shop, 120)).json()["id"]
    assert prepare.prepare_chunk(broadcast_id=broadcast_id) == "more"  # the named recipients (none)
    assert prepare.prepare_chunk(broadcast_id=broadcast_id) == "more"  # 40 members
    real = prepare.reserve_after_checks

    def another_broadcast_reserves_first(*, wallet, amount, broadcast_id, note):
        # The credit was there when checked; another broadcast holds nearly all of it by the time
        # this chunk's reservation locks the wallet.
        fresh = Wallet.objects.get(pk=wallet.pk)
        wallet_reserve(wallet=fresh, amount=fresh.available - Decimal("0.0001"), broadcast_id=shop.client.pk, note="x")
        real(wallet=wallet, amount=amount, broadcast_id=broadcast_id, note=note)

    monkeypatch.setattr(prepare, "reserve_after_checks", another_broadcast_reserves_first)
    assert prepare_run(broadcast_id=broadcast_id) is False

    broadcast = Broadcast.objects.get(pk=broadcast_id)
    assert (broadcast.status, broadcast.pause_reason, broadcast.preparing) == ("paused", "insufficient_credit", True)
    assert Message.objects.filter(broadcast=broadcast).count() == 40  # the chunk's rows went with its savepoint
    assert reservation_state(broadcast_id=broadcast.pk).outstanding == sum(
        m.cost for m in Message.objects.filter(broadcast=broadcast)
    )
    monkeypatch.setattr(prepare, "reserve_after_checks", real)
    wallet_topup(wallet=shop.refresh(), amount=Decimal("10"), note="top-up")
    assert shop.api.post(f"/api/v1/broadcasts/{broadcast_id}/resume/").status_code == 200
    assert prepare_run(broadcast_id=broadcast_id) is False
    exact(broadcast_id, 120)
