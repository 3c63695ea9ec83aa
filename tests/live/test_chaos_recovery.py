"""Recovering what dead senders handed over (SPEC §10 Dispatch; docs/broadcasts.md "A message's send").

The handed mark (`Message.handed_at`) is written before a request leaves and no claim clears it: a
message claimed again while it carries the mark has an unknown outcome, sent again only through an
idempotent connector (under the same Idempotency-Key), otherwise failed `delivery_unknown`, not
charged. These tests break real worker processes of the live stack (gunicorn, a Celery worker and
beat, PostgreSQL, Redis) around that mark, against test_chaos's counting provider:

- SIGKILL twice in a row: worker A dies with requests at the provider; the next dispatcher, B,
  claims what A handed and dies too before it records anything; a third finishes. Through the plain
  connector B is killed where its claim is committed and its record is not (it waits on the wallet
  row, which the test holds): nobody may be reached twice, so the third must see A's mark. Through
  the idempotent one B resends A's messages, slowly, and is killed with them in flight: the third
  sends them once more, every time under the message's one key.
- A Twilio-format provider (the `twilio` backend, which has no idempotency) answering a quarter of
  the first requests after the stack's 3 s deadline: those end `delivery_unknown`, not charged,
  never resent.

Then test_chaos's verdict (nobody reached twice, nothing left behind, the ledger exact and the
reservation back) and the counters against `recountbroadcasts`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psutil
import psycopg
import pytest

from tests.live.chaos_tools import CountingProvider, accept, fraction, sigkill, worker_children, workers_talking_from
from tests.live.conftest import LiveStack, Tenant, wait_for
from tests.live.test_chaos import (
    PRICE,
    Route,
    Run,
    assert_sound,
    enqueue_dispatch,
    expire_leases,
    kill_the_sending_worker,
    make_routes,
    settle,
    start,
    verdict,
)

pytestmark = pytest.mark.slow

ACCOUNT_SID = "AC" + "c0ffee00" * 4
SLOW_RESEND = 6.0  # seconds: B's resends of A's messages are still at the provider when B is killed


def make_twilio_route(live: LiveStack, provider: CountingProvider, tmp: Path) -> Route:
    """A `twilio` connector whose base_url is the counting provider, behind a route of its own."""
    tag = uuid.uuid4().hex[:6]
    name = f"chaos-twilio-{tag}"
    prefix = f"/twilio-{tag}"
    config = {"account_sid": ACCOUNT_SID, "auth_token": f"chaos-token-{tag}", "base_url": provider.url(prefix)}
    live.manage(
        "createconnector", name, "--channel", "sms", "--backend", "twilio",
        "--config", json.dumps(config), "--tps", "100",
    )  # fmt: skip
    code = f"CHAOS_TWILIO_{tag.upper()}"
    csv = tmp / f"routes-twilio-{tag}.csv"
    csv.write_text(
        "channel,country_code,prefix,route_code,connector,currency,price_per_segment,tier\n"
        f"sms,UG,,{code},{name},USD,{PRICE},premium\n"
    )
    live.manage("importroutes", str(csv))
    return Route(code, name, False, f"{prefix}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")


@pytest.fixture(scope="module")
def routes(live: LiveStack, provider: CountingProvider, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Route]:
    tmp = tmp_path_factory.mktemp("chaos-recovery")
    return {**make_routes(live, provider, tmp), "twilio": make_twilio_route(live, provider, tmp)}


@pytest.fixture
def tenant(live: LiveStack) -> Tenant:
    return live.new_tenant(f"Recovery {uuid.uuid4().hex[:6]}", balance="500")


@pytest.fixture(autouse=True)
def _well_behaved_after(provider: CountingProvider) -> Iterator[None]:
    yield
    provider.policy = accept()
    provider.twilio_message_id = lambda _path, _to: None


def recount_equal(live: LiveStack) -> None:
    assert "the counters equal the recount" in live.manage("recountbroadcasts")


def handed_unrecorded(run: Run) -> set[int]:
    """The broadcast's messages handed to the provider whose answer was never recorded."""
    rows = run.live.sql(
        "SELECT id FROM broadcasts_message WHERE broadcast_id = %s AND status = 'sending' AND handed_at IS NOT NULL",
        [run.broadcast_id],
    )
    return {mid for (mid,) in rows}


