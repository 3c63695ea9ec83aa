"""Contact import, end to end, against a raw COPY of the same rows (target: ≥ 20,000 rows/s).

The import is timed from the accept (`contact_import_create`: the file read, counted, stored and
the job queued) until the job is completed, as the Celery task runs it (`contact_import_run`
reads the stored CSV, parses and checks every phone, de-duplicates, stages each chunk with COPY,
upserts contacts, adds them to a list and commits progress per chunk); the accept alone is printed
beside it. Side by side, the same rows (already E.164) are COPYed into a table shaped like
contacts_contact (same columns, indexes and constraints): the floor no import can beat. The ratio
import/COPY says how much the import's checks and bookkeeping cost.

The bench fails (non-zero exit) when the job did not complete every row, when a figure is
impossible (no time measured, an import faster than half the raw COPY of its rows), and, in a full
run, below 20,000 rows/s. `--quick` (CI): 2,000 rows, the target not enforced.

    DATABASE_URL=postgres://… .venv/bin/python bench/bench_contacts_import.py [--rows 100000] [--quick]
"""

from __future__ import annotations

import argparse
import io
import random
import time
import uuid

from common import Verdict, bench_database, quick_option, report, require, timed

FULL_ROWS = 100_000
QUICK_ROWS = 2_000
TARGET_ROWS_PER_S = 20_000
COPY_COLUMNS = "id, client_id, phone, first_name, last_name, language, fields, created_at, updated_at"


