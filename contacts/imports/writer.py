"""One chunk of an import, written set-based. Never a save per row:

1. COPY the chunk's rows into a temporary staging table;
2. find the contacts that already exist, by phone (or chat id), in one UPDATE … FROM of the stage;
3. UPDATE … FROM the stage the existing contacts whose values change (with update_existing);
4. INSERT … SELECT the new contacts, and in the same statement their list membership;
5. INSERT … SELECT … ON CONFLICT DO NOTHING the existing contacts into the list;
6. when the client's webhooks want it, one SELECT of the contacts this chunk opted out, announced
   as `contact.opted_out` in one INSERT (webhooks' outbox, in the chunk's transaction).

A plain INSERT of rows found missing is cheaper than INSERT … ON CONFLICT's speculative insertion.
If another transaction inserts the same phone between steps 2 and 4, the unique index refuses it
and the caller runs the chunk again, when that contact is an existing one.

Runs inside the caller's transaction (one per chunk), so a chunk is written whole or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from uuid import UUID

from django.db import connection

from contacts.models import Contact, ContactListMembership
from webhooks.events import CONTACT_OPTED_OUT
from webhooks.selectors import event_types_wanted
from webhooks.services import events_record

from .rows import RowError, StagedRow

CONTACTS: Final = Contact._meta.db_table
MEMBERSHIP: Final = ContactListMembership._meta.db_table
# Versioned: a worker's session keeps its temporary table across imports (ON COMMIT DELETE ROWS
# empties it), so a new shape needs a new name.
STAGE: Final = "contacts_import_stage_v3"
STAGE_COLUMNS: Final = "row_no, phone, telegram_chat_id, first_name, last_name, language, fields, opted_out, timezone"

_CREATE_STAGE = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} (
    row_no integer NOT NULL, phone text, telegram_chat_id text, first_name text, last_name text,
    language text, fields jsonb, opted_out boolean NOT NULL, timezone text, contact_id uuid
) ON COMMIT DELETE ROWS
"""

# Step 2, once per key: phone rows by phone, rows with only a chat id by chat id.
_FIND_EXISTING = {
    "phone": f"""
UPDATE {STAGE} s SET contact_id = c.id FROM {CONTACTS} c
WHERE s.phone IS NOT NULL AND c.client_id = %(client)s AND c.phone = s.phone
""",  # noqa: S608 - table names are constants; values are parameters
    "telegram_chat_id": f"""
UPDATE {STAGE} s SET contact_id = c.id FROM {CONTACTS} c
WHERE s.phone IS NULL AND c.client_id = %(client)s AND c.telegram_chat_id = s.telegram_chat_id
""",  # noqa: S608
}

# A row whose chat id already belongs to another contact would break the unique (client, chat id):
# it is refused with a reason instead (unless nothing would be written for it).
_TELEGRAM_TAKEN = f"""
SELECT s.row_no, s.telegram_chat_id FROM {STAGE} s
JOIN {CONTACTS} c ON c.client_id = %(client)s AND c.telegram_chat_id = s.telegram_chat_id
WHERE s.phone IS NOT NULL AND c.id IS DISTINCT FROM s.contact_id AND (%(update)s OR s.contact_id IS NULL)
"""  # noqa: S608

