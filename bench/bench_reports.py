"""Delivery reports through `/hooks/<connector id>/status/` against a real gunicorn (issue 9).

A broadcast of N messages (default 100,000) to a contact list through an `http` connector, created
with `broadcasts.services.broadcast_create` (the planner's COPY path); its messages are then marked
sent the way dispatch records them (provider id `p-<message id>`, the cost captured) and the
broadcast completed. gunicorn then serves `config.wsgi` with the production settings (`DEBUG` off),
started as `scripts/run.py` starts it (2 workers × 4 threads), on a fresh database of its own and a
Redis of its own. The provider's side: 8 concurrent callers POST the reports in arrays of 100 (the
`http` backend's format, bearer token), 1 in 10 `failed` (refunded), the rest `delivered`.

Printed: reports/s (target ≥ 1,000), and beside it the same number of requests to `/healthz` (one
`SELECT 1`), what gunicorn answers when a request does next to nothing. Afterwards the bench checks
every message's status, that exactly the failed ones were refunded, and that the wallet still
equals the replay of its ledger.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_reports.py
    .venv/bin/python bench/bench_reports.py --reports 10000        # a quick run (or BENCH_REPORTS)
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from bench_dispatch import BIN, CONNECTOR, TEXT, TOKEN, Stack, port_answers, seed_tenant, wait_until
from common import report

ARRAY = 100  # reports per callback, as providers batch them
CALLERS = 8  # callbacks in flight: as many as gunicorn has threads (2 workers × 4)
FAILED_EVERY = 10


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=int(os.environ.get("BENCH_REPORTS", 100_000)))
    args = parser.parse_args()
    n = args.reports

    with Stack("reports") as stack:
        stack.django()

        import httpx
        from django.db import connection, transaction
        from django.db.models import Count
        from django.utils import timezone

        from accounts.models import Client
        from broadcasts import billing
        from broadcasts.dispatch import broadcast_finalize
        from broadcasts.models import Connector, Message
        from broadcasts.services import broadcast_create
        from wallets.models import LedgerEntry, Wallet
        from wallets.selectors import ledger_mismatches, reservation_state, wallet_replay

        client_id, list_id = seed_tenant(
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
            billing.capture(broadcast_id=broadcast_id, amount=sum((cost for _, cost in rows), Decimal(0)))
        broadcast_finalize(broadcast_id=broadcast_id)
        # What autovacuum does within a minute of a bulk change. Without it the planner still believes
        # no message has a provider id, and each callback's UPDATE scans every sent message (about
        # 0.7 s per 100 reports at 20,000 messages, found by this bench).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE broadcasts_message")
        assert len(rows) == n, len(rows)
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
        wait_until(lambda: port_answers(port), 60, "gunicorn")
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
        assert applied == n, applied
        assert counts == {"delivered": n - len(failed_ids), "failed": len(failed_ids)}, counts
        assert state is not None
        assert state.refunded == failed_cost, (state.refunded, failed_cost)
        assert state.outstanding == 0, state
        assert wallet_replay(wallet=wallet) == (wallet.balance, wallet.reserved), wallet
        assert ledger_mismatches(wallet=wallet) == [], wallet

        report(
            "delivery_reports_http_hooks",
            reports=n,
            per_request=ARRAY,
            callers=CALLERS,
            gunicorn="2x4",
            hooks_s=f"{hooks_s:.2f}",
            reports_per_s=f"{n / hooks_s:,.0f}",
            target=">=1000",
            requests_per_s=f"{len(bodies) / hooks_s:,.0f}",
            healthz_requests_per_s=f"{len(bodies) / healthz_s:,.0f}",
            delivered=counts["delivered"],
            failed_refunded=counts["failed"],
            refund_entries=refunds,
            refunded=f"{state.refunded}",
        )


if __name__ == "__main__":
    main()
