"""Writes of contacts and lists: create, update, delete, membership, opt-out. Imports: imports/."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final, NamedTuple
from uuid import UUID

import structlog
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.exceptions import ConflictError
from accounts.models import Client

from .keywords import KeywordAction, keyword_action
from .models import Contact, ContactList, ContactListMembership, OptOutSource
from .phones import TELEGRAM, AddressError, parse_phone, parse_telegram_chat_id, parse_urn
from .selectors import contact_lists_by_ids, ids_not_found, parse_ids
from .validation import is_blank, validate_fields, validate_language, validate_name

log = structlog.get_logger(__name__)

CONTACT_TABLE: Final = Contact._meta.db_table
LIST_TABLE: Final = ContactList._meta.db_table
MEMBERSHIP_TABLE: Final = ContactListMembership._meta.db_table
MAX_LIST_NAME: Final = 255
WRITABLE: Final = ("phone", "telegram_chat_id", "first_name", "last_name", "language", "fields", "lists")
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


# --- validation -------------------------------------------------------------------------------------


def clean_phone(value: object, *, client: Client) -> str | None:
    """A phone or tel:/whatsapp: URN in E.164, read with the client's country; None when blank."""
    if is_blank(value):
        return None
    try:
        if isinstance(value, str) and ":" in value:
            urn = parse_urn(value, client.country)
            if urn.scheme == TELEGRAM:
                raise ValidationError("A telegram: URN goes in telegram_chat_id.", code="invalid_urn")
            return urn.path
        return parse_phone(value, client.country)
    except AddressError as exc:
        raise ValidationError(exc.message, code=exc.code) from None


def clean_telegram_chat_id(value: object) -> str | None:
    if is_blank(value):
        return None
    try:
        return parse_telegram_chat_id(value)
    except AddressError as exc:
        raise ValidationError(exc.message, code=exc.code) from None


def _validate(*, client: Client, data: Mapping[str, Any]) -> dict[str, Any]:
    """Clean every given value, raising one ValidationError that names every bad field."""
    checks = {
        "phone": lambda v: clean_phone(v, client=client),
        "telegram_chat_id": clean_telegram_chat_id,
        "first_name": lambda v: validate_name(v, "first name"),
        "last_name": lambda v: validate_name(v, "last name"),
        "language": validate_language,
        "fields": lambda v: validate_fields(v, allow_null_values=True),
        "lists": lambda v: parse_ids(v or [], field="lists"),
    }
    clean: dict[str, Any] = {}
    errors: dict[str, list[ValidationError]] = {}
    for name, value in data.items():
        if name not in checks:
            continue
        try:
            clean[name] = checks[name](value)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for key, errs in exc.error_dict.items():
                    errors.setdefault(key, []).extend(errs)
            else:
                errors.setdefault(name, []).extend(exc.error_list)
    if errors:
        raise ValidationError(errors)
    return clean


def _check_unique(*, client: Client, phone: str | None, telegram_chat_id: str | None, exclude: UUID | None) -> None:
    others = Contact.objects.filter(client=client)
    if exclude is not None:
        others = others.exclude(pk=exclude)
    if phone is not None:
        existing = others.filter(phone=phone).values_list("pk", flat=True).first()
        if existing is not None:
            raise _duplicate("phone", existing)
    if telegram_chat_id is not None:
        existing = others.filter(telegram_chat_id=telegram_chat_id).values_list("pk", flat=True).first()
        if existing is not None:
            raise _duplicate("telegram_chat_id", existing)


def _duplicate(field: str, existing: UUID | None) -> ConflictError:
    which = f" ({existing})" if existing else ""
    message = f"Another contact{which} already has this {field}."
    return ConflictError(message, code=f"duplicate_{field}", fields={field: [message]})


def _integrity_conflict(exc: IntegrityError) -> ConflictError:
    text = str(exc)
    if "contact_unique_client_telegram" in text:
        return _duplicate("telegram_chat_id", None)
    if "contact_unique_client_phone" in text:
        return _duplicate("phone", None)
    raise exc


# --- contacts -----------------------------------------------------------------------------------------


