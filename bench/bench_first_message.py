"""The first message of a large broadcast at the provider, timed from the create request (issue 12).

A contact list of N members (default 1,000,000), far over BROADCAST_SYNC_LIMIT, on a stack of this
bench's own, started as `scripts/run.py` starts it: gunicorn (2 workers × 4 threads) and a Celery
worker (`--concurrency 2 -Q celery`) with the production settings (`DEBUG` off), a Redis broker on
a free port and a fresh database on DATABASE_URL's server (or the embedded one). An `http` connector
points at a minimal provider (bench_dispatch's asyncio keep-alive server, in its own process) that
writes down the wall-clock time of the first POST it receives.

Measured: from the moment the bench sends `POST /api/v1/broadcasts/` (the list, over the API with an
API key) until the provider receives its first request. Target: ≤ 5 s. The path in between: the
create answers 201 with `preparing: true` (its estimate is one aggregate over the members) and
enqueues the preparation on commit; the worker prepares the named recipients (none here) and then
the first chunk of list members, each commit enqueuing the dispatcher, which claims the first batch
and sends it. Beat is not started: it only restarts lost work, and nothing is lost here.

Printed beside the figure, where the time went, each an offset from the request, taken from the
worker's JSON log (Celery's "received" lines and `broadcast.prepared_chunk`): the 201, the
preparation task received, the (empty) chunk of named recipients committed, the last dispatch task
received before the first POST (the one that sends it), the first chunk of members committed. And
`lock_wait_s`: the seconds the stack's sessions spent waiting on a row lock until the first POST,
sampled from pg_stat_activity every 10 ms, each run's main statements listed under it.
Beforehand one two-recipient broadcast goes through the same path, so that the processes are warm
(gunicorn's workers, the worker's connector session) as they are in a running service. Each measured
broadcast is then cancelled (the rest of dispatch is bench_dispatch's subject), and the bench waits
until its preparation has stopped and its reservation is released before the next create. Three
creates by default (`--repeat`): the line shows the median run's figures and the worst time, since
one run on a shared 2-core machine says little.

The bench exits non-zero when a step fails or times out, when a figure is impossible (the first
POST before the request), and in a full run when the worst create misses the target. `--quick`
(CI): one create of a 3,000-member list, over a BROADCAST_SYNC_LIMIT lowered to 500 for the run, so
it takes the same path; the target not enforced.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_first_message.py
    .venv/bin/python bench/bench_first_message.py --members 200000   # a quicker run (or BENCH_FIRST_MESSAGE_MEMBERS)
    .venv/bin/python bench/bench_first_message.py --quick            # CI's size
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench_dispatch import (
    BIN,
    PYTHON,
    QUICK_SYNC_LIMIT,
    TOKEN,
    Stack,
    free_port,
    seed_tenant,
    serve_provider,
    wait_until,
)
from common import Verdict, quick_option, report

PREPARE = "broadcasts.tasks.prepare_broadcast"
DISPATCH = "broadcasts.tasks.dispatch_broadcast"
TEXT = "Hi {{first_name}}, your code is {{code}}. Reply STOP to opt out."
TARGET_S = 5.0


def serve_first_noting_provider(port: int, first_file: Path) -> None:
    """bench_dispatch's provider, which also writes the wall-clock time of a POST to `first_file` when
    that file is absent: the first POST after the bench removes it (the warm-up's are not counted)."""

    def reply(key: bytes) -> bytes:
        if not first_file.exists():
            partial = first_file.with_suffix(".partial")
            partial.write_text(repr(time.time()))
            partial.rename(first_file)  # the reader sees the whole number or nothing
        return b'{"id":"p-' + key + b'"}'

    serve_provider(port, reply=reply)


def start_provider(stack: Stack) -> tuple[int, Path]:
    port = free_port()
    first_file = stack.tmp / "first-post"
    stack.start(
        "provider",
        [PYTHON, str(Path(__file__).resolve()), "--serve-provider", str(port), "--first-file", str(first_file)],
    )
    stack.wait_serving("provider", port, 20)
    return port, first_file


def worker_events(stack: Stack) -> list[tuple[float, dict[str, Any]]]:
    """The worker's JSON log lines as (UNIX time, line), in order."""
    events = []
    for line in (stack.tmp / "worker.log").read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["timestamp"]).timestamp()
        except (ValueError, KeyError, TypeError):
            continue
        events.append((at, entry))
    return events


