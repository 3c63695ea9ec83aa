"""Broadcast creation against the machine's raw limits, measured side by side in one run.

1. Creating a broadcast with 10,000 `recipient_variables` through the API (JSON parsing, checks,
   rendering, parts, pricing, COPY of the message rows, reservation) vs the floor: parsing the same
   10,000 numbers with `phonenumbers` plus COPYing 10,000 equivalent rows into the message table.
   Target: ≤ 3×.
2. A 1,000,000-contact list (issue 12): the create call (answers at once with an estimate:
   target ≤ 1 s); then its preparation, as the worker runs it (services.prepare.prepare_run: read
   the members in keyset chunks, render, count, price, COPY, reserve, chunk by chunk) vs a raw COPY
   of 1,000,000 equivalent rows into the message table itself, with its indexes, constraints,
   foreign keys and counter triggers (the machine's real limit for writing message rows): target
   ≤ 2×, with the process's peak memory under 300 MB; then reading the broadcast's detail as the API
   does (target ≤ 20 ms). The same COPY into a copy of the table without foreign keys is printed too.

Every check must pass (the messages written, the broadcast prepared) and every figure be possible
(time measured; neither the create nor the preparation faster than half the raw COPY of its rows),
and in a full run every target met, or the bench exits non-zero. `--quick` (CI): 1,000
recipient_variables and a 12,000-contact list (just over BROADCAST_SYNC_LIMIT), targets not enforced.

    DATABASE_URL=postgres://… .venv/bin/python bench/bench_broadcasts.py [--contacts 1000000] [--quick]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import resource
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from common import Verdict, bench_database, list_of_bench_contacts, quick_option, report, require, timed, ugandan_tenant

TEXT = "Hi {{first_name}}, your code is {{code}}. Reply STOP to opt out."
COLUMNS = (
    "broadcast_id, client_id, contact_id, urn, channel, text, encoding, segments, cost, route_code, connector, "
    "country_code, status, error_code, error_message, attempts, not_before, lease_until, is_test, clicked, "
    "queued_at, created_at"
)


TARGET_API_RATIO = 3.0
TARGET_CREATE_S = 1.0
TARGET_PREPARE_RATIO = 2.0
TARGET_RSS_MB = 300.0
TARGET_DETAIL_MS = 20.0


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, help="list size (1,000,000; quick 12,000)")
    parser.add_argument("--recipients", type=int, help="recipient_variables in the API create (10,000; quick 1,000)")
    parser.add_argument("--profile", help="write a cProfile of the preparation to this file (slower run)")
    quick_option(parser)
    args = parser.parse_args()
    args.contacts = args.contacts or (12_000 if args.quick else 1_000_000)
    args.recipients = args.recipients or (1_000 if args.quick else 10_000)
    verdict = Verdict("broadcasts", quick=args.quick)

    with bench_database():
        import phonenumbers
        from django.db import connection, transaction
        from rest_framework.test import APIClient

        from accounts.models import Scope
        from accounts.services import api_key_create
        from broadcasts.models import Broadcast, Message
        from broadcasts.services import broadcast_create, prepare_run
        from config.celery import app

        app.conf.task_always_eager = False  # dispatch would be a worker's job; here it is only queued
        app.conf.broker_url = "memory://"
        client = ugandan_tenant(send_rate_limit="1000/m")
        _, raw_key = api_key_create(client=client, name="bench", scopes=Scope.values)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE bench_messages (LIKE broadcasts_message INCLUDING ALL)")

        # The day does not matter to the figures, only that no quiet-hour rule applies (UG has none).
        numbers = [f"+25677{i:07d}" for i in range(args.recipients)]
        recipient_variables = [{"phone": n, "first_name": f"Name{i % 300}", "code": f"C{i:06d}"} for i, n in
                               enumerate(numbers)]  # fmt: skip

        def create_through_api() -> None:
            body = json.dumps({"name": f"bench {uuid.uuid4()}", "recipient_variables": recipient_variables,
                               "text": TEXT, "sender": "Herald"})  # fmt: skip
            response = api.post("/api/v1/broadcasts/", body, content_type="application/json")
            assert response.status_code == 201, response.content[:500]

        api_s, _ = timed(create_through_api, repeat=3)

        def parse_numbers() -> list[str]:
            return [
                phonenumbers.format_number(phonenumbers.parse(n, "UG"), phonenumbers.PhoneNumberFormat.E164)
                for n in numbers
            ]

        parse_s, parsed = timed(parse_numbers, repeat=3)

        def copy_rows(
            count: int,
            urns: list[str] | None = None,
            table: str = "broadcasts_message",
            contacts: list[str] | None = None,
        ) -> None:
            """COPY equivalent rows for a fresh broadcast: into the message table itself (its indexes,
            constraints and foreign keys: the real limit), or into its shape without foreign keys."""
            broadcast = Broadcast.objects.create(client=client, name="raw copy", status="draft")
            broadcast_id, now = str(broadcast.pk), datetime.now(UTC)
            with (
                transaction.atomic(),
                connection.cursor() as cursor,
                cursor.cursor.copy(f"COPY {table} ({COLUMNS}) FROM STDIN") as copy,
            ):
                for i in range(count):
                    urn = f"tel:{urns[i]}" if urns else f"tel:+25677{i:07d}"
                    copy.write_row((
                        broadcast_id, str(client.pk), contacts[i] if contacts else None, urn, "sms",
                        f"Hi Name{i % 300}, your code is C{i:06d}. Reply STOP to opt out.", "gsm7", 1,
                        Decimal("0.009400"), "ESMS_UG", "simulator", "UG", "queued", "", "", 0, None, None,
                        False, False, now, now,
                    ))  # fmt: skip

        def fresh(fn, repeat: int = 3) -> float:
            """Best time of `fn` (a COPY and its commit), never counting the clean-up between runs."""

            def clean() -> None:
                Message.objects.filter(broadcast__name="raw copy").delete()
                Broadcast.objects.filter(name="raw copy").delete()
                with connection.cursor() as cursor:
                    cursor.execute("TRUNCATE bench_messages")

            best = float("inf")
            for _ in range(repeat):
                clean()
                started = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - started)
            clean()
            return best

        copy10k_s = fresh(lambda: copy_rows(len(parsed), parsed))
        floor = verdict.seconds(parse_s + copy10k_s, "the floor (parse + COPY)")
        api_s = verdict.seconds(api_s, "the API create")
        # The create COPYs the same rows after parsing the same numbers, and more: it cannot beat half
        # of that floor.
        verdict.possible(api_s >= floor / 2, f"the API create ({api_s:.3f} s) beat half its floor ({floor:.3f} s)")
        verdict.target(api_s / floor <= TARGET_API_RATIO, f"the API create at {api_s / floor:.2f}x its floor")
        report(
            "broadcast_create_10k_recipient_variables_api",
            mode=verdict.mode,
            recipients=args.recipients,
            api_s=f"{api_s:.3f}",
            phonenumbers_parse_s=f"{parse_s:.3f}",
            copy_10k_s=f"{copy10k_s:.3f}",
            floor_s=f"{floor:.3f}",
            ratio=f"{api_s / floor:.2f}",
            target="<=3",
        )

        # --- 1,000,000-contact list -----------------------------------------------------------
        n = args.contacts
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO contacts_contact (client_id, phone, first_name, last_name, language, fields)
                SELECT %s, '+25678' || lpad(i::text, 7, '0'), 'Name' || (i %% 300), 'Bench', 'eng',
                       jsonb_build_object('code', 'C' || lpad(i::text, 6, '0'))
                  FROM generate_series(0, %s - 1) AS i
                """,
                [client.pk, n],
            )
            list_id = list_of_bench_contacts(cursor, client.pk, n)
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        accepted = broadcast_create(
            client=client, data={"name": "Everyone", "contact_lists": [str(list_id)], "text": TEXT, "sender": "Herald"}
        )
        create_s = time.perf_counter() - started
        broadcast_id = accepted.broadcast.pk
        require(
            accepted.broadcast.preparing, f"a list of {n:,} (over BROADCAST_SYNC_LIMIT) was not left to preparation"
        )
        # The preparation a worker runs (prepare_broadcast's body), here in this process to measure it.
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        while prepare_run(broadcast_id=broadcast_id, seconds=3600):
            pass
        fanout_s = time.perf_counter() - started
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.profile)
        rss_after = peak_rss_mb()
        broadcast = Broadcast.objects.get(pk=broadcast_id)
        require(
            (broadcast.preparing, broadcast.total_recipients) == (False, n),
            f"prepared: preparing={broadcast.preparing}, total_recipients={broadcast.total_recipients:,} of {n:,}",
        )
        written = Message.objects.filter(broadcast_id=broadcast_id).count()
        require(written == n, f"{written:,} messages written for {n:,} members")

        # Reading the broadcast's detail as the API does (the serializer over its counters), warm.
        from broadcasts.api.serializers import BroadcastSerializer
        from broadcasts.selectors import broadcast_stats

        def detail() -> dict[str, object]:
            record = Broadcast.objects.get(pk=broadcast_id)
            stats = broadcast_stats(broadcast_ids=[broadcast_id])
            return dict(BroadcastSerializer(record, context={"stats": stats}).data)

        detail_s, shown = timed(detail, repeat=20)
        require(shown["stats"]["queued"] == n, f"the detail shows {shown['stats']}")  # type: ignore[index]

        with connection.cursor() as cursor:
            cursor.execute("SELECT id::text FROM contacts_contact WHERE client_id = %s ORDER BY phone", [client.pk])
            contact_ids = [row[0] for row in cursor.fetchall()]
        copy1m_s = fresh(lambda: copy_rows(n, contacts=contact_ids), repeat=1)
        copy1m_nofk_s = fresh(lambda: copy_rows(n, table="bench_messages", contacts=contact_ids), repeat=1)
        fanout_s = verdict.seconds(fanout_s, "the preparation")
        copy1m_s = verdict.seconds(copy1m_s, "the raw COPY")
        create_s = verdict.seconds(create_s, "the create call")
        ratio = fanout_s / copy1m_s
        verdict.possible(ratio >= 0.5, f"the preparation ({fanout_s:.2f} s) beat half a raw COPY ({copy1m_s:.2f} s)")
        verdict.target(create_s <= TARGET_CREATE_S, f"the create call took {create_s:.3f} s")
        verdict.target(ratio <= TARGET_PREPARE_RATIO, f"the preparation at {ratio:.2f}x a raw COPY")
        verdict.target(rss_after < TARGET_RSS_MB, f"peak memory {rss_after:.0f} MB")
        verdict.target(detail_s * 1000 <= TARGET_DETAIL_MS, f"the detail read in {detail_s * 1000:.1f} ms")
        report(
            "broadcast_1m_list_create_and_prepare",
            mode=verdict.mode,
            contacts=n,
            create_s=f"{create_s:.3f}",
            create_target="<=1",
            prepare_s=f"{fanout_s:.2f}",
            raw_copy_s=f"{copy1m_s:.2f}",
            ratio=f"{ratio:.2f}",
            target="<=2",
            raw_copy_without_fks_s=f"{copy1m_nofk_s:.2f}",
            rate_per_s=f"{n / fanout_s:,.0f}",
            peak_rss_mb=f"{rss_after:.0f}",
            rss_before_mb=f"{rss_before:.0f}",
            memory_target="<300",
            detail_ms=f"{detail_s * 1000:.1f}",
            detail_target="<=20",
        )
    verdict.done()


if __name__ == "__main__":
    main()