def contact_create(
    *,
    client: Client,
    phone: str | None = None,
    telegram_chat_id: str | None = None,
    first_name: str = "",
    last_name: str = "",
    language: str | None = None,
    fields: Mapping[str, Any] | None = None,
    lists: Iterable[UUID | str] = (),
) -> Contact:
    """Create a contact. A phone already used by another of the client's contacts is a ConflictError."""
    data = _validate(
        client=client,
        data={
            "phone": phone,
            "telegram_chat_id": telegram_chat_id,
            "first_name": first_name,
            "last_name": last_name,
            "language": language,
            "fields": fields,
            "lists": list(lists),
        },
    )
    if data["phone"] is None and data["telegram_chat_id"] is None:
        raise ValidationError({"phone": ["A contact needs a phone or a telegram_chat_id."]}, code="required")
    list_ids = list(contact_lists_by_ids(client=client, ids=data["lists"], field="lists"))
    _check_unique(client=client, phone=data["phone"], telegram_chat_id=data["telegram_chat_id"], exclude=None)
    try:
        with transaction.atomic():
            contact = Contact.objects.create(
                client=client,
                phone=data["phone"],
                telegram_chat_id=data["telegram_chat_id"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                language=data["language"],
                fields={k: v for k, v in data["fields"].items() if v is not None},
            )
            _set_lists(contact=contact, list_ids=list_ids)
    except IntegrityError as exc:  # a concurrent create won the race
        raise _integrity_conflict(exc) from None
    log.info("contact.created", client_id=str(client.id), contact_id=str(contact.id))
    return contact


def contact_update(*, contact: Contact, data: Mapping[str, Any], replace_fields: bool = False) -> Contact:
    """Change the given attributes (PATCH semantics; PUT passes replace_fields=True).

    `fields` is merged key by key, a null value removing the key; with replace_fields the given
    object replaces them all. `lists`, when given, becomes the contact's exact set of lists.
    """
    client = contact.client
    clean = _validate(client=client, data={k: v for k, v in data.items() if k in WRITABLE})
    list_ids = (
        list(contact_lists_by_ids(client=client, ids=clean["lists"], field="lists")) if "lists" in clean else None
    )
    try:
        with transaction.atomic():
            # Lock the row: two concurrent PATCHes of `fields` must both land.
            locked = Contact.objects.select_for_update().get(pk=contact.pk)
            for name in ("phone", "telegram_chat_id", "first_name", "last_name", "language"):
                if name in clean:
                    setattr(locked, name, clean[name])
            if "fields" in clean:
                merged = {} if replace_fields else dict(locked.fields)
                for key, value in clean["fields"].items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                locked.fields = merged
            if locked.phone is None and locked.telegram_chat_id is None:
                raise ValidationError({"phone": ["A contact needs a phone or a telegram_chat_id."]}, code="required")
            _check_unique(
                client=client, phone=locked.phone, telegram_chat_id=locked.telegram_chat_id, exclude=locked.pk
            )
            with transaction.atomic():
                locked.save()
            if list_ids is not None:
                _set_lists(contact=locked, list_ids=list_ids)
    except IntegrityError as exc:
        raise _integrity_conflict(exc) from None
    log.info("contact.updated", client_id=str(client.id), contact_id=str(contact.id))
    return locked


def contact_delete(*, contact: Contact) -> None:
    """Delete the contact and its memberships, keeping every list's contact_count right."""
    with transaction.atomic():
        if not Contact.objects.select_for_update().filter(pk=contact.pk).exists():
            return
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {MEMBERSHIP_TABLE} WHERE contact_id = %s RETURNING contact_list_id",  # noqa: S608
                [contact.pk],
            )
            left = [row[0] for row in cursor.fetchall()]
        _adjust_counts(left, -1)
        Contact.objects.filter(pk=contact.pk).delete()
    log.info("contact.deleted", client_id=str(contact.client_id), contact_id=str(contact.pk))


def _adjust_counts(list_ids: list[UUID], delta: int) -> None:
    if list_ids:
        ContactList.objects.filter(pk__in=list_ids).update(
            contact_count=F("contact_count") + delta, updated_at=timezone.now()
        )