# Step 3. New value of each column (c: the contact, s: its row). A blank cell (NULL in the stage)
# leaves the value as it was; fields are merged key by key; an import may opt a contact out but
# never back in. Contacts whose values would not change are not rewritten.
_NEW_VALUES = {
    "telegram_chat_id": "coalesce(s.telegram_chat_id, c.telegram_chat_id)",
    "first_name": "coalesce(s.first_name, c.first_name)",
    "last_name": "coalesce(s.last_name, c.last_name)",
    "language": "coalesce(s.language, c.language)",
    "timezone": "coalesce(s.timezone, c.timezone)",
    "fields": "c.fields || coalesce(s.fields, '{}'::jsonb)",
    "opted_out": "c.opted_out OR s.opted_out",
}
_CHANGED = f"({', '.join(f'c.{c}' for c in _NEW_VALUES)}) IS DISTINCT FROM ({', '.join(_NEW_VALUES.values())})"
_UPDATE = f"""
UPDATE {CONTACTS} c SET {", ".join(f"{column} = {value}" for column, value in _NEW_VALUES.items())},
    opted_out_at = CASE WHEN c.opted_out THEN c.opted_out_at WHEN s.opted_out THEN now() END,
    opted_out_source = CASE WHEN NOT c.opted_out AND s.opted_out THEN 'import' ELSE c.opted_out_source END,
    opt_out_changed_at = CASE WHEN NOT c.opted_out AND s.opted_out THEN now() ELSE c.opt_out_changed_at END,
    opt_out_requested_at = CASE WHEN s.opted_out THEN GREATEST(c.opt_out_requested_at, now())
                                ELSE c.opt_out_requested_at END,
    updated_at = clock_timestamp()
FROM {STAGE} s
WHERE c.id = s.contact_id AND {_CHANGED}
"""  # noqa: S608

# Step 4. clock_timestamp(), not now(): the rows of a chunk get distinct, increasing created_at,
# which keeps the newest-first cursor pagination cheap (it pages on created_at).
_INSERT = f"""
INSERT INTO {CONTACTS} (id, client_id, phone, telegram_chat_id, first_name, last_name, language, timezone, fields,
                        opted_out, opted_out_at, opted_out_source, opt_out_changed_at, opt_out_requested_at,
                        created_at, updated_at)
SELECT gen_random_uuid(), %(client)s, s.phone, s.telegram_chat_id, coalesce(s.first_name, ''),
       coalesce(s.last_name, ''), s.language, coalesce(s.timezone, ''), coalesce(s.fields, '{{}}'::jsonb), s.opted_out,
       CASE WHEN s.opted_out THEN now() END, CASE WHEN s.opted_out THEN 'import' ELSE '' END,
       CASE WHEN s.opted_out THEN now() END, CASE WHEN s.opted_out THEN now() END,
       clock_timestamp(), clock_timestamp()
FROM {STAGE} s WHERE s.contact_id IS NULL
ORDER BY s.row_no
"""  # noqa: S608

# A contact created a moment ago cannot be in any list yet: a plain insert of its membership.
_INSERT_WITH_MEMBERS = f"""
WITH written AS ({_INSERT} RETURNING id),
members AS (
    INSERT INTO {MEMBERSHIP} (contact_list_id, contact_id, created_at) SELECT %(list)s, id, now() FROM written
)
SELECT count(*) FROM written
"""  # noqa: S608

# Step 5: existing contacts may be members already.
_ADD_EXISTING = f"""
INSERT INTO {MEMBERSHIP} (contact_list_id, contact_id, created_at)
SELECT %(list)s, s.contact_id, now() FROM {STAGE} s WHERE s.contact_id IS NOT NULL
ON CONFLICT (contact_list_id, contact_id) DO NOTHING
"""  # noqa: S608


# Step 6. The contacts this chunk opts out: existing ones it is about to change (read before step 3),
# and new ones created opted out (found after step 4, by the key they were found missing by).
_OPTING_OUT = f"""
SELECT s.contact_id FROM {STAGE} s JOIN {CONTACTS} c ON c.id = s.contact_id WHERE s.opted_out AND NOT c.opted_out
"""  # noqa: S608
_OPTED_OUT = f"""
SELECT c.id, c.phone, c.telegram_chat_id, c.opted_out_at FROM {CONTACTS} c WHERE c.id = ANY(%(changed)s)
UNION ALL
SELECT c.id, c.phone, c.telegram_chat_id, c.opted_out_at FROM {STAGE} s
  JOIN {CONTACTS} c ON c.client_id = %(client)s AND c.phone = s.phone
 WHERE s.opted_out AND s.contact_id IS NULL AND s.phone IS NOT NULL
UNION ALL
SELECT c.id, c.phone, c.telegram_chat_id, c.opted_out_at FROM {STAGE} s
  JOIN {CONTACTS} c ON c.client_id = %(client)s AND c.telegram_chat_id = s.telegram_chat_id
 WHERE s.opted_out AND s.contact_id IS NULL AND s.phone IS NULL
"""  # noqa: S608