def make_csv(rows: int, seed: int = 7) -> tuple[bytes, list[tuple[str, str, str, str, str]]]:
    """A realistic export: E.164 phones (Uganda, Kenya, France, US), names, language, two fields."""
    rng = random.Random(seed)
    prefixes = ["+25677", "+25678", "+25470", "+25472", "+3361", "+3362", "+1202555", "+1415555"]
    firsts = ["Amina", "John", "Zoë", "Grace", "Pierre", "Wanjiru", "Ivan", "Mary"]
    lasts = ["Okello", "Mwangi", "Dupont", "Smith", "Nakato", "Otieno", "Martin", "Brown"]
    seen: set[str] = set()
    records = []
    out = io.StringIO()
    out.write("phone,first_name,last_name,language,param1,param2\n")
    while len(records) < rows:
        prefix = rng.choice(prefixes)
        length = 12 if prefix.startswith("+1") else 13 if prefix.startswith("+25") else 12
        phone = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix)))
        if phone in seen:
            continue
        seen.add(phone)
        record = (phone, rng.choice(firsts), rng.choice(lasts), rng.choice(["eng", "fra", "swa"]), f"p{len(records)}")
        records.append(record)
        out.write(f"{record[0]},{record[1]},{record[2]},{record[3]},{record[4]},x\n")
    return out.getvalue().encode(), records


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--rows", type=int, help=f"rows in the file (default {FULL_ROWS:,}; {QUICK_ROWS:,} with --quick)"
    )
    quick_option(parser)
    args = parser.parse_args()
    rows = args.rows or (QUICK_ROWS if args.quick else FULL_ROWS)
    verdict = Verdict("contacts_import", quick=args.quick)
    data, records = make_csv(rows)

    with bench_database():
        from django.db import connection

        from config.celery import app
        from contacts.imports import contact_import_create, contact_import_run
        from contacts.models import Contact, ContactImport, ContactListMembership
        from tests.factories.accounts import ClientFactory

        # The test settings run tasks inline, on commit: the import would run inside the accept call.
        # Here the accept only queues it (on a broker nobody reads), and the bench runs it as the
        # worker would, so the two steps are timed apart.
        app.conf.task_always_eager = False
        app.conf.broker_url = "memory://"

        def run_import(client: object, **options: object) -> tuple[float, float, ContactImport]:
            """(seconds to accept the file, seconds from the accept until the job is completed, the job)."""
            started = time.perf_counter()
            job = contact_import_create(client=client, file=io.BytesIO(data), file_name="b.csv", **options)
            accepted = time.perf_counter()
            job.refresh_from_db()
            # Whatever runs the job (the worker, or the accept itself if it ever did the work), the
            # clock stops only when it is completed.
            if job.status != ContactImport.Status.COMPLETED:
                require(
                    job.status == ContactImport.Status.PENDING,
                    f"the accepted import is {job.status}, neither pending nor completed",
                )
                done = contact_import_run(contact_import_id=job.id)
                require(done is not None, "contact_import_run found the job held by another run")
                job = done
            finished = time.perf_counter()
            require(job.status == ContactImport.Status.COMPLETED, f"the import ended {job.status}: {job.errors}")
            require(job.processed_rows == rows, f"the import processed {job.processed_rows:,} rows of {rows:,}")
            return accepted - started, finished - started, job

        # 1. New contacts, no list: the headline figure.
        plain = ClientFactory(country="UG")
        accept_s, import_s, job = run_import(plain)
        require(job.created + job.invalid == rows, f"created {job.created:,} + invalid {job.invalid:,} != {rows:,}")
        require(job.created > 0, "the import created no contact")
        stored = Contact.objects.filter(client=plain).count()
        require(stored == job.created, f"{stored:,} contacts stored, the job says {job.created:,} created")
        # 2. New contacts into a new list (list_name): one membership row per contact as well.
        listed = ClientFactory(country="UG")
        _, list_import_s, list_job = run_import(listed, list_name="Bench")
        members = ContactListMembership.objects.filter(contact_list_id=list_job.contact_list_id).count()
        require(members == list_job.created, f"{members:,} list members for {list_job.created:,} contacts created")
        # 3. The same file again, update_existing, into the same list: every row matches an existing
        # contact and member, nothing changes, so nothing is rewritten.
        _, reimport_s, again = run_import(listed, list_name="Bench", update_existing=True)
        require(
            (again.created, again.updated) == (0, 0), f"the unchanged file again: {again.created=} {again.updated=}"
        )

        # The floor: the same rows COPYed raw into tables shaped like contacts_contact and the
        # membership table (same columns, indexes and constraints, foreign keys included).
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE bench_contacts (LIKE contacts_contact INCLUDING ALL);"
                "ALTER TABLE bench_contacts ADD FOREIGN KEY (client_id) REFERENCES accounts_client(id) "
                "DEFERRABLE INITIALLY DEFERRED;"
                "CREATE TABLE bench_members (LIKE contacts_contactlistmembership INCLUDING ALL);"
                "ALTER TABLE bench_members ADD FOREIGN KEY (contact_id) REFERENCES bench_contacts(id) "
                "DEFERRABLE INITIALLY DEFERRED;"
                "ALTER TABLE bench_members ADD FOREIGN KEY (contact_list_id) REFERENCES contacts_contactlist(id) "
                "DEFERRABLE INITIALLY DEFERRED;"
            )
        ids = [uuid.uuid4() for _ in records]

        def raw_copy(*, members: bool) -> None:
            from django.db import transaction

            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("TRUNCATE bench_contacts CASCADE")
                with cursor.cursor.copy(f"COPY bench_contacts ({COPY_COLUMNS}) FROM STDIN") as copy:
                    for contact_id, (phone, first, last, language, param) in zip(ids, records, strict=True):
                        fields = f'{{"param1": "{param}", "param2": "x"}}'
                        copy.write_row((contact_id, plain.id, phone, first, last, language, fields, "now", "now"))
                if members:
                    with cursor.cursor.copy(
                        "COPY bench_members (contact_list_id, contact_id, created_at) FROM STDIN"
                    ) as copy:
                        for contact_id in ids:
                            copy.write_row((list_job.contact_list_id, contact_id, "now"))

        copy_s, _ = timed(lambda: raw_copy(members=False), repeat=2)
        copy_list_s, _ = timed(lambda: raw_copy(members=True), repeat=2)

    import_s = verdict.seconds(import_s, "the import")
    list_import_s = verdict.seconds(list_import_s, "the import into a list")
    reimport_s = verdict.seconds(reimport_s, "the unchanged file again")
    rate = rows / import_s
    # An import COPYs the same rows and checks, de-duplicates and upserts them too: it cannot take less
    # than a raw COPY of them (half of one allows for noise). Faster means the clock missed the work.
    verdict.possible(
        import_s >= copy_s / 2, f"the import ({import_s:.3f} s) beat a raw COPY of its rows ({copy_s:.3f} s)"
    )
    verdict.possible(
        list_import_s >= copy_list_s / 2,
        f"the import into a list ({list_import_s:.3f} s) beat a raw COPY of its rows ({copy_list_s:.3f} s)",
    )
    verdict.target(rate >= TARGET_ROWS_PER_S, f"{rate:,.0f} rows/s < {TARGET_ROWS_PER_S:,}")
    report(
        "contacts_import",
        mode=verdict.mode,
        rows=rows,
        import_s=f"{import_s:.2f}",
        rows_per_s=f"{rate:,.0f}",
        target=f">={TARGET_ROWS_PER_S}",
        raw_copy_s=f"{copy_s:.2f}",
        import_vs_copy=f"{import_s / copy_s:.1f}x",
        accept_s=f"{accept_s:.2f}",
    )
    report(
        "contacts_import_into_list",
        mode=verdict.mode,
        rows=rows,
        import_s=f"{list_import_s:.2f}",
        rows_per_s=f"{rows / list_import_s:,.0f}",
        raw_copy_s=f"{copy_list_s:.2f}",
        import_vs_copy=f"{list_import_s / copy_list_s:.1f}x",
        reimport_unchanged_s=f"{reimport_s:.2f}",
        reimport_rows_per_s=f"{rows / reimport_s:,.0f}",
    )
    verdict.done()


if __name__ == "__main__":
    main()
