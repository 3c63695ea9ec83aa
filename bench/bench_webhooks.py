"""Webhook deliveries end to end against a fast local receiver, beside a raw aiohttp client (issue 10).

N events (default 20,000 `message.delivered`) are recorded for one endpoint with
`webhooks.services.events_record` in one transaction (one INSERT of events, one of attempts); the
commit enqueues delivery, which runs in two real `celery -A config worker` processes (one pool
process each) on a Redis broker this bench starts on a free port, against a fresh, migrated database
on DATABASE_URL's server (or the embedded one), with the production settings (`DEBUG` off;
`WEBHOOKS_ALLOW_PRIVATE=1`, as the receiver listens on 127.0.0.1). The receiver is a minimal asyncio
HTTP/1.1 keep-alive server in its own process answering 200 `{}` and counting the `webhook-id`s.

Measured: from the commit until no attempt is pending or sending (claimed → signed → POSTed →
recorded), in deliveries/s. In the same run, on the same receiver: a raw `aiohttp.ClientSession`
posting N requests of the same size and headers with as many in flight as the two workers together
(2 × WEBHOOKS_MAX_IN_FLIGHT): the yardstick. Target: ≥ 1,000 deliveries/s. Afterwards the bench
checks that the receiver saw every event exactly once and that every attempt succeeded.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_webhooks.py
    .venv/bin/python bench/bench_webhooks.py --events 5000      # another size (or BENCH_WEBHOOK_EVENTS)
    .venv/bin/python bench/bench_webhooks.py --quick            # CI: 2,000 events, the target not enforced

The bench exits non-zero when an event was not delivered exactly once or an attempt did not succeed,
when no time was measured, and in a full run below the target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

from bench_dispatch import BIN, PYTHON, Stack, free_port, serve_provider, wait_until
from common import Verdict, fail, quick_option, report, require

FULL_EVENTS = 20_000
QUICK_EVENTS = 2_000
TARGET_PER_S = 1_000


def serve_receiver(port: int) -> None:
    """bench_dispatch's minimal server, counting distinct webhook-ids and answering 200 `{}`."""
    serve_provider(port, key_header=b"webhook-id", reply=lambda _key: b"{}")


def receiver_stats(port: int, reset: bool = False) -> dict[str, int]:
    base = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(f"{base}/stats", timeout=10) as answer:  # noqa: S310 - our own local receiver
        stats: dict[str, int] = json.loads(answer.read())
    if reset:
        request = urllib.request.Request(f"{base}/reset", data=b"{}", method="POST")  # noqa: S310
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310
    return stats


def item(i: int) -> dict[str, object]:
    """A message.delivered event's data, as broadcasts would record it."""
    return {
        "message_id": 10**9 + i,
        "broadcast_id": "5f0c6d1e-8d1f-4a55-9a31-0d5f8f3b6a10",
        "channel": "sms",
        "status": "delivered",
        "delivered_at": "2026-11-30T12:00:00Z",
    }


