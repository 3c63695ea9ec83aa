"""Recurring series (issue 22): N series due in the same minute get their occurrences within it.

One series is created through `broadcast_create` (`schedule_mode: recurring`, daily at a time, two
recipients); it is cloned set-based into N series of the same client (N = 10,000; `--quick` 200),
every one due now. Then `series_fire_due` — what beat's `fire_series` task runs every 10 s — is run
in this process until nothing is due, as one worker would: each series is locked, its occurrence
recorded (unique per series and instant), its child broadcast created through the normal create
(quoted, reserved; dispatch is not run: the broker is an in-memory one) and `next_run_at` rolled to
tomorrow. Measured: the seconds until every occurrence exists. Checked (every mode): exactly N
occurrences and N children, each series' next run tomorrow, nothing fired twice when the firing runs
again. Target (full run): N occurrences within 60 s. In process, not through beat and a worker:
what it measures is the firing itself (beat adds at most its 10 s period).

    DATABASE_URL=postgres://… .venv/bin/python bench/bench_series.py [--series 10000] [--quick]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from common import Verdict, bench_database, quick_option, report, require, ugandan_tenant

TARGET_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, help="series due at once (10,000; quick 200)")
    quick_option(parser)
    args = parser.parse_args()
    args.series = args.series or (200 if args.quick else 10_000)
    verdict = Verdict("series", quick=args.quick)

    with bench_database():
        from django.db import connection

        from broadcasts.models import Broadcast, Occurrence
        from broadcasts.services import broadcast_create
        from broadcasts.services.recurring_runs import series_fire_due
        from config.celery import app

        app.conf.task_always_eager = False  # the children's dispatch would be the workers' job
        app.conf.broker_url = "memory://"

        client = ugandan_tenant(send_rate_limit="1000000/m")

        start = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0, tzinfo=None)
        first = broadcast_create(
            client=client,
            data={"name": "Daily", "recipients": ["+256772000001", "+256772000002"], "sender": "Herald",
                  "text": "Good morning", "purpose": "transactional", "schedule_mode": "recurring",
                  "recurrence": {"rule": "FREQ=DAILY", "start": start.isoformat(), "timezone": "UTC", "count": 30}},
        ).broadcast  # fmt: skip
        require(first.schedule_mode == "recurring" and first.next_run_at is not None, "the series was not made")
        due = (datetime.now(UTC) - timedelta(seconds=30)).replace(microsecond=0)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'broadcasts_broadcast'"
                " AND column_name NOT IN ('id', 'name', 'next_run_at', 'recurrence', 'created_at', 'updated_at')"
            )
            columns = ", ".join(row[0] for row in cursor.fetchall())
            # Every series: the same rule, started 30 s ago, so its first occurrence is due now.
            cursor.execute(
                f"""
                INSERT INTO broadcasts_broadcast (id, name, next_run_at, recurrence, created_at, updated_at, {columns})
                SELECT gen_random_uuid(), 'Daily ' || i, %s,
                       jsonb_set(recurrence, '{{start}}', to_jsonb(%s::text)), now(), now(), {columns}
                  FROM broadcasts_broadcast, generate_series(1, %s) AS i
                 WHERE id = %s
                """,
                [due, due.replace(tzinfo=None).isoformat(timespec="seconds"), args.series, first.pk],
            )
            cursor.execute("DELETE FROM broadcasts_broadcast WHERE id = %s", [first.pk])
            cursor.execute("ANALYZE broadcasts_broadcast")

        started = time.perf_counter()
        fired = 0
        while True:
            handled = series_fire_due(seconds=3600)
            fired += handled
            if not handled:
                break
        seconds = time.perf_counter() - started
        again = series_fire_due(seconds=60)

        occurrences = Occurrence.objects.filter(series__client=client).count()
        children = Broadcast.objects.filter(client=client, parent__isnull=False).count()
        tomorrow = Broadcast.objects.filter(
            client=client, schedule_mode="recurring", next_run_at__gt=datetime.now(UTC) + timedelta(hours=12)
        ).count()
        require(occurrences == args.series, f"{occurrences} occurrences for {args.series} series")
        require(children == args.series, f"{children} children for {args.series} series")
        require(tomorrow == args.series, f"{tomorrow} of {args.series} series roll to tomorrow")
        require(again == 0, f"a second firing handled {again} series")
        verdict.possible(seconds > 0.001 * args.series, f"{args.series} occurrences in {seconds:.3f} s")
        verdict.target(seconds <= TARGET_SECONDS, f"{seconds:.1f} s for {args.series} series > {TARGET_SECONDS:.0f} s")
        report(
            "series_fire_due_in_one_minute",
            mode=verdict.mode,
            series=args.series,
            fired=fired,
            seconds=f"{seconds:.2f}",
            per_second=f"{args.series / seconds:,.0f}",
            target=f"<={TARGET_SECONDS:.0f}",
        )
    verdict.done()


if __name__ == "__main__":
    main()
