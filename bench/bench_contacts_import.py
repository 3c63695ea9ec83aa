"""Contact import, end to end, against a raw COPY of the same rows (target: ≥ 20,000 rows/s).

The import is timed as the Celery task runs it: `contact_import_run` reads the stored CSV, parses
and checks every phone, de-duplicates, stages each chunk with COPY, upserts contacts, adds them to a
list and commits progress per chunk. Side by side, the same 100,000 rows (already E.164) are COPYed
into a table shaped like contacts_contact (same columns, indexes and constraints): the floor no
import can beat. The ratio import/COPY says how much the import's checks and bookkeeping cost.

    DATABASE_URL=postgres://… .venv/bin/python bench/bench_contacts_import.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import io
import random
import uuid

from common import bench_database, report, timed

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
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    rows = args.rows
    data, records = make_csv(rows)

    with bench_database():
        from unittest import mock

        from django.db import connection

        from contacts.imports import contact_import_create, contact_import_run
        from contacts.models import Contact, ContactImport
        from tests.factories.accounts import ClientFactory

        def run_import(client: object, **options: object) -> tuple[float, float, ContactImport]:
            """(seconds to accept the file, seconds to run the import, the job) — the task not enqueued."""
            with mock.patch("contacts.tasks.contact_import_process.delay"):
                accept_s, job = timed(
                    lambda: contact_import_create(client=client, file=io.BytesIO(data), file_name="b.csv", **options)
                )
            run_s, done = timed(lambda: contact_import_run(contact_import_id=job.id))
            assert done is not None
            assert done.status == ContactImport.Status.COMPLETED, done
            return accept_s, run_s, done

        # 1. New contacts, no list: the headline figure.
        plain = ClientFactory(country="UG")
        accept_s, import_s, job = run_import(plain)
        assert job.created + job.invalid == rows, (job.created, job.invalid)
        assert Contact.objects.filter(client=plain).count() == job.created
        # 2. New contacts into a new list (list_name): one membership row per contact as well.
        listed = ClientFactory(country="UG")
        _, list_import_s, list_job = run_import(listed, list_name="Bench")
        # 3. The same file again, update_existing, into the same list: every row matches an existing
        # contact and member, nothing changes, so nothing is rewritten.
        _, reimport_s, again = run_import(listed, list_name="Bench", update_existing=True)
        assert (again.created, again.updated) == (0, 0), again

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

    report(
        "contacts_import",
        rows=rows,
        import_s=f"{import_s:.2f}",
        rows_per_s=f"{rows / import_s:,.0f}",
        raw_copy_s=f"{copy_s:.2f}",
        import_vs_copy=f"{import_s / copy_s:.1f}x",
        accept_s=f"{accept_s:.2f}",
        target="20,000 rows/s",
        verdict="ok" if rows / import_s >= 20_000 else "BELOW TARGET",
    )
    report(
        "contacts_import_into_list",
        rows=rows,
        import_s=f"{list_import_s:.2f}",
        rows_per_s=f"{rows / list_import_s:,.0f}",
        raw_copy_s=f"{copy_list_s:.2f}",
        import_vs_copy=f"{list_import_s / copy_list_s:.1f}x",
        reimport_unchanged_s=f"{reimport_s:.2f}",
        reimport_rows_per_s=f"{rows / reimport_s:,.0f}",
    )


if __name__ == "__main__":
    main()
