"""Issue 13: every dashboard page with a tenant holding 1,000,000 messages and 200 broadcasts.

The tenant is written set-based (generate_series, in SQL): 200 finished broadcasts cloned from one
row, 1,000,000 messages spread over them (the counter triggers keep each broadcast's counters, as
a send does) in a mix of delivered, read, sent and failed, sent over the last hour of each, and
50,000 contacts in a list. Each page is then asked through Django's test client as a signed-in
owner: one warm-up, then the best of N, with its query count. Target: every page ≤ 150 ms.

Every page must answer 200 with a measured time, and in a full run within the target, or the bench
exits non-zero. `--quick` (CI): 20,000 messages over 20 broadcasts, 2,000 contacts, best of 2, the
target not enforced.

    DATABASE_URL=postgres://… .venv/bin/python bench/bench_dashboard.py [--messages 1000000] [--repeat 5]
    .venv/bin/python bench/bench_dashboard.py --quick
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from common import MIN_SECONDS, Verdict, bench_database, quick_option, report, require, timed

TARGET_MS = 150.0
FULL = {"messages": 1_000_000, "broadcasts": 200, "contacts": 50_000, "repeat": 5}
QUICK = {"messages": 20_000, "broadcasts": 20, "contacts": 2_000, "repeat": 2}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, help="1,000,000 (quick 20,000)")
    parser.add_argument("--broadcasts", type=int, help="200 (quick 20)")
    parser.add_argument("--contacts", type=int, help="50,000 (quick 2,000)")
    parser.add_argument("--repeat", type=int, help="best of (5; quick 2)")
    parser.add_argument("--local-time", type=int, help="waiting messages of the local-time broadcast (half --messages)")
    quick_option(parser)
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    for name, value in sizes.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.local_time = args.local_time or args.messages // 2
    verdict = Verdict("dashboard", quick=args.quick)

    with bench_database():
        from django.db import connection
        from django.test import Client as WebClient
        from django.utils import timezone

        from accounts.models import Membership, User
        from accounts.services import client_create, membership_set
        from broadcasts.models import Broadcast
        from broadcasts.services import broadcast_create, connector_create, sender_create
        from contacts.models import Contact
        from templates_app.services import template_create
        from wallets.models import ExchangeRate, Route
        from wallets.services import wallet_create, wallet_topup

        client = client_create(name="Bench", country="UG", timezone_name="Africa/Kampala", send_rate_limit="1000/m")
        wallet = wallet_create(client=client, currency="USD")
        wallet_topup(wallet=wallet, amount=Decimal("100000"))
        Route.objects.create(channel="sms", country_code="UG", route_code="ESMS_UG", connector="simulator",
                             currency="UGX", price_per_segment=Decimal("35"))  # fmt: skip
        ExchangeRate.objects.create(from_currency="UGX", to_currency="USD", rate=Decimal("0.000268571"))
        connector_create(name="simulator", channel="sms", backend="simulator", tps=10_000)
        sender_create(client=client, sender="Herald")
        user = User.objects.create_user(username="bench-owner", password=None)
        membership_set(client=client, user=user, role=Membership.Role.OWNER)

        started = time.perf_counter()
        first = Broadcast.objects.create(
            client=client, name="Broadcast 0", status="sent", channel="sms", text={"eng": "Hi {{first_name}}"}
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'broadcasts_broadcast'"
                " AND column_name NOT IN ('id', 'name', 'created_at', 'updated_at')"
            )
            columns = ", ".join(row[0] for row in cursor.fetchall())
            cursor.execute(
                f"""
                INSERT INTO broadcasts_broadcast (id, name, created_at, updated_at, {columns})
                SELECT gen_random_uuid(), 'Broadcast ' || i, now() - make_interval(hours => i),
                       now() - make_interval(hours => i), {columns}
                  FROM broadcasts_broadcast, generate_series(1, %s - 1) AS i
                 WHERE id = %s
                """,
                [args.broadcasts, first.pk],
            )
            # Message i goes to broadcast i % B, sent in the last hour before that broadcast's creation.
            cursor.execute(
                """
                WITH b AS (
                    SELECT id, created_at, row_number() OVER (ORDER BY created_at DESC, id) - 1 AS n
                      FROM broadcasts_broadcast WHERE client_id = %s
                )
                INSERT INTO broadcasts_message (
                    broadcast_id, client_id, urn, channel, text, encoding, segments, cost, route_code,
                    connector, country_code, status, error_code, error_message, attempts, is_test, clicked,
                    queued_at, sent_at, delivered_at, read_at, created_at
                )
                SELECT b.id, %s, 'tel:+25677' || lpad(i::text, 7, '0'), 'sms', 'Hi Name' || (i %% 300), 'gsm7', 1,
                       0.009400, 'ESMS_UG', 'simulator', 'UG',
                       s.status, CASE WHEN s.status = 'failed' THEN 'rejected' ELSE '' END,
                       CASE WHEN s.status = 'failed' THEN 'Rejected by the network' ELSE '' END, 1, false, false,
                       t.at, t.at, CASE WHEN s.status IN ('delivered', 'read') THEN t.at END,
                       CASE WHEN s.status = 'read' THEN t.at END, t.at
                  FROM generate_series(0, %s - 1) AS i
                  JOIN b ON b.n = i %% %s
                  CROSS JOIN LATERAL (SELECT CASE WHEN i %% 50 = 0 THEN 'failed' WHEN i %% 10 = 1 THEN 'read'
                                                  WHEN i %% 10 = 2 THEN 'sent' ELSE 'delivered' END AS status) s
                  CROSS JOIN LATERAL (SELECT b.created_at - make_interval(secs => (i %% 3600)) AS at) t
                """,
                [client.pk, client.pk, args.messages, args.broadcasts],
            )
            cursor.execute(
                "UPDATE broadcasts_broadcast SET total_recipients = %s WHERE client_id = %s",
                [args.messages // args.broadcasts, client.pk],
            )
            cursor.execute(
                """
                INSERT INTO contacts_contact (client_id, phone, first_name, last_name, language, fields)
                SELECT %s, '+25678' || lpad(i::text, 7, '0'), 'Name' || (i %% 300), 'Bench', 'eng', '{}'::jsonb
                  FROM generate_series(0, %s - 1) AS i
                """,
                [client.pk, args.contacts],
            )
            list_id = uuid.uuid4()
            cursor.execute(
                "INSERT INTO contacts_contactlist (id, client_id, name, contact_count, created_at, updated_at)"
                " VALUES (%s, %s, 'Everyone', %s, now(), now())",
                [list_id, client.pk, args.contacts],
            )
            cursor.execute(
                "INSERT INTO contacts_contactlistmembership (contact_list_id, contact_id)"
                " SELECT %s, id FROM contacts_contact WHERE client_id = %s",
                [list_id, client.pk],
            )
            for table in ("broadcasts_broadcast", "broadcasts_message", "contacts_contact"):
                cursor.execute(f"ANALYZE {table}")
        report(
            "dashboard_tenant",
            messages=args.messages,
            broadcasts=args.broadcasts,
            contacts=args.contacts,
            written_s=f"{time.perf_counter() - started:.1f}",
        )

        newest = Broadcast.objects.filter(client=client).order_by("-created_at").first()
        assert newest is not None
        b = newest.pk
        waiting = waiting_broadcast(client, newest, count=args.messages // 20)
        local = local_time_broadcast(client, newest, count=args.local_time)
        scheduled = broadcast_create(
            client=client,
            data={"name": "Next week", "recipients": ["+256772000001", "+256772000002"], "sender": "Herald",
                  "text": "See you", "schedule_mode": "scheduled",
                  "scheduled_at": (timezone.now() + timedelta(days=7)).isoformat()},
        ).broadcast  # fmt: skip
        template = template_create(client=client, name="welcome", content="Hi {{first_name}}, welcome!")
        contact = Contact.objects.filter(client=client).order_by("id").first()
        assert contact is not None
        pages = [
            "/",
            "/broadcasts/",
            "/broadcasts/?status=sent",
            f"/broadcasts/{b}/",
            f"/broadcasts/{b}/progress/",
            f"/broadcasts/{b}/cancel/",
            "/broadcasts/new/",
            "/messages/",
            f"/messages/?broadcast={b}",
            "/messages/?status=failed",
            "/messages/?phone=%2B256770012345",
            "/contacts/",
            "/contacts/?q=Name12",
            "/contacts/lists/",
            "/contacts/imports/",
            "/templates/",
            "/wallet/",
            "/replies/",
            "/tracking/",
            "/api-management/",
            "/settings/",
            # Pages of issue 21: a broadcast whose messages wait (quiet hours), edit and duplicate,
            # a contact, a list of every contact, a template, a list of two statuses.
            f"/broadcasts/{waiting}/",
            f"/broadcasts/{waiting}/progress/",
            f"/broadcasts/{b}/duplicate/",
            f"/broadcasts/{scheduled.pk}/edit/",
            "/messages/?status=delivered,read",
            f"/contacts/{contact.pk}/",
            f"/contacts/lists/{list_id}/",
            f"/templates/{template.pk}/",
            # Issue 22: a local-time broadcast whose messages all wait for their zones' 10:00 (its page
            # shows when the first and the last go: dashboard.selectors.local_time_bounds).
            f"/broadcasts/{local}/",
            f"/broadcasts/{local}/progress/",
        ]
        web = WebClient()
        web.force_login(user)
        results: list[tuple[float, str, int]] = []
        for path in pages:
            response = web.get(path)  # warm: caches, plans, templates
            require(response.status_code == 200, f"{path} answered {response.status_code}")
            # A wrapper, not CaptureQueriesContext: request_started resets the connection's query log.
            queries: list[str] = []

            def count(execute: Any, sql: str, *rest: Any, queries: list[str] = queries) -> Any:
                queries.append(sql)
                return execute(sql, *rest)

            with connection.execute_wrapper(count):
                web.get(path)
            seconds, _ = timed(lambda path=path: web.get(path), repeat=args.repeat)
            verdict.possible(seconds >= MIN_SECONDS / 10, f"{path} answered in {seconds * 1e6:.0f} µs")
            verdict.possible(queries, f"{path} asked no query")
            ms = seconds * 1000
            results.append((ms, path, len(queries)))
            report("dashboard_page", path=path, ms=f"{ms:.1f}", queries=len(queries))
        slowest = max(results)
        over = [path for ms, path, _ in results if ms > TARGET_MS]
        verdict.target(not over, f"over {TARGET_MS:.0f} ms: {over}")
        report(
            "dashboard_slowest",
            mode=verdict.mode,
            path=slowest[1],
            ms=f"{slowest[0]:.1f}",
            target_ms=f"<={TARGET_MS:.0f}",
            met=all(ms <= TARGET_MS for ms, _, _ in results),
            over=over or "none",
        )
    verdict.done()


def waiting_broadcast(client: Any, model: Any, *, count: int) -> uuid.UUID:
    """A broadcast still sending whose `count` messages all wait for quiet hours to end (tomorrow
    morning): what the detail page's waiting reasons read, written set-based like the rest."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'broadcasts_broadcast'"
            " AND column_name NOT IN ('id', 'name', 'status', 'created_at', 'updated_at')"
        )
        columns = ", ".join(row[0] for row in cursor.fetchall())
        waiting = uuid.uuid4()
        cursor.execute(
            f"""
            INSERT INTO broadcasts_broadcast (id, name, status, created_at, updated_at, {columns})
            SELECT %s, 'Waiting for the morning', 'sending', now(), now(), {columns}
              FROM broadcasts_broadcast WHERE id = %s
            """,
            [waiting, model.pk],
        )
        cursor.execute(
            """
            INSERT INTO broadcasts_message (
                broadcast_id, client_id, urn, channel, text, encoding, segments, cost, route_code,
                connector, country_code, status, error_code, error_message, attempts, is_test, clicked,
                not_before, wait_reason, created_at
            )
            SELECT %s, %s, 'tel:+25679' || lpad(i::text, 7, '0'), 'sms', 'Hi', 'gsm7', 1, 0.009400, 'ESMS_UG',
                   'simulator', 'UG', 'pending', '', '', 0, false, false,
                   now() + make_interval(hours => 10, secs => i %% 3600), 'quiet_hours', now()
              FROM generate_series(0, %s - 1) AS i
            """,
            [waiting, client.pk, count],
        )
        cursor.execute("UPDATE broadcasts_broadcast SET total_recipients = %s WHERE id = %s", [count, waiting])
        cursor.execute("ANALYZE broadcasts_message")
    return waiting