def raw_client(url: str, secret: str, count: int, concurrency: int) -> float:
    """Seconds for a raw aiohttp client to POST `count` signed requests of the same shape, `concurrency`
    in flight over keep-alive connections."""
    import aiohttp
    from django.utils import timezone
    from standardwebhooks import Webhook

    from webhooks.delivery import event_body, signed_headers
    from webhooks.events import MESSAGE_DELIVERED, new_event_id

    signer = Webhook(secret)
    now = timezone.now()
    requests = []
    for i in range(count):
        event_id = new_event_id()
        body = event_body(event_id=event_id, type=MESSAGE_DELIVERED, created_at=now, data=json.dumps(item(i)))
        requests.append((body.encode(), signed_headers(signer=signer, event_id=event_id, body=body)))

    async def main() -> None:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            pending = iter(requests)

            async def one_at_a_time() -> None:
                for body, headers in pending:
                    async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                        await response.read()
                        assert response.status == 200

            await asyncio.gather(*(one_at_a_time() for _ in range(concurrency)))

    started = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, help="20,000 (or BENCH_WEBHOOK_EVENTS); quick 2,000")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--timeout", type=float, default=300, help="give up after this many seconds")
    parser.add_argument("--serve-receiver", type=int, metavar="PORT", help=argparse.SUPPRESS)
    quick_option(parser)
    args = parser.parse_args()
    if args.serve_receiver:
        serve_receiver(args.serve_receiver)
        return

    n = args.events or (QUICK_EVENTS if args.quick else int(os.environ.get("BENCH_WEBHOOK_EVENTS", FULL_EVENTS)))
    verdict = Verdict("webhooks", quick=args.quick)
    with Stack("webhooks") as stack:
        stack.env["WEBHOOKS_ALLOW_PRIVATE"] = "1"
        port = free_port()
        stack.start("receiver", [PYTHON, str(Path(__file__).resolve()), "--serve-receiver", str(port)])
        stack.wait_serving("receiver", port, 20)
        url = f"http://127.0.0.1:{port}/hooks/herald"
        stack.django()

        from django.conf import settings
        from django.db import connection, transaction

        from accounts.models import Client
        from config.celery import app
        from webhooks.events import MESSAGE_DELIVERED
        from webhooks.services import events_record, webhook_endpoint_create

        client = Client.objects.create(name="Bench", country="UG", timezone="Africa/Kampala")
        endpoint = webhook_endpoint_create(client=client, url=url, events=["*"])

        command = [str(BIN / "celery"), "-A", "config", "worker", "-l", "info", "--concurrency", "1", "-Q", "webhooks"]
        for i in range(args.workers):
            stack.start(f"worker{i}", [*command, "-n", f"bench{i}@%h"])
        wait_until(lambda: len(app.control.ping(timeout=0.5)) >= args.workers, 120, "the Celery workers", 0.5)

        # 1. The raw client, on the same receiver, as many in flight as the workers together.
        in_flight = settings.WEBHOOKS_MAX_IN_FLIGHT * args.workers
        raw_s = raw_client(url, endpoint.secret, n, in_flight)
        receiver_stats(port, reset=True)

        # 2. Recording (one transaction), then delivery end to end from the commit.
        items = [item(i) for i in range(n)]
        started = time.perf_counter()
        with transaction.atomic():
            recorded = events_record(client_id=client.pk, type=MESSAGE_DELIVERED, items=items)
        committed = time.perf_counter()
        require(recorded == n, f"{recorded} events recorded of {n}")

        def waiting() -> int:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM webhooks_webhookdelivery WHERE status IN ('pending', 'sending')")
                return int(cursor.fetchone()[0])

        last_print = committed
        while (left := waiting()) > 0:
            now = time.perf_counter()
            if now - committed > args.timeout:
                print(stack.log_tail("worker0"), file=sys.stderr)
                fail(f"delivery did not finish in {args.timeout:.0f} s: {left} attempts waiting")
            if now - last_print > 5:
                print(f"  … {n - left:,} delivered in {now - committed:.0f} s", file=sys.stderr)
                last_print = now
            time.sleep(0.05)
        finished = time.perf_counter()

        with connection.cursor() as cursor:
            cursor.execute("SELECT status, count(*) FROM webhooks_webhookdelivery GROUP BY status")
            outcomes = dict(cursor.fetchall())
        stats = receiver_stats(port)
        require(outcomes == {"succeeded": n}, f"attempts by status {outcomes}, not {n} succeeded")
        require(stats == {"posts": n, "distinct": n}, f"the receiver saw {stats}, not {n} distinct POSTs")

        deliver_s = verdict.seconds(finished - committed, "the delivery")
        rate = n / deliver_s
        verdict.target(rate >= TARGET_PER_S, f"{rate:,.0f} deliveries/s < {TARGET_PER_S:,}")
        report(
            "webhooks",
            mode=verdict.mode,
            events=n,
            workers=args.workers,
            record_s=f"{committed - started:.2f}",
            deliver_s=f"{deliver_s:.2f}",
            deliveries_per_s=f"{rate:,.0f}",
            target=f">={TARGET_PER_S}",
            raw_aiohttp_per_s=f"{n / raw_s:,.0f}",
            ratio_to_raw=f"{raw_s / deliver_s:.2f}",
            batch=settings.WEBHOOKS_BATCH_SIZE,
            in_flight_per_worker=settings.WEBHOOKS_MAX_IN_FLIGHT,
        )
    verdict.done()


if __name__ == "__main__":
    main()