def sigkill_pool_processes(run: Run, victims: list[psutil.Process], why: str) -> None:
    """SIGKILL these pool processes and wait for the Celery worker to fork their replacements."""
    pids = sorted(v.pid for v in victims)
    sigkill(victims)
    run.note(f"SIGKILLed pool process(es) {pids} {why}")
    wait_for(
        lambda: len([p for p in worker_children(run.live) if p.pid not in pids]) >= 2,
        30,
        "the Celery worker to fork replacements for the killed pool process",
    )


def kill_the_next_claimer_before_it_records(run: Run) -> None:
    """Let the next dispatcher (B) claim, and SIGKILL it after its claim committed, before it records.

    The test holds the tenant's wallet row (FOR UPDATE) while the leases run out and B is started.
    B claims what A held; through a connector without idempotency A's handed messages are failed
    `delivery_unknown` before anything is sent, and failing them releases their credit, which takes
    the wallet row: B waits there, its claim committed, its record not. B is found by its database
    session's client port (the session waiting on ours), killed, and the row let go: its record's
    transaction never commits.
    """
    with psycopg.connect(run.live.database_url) as holder:
        holder.execute("SELECT 1 FROM wallets_wallet WHERE client_id = %s FOR UPDATE", [run.tenant.client_id])
        row = holder.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        me = int(row[0])
        run.note("the tenant's wallet row locked by the test")
        expire_leases(run)
        enqueue_dispatch(run, 1)  # beat's tick would, within 10 s

        def waiting_on_us() -> set[int]:
            rows = run.live.sql(
                "SELECT client_port FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid)) AND client_port > 0",
                [me],
            )
            return {int(port) for (port,) in rows}

        ports = wait_for(waiting_on_us, 60, "the next dispatcher to wait on the wallet row (its claim committed)")
        victims = workers_talking_from(run.live, ports)
        assert victims, f"no pool process of the stack owns the session(s) waiting on the wallet row: {ports}"
        sigkill_pool_processes(run, victims, "waiting to record (claim committed)")
        holder.rollback()
    run.note("the wallet row let go")


def kill_the_resender(run: Run, handed: set[int], since: float) -> set[int]:
    """SIGKILL the dispatcher (B) while its resends (requests arrived after `since`) of A's handed
    messages are at the provider. Returns the messages whose resend was in flight."""

    def resends_in_flight() -> dict[int, set[int]]:
        ports = run.provider.in_flight_ports()
        now = time.monotonic()
        found: dict[int, set[int]] = defaultdict(set)
        for hit in run.hits(handed):
            if hit.at >= since and hit.client_port in ports and now - hit.at < SLOW_RESEND - 1:
                found[hit.client_port].add(hit.message_id)
        return found

    in_flight = wait_for(resends_in_flight, 60, "B's resends of A's handed messages at the provider", interval=0.05)
    victims = workers_talking_from(run.live, set(in_flight))
    assert victims, f"no pool process of the stack owns the resends' connections: {sorted(in_flight)}"
    resent = set().union(*in_flight.values())
    sigkill_pool_processes(run, victims, f"with {len(resent)} resends of A's messages in flight")
    return resent


