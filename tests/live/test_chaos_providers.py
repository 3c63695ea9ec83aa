"""Exactly once against providers that misbehave (issue 19), on the live stack with real workers.

The counting provider (chaos_tools) is told to misbehave as real providers do: answer after the
request's deadline (`PROVIDER_TIMEOUT`, 3 s on the live stack), cut the connection after an
accepted status line, post the delivery report before answering the send. Other tests stall a
sending worker with SIGSTOP past its leases while another takes over, cancel a slow broadcast mid
batch, and run a paced batch under a soft time limit lowered to a few seconds (on a stack of its
own). After each, test_chaos's verdict: nobody reached twice (per number through a connector
without idempotency, per Idempotency-Key through an idempotent one), nothing left behind, every
accepted message recorded (or, where the outcome is unknown, failed `delivery_unknown`), the ledger
exact and the wallet's reservation back where it was; and the counters equal a recount.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

import pytest

from tests.live.chaos_tools import CountingProvider, accept, fraction, private_stack, workers_talking_from
from tests.live.conftest import LiveStack, Tenant, wait_for
from tests.live.test_chaos import (
    Route,
    assert_sound,
    enqueue_dispatch,
    expire_leases,
    make_routes,
    settle,
    start,
    verdict,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def routes(live: LiveStack, provider: CountingProvider, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Route]:
    return make_routes(live, provider, tmp_path_factory.mktemp("chaos-providers"))


@pytest.fixture
def tenant(live: LiveStack) -> Tenant:
    return live.new_tenant(f"Misbehaving {uuid.uuid4().hex[:6]}", balance="500")


@pytest.fixture(autouse=True)
def _well_behaved_after(provider: CountingProvider) -> Iterator[None]:
    yield
    provider.policy = accept()
    provider.cut = lambda _id, _nth: False
    provider.report_first = lambda _id, _nth: None


def recount_equal(live: LiveStack) -> None:
    assert "the counters equal the recount" in live.manage("recountbroadcasts")


# --- answers that never come whole ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["plain", "idem"])
def test_a_provider_answering_after_the_deadline_reaches_nobody_twice(
    live: LiveStack, provider: CountingProvider, routes: dict[str, Route], tenant: Tenant, kind: str
):
    """A fifth of the first requests are answered after the 3 s deadline (and accepted: the
    provider has them). Without idempotency each is failed `delivery_unknown`, not charged, never
    resent; through an idempotent connector each is resent under the same key and ends sent."""

    def slow(message_id: int, nth: int) -> tuple[int, float]:
        return (200, 4.0) if nth == 1 and fraction(19, message_id) < 0.2 else (200, 0.0)

    provider.policy = slow
    run = start(live, provider, tenant, routes[kind], 60, tps=100)
    settle(run, 120)
    v = verdict(run, worker_died=True)  # unknown outcomes may stay unrecorded, as a dead worker's
    assert_sound(v)
    slow_ids = {mid for mid in v.rows if fraction(19, mid) < 0.2}
    assert slow_ids, v.report
    if kind == "plain":
        assert {r[1:3] for mid, r in v.rows.items() if mid in slow_ids} == {("failed", "delivery_unknown")}, v.report
        assert all(n == 1 for n in Counter(h.message_id for h in v.hits).values()), v.report
    else:
        assert v.statuses() == Counter({"sent": 60}), v.report
        keys = Counter(h.key for h in v.hits if h.message_id in slow_ids)
        assert set(keys.values()) == {2}, v.report  # sent twice, the same Idempotency-Key both times
    recount_equal(live)


def test_an_accepted_answer_cut_before_its_body_ends_is_unknown_and_not_charged(
    live: LiveStack, provider: CountingProvider, routes: dict[str, Route], tenant: Tenant
):
    provider.policy = accept()
    provider.cut = lambda message_id, nth: fraction(23, message_id) < 0.25
    run = start(live, provider, tenant, routes["plain"], 40, tps=100)
    settle(run, 60)
    v = verdict(run, worker_died=True)
    assert_sound(v)
    cut_ids = {mid for mid in v.rows if fraction(23, mid) < 0.25}
    assert cut_ids, v.report
    assert {v.rows[mid][1:3] for mid in cut_ids} == {("failed", "delivery_unknown")}, v.report
    assert all(n == 1 for n in Counter(h.to for h in v.hits).values()), v.report  # each number once
    recount_equal(live)


# --- a report before the answer -----------------------------------------------------------------


def test_a_failure_report_posted_before_the_answer_fails_refunds_and_announces_once(
    live: LiveStack, provider: CountingProvider, routes: dict[str, Route], tenant: Tenant
):
    """The provider posts `failed` to the status hook, waits for Herald's 200, then answers the
    send: each such message ends failed, refunded exactly, with one message.failed event."""
    hook = live.post(
        "/api/v1/webhooks/", {"url": provider.url("/webhook-sink"), "events": ["message.failed"]}, key=tenant.key
    )
    assert hook.status_code == 201, hook.text
    provider.policy = accept()
    provider.report_first = lambda message_id, nth: "failed" if fraction(29, message_id) < 0.3 else None
    run = start(live, provider, tenant, routes["plain"], 40, tps=100)
    settle(run, 60)

    def reports_applied() -> bool:
        rows = live.sql(
            "SELECT count(*) FROM broadcasts_message WHERE broadcast_id = %s AND status = 'failed'", [run.broadcast_id]
        )
        return rows[0][0] == len([r for r in provider.reports_sent if r[0] in run.message_ids])

    wait_for(reports_applied, 30, "every early report to be applied")
    v = verdict(run, worker_died=False)
    assert_sound(v)
    reported = {mid for mid, status, _answer in provider.reports_sent if mid in run.message_ids}
    assert reported, v.report
    assert {answer for mid, _s, answer in provider.reports_sent if mid in run.message_ids} == {200}
    assert {v.rows[mid][1:3] for mid in reported} == {("failed", "early_failure")}, v.report
    refunded = live.sql(
        "SELECT COALESCE(SUM(amount), 0) FROM wallets_ledgerentry WHERE broadcast_id = %s AND kind = 'refund'",
        [run.broadcast_id],
    )[0][0]
    assert refunded == sum((v.rows[mid][3] for mid in reported), Decimal(0)), v.report
    events = Counter(
        int(mid)
        for (mid,) in live.sql(
            "SELECT data->>'message_id' FROM webhooks_webhookevent WHERE type = 'message.failed' AND client_id = %s",
            [tenant.client_id],
        )
    )
    assert events == Counter(dict.fromkeys(reported, 1)), v.report
    assert not live.sql("SELECT 1 FROM broadcasts_earlyreport WHERE connector = %s", [run.route.connector])
    recount_equal(live)


# --- cancel and stalls -----------------------------------------------------------------------------


def test_cancel_stops_a_slow_broadcast_at_the_next_group(
    live: LiveStack, provider: CountingProvider, routes: dict[str, Route], tenant: Tenant
):
    """At 2 messages a second, 200 messages: after the cancel answers, at most the group in flight
    reaches the provider; the reservation returns to 0."""
    provider.policy = accept()
    run = start(live, provider, tenant, routes["plain"], 200, tps=2)
    wait_for(lambda: run.accepted() >= 4, 60, "4 messages accepted")
    cancelled = run.action("cancel")
    answered_at = time.monotonic()
    assert (cancelled.status_code, cancelled.json().get("status")) == (200, "cancelled"), cancelled.text
    run.note("cancelled")
    settle(run, 30)
    v = verdict(run, worker_died=False)
    assert_sound(v)
    after = [h for h in v.hits if h.at > answered_at]
    assert len(after) <= 2, f"{len(after)} requests after the cancel answered\n{v.report}"
    assert v.status == "cancelled", v.report
    assert set(v.statuses()) <= {"sent", "cancelled"}, v.report
    recount_equal(live)


def test_a_worker_stalled_past_its_leases_sends_nothing_after_another_took_over(
    live: LiveStack, provider: CountingProvider, routes: dict[str, Route], tenant: Tenant
):
    """SIGSTOP the pool process that is sending (a GC pause, a slow disk: a stall), let its leases
    run out (moved into the past, as the clock would), let another dispatcher take the broadcast
    over, then SIGCONT it: no number is reached twice, whatever either of them had in hand."""
    provider.policy = accept(delay=0.2)
    run = start(live, provider, tenant, routes["plain"], 300, tps=50)
    wait_for(lambda: run.accepted() >= 40 and provider.in_flight_ports(), 60, "40 accepted and more in flight")
    [stalled, *_] = wait_for(
        lambda: workers_talking_from(live, provider.in_flight_ports()),
        10,
        "the pool process with a request in flight at the provider",
        interval=0.05,
    )
    stalled.send_signal(signal.SIGSTOP)
    before = run.accepted()
    run.note(f"SIGSTOPped pool process {stalled.pid} with {before} accepted")
    try:
        expire_leases(run)
        enqueue_dispatch(run, 1)  # beat's tick would, within 10 s
        wait_for(lambda: run.accepted() >= before + 50, 60, "the other pool process to take over and send on")
    finally:
        stalled.send_signal(signal.SIGCONT)
        run.note(f"SIGCONTed pool process {stalled.pid} at {run.accepted()} accepted")
    settle(run, 90, nudge_after=15)
    v = verdict(run, worker_died=True)  # the stalled worker's in-flight group is an unknown outcome
    assert_sound(v)
    assert set(v.statuses()) <= {"sent", "failed"}, v.report
    assert {r[2] for r in v.rows.values() if r[1] == "failed"} <= {"delivery_unknown"}, v.report
    recount_equal(live)


# --- a soft time limit --------------------------------------------------------------------------


def test_a_paced_batch_under_a_soft_time_limit_records_everything_it_sent(
    live: LiveStack, provider: CountingProvider, tmp_path_factory: pytest.TempPathFactory
):
    """On a stack whose tasks have a 3 s soft time limit (a batch's run is 10 s): at 2 messages a
    second every run is cut; each accepted message is still recorded sent and captured, none twice."""
    extra = {"CELERY_TASK_SOFT_TIME_LIMIT": "3", "CELERY_TASK_TIME_LIMIT": "60"}
    with private_stack(live, tmp_path_factory.mktemp("soft"), "soft", extra_env=extra) as private:
        stack = private.stack
        mine = make_routes(stack, provider, tmp_path_factory.mktemp("soft-routes"))
        tenant = stack.new_tenant(f"Soft limit {uuid.uuid4().hex[:6]}", balance="500")
        provider.policy = accept(delay=0.1)
        run = start(stack, provider, tenant, mine["plain"], 24, tps=2)
        settle(run, 90, gone=private.exited)
        v = verdict(run, worker_died=False)
        assert_sound(v)
        assert (v.status, v.statuses()) == ("sent", Counter({"sent": 24})), v.report
        assert "broadcast.soft_time_limit" in stack.log_path.read_text(errors="replace"), "the limit never struck"
        assert "the counters equal the recount" in stack.manage("recountbroadcasts")
