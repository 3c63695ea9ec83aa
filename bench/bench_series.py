"""Recurring series (issue 22): N series due in the same minute get their occurrences within it.

A stack of its own (bench_dispatch.Stack: a fresh database, a redis-server, the production settings)
runs the project's real Celery worker (`celery -A config worker --concurrency 2 -Q celery`, what
`make run` starts) and real beat (`celery -A config beat`). One series is created through
`broadcast_create` (`schedule_mode: recurring`, daily, two recipients); it is cloned set-based into
N series of the same client (N = 10,000; `--quick` 200), every one due at the same instant T a few
seconds ahead. Then nothing but beat and the worker act: beat's `fire_series` (every 10 s) fans out
to helper runs on the worker's other process (tasks.fire_series_help), and each series is locked,
its occurrence recorded (unique per series and instant), its child created through the normal create
(quoted, reserved, dispatched by the same worker through the simulator) and `next_run_at` rolled to
tomorrow.

Measured: from T to the last occurrence's `created_at` (beat's first tick after T included), and the
rate between the first occurrence and the last. Checked (every mode): exactly N occurrences and N
children, each series' next run tomorrow, nothing fired twice (beat keeps ticking for 11 s more in a
full run; then a firing run in this process finds nothing due).
Target (full run): N occurrences within 60 s of T.

    DATABASE_URL=postgres://… .venv/bin/python bench/bench_series.py [--series 10000] [--quick]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

from bench_dispatch import BIN, Stack, wait_until
from common import Verdict, quick_option, report, require, ugandan_tenant

TARGET_SECONDS = 60.0
LEAD = timedelta(seconds=4)  # T: the workers are up; beat's next tick fires


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, help="series due at once (10,000; quick 200)")
    parser.add_argument("--concurrency", type=int, default=2, help="the worker's processes (make run: 2)")
    quick_option(parser)
    args = parser.parse_args()
    args.series = args.series or (200 if args.quick else 10_000)
    verdict = Verdict("series", quick=args.quick)

    with Stack("series") as stack:
        stack.django()
        from django.db import connection
        from django.db.models import Max, Min

        from broadcasts.models import Broadcast, Occurrence
        from broadcasts.services import broadcast_create, series_fire_due
        from config.celery import app

        client = ugandan_tenant(send_rate_limit="1000000/m")
        start = (datetime.now(UTC) + timedelta(hours=1)).replace(second=0, microsecond=0, tzinfo=None)
        first = broadcast_create(
            client=client,
            data={"name": "Daily", "recipients": ["+256772000001", "+256772000002"], "sender": "Herald",
                  "text": "Good morning", "purpose": "transactional", "schedule_mode": "recurring",
                  "recurrence": {"rule": "FREQ=DAILY", "start": start.isoformat(), "timezone": "UTC", "count": 30}},
        ).broadcast  # fmt: skip
        require(first.schedule_mode == "recurring" and first.next_run_at is not None, "the series was not made")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'broadcasts_broadcast'"
                " AND column_name NOT IN ('id', 'name', 'next_run_at', 'recurrence', 'created_at', 'updated_at')"
            )
            columns = ", ".join(row[0] for row in cursor.fetchall())
            # Every series: the same rule, each its own row; not due yet (tomorrow) until the workers run.
            cursor.execute(
                f"""
                INSERT INTO broadcasts_broadcast (id, name, next_run_at, recurrence, created_at, updated_at, {columns})
                SELECT gen_random_uuid(), 'Daily ' || i, next_run_at + interval '1 day', recurrence, now(), now(),
                       {columns}
                  FROM broadcasts_broadcast, generate_series(1, %s) AS i
                 WHERE id = %s
                """,
                [args.series, first.pk],
            )
            cursor.execute("DELETE FROM broadcasts_broadcast WHERE id = %s", [first.pk])
            cursor.execute("ANALYZE broadcasts_broadcast")
        connection.close()

        stack.start(
            "worker",
            [str(BIN / "celery"), "-A", "config", "worker", "-l", "info", "--concurrency", str(args.concurrency),
             "-Q", "celery"],
        )  # fmt: skip
        stack.start("beat", [str(BIN / "celery"), "-A", "config", "beat", "-l", "info", "--pidfile="])
        wait_until(lambda: len(app.control.ping(timeout=0.5)) >= 1, 120, "the Celery worker", 0.5)
        wait_until(lambda: "beat: Starting..." in (stack.tmp / "beat.log").read_text(errors="replace"), 60, "beat")

        due = (datetime.now(UTC) + LEAD).replace(microsecond=0)
        with connection.cursor() as cursor:
            # Every series is due at T: its rule starts then (a UTC wall time), its next run is T.
            cursor.execute(
                "UPDATE broadcasts_broadcast SET next_run_at = %s,"
                " recurrence = jsonb_set(recurrence, '{start}', to_jsonb(%s::text))"
                " WHERE client_id = %s AND schedule_mode = 'recurring'",
                [due, due.replace(tzinfo=None).isoformat(timespec="seconds"), client.pk],
            )
        connection.close()

        def counted() -> int:
            return Occurrence.objects.filter(series__client=client).count()

        deadline = 600 if not args.quick else 180
        wait_until(lambda: counted() >= args.series, deadline, f"{args.series} occurrences", 0.5)
        span = Occurrence.objects.filter(series__client=client).aggregate(
            first=Min("created_at"), last=Max("created_at")
        )
        first_at, last_at = span["first"], span["last"]
        if not args.quick:
            time.sleep(11)  # beat ticks again (every 10 s): nothing fires twice
        again = series_fire_due()  # and a firing as beat's, here and now, finds nothing due

        occurrences = counted()
        children = Broadcast.objects.filter(client=client, parent__isnull=False).count()
        tomorrow = Broadcast.objects.filter(
            client=client, schedule_mode="recurring", next_run_at__gt=datetime.now(UTC) + timedelta(hours=12)
        ).count()
        require(occurrences == args.series, f"{occurrences} occurrences for {args.series} series")
        require(children == args.series, f"{children} children for {args.series} series")
        require(tomorrow == args.series, f"{tomorrow} of {args.series} series roll to tomorrow")
        require(again == 0, f"a second firing handled {again} series")
        seconds = (last_at - due).total_seconds()
        firing = verdict.seconds((last_at - first_at).total_seconds(), "the firing")
        verdict.possible(seconds > 0.001 * args.series, f"{args.series} occurrences {seconds:.3f} s after T")
        verdict.target(seconds <= TARGET_SECONDS, f"{seconds:.1f} s for {args.series} series > {TARGET_SECONDS:.0f} s")
        report(
            "series_occurrences_within_a_minute",
            mode=verdict.mode,
            series=args.series,
            worker_processes=args.concurrency,
            first_after_t=f"{(first_at - due).total_seconds():.1f}",
            last_after_t=f"{seconds:.1f}",
            per_second=f"{args.series / firing:,.0f}",
            target=f"<={TARGET_SECONDS:.0f}",
        )
    verdict.done()


if __name__ == "__main__":
    main()