# --- SIGKILL twice in a row ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["plain", "idem"])
def test_a_second_worker_killed_while_recovering_lets_nobody_be_reached_twice(
    live: LiveStack, provider: CountingProvider, routes: dict[str, Route], tenant: Tenant, kind: str
):
    """A dies after handing (requests in flight); B claims A's handed messages and dies before it
    records; a third dispatcher finishes. Plain: every number reached at most once, A's handed
    messages failed `delivery_unknown` after three claims (A's, B's, the third's). Idempotent: all
    sent, every request for a message under its one Idempotency-Key, B's in-flight resends sent once
    more by the third."""
    count = 300
    provider.policy = accept(delay=0.2)  # slow enough that the kill lands with requests in flight
    run = start(live, provider, tenant, routes[kind], count, tps=100)
    wait_for(lambda: run.accepted() >= 60 and provider.in_flight_ports(), 60, "60 messages accepted and more in flight")
    kill_the_sending_worker(run)  # A
    handed = handed_unrecorded(run)
    run.note(f"A handed {len(handed)} message(s) whose answers it never recorded")
    assert handed, "A died with nothing handed and unrecorded: the scenario did not happen"
    resent: set[int] = set()
    b_started = time.monotonic()
    if kind == "plain":
        kill_the_next_claimer_before_it_records(run)  # B
    else:
        # While B runs, A's handed messages are answered slowly (B is killed with its resends of
        # them in flight); once B is dead, everything is quick again.
        provider.policy = lambda mid, nth: (200, SLOW_RESEND) if mid in handed else (200, 0.2)
        expire_leases(run)
        enqueue_dispatch(run, 1)
        resent = kill_the_resender(run, handed, since=b_started)  # B
        provider.policy = accept(delay=0.2)
    expire_leases(run)
    enqueue_dispatch(run, 1)  # the third dispatcher
    settle(run, 120, nudge_after=15)
    v = verdict(run, worker_died=True)
    assert_sound(v)
    # Claimed by A, by B (which died holding them) and by the third dispatcher.
    assert {v.rows[mid][5] for mid in handed} == {3}, v.report
    if kind == "plain":
        assert all(n == 1 for n in Counter(h.to for h in v.hits).values()), v.report  # each number at most once
        assert {v.rows[mid][1:3] for mid in handed} == {("failed", "delivery_unknown")}, v.report
        assert {v.rows[mid][1:3] for mid in v.rows if mid not in handed} == {("sent", "")}, v.report
    else:
        assert v.statuses() == Counter({"sent": count}), v.report
        keys: dict[int, set[str]] = defaultdict(set)
        for hit in v.hits:
            keys[hit.message_id].add(hit.key)
        assert all(k == {str(mid)} for mid, k in keys.items()), v.report  # one and the same key
        # After A's: B's request (in flight when B died), then the third dispatcher's.
        after_a = Counter(h.message_id for h in v.hits if h.at >= b_started)
        assert resent, v.report
        assert {after_a[mid] for mid in resent} == {2}, v.report
    recount_equal(live)


# --- a Twilio-format provider slower than the deadline --------------------------------------------


def test_a_slow_twilio_provider_reaches_nobody_twice(
    live: LiveStack, provider: CountingProvider, routes: dict[str, Route], tenant: Tenant
):
    """A quarter of the first requests to a Twilio-format provider are answered (201, created) after
    the 3 s deadline: Twilio does not dedupe, so each is failed `delivery_unknown`, not charged and
    never resent; the rest are sent with Twilio's sid as their provider id."""
    route = routes["twilio"]
    count = 60

    def message_id(path: str, to: str) -> int | None:
        if path != route.path:
            return None
        rows = live.sql(
            "SELECT id FROM broadcasts_message WHERE urn = %s AND route_code = %s AND NOT is_test",
            [f"tel:{to}", route.code],
        )
        return int(rows[0][0]) if len(rows) == 1 else None

    def slow(mid: int, nth: int) -> tuple[int, float]:
        return (200, 4.0) if nth == 1 and fraction(37, mid) < 0.25 else (200, 0.0)

    provider.twilio_message_id = message_id
    provider.policy = slow
    run = start(live, provider, tenant, route, count, tps=100)
    settle(run, 120)
    v = verdict(run, worker_died=True)  # unknown outcomes may stay unrecorded, as a dead worker's
    assert_sound(v)
    slow_ids = {mid for mid in v.rows if fraction(37, mid) < 0.25}
    assert slow_ids, v.report
    assert {h.status for h in v.hits} == {201}, v.report  # Twilio's format was spoken, and accepted
    assert all(n == 1 for n in Counter(h.to for h in v.hits).values()), v.report  # each number at most once
    assert Counter(h.message_id for h in v.hits) == Counter(set(v.rows)), v.report  # each message sent once
    assert {v.rows[mid][1:3] for mid in slow_ids} == {("failed", "delivery_unknown")}, v.report
    assert {v.rows[mid][1:3] for mid in v.rows if mid not in slow_ids} == {("sent", "")}, v.report
    sids = dict(
        live.sql(
            "SELECT id, provider_message_id FROM broadcasts_message WHERE broadcast_id = %s AND status = 'sent'",
            [run.broadcast_id],
        )
    )
    assert sids == {mid: f"SM{mid:032x}" for mid in sids}, v.report
    charged = live.sql(
        "SELECT COALESCE(SUM(CASE kind WHEN 'capture' THEN amount WHEN 'refund' THEN -amount END), 0)"
        " FROM wallets_ledgerentry WHERE broadcast_id = %s",
        [run.broadcast_id],
    )[0][0]
    assert charged == sum((r[3] for mid, r in v.rows.items() if mid not in slow_ids), Decimal(0)), v.report
    recount_equal(live)
