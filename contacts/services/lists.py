"""Writes of contact lists and their members, and the bulk helpers broadcasts use."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final
from uuid import UUID

import structlog
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.exceptions import ConflictError
from accounts.models import Client
from contacts.models import Contact, ContactList, ContactListMembership
from contacts.selectors import ids_not_found, parse_ids
from contacts.validation import field_error

log = structlog.get_logger(__name__)

CONTACT_TABLE: Final = Contact._meta.db_table
MEMBERSHIP_TABLE: Final = ContactListMembership._meta.db_table
MAX_LIST_NAME: Final = 255
# A chosen number stays far below PostgreSQL's integer limit (2,147,483,647): automatic numbers
# continue after the highest chosen one, and must never overflow (a 500 the schema fuzz found).
MAX_LIST_NUMBER: Final = 1_000_000_000
NUMBER_CONSTRAINT: Final = "contact_list_unique_client_number"
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


# --- lists -------------------------------------------------------------------------------------------


def _clean_list_name(name: object, field: str) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if not text or len(text) > MAX_LIST_NAME:
        raise field_error(field, f"The name must be 1–{MAX_LIST_NAME} characters.", "invalid_name")
    return text


def _duplicate_list(field: str) -> ConflictError:
    message = "Another contact list already has this name."
    return ConflictError(message, code="duplicate_name", fields={field: [message]})


def clean_list_number(number: object, field: str = "number") -> int | None:
    """A list number asked for on create: None (the next one is given), or a whole number 1–2147483647."""
    if number is None:
        return None
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_LIST_NUMBER:
        raise field_error(field, f"A list number is a whole number from 1 to {MAX_LIST_NUMBER}.", "invalid_number")
    return number


def _number_taken(number: int, field: str) -> ConflictError:
    message = f"Another contact list already has the number {number}."
    return ConflictError(message, code="duplicate_number", fields={field: [message]})


def _constraint(exc: IntegrityError) -> str:
    diag = getattr(exc.__cause__, "diag", None)
    return str(getattr(diag, "constraint_name", "") or "")


def contact_list_create(
    *, client: Client, name: str, field: str = "name", number: int | None = None, number_field: str = "number"
) -> ContactList:
    """Create an empty list; a name the client already uses is a ConflictError naming `field`. Its
    `number` is the one asked for (a ConflictError naming `number_field` when another list has it),
    else the client's next one (given by the database, race-free: contacts.models.ListNumberField)."""
    name = _clean_list_name(name, field)
    number = clean_list_number(number, number_field)
    try:
        with transaction.atomic():
            # No number: the database gives the next one (contacts.models.ListNumberField).
            contact_list = ContactList.objects.create(client=client, name=name, number=number)  # type: ignore[misc]
    except IntegrityError as exc:
        if number is not None and _constraint(exc) == NUMBER_CONSTRAINT:
            raise _number_taken(number, number_field) from None
        raise _duplicate_list(field) from None
    log.info(
        "contact_list.created",
        client_id=str(client.id),
        contact_list_id=str(contact_list.id),
        number=contact_list.number,
    )
    return contact_list


def contact_list_get_or_create(
    *, client: Client, name: str, field: str = "list_name", number: int | None = None, number_field: str = "number"
) -> ContactList:
    """The client's list of this name, created when missing (with `number` if given). Asking for a
    number that the existing list of this name does not have is a ConflictError naming `number_field`."""
    name = _clean_list_name(name, field)
    number = clean_list_number(number, number_field)
    existing = ContactList.objects.filter(client=client, name=name).first()
    if existing is None:
        try:
            return contact_list_create(client=client, name=name, field=field, number=number, number_field=number_field)
        except ConflictError as exc:
            if exc.code != "duplicate_name":
                raise
            existing = ContactList.objects.get(client=client, name=name)  # created meanwhile
    if number is not None and existing.number != number:
        message = f"The contact list '{name}' already exists with the number {existing.number}, not {number}."
        raise ConflictError(message, code="list_number_mismatch", fields={number_field: [message]})
    return existing


def contact_list_update(*, contact_list: ContactList, name: str) -> ContactList:
    contact_list.name = _clean_list_name(name, "name")
    try:
        with transaction.atomic():
            contact_list.save(update_fields=["name", "updated_at"])
    except IntegrityError:
        raise _duplicate_list("name") from None
    return contact_list


def contact_list_delete(*, contact_list: ContactList) -> None:
    """Delete the list and its memberships; the contacts stay."""
    list_id, client_id = contact_list.pk, contact_list.client_id
    contact_list.delete()
    log.info("contact_list.deleted", client_id=str(client_id), contact_list_id=str(list_id))