def _set_lists(*, contact: Contact, list_ids: list[UUID]) -> None:
    """Make `list_ids` the contact's lists, adjusting each list's count by what really changed."""
    wanted = set(list_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {MEMBERSHIP_TABLE} WHERE contact_id = %s AND NOT (contact_list_id = ANY(%s)) "  # noqa: S608
            "RETURNING contact_list_id",
            [contact.pk, list(wanted)],
        )
        removed = [row[0] for row in cursor.fetchall()]
        added: list[UUID] = []
        if wanted:
            cursor.execute(
                f"INSERT INTO {MEMBERSHIP_TABLE} (contact_list_id, contact_id, created_at) "
                "SELECT unnest(%s::uuid[]), %s, now() ON CONFLICT DO NOTHING RETURNING contact_list_id",
                [list(wanted), contact.pk],
            )
            added = [row[0] for row in cursor.fetchall()]
    _adjust_counts(removed, -1)
    _adjust_counts(added, +1)


# --- opt-out ---------------------------------------------------------------------------------------


def _set_opted_out(*, contact: Contact, opted_out: bool, source: str, at: datetime | None) -> bool:
    """Conditional update; True when this call changed the state (False: it already was so)."""
    if source not in OptOutSource.values:
        raise ValueError(f"Unknown opt-out source {source!r}.")
    now = at or timezone.now()
    if opted_out:
        changed = Contact.objects.filter(pk=contact.pk, opted_out=False).update(
            opted_out=True, opted_out_at=now, opted_out_source=source, updated_at=timezone.now()
        )
    else:
        changed = Contact.objects.filter(pk=contact.pk, opted_out=True).update(
            opted_out=False, opted_out_at=None, opted_out_source="", updated_at=timezone.now()
        )
    contact.refresh_from_db(fields=["opted_out", "opted_out_at", "opted_out_source", "updated_at"])
    if changed:
        event = "contact.opted_out" if opted_out else "contact.opted_in"
        log.info(event, client_id=str(contact.client_id), contact_id=str(contact.pk), source=source)
    return bool(changed)


def contact_opt_out(*, contact: Contact, source: str = OptOutSource.API, at: datetime | None = None) -> Contact:
    """Opt the contact out, recording when and from where. Idempotent: a second call keeps the first time."""
    _set_opted_out(contact=contact, opted_out=True, source=source, at=at)
    return contact


def contact_opt_in(*, contact: Contact, source: str = OptOutSource.API) -> Contact:
    """Opt the contact back in (clears opted_out_at and the source). Idempotent."""
    _set_opted_out(contact=contact, opted_out=False, source=source, at=None)
    return contact


class KeywordOutcome(NamedTuple):
    action: KeywordAction
    changed: bool  # False when the contact already was opted out (or in)


def contact_apply_keyword(*, contact: Contact, text: str, at: datetime | None = None) -> KeywordOutcome | None:
    """Apply an inbound message's opt-out/opt-in keyword; None when the text is not a keyword.

    The inbound webhook calls this, and emits `contact.opted_out` when the outcome says it changed.
    """
    action = keyword_action(text)
    if action is None:
        return None
    changed = _set_opted_out(
        contact=contact, opted_out=action == KeywordAction.OPT_OUT, source=OptOutSource.KEYWORD, at=at
    )
    return KeywordOutcome(action, changed)


# --- lists -------------------------------------------------------------------------------------------


def _clean_list_name(name: object, field: str) -> str:
    text = name.strip() if isinstance(name, str) else ""
    if not text or len(text) > MAX_LIST_NAME:
        raise ValidationError({field: [f"The name must be 1–{MAX_LIST_NAME} characters."]}, code="invalid_name")
    return text


def _duplicate_list(field: str) -> ConflictError:
    message = "Another contact list already has this name."
    return ConflictError(message, code="duplicate_name", fields={field: [message]})


def contact_list_create(*, client: Client, name: str, field: str = "name") -> ContactList:
    """Create an empty list; a name the client already uses is a ConflictError naming `field`."""
    name = _clean_list_name(name, field)
    try:
        with transaction.atomic():
            contact_list = ContactList.objects.create(client=client, name=name)
    except IntegrityError:
        raise _duplicate_list(field) from None
    log.info("contact_list.created", client_id=str(client.id), contact_list_id=str(contact_list.id))
    return contact_list


def contact_list_get_or_create(*, client: Client, name: str, field: str = "list_name") -> ContactList:
    name = _clean_list_name(name, field)
    contact_list, created = ContactList.objects.get_or_create(client=client, name=name)
    if created:
        log.info("contact_list.created", client_id=str(client.id), contact_list_id=str(contact_list.id))
    return contact_list


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
