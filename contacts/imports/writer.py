"""One chunk of an import, written set-based: COPY into a temporary staging table, then INSERT … ON
CONFLICT into contacts and INSERT … SELECT into the list's membership. Never a save per row.

Runs inside the caller's transaction (one per chunk), so a chunk is written whole or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

from django.db import connection

from contacts.models import Contact, ContactListMembership

from .rows import RowError, StagedRow

CONTACTS: Final = Contact._meta.db_table
MEMBERSHIP: Final = ContactListMembership._meta.db_table
STAGE: Final = "contacts_import_stage"
STAGE_COLUMNS: Final = "row_no, phone, telegram_chat_id, first_name, last_name, language, fields, opted_out"

# ON COMMIT DELETE ROWS: a worker's session keeps one empty table, created on its first import.
_CREATE_STAGE = f"""
CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} (
    row_no integer NOT NULL, phone text, telegram_chat_id text, first_name text, last_name text,
    language text, fields jsonb, opted_out boolean NOT NULL
) ON COMMIT DELETE ROWS
"""

# New value of each column when an existing contact is updated (c: the contact, EXCLUDED: the row).
# A blank cell leaves the value as it was; fields are merged key by key; an import may opt a contact
# out but never back in.
_NEW_VALUES = {
    "telegram_chat_id": "coalesce(EXCLUDED.telegram_chat_id, c.telegram_chat_id)",
    "first_name": "coalesce(nullif(EXCLUDED.first_name, ''), c.first_name)",
    "last_name": "coalesce(nullif(EXCLUDED.last_name, ''), c.last_name)",
    "language": "coalesce(EXCLUDED.language, c.language)",
    "fields": "c.fields || EXCLUDED.fields",
    "opted_out": "c.opted_out OR EXCLUDED.opted_out",
}
_UPDATE = (
    ", ".join(f"{column} = {value}" for column, value in _NEW_VALUES.items())
    + ", opted_out_at = CASE WHEN c.opted_out THEN c.opted_out_at ELSE EXCLUDED.opted_out_at END"
    + ", opted_out_source = CASE WHEN c.opted_out THEN c.opted_out_source ELSE EXCLUDED.opted_out_source END"
    + ", updated_at = clock_timestamp()"
)
_CHANGED = f"({', '.join(f'c.{c}' for c in _NEW_VALUES)}) IS DISTINCT FROM ({', '.join(_NEW_VALUES.values())})"

# clock_timestamp(), not now(): rows of one chunk get distinct, increasing created_at, which keeps
# the newest-first cursor pagination cheap (it pages on created_at).
_INSERT = f"""
WITH written AS (
    INSERT INTO {CONTACTS} AS c (id, client_id, phone, telegram_chat_id, first_name, last_name, language,
                                 fields, opted_out, opted_out_at, opted_out_source, created_at, updated_at)
    SELECT gen_random_uuid(), %(client)s, s.phone, s.telegram_chat_id, coalesce(s.first_name, ''),
           coalesce(s.last_name, ''), s.language, coalesce(s.fields, '{{}}'::jsonb), s.opted_out,
           CASE WHEN s.opted_out THEN now() END, CASE WHEN s.opted_out THEN 'import' ELSE '' END,
           clock_timestamp(), clock_timestamp()
    FROM {STAGE} s WHERE __WHICH__ ORDER BY s.row_no
    ON CONFLICT (client_id, __KEY__) __ACTION__
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
"""  # noqa: S608 - table names are constants; values are parameters

# A row whose chat id already belongs to another contact would break the unique (client, chat id):
# it is refused with a reason instead (unless nothing would be written for it).
_TELEGRAM_TAKEN = f"""
SELECT s.row_no, s.telegram_chat_id FROM {STAGE} s
JOIN {CONTACTS} c ON c.client_id = %(client)s AND c.telegram_chat_id = s.telegram_chat_id
WHERE s.phone IS NOT NULL AND c.phone IS DISTINCT FROM s.phone
  AND (%(update)s OR NOT EXISTS (SELECT 1 FROM {CONTACTS} o WHERE o.client_id = %(client)s AND o.phone = s.phone))
"""  # noqa: S608

_ADD_MEMBERS = f"""
INSERT INTO {MEMBERSHIP} (contact_list_id, contact_id, created_at)
SELECT %(list)s, c.id, now() FROM {STAGE} s
  JOIN {CONTACTS} c ON c.client_id = %(client)s AND c.phone = s.phone WHERE s.phone IS NOT NULL
UNION ALL
SELECT %(list)s, c.id, now() FROM {STAGE} s
  JOIN {CONTACTS} c ON c.client_id = %(client)s AND c.telegram_chat_id = s.telegram_chat_id WHERE s.phone IS NULL
ON CONFLICT (contact_list_id, contact_id) DO NOTHING
"""  # noqa: S608


@dataclass
class ChunkResult:
    created: int = 0
    updated: int = 0
    added_to_list: int = 0
    refused: list[RowError] | None = None


def write_chunk(
    *, client_id: UUID, rows: list[StagedRow], update_existing: bool, contact_list_id: UUID | None
) -> ChunkResult:
    """Write one chunk of valid, de-duplicated rows. Call inside transaction.atomic()."""
    result = ChunkResult(refused=[])
    if not rows:
        return result
    params: dict[str, Any] = {"client": client_id, "update": update_existing, "list": contact_list_id}
    with connection.cursor() as cursor:
        cursor.execute(_CREATE_STAGE)
        cursor.execute(f"TRUNCATE {STAGE}")
        with cursor.cursor.copy(f"COPY {STAGE} ({STAGE_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row.copy_tuple())
        cursor.execute(f"ANALYZE {STAGE}")  # a temporary table has no statistics until asked

        if any(r.phone is not None and r.telegram_chat_id is not None for r in rows):
            cursor.execute(_TELEGRAM_TAKEN, params)
            taken = cursor.fetchall()
            if taken:
                cursor.execute(f"DELETE FROM {STAGE} WHERE row_no = ANY(%s)", [[r for r, _ in taken]])  # noqa: S608
                result.refused = [
                    RowError(r, t, "This telegram_chat_id already belongs to another contact.") for r, t in taken
                ]

        action = f"DO UPDATE SET {_UPDATE} WHERE {_CHANGED}" if update_existing else "DO NOTHING"
        for which, key in (("s.phone IS NOT NULL", "phone"), ("s.phone IS NULL", "telegram_chat_id")):
            sql = _INSERT.replace("__WHICH__", which).replace("__KEY__", key).replace("__ACTION__", action)
            cursor.execute(sql, params)
            created, updated = cursor.fetchone() or (0, 0)
            result.created += created
            result.updated += updated

        if contact_list_id is not None:
            cursor.execute(_ADD_MEMBERS, params)
            result.added_to_list = cursor.rowcount
    return result