def timeline(stack: Stack, broadcast_id: str, since: float, arrived: float) -> dict[str, float]:
    """Offsets (s) from `since` of the steps between the create and the first POST at `arrived`."""
    found: dict[str, float] = {}
    dispatches = []
    for at, entry in worker_events(stack):
        if at < since:
            continue
        event = str(entry.get("event", ""))
        if event.startswith(f"Task {PREPARE}[") and event.endswith("received"):
            found.setdefault("prepare_task_received_s", at - since)
        elif event == "broadcast.prepared_chunk" and entry.get("broadcast_id") == broadcast_id:
            step = "named_chunk_committed_s" if entry.get("rows") == 0 else "first_member_chunk_committed_s"
            found.setdefault(step, at - since)
        elif event.startswith(f"Task {DISPATCH}[") and event.endswith("received") and at <= arrived:
            dispatches.append(at - since)
    if dispatches:  # the dispatcher that sent the first message: the last one received before it
        found["sending_dispatch_received_s"] = dispatches[-1]
    return found


class LockWaits(threading.Thread):
    """Samples pg_stat_activity every 10 ms: seconds spent by the stack's sessions waiting on a row or
    table lock, by statement (its first words, literals as ?), while it runs."""

    QUERY = """
        SELECT left(regexp_replace(regexp_replace(query, '\\s+', ' ', 'g'), '''[^'']*''', '?', 'g'), 90), count(*)
          FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
         GROUP BY 1
    """

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self.database_url = database_url
        self.waits: Counter[str] = Counter()
        self.done = threading.Event()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.database_url, autocommit=True) as conn:
            last = time.perf_counter()
            while not self.done.wait(0.01):
                rows = conn.execute(self.QUERY).fetchall()
                now = time.perf_counter()
                for statement, sessions in rows:
                    self.waits[statement] += sessions * (now - last)
                last = now

    def stop(self) -> Counter[str]:
        self.done.set()
        self.join(10)
        return self.waits