def _client_contact_ids(*, client: Client, ids: Iterable[UUID | str], field: str) -> list[UUID]:
    wanted = parse_ids(ids, field=field)
    found = set(Contact.objects.filter(client=client, pk__in=wanted).values_list("pk", flat=True))
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ids_not_found("contact", missing, field)
    return wanted


def contact_list_add_contacts(
    *, contact_list: ContactList, contact_ids: Iterable[UUID | str], field: str = "contacts"
) -> int:
    """Add the client's contacts to the list in one statement; answers how many were not members yet.

    Unknown ids, or another client's, raise NotFoundError and add nothing.
    """
    ids = _client_contact_ids(client=contact_list.client, ids=contact_ids, field=field)
    with transaction.atomic():
        added = _insert_members(contact_list=contact_list, where="c.id = ANY(%s)", params=[ids])
    log.info("contact_list.members_added", contact_list_id=str(contact_list.pk), added=added)
    return added


def contact_list_remove_contacts(
    *, contact_list: ContactList, contact_ids: Iterable[UUID | str], field: str = "contacts"
) -> int:
    """Remove contacts from the list; answers how many were members. Unknown ids raise NotFoundError."""
    ids = _client_contact_ids(client=contact_list.client, ids=contact_ids, field=field)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {MEMBERSHIP_TABLE} WHERE contact_list_id = %s AND contact_id = ANY(%s)",  # noqa: S608
            [contact_list.pk, ids],
        )
        removed = cursor.rowcount
        _bump(contact_list, -removed)
    log.info("contact_list.members_removed", contact_list_id=str(contact_list.pk), removed=removed)
    return removed


def _bump(contact_list: ContactList, delta: int) -> None:
    if delta:
        ContactList.objects.filter(pk=contact_list.pk).update(
            contact_count=F("contact_count") + delta, updated_at=timezone.now()
        )
    contact_list.refresh_from_db(fields=["contact_count", "updated_at"])


def _insert_members(*, contact_list: ContactList, where: str, params: list[Any]) -> int:
    """INSERT … SELECT the client's contacts matching `where` (alias c) into the list; count them."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {MEMBERSHIP_TABLE} (contact_list_id, contact_id, created_at) "  # noqa: S608
            f"SELECT %s, c.id, now() FROM {CONTACT_TABLE} c WHERE c.client_id = %s AND {where} "
            "ON CONFLICT (contact_list_id, contact_id) DO NOTHING",
            [contact_list.pk, contact_list.client_id, *params],
        )
        added = cursor.rowcount
    _bump(contact_list, added)
    return added


def contact_list_recount(*, contact_list: ContactList) -> ContactList:
    """Recompute contact_count from the membership table (a repair; the services keep it right)."""
    count = ContactListMembership.objects.filter(contact_list=contact_list).count()
    ContactList.objects.filter(pk=contact_list.pk).update(contact_count=count, updated_at=timezone.now())
    contact_list.refresh_from_db(fields=["contact_count", "updated_at"])
    return contact_list


# --- bulk, for broadcasts ------------------------------------------------------------------------


def contacts_get_or_create_by_phones(*, client: Client, phones: Iterable[str]) -> dict[str, UUID]:
    """Contact ids by E.164 phone, creating the missing contacts in one statement.

    `phones` must already be E.164 (parse them with contacts.phones.parse_phone); anything else is a
    ValueError, a programming error rather than user input.
    """
    wanted = list(dict.fromkeys(phones))
    if not wanted:
        return {}
    bad = [p for p in wanted if not _E164.fullmatch(p)]
    if bad:
        raise ValueError(f"{len(bad)} phone(s) are not E.164; parse them with parse_phone first.")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {CONTACT_TABLE} (client_id, phone) SELECT %s, unnest(%s::text[]) "
            "ON CONFLICT (client_id, phone) DO NOTHING",
            [client.pk, wanted],
        )
        created = cursor.rowcount
        cursor.execute(
            f"SELECT phone, id FROM {CONTACT_TABLE} WHERE client_id = %s AND phone = ANY(%s)",  # noqa: S608
            [client.pk, wanted],
        )
        ids: dict[str, UUID] = dict(cursor.fetchall())
    if created:
        log.info("contacts.created_in_bulk", client_id=str(client.id), created=created)
    return ids


def contact_list_create_with_phones(*, client: Client, name: str, phones: Iterable[str]) -> ContactList:
    """A new list named `name` holding the contacts of these E.164 phones (created when missing).

    For a broadcast's `list_name`: a name already in use is a ConflictError naming `list_name`.
    """
    wanted = list(dict.fromkeys(phones))
    with transaction.atomic():
        contact_list = contact_list_create(client=client, name=name, field="list_name")
        contacts_get_or_create_by_phones(client=client, phones=wanted)
        _insert_members(contact_list=contact_list, where="c.phone = ANY(%s)", params=[wanted])
    return contact_list
