"""The RapidPro v2 compatibility API through the real `rapidpro-python` client, beside the native API (issue 20).

A stack of this bench's own, started as `scripts/run.py` starts it: gunicorn (2 workers × 4
threads) with the production settings (`DEBUG` off), a Redis broker on a free port and a fresh
database on DATABASE_URL's server (or the embedded one). No Celery worker: a large broadcast's
preparation, which the create only enqueues, is not this bench's subject, and a worker preparing
one broadcast would slow the next create down. One tenant (bench_dispatch.seed_tenant: credit, a
UG route, an `http` connector, a sender) with N contacts (default 100,000) in one list, and a
second list of M of them (default 10,000). seed_tenant inserts the contacts in one statement, so
they would share one `created_at`/`updated_at`; the bench then spaces them 1 ms apart, as the CSV
import does (contacts/imports/writer.py writes `clock_timestamp()`). Both APIs page with DRF's
CursorPagination, whose offset is capped at 1,000 (`offset_cutoff`): over 1,250 contacts sharing
one timestamp, `next` would repeat the same page for ever (the bench fails, never loops, if it does).

1. Create: `TembaClient(base, key).create_broadcast(text, groups=[list uuid])` (POST
   /api/v2/broadcasts.json) against the native `POST /api/v1/broadcasts/` with `{"name",
   "contact_lists": [list id], "text"}`, the same text (`@contact.first_name` and `@fields.code`,
   which Herald renders as written) and no sender on either side (the RapidPro create sends none;
   the native create does not need one). Both answer 201 with `preparing: true`: the same
   large-audience path of `broadcast_create` (an estimate over the members, the credit reserved,
   the preparation enqueued). Each create is cancelled at once (POST
   /api/v1/broadcasts/{id}/cancel/, which releases its reservation) and the wallet checked, so
   that every create sees the same wallet. `--repeat` pairs, alternating which goes first, after an
   untimed pair (warm-up); the medians. Target: RapidPro ≤ 1.2 × native.
2. Paging: `TembaClient.get_contacts(group=<list name>).all()` (its loop, with a guard) over the
   M-member list (250 a page, its `next` followed verbatim), against the native
   `GET /api/v1/contacts/?list=<id>&limit=250` following `next`, over the same contacts,
   alternating, after an untimed pass of each; the medians. Both go through `requests` without a
   session (a new connection a request, as the client does), so the ratio compares the servers;
   the client's own parsing of each contact is in its figure. Target: ≥ 5,000 contacts/s through
   the client.

The bench exits non-zero when a request fails, when a create is not on the large-audience path,
when a pass does not return every member exactly once, when a figure is impossible (nothing
measured), and in a full run when a target is missed. `--quick` (CI): 2,000 contacts (over a
BROADCAST_SYNC_LIMIT lowered to 500 for the run, so the creates take the same path) and a list of
1,000, three pairs; the targets not enforced.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/bench_compat.py
    .venv/bin/python bench/bench_compat.py --members 20000 --page-members 5000   # other sizes
    .venv/bin/python bench/bench_compat.py --quick                               # CI's size
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from bench_dispatch import BIN, QUICK_SYNC_LIMIT, TOKEN, Stack, free_port, seed_tenant, wait_until
from common import Verdict, quick_option, report, require

TEXT = "Hi @contact.first_name, your code is @fields.code. Reply STOP to opt out."
PAGE_LIST = "Paging"
PAGE_SIZE = 250  # RapidPro's page, fixed; the native side asks for the same
TARGET_CREATE_RATIO = 1.2
TARGET_PAGING_RATE = 5_000
FULL = {"members": 100_000, "page_members": 10_000, "repeat": 11}
QUICK = {"members": 2_000, "page_members": 1_000, "repeat": 3}


def add_page_list(client_id: str, size: int) -> str:
    """A second list holding `size` of the client's contacts; its id."""
    import uuid

    from django.db import connection

    list_id = str(uuid.uuid4())
    with connection.cursor() as cursor:
        # Distinct, increasing timestamps, as an import writes them (contact i: i ms after the first).
        cursor.execute(
            "UPDATE contacts_contact SET created_at = now() - interval '1 day' + right(phone, 7)::int * interval '1 ms'"
            " WHERE client_id = %s",
            [client_id],
        )
        cursor.execute("UPDATE contacts_contact SET updated_at = created_at WHERE client_id = %s", [client_id])
        cursor.execute(
            "INSERT INTO contacts_contactlist (id, client_id, name, contact_count, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, now(), now())",
            [list_id, client_id, PAGE_LIST, size],
        )
        cursor.execute(
            "INSERT INTO contacts_contactlistmembership (contact_list_id, contact_id)"
            " SELECT %s, id FROM contacts_contact WHERE client_id = %s ORDER BY phone LIMIT %s",
            [list_id, client_id, size],
        )
        cursor.execute("VACUUM ANALYZE contacts_contactlistmembership")  # what autovacuum does after a bulk load
        cursor.execute("VACUUM ANALYZE contacts_contact")
    return list_id