def _announce_opt_outs(cursor: Any, params: dict[str, Any], changed: list[UUID]) -> None:
    cursor.execute(_OPTED_OUT, {**params, "changed": changed})
    items: list[Mapping[str, Any]] = [
        {"contact_id": str(cid), "phone": phone, "telegram_chat_id": chat, "source": "import", "opted_out_at": at}
        for cid, phone, chat, at in cursor.fetchall()
    ]
    events_record(client_id=params["client"], type=CONTACT_OPTED_OUT, items=items)


@dataclass
class ChunkResult:
    created: int = 0
    updated: int = 0
    added_to_list: int = 0
    refused: list[RowError] = field(default_factory=list)


def write_chunk(
    *, client_id: UUID, rows: list[StagedRow], update_existing: bool, contact_list_id: UUID | None
) -> ChunkResult:
    """Write one chunk of valid, de-duplicated rows. Call inside transaction.atomic()."""
    result = ChunkResult()
    if not rows:
        return result
    params: dict[str, Any] = {"client": client_id, "update": update_existing, "list": contact_list_id}
    with connection.cursor() as cursor:
        # One round trip. synchronous_commit off is safe here: the chunk's rows and the job's
        # progress commit together, so a commit lost in a database crash is one the resumed run
        # simply does again. The statistics target is for the ANALYZE below.
        cursor.execute(
            "SET LOCAL synchronous_commit TO OFF; SET LOCAL default_statistics_target TO 10; "
            f"{_CREATE_STAGE}; TRUNCATE {STAGE}"
        )
        with cursor.cursor.copy(f"COPY {STAGE} ({STAGE_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row.copy_tuple())
        # The joins below should probe contacts by index, not scan a client's million contacts; the
        # planner knows the stage is small only once it is analyzed (a small sample is plenty).
        cursor.execute(f"ANALYZE {STAGE}")

        existing = 0
        for key, sql in _FIND_EXISTING.items():
            if any((r.phone is not None) == (key == "phone") for r in rows):
                cursor.execute(sql, params)
                existing += cursor.rowcount

        if any(r.phone is not None and r.telegram_chat_id is not None for r in rows):
            cursor.execute(_TELEGRAM_TAKEN, params)
            taken = cursor.fetchall()
            if taken:
                cursor.execute(f"DELETE FROM {STAGE} WHERE row_no = ANY(%s)", [[r for r, _ in taken]])  # noqa: S608
                result.refused = [
                    RowError(r, t, "This telegram_chat_id already belongs to another contact.") for r, t in taken
                ]

        # contact.opted_out is announced only when an endpoint of the client wants it.
        announce = any(r.opted_out for r in rows) and CONTACT_OPTED_OUT in event_types_wanted(client_id=client_id)
        opting_out: list[UUID] = []
        if existing and update_existing:
            if announce:
                cursor.execute(_OPTING_OUT)
                opting_out = [row[0] for row in cursor.fetchall()]
            cursor.execute(_UPDATE, params)
            result.updated = cursor.rowcount
        if contact_list_id is None:
            cursor.execute(_INSERT, params)
            result.created = cursor.rowcount
        else:
            cursor.execute(_INSERT_WITH_MEMBERS, params)
            result.created = (cursor.fetchone() or (0,))[0]
            result.added_to_list = result.created
            if existing:
                cursor.execute(_ADD_EXISTING, params)
                result.added_to_list += cursor.rowcount
        if announce:
            _announce_opt_outs(cursor, params, opting_out)
    return result