def local_time_broadcast(client: Any, model: Any, *, count: int) -> uuid.UUID:
    """A local-time broadcast (10:00 in each recipient's zone, two days ahead) whose `count`
    messages all wait, spread over seven zones' instants: scheduled until the first, written
    set-based like the rest."""
    import json
    from datetime import UTC, datetime
    from datetime import time as dtime
    from zoneinfo import ZoneInfo

    from django.db import connection

    day = (datetime.now(UTC) + timedelta(days=2)).date()
    zones = ["Pacific/Kiritimati", "Asia/Tokyo", "Asia/Kolkata", "Africa/Kampala", "Europe/Paris",
             "America/New_York", "Pacific/Honolulu"]  # fmt: skip
    instants = [datetime.combine(day, dtime(10, 0), tzinfo=ZoneInfo(z)).astimezone(UTC) for z in zones]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'broadcasts_broadcast'"
            " AND column_name NOT IN ('id', 'name', 'status', 'schedule_mode', 'scheduled_at', 'local_time',"
            " 'created_at', 'updated_at')"
        )
        columns = ", ".join(row[0] for row in cursor.fetchall())
        local = uuid.uuid4()
        cursor.execute(
            f"""
            INSERT INTO broadcasts_broadcast (id, name, status, schedule_mode, scheduled_at, local_time, created_at,
                                              updated_at, {columns})
            SELECT %s, 'At 10:00 everywhere', 'scheduled', 'local_time', %s, %s::jsonb, now(), now(), {columns}
              FROM broadcasts_broadcast WHERE id = %s
            """,
            [local, instants[0], json.dumps({"date": day.isoformat(), "time": "10:00", "if_passed": None}), model.pk],
        )
        cursor.execute(
            """
            INSERT INTO broadcasts_message (
                broadcast_id, client_id, urn, channel, text, encoding, segments, cost, route_code,
                connector, country_code, status, error_code, error_message, attempts, is_test, clicked,
                not_before, wait_reason, created_at
            )
            SELECT %s, %s, 'tel:+25676' || lpad(i::text, 7, '0'), 'sms', 'Hi', 'gsm7', 1, 0.009400, 'ESMS_UG',
                   'simulator', 'UG', 'pending', '', '', 0, false, false,
                   (%s::timestamptz[])[1 + i %% 7], 'scheduled', now()
              FROM generate_series(0, %s - 1) AS i
            """,
            [local, client.pk, instants, count],
        )
        cursor.execute("UPDATE broadcasts_broadcast SET total_recipients = %s WHERE id = %s", [count, local])
        cursor.execute("ANALYZE broadcasts_message")
    return local


if __name__ == "__main__":
    main()