def measure(http: Any, base: str, list_id: str, stack: Stack, first_file: Path, timeout: float) -> dict[str, Any]:
    """One large create, timed from its request to the provider's first POST; then cancelled."""
    first_file.unlink(missing_ok=True)
    body = {"name": "Everyone", "contact_lists": [list_id], "text": TEXT, "sender": "Herald"}
    sampler = LockWaits(stack.env["DATABASE_URL"])
    sampler.start()
    requested = time.time()
    created = http.post(f"{base}/broadcasts/", json=body)
    answered = time.time()
    assert created.status_code == 201, created.text
    accepted = created.json()
    assert accepted["preparing"], accepted
    broadcast_id = accepted["id"]

    def first_post() -> float | None:
        return float(first_file.read_text()) if first_file.exists() else None

    try:
        arrived = wait_until(first_post, timeout, "the first message at the provider", 0.01)
    except SystemExit:
        print(stack.log_tail("worker", 60), file=sys.stderr)
        raise
    finally:
        waits = sampler.stop()

    # The rest of the broadcast is not this bench's subject: cancel it, and check that it lets go.
    cancelled = http.post(f"{base}/broadcasts/{broadcast_id}/cancel/")
    assert cancelled.status_code == 200, cancelled.text

    def stopped() -> dict[str, Any] | None:
        shown = dict(http.get(f"{base}/broadcasts/{broadcast_id}/").json())
        return shown if not shown["preparing"] and shown["stats"]["queued"] == 0 else None

    final = wait_until(stopped, 120, "the cancelled broadcast to stop preparing and sending", 0.5)
    wait_until(
        lambda: Decimal(http.get(f"{base}/wallet/").json()["reserved"]) == 0,
        60,
        "the cancelled broadcast's reservation to be released",
        0.5,
    )
    return {
        "create_s": answered - requested,
        "first_message_s": arrived - requested,
        "steps": timeline(stack, broadcast_id, requested, arrived),
        "lock_waits": waits,
        "prepared_when_cancelled": final["preparation"]["processed"] if final["preparation"] else 0,
        "sent_when_cancelled": final["stats"]["sent"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, help="list size (1,000,000 or BENCH_FIRST_MESSAGE_MEMBERS; quick 3,000)")
    parser.add_argument("--repeat", type=int, help="creates measured one after the other, median shown (3; quick 1)")
    parser.add_argument("--keep-logs", type=Path, help="copy the stack's logs (worker, web, provider) here")
    parser.add_argument("--timeout", type=float, default=120, help="give up waiting for the first message after this")
    parser.add_argument("--serve-provider", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--first-file", type=Path, help=argparse.SUPPRESS)
    quick_option(parser)
    args = parser.parse_args()
    if args.serve_provider:
        serve_first_noting_provider(args.serve_provider, args.first_file)
        return

    n = args.members or (3_000 if args.quick else int(os.environ.get("BENCH_FIRST_MESSAGE_MEMBERS", 1_000_000)))
    args.repeat = args.repeat or (1 if args.quick else 3)
    verdict = Verdict("first_message_large_list", quick=args.quick)
    with Stack("first_message") as stack:
        if args.quick:
            stack.env["BROADCAST_SYNC_LIMIT"] = str(QUICK_SYNC_LIMIT)
        provider_port, first_file = start_provider(stack)
        stack.django()

        import httpx
        from django.conf import settings
        from django.db import connection

        from accounts.models import Client, Scope
        from accounts.services import api_key_create
        from config.celery import app

        if n <= settings.BROADCAST_SYNC_LIMIT:
            raise SystemExit(f"--members must exceed BROADCAST_SYNC_LIMIT ({settings.BROADCAST_SYNC_LIMIT})")
        seeding = time.perf_counter()
        client_id, [list_id] = seed_tenant(
            recipients=n,
            connector_config={"url": f"http://127.0.0.1:{provider_port}/messages", "token": TOKEN, "idempotent": True},
            tps=100_000,
            tmp=stack.tmp,
        )
        seed_s = time.perf_counter() - seeding
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE contacts_contactlistmembership")  # what autovacuum does after a bulk load
        _, key = api_key_create(client=Client.objects.get(pk=client_id), name="bench", scopes=Scope.values)
        connection.close()  # from here on the bench talks HTTP; its lock sampler has a connection of its own

        # scripts/run.py's web and worker commands.
        port = stack.web_port
        stack.start(
            "web",
            [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
             "--timeout", "300", "--access-logfile", "-", "--graceful-timeout", "10"],
        )  # fmt: skip
        stack.start(
            "worker",
            [str(BIN / "celery"), "-A", "config", "worker", "-l", "info", "--concurrency", "2", "-Q", "celery"],
        )
        stack.wait_serving("web", port, 60, marker=f"Listening at: http://127.0.0.1:{port}")
        wait_until(lambda: len(app.control.ping(timeout=0.5)) >= 1, 120, "the Celery worker", 0.5)
        base = f"http://127.0.0.1:{port}/api/v1"
        headers = {"Authorization": f"Bearer {key}"}

        with httpx.Client(timeout=120, headers=headers) as http:

            def broadcast(broadcast_id: str) -> dict[str, Any]:
                return dict(http.get(f"{base}/broadcasts/{broadcast_id}/").json())

            # Warm-up: two recipients through the same path, until both are at the provider.
            small = {
                "name": "Warm-up",
                "recipients": ["+256771000001", "+256771000002"],
                "text": "Hi",
                "sender": "Herald",
            }
            warm = http.post(f"{base}/broadcasts/", json=small)
            assert warm.status_code == 201, warm.text
            wait_until(lambda: broadcast(warm.json()["id"])["status"] == "sent", 60, "the warm-up broadcast", 0.2)
            first_file.unlink()

            runs = []
            for i in range(args.repeat):
                run = measure(http, base, list_id, stack, first_file, args.timeout)
                steps = "  ".join(f"{k}={v:.3f}" for k, v in sorted(run["steps"].items(), key=lambda kv: kv[1]))
                print(
                    f"  run {i + 1}: create_s={run['create_s']:.3f}  first_message_s={run['first_message_s']:.3f}  "
                    f"{steps}  prepared_when_cancelled={run['prepared_when_cancelled']}  "
                    f"sent_when_cancelled={run['sent_when_cancelled']}",
                    flush=True,
                )
                for statement, seconds in run["lock_waits"].most_common(5):
                    print(f"    waiting on a lock until the first message: {seconds:.2f} s  {statement}", flush=True)
                runs.append(run)

            if args.keep_logs:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in stack.tmp.glob("*.log"):
                    shutil.copy(log, args.keep_logs)

        firsts = sorted(run["first_message_s"] for run in runs)
        for run in runs:
            # The provider notes its first POST after the bench cleared the note, before the request.
            verdict.possible(
                run["first_message_s"] > 0, f"the first POST came {run['first_message_s']:.3f} s after the request"
            )
        verdict.target(firsts[-1] <= TARGET_S, f"the worst first message at {firsts[-1]:.3f} s > {TARGET_S:g} s")
        median = runs[[run["first_message_s"] for run in runs].index(firsts[len(firsts) // 2])]
        report(
            "first_message_large_list",
            mode=verdict.mode,
            members=n,
            runs=len(runs),
            seed_s=f"{seed_s:.1f}",
            create_s=f"{median['create_s']:.3f}",
            first_message_s=f"{median['first_message_s']:.3f}",
            worst_s=f"{firsts[-1]:.3f}",
            target=f"<={TARGET_S:g}",
            met="yes" if firsts[-1] <= TARGET_S else "NO",
            **{k: f"{v:.3f}" for k, v in sorted(median["steps"].items(), key=lambda kv: kv[1])},
            lock_wait_s=f"{sum(median['lock_waits'].values()):.2f}",
        )
    verdict.done()


if __name__ == "__main__":
    main()