def timed_once(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


class Native:
    """The native API, through `requests` without a session, as the RapidPro client talks."""

    def __init__(self, base: str, key: str, limit: int) -> None:
        self.base = f"{base}/api/v1"
        self.limit = limit  # more contacts than this from one list: a paging loop
        self.headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        import requests

        answer = requests.request(method, url, headers=self.headers, timeout=300, **kwargs)
        require(answer.status_code in (200, 201), f"{method} {url} answered {answer.status_code}: {answer.text[:500]}")
        return answer.json()

    def create(self, list_id: str) -> dict[str, Any]:
        body = {"name": "Native create", "contact_lists": [list_id], "text": TEXT}
        return dict(self.request("POST", f"{self.base}/broadcasts/", json=body))

    def cancel(self, broadcast_id: str) -> None:
        self.request("POST", f"{self.base}/broadcasts/{broadcast_id}/cancel/")

    def reserved(self) -> Decimal:
        return Decimal(self.request("GET", f"{self.base}/wallet/")["reserved"])

    def contacts(self, list_id: str) -> list[str]:
        ids: list[str] = []
        url: str | None = f"{self.base}/contacts/?list={list_id}&limit={PAGE_SIZE}"
        seen: set[str] = set()
        while url:
            seen.add(url)
            page = self.request("GET", url)
            ids.extend(str(c["id"]) for c in page["results"])
            url = page.get("next")
            require(url not in seen, f"the native contacts paging gave the same next page again: {url}")
            require(len(ids) <= self.limit, f"the native contacts paging returned over {self.limit} contacts")
        return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, help="the broadcast list's size (100,000; quick 2,000)")
    parser.add_argument("--page-members", type=int, help="the paged list's size (10,000; quick 1,000)")
    parser.add_argument("--repeat", type=int, help="timed pairs of each, alternating, medians shown (11; quick 3)")
    quick_option(parser)
    args = parser.parse_args()
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    require(args.page_members <= args.members, "--page-members must not exceed --members")
    verdict = Verdict("compat", quick=args.quick)
    with Stack("compat") as stack:
        if args.quick:
            stack.env["BROADCAST_SYNC_LIMIT"] = str(QUICK_SYNC_LIMIT)
        # Paging passes add up to a few hundred requests: the default 3,600 an hour would do, but a
        # bench run with larger sizes must not be throttled. The check itself runs either way.
        stack.env["API_RATE_LIMIT"] = "1000000/h"
        stack.django()

        from django.conf import settings
        from django.db import connection
        from temba_client.v2 import TembaClient

        from accounts.models import Client, Scope
        from accounts.services import api_key_create

        require(
            args.members > settings.BROADCAST_SYNC_LIMIT,
            f"--members must exceed BROADCAST_SYNC_LIMIT ({settings.BROADCAST_SYNC_LIMIT})",
        )
        seeding = time.perf_counter()
        client_id, [list_id] = seed_tenant(
            recipients=args.members,
            # Never called: no worker runs, and every broadcast is cancelled before it is prepared.
            connector_config={"url": f"http://127.0.0.1:{free_port()}/messages", "token": TOKEN, "idempotent": True},
            tps=100_000,
            tmp=stack.tmp,
        )
        page_list_id = add_page_list(client_id, args.page_members)
        seed_s = time.perf_counter() - seeding
        _, key = api_key_create(client=Client.objects.get(pk=client_id), name="bench", scopes=Scope.values)
        connection.close()  # from here on the bench talks HTTP

        port = stack.web_port
        stack.start(
            "web",
            [str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
             "--timeout", "300", "--access-logfile", "-", "--graceful-timeout", "10"],
        )  # fmt: skip
        stack.wait_serving("web", port, 60, marker=f"Listening at: http://127.0.0.1:{port}")
        base = f"http://127.0.0.1:{port}"
        native = Native(base, key, args.members)
        temba = TembaClient(base, key)

        # --- 1. create_broadcast to the large list vs the native create ---------------------------

        def rapidpro_create() -> str:
            created = temba.create_broadcast(TEXT, groups=[list_id])
            return str(created.uuid)

        def native_create() -> str:
            created = native.create(list_id)
            require(created["preparing"], f"the native create did not take the large-audience path: {created}")
            return str(created["id"])

        def check_and_cancel(broadcast_id: str, what: str) -> None:
            shown = native.request("GET", f"{native.base}/broadcasts/{broadcast_id}/")
            require(
                shown["preparing"] or shown["status"] == "cancelled",
                f"the {what} create did not take the large-audience path: {shown}",
            )
            require(
                shown["preparation"] and shown["preparation"]["total"] == args.members,
                f"the {what} create's preparation is not over the {args.members} members: {shown['preparation']}",
            )
            native.cancel(broadcast_id)

        creates: dict[str, list[float]] = {"rapidpro": [], "native": []}
        makers = {"rapidpro": rapidpro_create, "native": native_create}
        for i in range(args.repeat + 1):  # the first pair is the warm-up
            order = ("rapidpro", "native") if i % 2 else ("native", "rapidpro")
            for side in order:
                seconds, broadcast_id = timed_once(makers[side])
                check_and_cancel(broadcast_id, side)
                wait_until(lambda: native.reserved() == 0, 60, "the cancelled broadcast's reservation to go", 0.2)
                if i:
                    creates[side].append(verdict.seconds(seconds, f"a {side} create"))
            if i:
                pair = "  ".join(f"{side}_s={creates[side][-1]:.3f}" for side in ("rapidpro", "native"))
                print(f"  create pair {i}: {pair}", flush=True)

        rapidpro_s = statistics.median(creates["rapidpro"])
        native_s = statistics.median(creates["native"])
        ratio = rapidpro_s / native_s
        verdict.target(
            ratio <= TARGET_CREATE_RATIO,
            f"create_broadcast {rapidpro_s:.3f} s = {ratio:.2f}× the native create ({native_s:.3f} s)"
            f" > {TARGET_CREATE_RATIO:g}×",
        )
        report(
            "compat_create_broadcast",
            mode=verdict.mode,
            members=args.members,
            pairs=args.repeat,
            rapidpro_s=f"{rapidpro_s:.3f}",
            native_s=f"{native_s:.3f}",
            ratio=f"{ratio:.2f}",
            target=f"<={TARGET_CREATE_RATIO:g}",
            met="yes" if ratio <= TARGET_CREATE_RATIO else "NO",
            seed_s=f"{seed_s:.1f}",
        )

        # --- 2. get_contacts(group=…).all() over the second list vs native paging ----------------

        def rapidpro_page() -> list[str]:
            return [str(c.uuid) for c in temba.get_contacts(group=PAGE_LIST).all()]

        def native_page() -> list[str]:
            return native.contacts(page_list_id)

        passes: dict[str, list[float]] = {"rapidpro": [], "native": []}
        pagers = {"rapidpro": rapidpro_page, "native": native_page}
        members: dict[str, set[str]] = {}
        for i in range(args.repeat + 1):  # the first pass of each is the warm-up
            order = ("rapidpro", "native") if i % 2 else ("native", "rapidpro")
            for side in order:
                seconds, ids = timed_once(pagers[side])
                require(
                    len(ids) == len(set(ids)) == args.page_members,
                    f"{side} paging returned {len(ids)} contacts ({len(set(ids))} distinct),"
                    f" not the list's {args.page_members}",
                )
                require(members.setdefault(side, set(ids)) == set(ids), f"{side} paging returned other contacts")
                if i:
                    passes[side].append(verdict.seconds(seconds, f"a {side} paging pass"))
            if i:
                pair = "  ".join(f"{side}_s={passes[side][-1]:.3f}" for side in ("rapidpro", "native"))
                print(f"  paging pass {i}: {pair}", flush=True)
        require(members["rapidpro"] == members["native"], "the two APIs returned different contacts for the list")

        rapidpro_s = statistics.median(passes["rapidpro"])
        native_s = statistics.median(passes["native"])
        rate = args.page_members / rapidpro_s
        verdict.target(
            rate >= TARGET_PAGING_RATE,
            f"get_contacts().all() at {rate:,.0f} contacts/s < {TARGET_PAGING_RATE:,} contacts/s",
        )
        report(
            "compat_get_contacts",
            mode=verdict.mode,
            contacts=args.page_members,
            pages=-(-args.page_members // PAGE_SIZE),
            passes=args.repeat,
            rapidpro_s=f"{rapidpro_s:.3f}",
            contacts_per_s=f"{rate:,.0f}",
            native_s=f"{native_s:.3f}",
            native_per_s=f"{args.page_members / native_s:,.0f}",
            ratio=f"{rapidpro_s / native_s:.2f}",
            target=f">={TARGET_PAGING_RATE:,}",
            met="yes" if rate >= TARGET_PAGING_RATE else "NO",
        )
    verdict.done()


if __name__ == "__main__":
    main()
