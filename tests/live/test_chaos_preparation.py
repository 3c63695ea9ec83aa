"""Chaos in a large broadcast's preparation (issue 12): its worker SIGKILLed between two chunks' commits.

A list over BROADCAST_SYNC_LIMIT is accepted at once and prepared by the worker in chunks of
PREPARE_CHUNK members (FIRST_CHUNK for the first), one chunk per transaction (messages, their
reservation and the cursor commit together, under one preparer's advisory lock), and dispatch starts
with the first chunk. This test builds such a list through the contacts import API (as test_flows'
10,050-member test does), creates the broadcast over HTTP, waits until some chunks but not all are
written, finds the pool process that holds the preparer's lock (pg_locks → its session's
application_name, `herald worker <pid>`, which each pool process sets: config.celery) and SIGKILLs
it, usually in the middle of its next chunk. Then:

- right after the kill (once PostgreSQL has ended the dead process's session), what is committed is
  whole chunks: as many messages as `preparation.processed` says, reserved to the cent, and the
  broadcast still preparing;
- the stack recovers on its own: the task is redelivered (task_reject_on_worker_lost) and beat's
  tick re-enqueues any preparation every 10 s; a duplicate preparer returns at once (the lock).
  Preparation holds no lease, only a session-level advisory lock that PostgreSQL releases with the
  dead session, so no clock has to be moved here (unlike test_chaos.py's dispatch leases);
- at the end every member has exactly one message (none twice, none skipped), the provider accepted
  each number once, the totals and counters equal the recount, the reservation is exactly the
  messages' cost (one reserve per chunk: none reserved twice) and the wallet's `reserved` is back to
  its value before.

The list is a first chunk, three full chunks and a bit, so the kill (sent within tens of
milliseconds of the first list chunk's commit, with the tenant's wallet row held so the preparer's
next reservation waits for it) lands before preparation ends; the test fails, saying so, if it did
not land mid-preparation. Sending the 16,050 messages to the counting provider is most of the test's
time.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

import psutil
import psycopg
import pytest

from broadcasts.services.prepare import FIRST_CHUNK, PREPARE_CHUNK
from tests.live.chaos_tools import CountingProvider, accept, sigkill, worker_children
from tests.live.conftest import LiveStack, import_list, wait_for
from tests.live.test_chaos import TEXT, Route, Run, assert_sound, make_routes, settle, verdict, wallet

pytestmark = pytest.mark.slow

MEMBERS = FIRST_CHUNK + 3 * PREPARE_CHUNK + 50


def chunks(processed: int) -> int:
    """Chunks (each one reserve) that prepared `processed` list members: FIRST_CHUNK, then
    PREPARE_CHUNK at a time (the named recipients' chunk is empty here and reserves nothing)."""
    return min(1, processed) + math.ceil(max(0, processed - FIRST_CHUNK) / PREPARE_CHUNK)


def accepted_so_far(provider: CountingProvider, route: Route) -> int:
    """For the timeline only (a copy of the list: appending to it is atomic)."""
    return sum(1 for h in list(provider.hits) if h.path == route.path and h.accepted)


def written(conn: psycopg.Connection[Any], broadcast_id: str) -> dict[str, Any]:
    """The broadcast's preparation and what it has committed, in one snapshot (one statement)."""
    row = conn.execute(
        """
        SELECT b.preparing, b.preparation_processed, b.preparation_total,
               (SELECT count(*) FROM broadcasts_message m WHERE m.broadcast_id = b.id AND NOT m.is_test),
               (SELECT COALESCE(SUM(m.cost), 0) FROM broadcasts_message m
                 WHERE m.broadcast_id = b.id AND NOT m.is_test),
               (SELECT COALESCE(SUM(e.amount), 0) FROM wallets_ledgerentry e
                 WHERE e.broadcast_id = b.id AND e.kind = 'reserve'),
               (SELECT count(*) FROM wallets_ledgerentry e WHERE e.broadcast_id = b.id AND e.kind = 'reserve')
          FROM broadcasts_broadcast b WHERE b.id = %s
        """,
        [broadcast_id],
    ).fetchone()
    assert row is not None
    keys = ("preparing", "processed", "total", "messages", "cost", "reserved", "reserves")
    return dict(zip(keys, row, strict=True))


def preparer(conn: psycopg.Connection[Any], broadcast_id: str) -> tuple[int, str, str]:
    """(backend pid, application_name, state) of the session holding the broadcast's preparation
    lock: prepare_run's pg_try_advisory_lock(namespace, hashtext(broadcast id)), held across its
    chunks. A pool process names its sessions `herald worker <its pid>` (config.celery)."""
    row = conn.execute(
        """
        SELECT a.pid, a.application_name, a.state
          FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND l.objid::bigint = (hashtext(%s)::bigint + 4294967296) %% 4294967296
        """,
        [broadcast_id],
    ).fetchone()
    return (int(row[0]), str(row[1]), str(row[2])) if row else (0, "", "")


def preparing_worker(
    live: LiveStack, conn: psycopg.Connection[Any], broadcast_id: str, timeout: float = 30
) -> tuple[psutil.Process, int, str]:
    """The pool process preparing the broadcast now, with its backend's pid and state: read from
    the lock holder's application_name, and taken only once that pid is one of the stack's pool
    processes and the same backend still holds the lock (a run ends its turn every ~10 s and another
    process may take the next; then this looks again)."""
    deadline = time.monotonic() + timeout
    seen: list[tuple[int, str, str]] = []
    while time.monotonic() < deadline:
        backend, name, state = preparer(conn, broadcast_id)
        seen.append((backend, name, state))
        role, _, pid = name.rpartition(" ")
        if backend and role == "herald worker" and pid.isdigit():
            children = {p.pid: p for p in worker_children(live)}
            if int(pid) in children and preparer(conn, broadcast_id)[0] == backend:
                return children[int(pid)], backend, state
        time.sleep(0.01)
    pytest.fail(f"no pool process of the stack held the preparation lock within {timeout:.0f} s: {seen[-5:]}")


def test_worker_killed_mid_preparation_resumes_without_duplicates_or_gaps(
    live: LiveStack, provider: CountingProvider, tmp_path_factory: pytest.TempPathFactory
):
    provider.policy = accept()
    route: Route = make_routes(live, provider, tmp_path_factory.mktemp("chaos-preparation"))["plain"]
    tenant = live.new_tenant(f"Chaos prep {uuid.uuid4().hex[:6]}", balance="1000")
    list_id = import_list(live, tenant, MEMBERS, "Large")
    # Sending is not what is under test: let the counting provider take the messages as fast as it can.
    live.sql("UPDATE broadcasts_connector SET tps = 5000 WHERE name = %s", [route.connector])
    live.sql("UPDATE accounts_client SET send_rate_limit = '1000000/m' WHERE id = %s", [tenant.client_id])
    balance, reserved = wallet(live, tenant.client_id)

    body = {"name": "Chaos prep", "contact_lists": [list_id], "text": TEXT, "sender": "Herald", "route": route.code}
    created = live.post("/api/v1/broadcasts/", body, key=tenant.key)
    assert created.status_code == 201, created.text
    accepted = created.json()
    assert (accepted["preparing"], accepted["preparation"]) == (True, {"processed": 0, "total": MEMBERS}), accepted
    broadcast_id = accepted["id"]
    run = Run(live, provider, tenant, route, broadcast_id, set(), balance, reserved)
    run.note(
        f"created {broadcast_id}: {MEMBERS} members via {route.connector},"
        f" chunks of {FIRST_CHUNK}, then {PREPARE_CHUNK}"
    )

    with psycopg.connect(live.database_url, autocommit=True) as conn:
        # Some chunks written, not all: the first list chunk has committed.
        deadline = time.monotonic() + 60
        while (state := written(conn, broadcast_id))["processed"] < FIRST_CHUNK:
            assert state["preparing"], f"preparation ended before a chunk could be seen: {state}"
            assert time.monotonic() < deadline, f"no chunk prepared within 60 s: {state}"
            time.sleep(0.01)
        # The tenant's wallet row held from now on: the preparer's next reservation waits for it
        # inside its chunk, so the kill lands mid-preparation however fast the rest would have gone
        # (the two chunks left took ~0.3 s each; a slow poll or process scan could miss them all).
        with psycopg.connect(live.database_url) as holder:
            holder.execute("SELECT 1 FROM wallets_wallet WHERE client_id = %s FOR UPDATE", [tenant.client_id])
            victim, pid, backend_state = preparing_worker(live, conn, broadcast_id)
            before = written(conn, broadcast_id)
            sigkill([victim])
            holder.rollback()
        run.note(
            f"SIGKILLed pool process {victim.pid} (backend {pid}, {backend_state}) at processed "
            f"{before['processed']}/{MEMBERS}, {accepted_so_far(provider, route)} messages accepted so far"
        )
        wait_for(
            lambda: not conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone(),
            15,
            "PostgreSQL to end the dead preparer's session (releasing its lock, rolling back its chunk)",
            interval=0.02,
        )
        after = written(conn, broadcast_id)
        run.note(f"its session ended: {after}")
        # The kill landed mid-preparation, and what it left is whole chunks, each reserved exactly.
        landed = (after["preparing"], 0 < after["processed"] < MEMBERS)
        assert landed == (True, True), f"the kill did not land mid-preparation: {after}"
        assert after["messages"] == after["processed"], after
        assert after["reserved"] == after["cost"], after
        assert after["reserves"] == chunks(after["processed"]), after

    wait_for(
        lambda: len([p for p in worker_children(live) if p.pid != victim.pid]) >= 2,
        30,
        "the Celery worker to fork a replacement for the killed pool process",
    )
    wait_for(
        lambda: not live.get(f"/api/v1/broadcasts/{broadcast_id}/", key=tenant.key).json()["preparing"],
        90,
        "the preparation to resume and finish",
    )
    run.note("preparation finished")
    run.message_ids = {
        row[0]
        for row in live.sql("SELECT id FROM broadcasts_message WHERE broadcast_id = %s AND NOT is_test", [broadcast_id])
    }
    settle(run, 120)
    v = verdict(run, worker_died=False)  # the process killed was preparing: none of its messages was in flight
    assert_sound(v)
    assert (v.status, v.statuses()) == ("sent", Counter({"sent": MEMBERS})), v.report

    # Every member exactly once: one message per member of the list, none for anyone else.
    per_member = live.sql(
        """
        SELECT count(*), count(DISTINCT m.contact_id), count(DISTINCT m.urn),
               count(*) FILTER (WHERE NOT EXISTS (
                   SELECT 1 FROM contacts_contactlistmembership c
                    WHERE c.contact_list_id = %s AND c.contact_id = m.contact_id)),
               (SELECT count(*) FROM contacts_contactlistmembership c WHERE c.contact_list_id = %s
                   AND NOT EXISTS (SELECT 1 FROM broadcasts_message x
                                    WHERE x.broadcast_id = %s AND x.contact_id = c.contact_id))
          FROM broadcasts_message m WHERE m.broadcast_id = %s AND NOT m.is_test
        """,
        [list_id, list_id, broadcast_id, broadcast_id],
    )
    assert per_member == [(MEMBERS, MEMBERS, MEMBERS, 0, 0)], (
        f"(rows, contacts, numbers, strangers, missed)\n{v.report}"
    )
    # The provider took each number once (no duplicate row could have sent twice), and all of them.
    reached = Counter(h.to for h in v.hits if h.accepted)
    assert (len(reached), max(reached.values())) == (MEMBERS, 1), v.report

    # Totals exact, and the counters equal the recount.
    cost, segments = live.sql(
        "SELECT SUM(cost), SUM(segments) FROM broadcasts_message WHERE broadcast_id = %s AND NOT is_test",
        [broadcast_id],
    )[0]
    detail = live.get(f"/api/v1/broadcasts/{broadcast_id}/", key=tenant.key).json()
    assert (
        detail["preparation"],
        detail["total_recipients"],
        detail["total_segments"],
        Decimal(detail["estimated_cost"]),
        detail["skipped"],
        detail["stats"]["sent"],
        detail["stats"]["queued"],
    ) == (
        {"processed": MEMBERS, "total": MEMBERS},
        MEMBERS,
        segments,
        cost,
        {"invalid": 0, "opted_out": 0, "unroutable": 0, "duplicates": 0},
        MEMBERS,
        0,
    ), detail
    assert "the counters equal the recount" in live.manage("recountbroadcasts")

    # The reservation exact: one reserve per chunk with messages, together the messages' cost, all of
    # it captured; the wallet's reserved back where it was.
    final = live.sql(
        """
        SELECT r.reserved, r.captured, r.released,
               (SELECT count(*) FROM wallets_ledgerentry e WHERE e.broadcast_id = r.broadcast_id AND e.kind = 'reserve')
          FROM wallets_reservation r WHERE r.broadcast_id = %s
        """,
        [broadcast_id],
    )
    assert final == [(cost, cost, Decimal(0), chunks(MEMBERS))], v.report
    assert wallet(live, tenant.client_id) == (balance - cost, reserved), v.report
