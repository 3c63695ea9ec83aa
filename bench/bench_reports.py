"""Delivery reports through `/hooks/<connector id>/status/` against a real gunicorn (issue 9).

A broadcast of N messages (default 100,000) to a contact list through an `http` connector, created
with `broadcasts.services.broadcast_create` and, for a list over BROADCAST_SYNC_LIMIT, prepared in
this process as the worker would (`prepare_run`); its messages are then marked sent the way
dispatch records them (provider id `p-<message id>`, the cost captured) and the broadcast
completed. gunicorn then serves `config.wsgi` with the production settings (`DEBUG` off),
started as `scripts/run.py` starts it (2 workers × 4 threads), on a fresh database of its own and a
Redis of its own. The provider's side: 8 concurrent callers POST the reports in arrays of 100 (the
`http` backend's format, bearer token), 1 in 10 `failed` (refunded), the rest `delivered`.

Printed: reports/s (target ≥ 5,000, issue 19), and beside it the same number of requests to
`/healthz` (one `SELECT 1`), what gunicorn answers when a request does next to nothing. Afterwards
the bench checks every message's status, that exactly the failed ones were refunded, and that the
wallet still equals the replay of its ledger. It exits non-zero when a check fails, when a figure is
impossible (no time measured; report requests answered faster than twice `/healthz`), and in a full
run below the target. `--quick` (CI): 2,000 reports, from a list prepared in the background as a
full run's is (BROADCAST_SYNC_LIMIT lowered to 500 for the run), the target not enforced.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_reports.py
    .venv/bin/python bench/bench_reports.py --reports 10000        # another size (or BENCH_REPORTS)
    .venv/bin/python bench/bench_reports.py --quick                # CI's size
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from bench_dispatch import (
    BIN,
    CONNECTOR,
    QUICK_SYNC_LIMIT,
    TEXT,
    TOKEN,
    Stack,
    seed_tenant,
    wait_until,
)
from common import Verdict, quick_option, report, require

ARRAY = 100  # reports per callback, as providers batch them
CALLERS = 8  # callbacks in flight: as many as gunicorn has threads (2 workers × 4)
FAILED_EVERY = 10
FULL_REPORTS = 100_000
QUICK_REPORTS = 2_000
TARGET_REPORTS_PER_S = 5_000  # issue 19


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--reports", type=int, help=f"default {FULL_REPORTS:,} (or BENCH_REPORTS); {QUICK_REPORTS:,} quick"
    )
    quick_option(parser)
    args = parser.parse_args()
    n = args.reports or (QUICK_REPORTS if args.quick else int(os.environ.get("BENCH_REPORTS", FULL_REPORTS)))
    verdict = Verdict("delivery_reports_http_hooks", quick=args.quick)

    with Stack("reports") as stack:
        if args.quick:
            stack.env["BROADCAST_SYNC_LIMIT"] = str(QUICK_SYNC_LIMIT)  # the large lists' path, as in a full run
        stack.django()

        import httpx
        from django.db import connection, transaction
        from django.db.models import Count
        from django.utils import timezone

        from accounts.models import Client
        from broadcasts import billing
        from broadcasts.dispatch import broadcast_finalize
        from broadcasts.models import Connector, Message
        from broadcasts.services import broadcast_create, prepare_run
        from wallets.models import LedgerEntry, Wallet
        from wallets.selectors import ledger_mismatches, reservation_state, wallet_replay

        client_id, [list_id] = seed_tenant(
            recipients=n,
            connector_config={"url": "http://127.0.0.1:9/unused", "token": TOKEN, "idempotent": True},
            tps=100_000,
            tmp=stack.tmp,
        )
        connector = Connector.objects.get(name=CONNECTOR)
        accepted = broadcast_create(
            client=Client.objects.get(pk=client_id),
            data={"name": "Bench", "contact_lists": [list_id], "text": TEXT, "sender": "Herald"},
        )
        broadcast_id = accepted.broadcast.pk
        # A list over BROADCAST_SYNC_LIMIT is answered at once and prepared in the background: no
        # worker listens on this bench's broker, so its preparation runs here, as the worker's would.
        while accepted.broadcast.preparing and prepare_run(broadcast_id=broadcast_id, seconds=3600):
            pass
        # Sent, as dispatch records an accepted batch: status, provider id, the cost captured. (Its
        # dispatch task waits on this bench's broker, where no worker listens.)
        now = timezone.now()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                UPDATE broadcasts_message
                   SET status = 'sent', sent_at = %s, provider_message_id = 'p-' || id, attempts = 1,
                       queued_at = COALESCE(queued_at, %s)
                 WHERE broadcast_id = %s AND status = 'queued'
             RETURNING id, cost
                """,
                [now, now, broadcast_id],
            )
            rows = sorted(cursor.fetchall())
            require(len(rows) == n, f"{len(rows):,} queued messages to mark sent, for a list of {n:,}")
            billing.capture(broadcast_id=broadcast_id, amount=sum((cost for _, cost in rows), Decimal(0)))
        broadcast_finalize(broadcast_id=broadcast_id)
        # What autovacuum does within a minute of a bulk change. Without it the planner still believes
        # no message has a provider id, and each callback's UPDATE scans every sent message (about
        # 0.7 s per 100 reports at 20,000 messages, found by this bench).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE broadcasts_message")
        failed_ids = {mid for i, (mid, _) in enumerate(rows) if i % FAILED_EVERY == 0}
        failed_cost = sum((cost for mid, cost in rows if mid in failed_ids), Decimal(0))
        bodies = [
            [
                {"id": f"p-{mid}", "status": "failed", "error_code": "absent_subscriber"}
                if mid in failed_ids
                else {"id": f"p-{mid}", "status": "delivered"}
                for mid, _ in rows[start : start + ARRAY]
            ]
            for start in range(0, n, ARRAY)
        ]

        port = stack.web_port
        stack.start(
            "web",
            [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
             "--timeout", "300", "--access-logfile", "-", "--graceful-timeout", "10"],
        )  # fmt: skip
        stack.wait_serving("web", port, 60, marker=f"Listening at: http://127.0.0.1:{port}")
        base = f"http://127.0.0.1:{port}"
        hook = f"{base}/hooks/{connector.pk}/status/"
        headers = {"Authorization": f"Bearer {TOKEN}"}

        with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=CALLERS)) as http:
            wait_until(lambda: http.get(f"{base}/healthz").status_code == 200, 60, "/healthz to answer 200", 0.5)

            def post(body: list[dict[str, Any]]) -> int:
                response = http.post(hook, json=body, headers=headers)
                assert response.status_code == 200, response.text
                return int(response.json()["applied"])

            def healthz(_: object) -> int:
                response = http.get(f"{base}/healthz")
                assert response.status_code == 200, response.text
                return 1

            with ThreadPoolExecutor(CALLERS) as pool:
                started = time.perf_counter()
                applied = sum(pool.map(post, bodies))
                hooks_s = time.perf_counter() - started
                started = time.perf_counter()
                sum(pool.map(healthz, bodies))
                healthz_s = time.perf_counter() - started

        # Every status applied, exactly the failed ones refunded, the ledger exact.
        counts = dict(
            Message.objects.filter(broadcast_id=broadcast_id)
            .values_list("status")
            .annotate(n=Count("id"))
            .values_list("status", "n")
        )
        state = reservation_state(broadcast_id=broadcast_id)
        wallet = Wallet.objects.get(client_id=client_id)
        refunds = LedgerEntry.objects.filter(broadcast_id=broadcast_id, kind="refund").count()
        require(applied == n, f"{applied:,} reports applied of {n:,}")
        expected = {"delivered": n - len(failed_ids), "failed": len(failed_ids)}
        require(counts == expected, f"messages by status {counts}, expected {expected}")
        require(state is not None, "the broadcast has no reservation")
        require(state.refunded == failed_cost, f"refunded {state.refunded}, the failed messages cost {failed_cost}")
        require(state.outstanding == 0, f"{state.outstanding} still reserved")
        require(wallet_replay(wallet=wallet) == (wallet.balance, wallet.reserved), "the wallet != its ledger's replay")
        require(ledger_mismatches(wallet=wallet) == [], f"ledger mismatches: {ledger_mismatches(wallet=wallet)}")

        hooks_s = verdict.seconds(hooks_s, "the reports")
        healthz_s = verdict.seconds(healthz_s, "the /healthz requests")
        rate = n / hooks_s
        # A report request writes (statuses, refunds, events); /healthz only asks `SELECT 1`. Twice as
        # many report requests per second as /healthz on the same gunicorn is not a measurement.
        verdict.possible(
            hooks_s * 2 >= healthz_s,
            f"{len(bodies)} report requests took {hooks_s:.3f} s, the same number of /healthz {healthz_s:.3f} s",
        )
        verdict.target(rate >= TARGET_REPORTS_PER_S, f"{rate:,.0f} reports/s < {TARGET_REPORTS_PER_S:,}")
        report(
            "delivery_reports_http_hooks",
            mode=verdict.mode,
            reports=n,
            per_request=ARRAY,
            callers=CALLERS,
            gunicorn="2x4",
            hooks_s=f"{hooks_s:.2f}",
            reports_per_s=f"{rate:,.0f}",
            target=f">={TARGET_REPORTS_PER_S}",
            requests_per_s=f"{len(bodies) / hooks_s:,.0f}",
            healthz_requests_per_s=f"{len(bodies) / healthz_s:,.0f}",
            delivered=counts["delivered"],
            failed_refunded=counts["failed"],
            refund_entries=refunds,
            refunded=f"{state.refunded}",
        )
    verdict.done()


if __name__ == "__main__":
    main()
