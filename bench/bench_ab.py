"""A/B tests (issue 22): what a test costs against the same broadcast without one, measured side by
side in one run; and its decision over the whole rest.

A list of N contacts (100,000; `--quick` 12,000, just over BROADCAST_SYNC_LIMIT), prepared in the
background as any large audience: once with one text (`now`), once as an A/B test of two texts at
10 % each with the rest (80 %) waiting (`ab`). The test renders each of the rest's messages with
both variants to price it at the costlier one, so its preparation is expected to cost more than the
plain one's (about 1 + variants renders per rest recipient instead of one). Then the decision
(services.ab_test.ab_decide_due, what beat runs) re-plans the rest with the winner and writes every
rest message again, releasing the difference.

Checks (every mode): every member got one message, the samples are 10 % each to within one, the
rest all wait, and after the decision none does and the reservation equals the messages' cost.
Targets (full run): the A/B preparation within 3× the plain one's; the decision within 3× the plain
preparation (it reads the audience and rewrites the rest).

    DATABASE_URL=postgres://… .venv/bin/python bench/bench_ab.py [--contacts 100000] [--quick]
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import timedelta

from common import Verdict, bench_database, list_of_bench_contacts, quick_option, report, require, ugandan_tenant

SHORT = "Hi {{first_name}}, sale today. Reply STOP to opt out."
LONG = "Hi {{first_name}}, our biggest sale of the year starts today, with every item at half price " \
       "and free delivery until Sunday. Reply STOP to opt out."  # fmt: skip
TARGET_PREPARE_RATIO = 3.0
TARGET_DECIDE_RATIO = 3.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, help="list size (100,000; quick 12,000)")
    quick_option(parser)
    args = parser.parse_args()
    n = args.contacts or (12_000 if args.quick else 100_000)
    verdict = Verdict("ab_test", quick=args.quick)

    with bench_database():
        from django.db import connection
        from django.utils import timezone

        from broadcasts.models import Broadcast, Message
        from broadcasts.services import broadcast_create, prepare_run
        from broadcasts.services.ab_test import ab_decide_due
        from config.celery import app
        from wallets.selectors import reservation_state

        app.conf.task_always_eager = False  # preparation and dispatch would be workers' jobs: timed here
        app.conf.broker_url = "memory://"
        client = ugandan_tenant(send_rate_limit="1000/m")
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO contacts_contact (client_id, phone, first_name, last_name, language, fields)
                SELECT %s, '+25678' || lpad(i::text, 7, '0'), 'Name' || (i %% 300), 'Bench', 'eng', '{}'
                  FROM generate_series(0, %s - 1) AS i
                """,
                [client.pk, n],
            )
            list_id = list_of_bench_contacts(cursor, client.pk, n)

        def prepared(extra: dict[str, object]) -> tuple[float, uuid.UUID]:
            data = {"name": f"bench {uuid.uuid4()}", "contact_lists": [str(list_id)], "sender": "Herald", **extra}
            accepted = broadcast_create(client=client, data=data)
            require(accepted.broadcast.preparing, f"the broadcast of {n:,} was not left to preparation")
            started = time.perf_counter()
            while prepare_run(broadcast_id=accepted.broadcast.pk, seconds=3600):
                pass
            return time.perf_counter() - started, accepted.broadcast.pk

        plain_s, plain_id = prepared({"text": LONG})
        require(Message.objects.filter(broadcast_id=plain_id).count() == n, "the plain broadcast missed members")
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM broadcasts_message WHERE broadcast_id = %s", [plain_id])
            cursor.execute("VACUUM ANALYZE broadcasts_message")
        ab_s, ab_id = prepared(
            {
                "variants": [{"text": SHORT, "share": 10}, {"text": LONG, "share": 10}],
                "ab_test": {"metric": "delivered", "decide_after": "PT1H"},
            }
        )
        messages = Message.objects.filter(broadcast_id=ab_id)
        counts = {v: messages.filter(variant=v).count() for v in (0, 1, None)}
        require(sum(counts.values()) == n, f"the A/B broadcast has {sum(counts.values()):,} messages for {n:,}")
        require(all(abs(counts[v] - n // 10) <= 1 for v in (0, 1)), f"samples {counts[0]:,} and {counts[1]:,}")
        require(messages.filter(wait_reason="ab_test").count() == counts[None], "not all of the rest waits")
        broadcast = Broadcast.objects.get(pk=ab_id)
        at = (broadcast.ab_decide_at or timezone.now()) + timedelta(seconds=1)
        started = time.perf_counter()
        decided = ab_decide_due(now=at)
        decide_s = time.perf_counter() - started
        require(decided == 1, f"{decided} tests decided")
        require(not messages.filter(wait_reason="ab_test").exists(), "some of the rest still waits")
        held = reservation_state(broadcast_id=ab_id)
        total = sum(messages.values_list("cost", flat=True))
        require(held is not None and held.outstanding == total, f"reserved {held}, the messages cost {total}")

        plain_s = verdict.seconds(plain_s, "the plain preparation")
        ab_s = verdict.seconds(ab_s, "the A/B preparation")
        decide_s = verdict.seconds(decide_s, "the decision")
        verdict.possible(ab_s >= plain_s * 0.5, f"the A/B preparation ({ab_s:.2f} s) beat half the plain one's")
        verdict.target(ab_s <= plain_s * TARGET_PREPARE_RATIO, f"the A/B preparation at {ab_s / plain_s:.2f}x")
        verdict.target(decide_s <= plain_s * TARGET_DECIDE_RATIO, f"the decision at {decide_s / plain_s:.2f}x")
        report(
            "ab_test_prepare_and_decide",
            mode=verdict.mode,
            contacts=n,
            rest=counts[None],
            plain_prepare_s=f"{plain_s:.2f}",
            ab_prepare_s=f"{ab_s:.2f}",
            prepare_ratio=f"{ab_s / plain_s:.2f}",
            decide_s=f"{decide_s:.2f}",
            decide_rate_per_s=f"{counts[None] / decide_s:,.0f}",
        )
    verdict.done()


if __name__ == "__main__":
    main()
