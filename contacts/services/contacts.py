"""Writes of contacts: create, update (with their lists), delete."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final
from uuid import UUID

import structlog
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone as django_timezone

from accounts.exceptions import ConflictError
from accounts.models import Client
from contacts.models import Contact, ContactList, ContactListMembership, ContactTombstone
from contacts.phones import PHONE_SCHEMES, TEL, TELEGRAM, AddressError, parse_phone, parse_telegram_chat_id, parse_urn
from contacts.selectors import contact_lists_by_ids, parse_ids
from contacts.validation import is_blank, validate_fields, validate_language, validate_name, validate_timezone

log = structlog.get_logger(__name__)

MEMBERSHIP_TABLE: Final = ContactListMembership._meta.db_table
WRITABLE: Final = (
    "phone",
    "telegram_chat_id",
    "first_name",
    "last_name",
    "language",
    "timezone",
    "fields",
    "lists",
    "urn_schemes",
)


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


def clean_urn_schemes(value: object) -> list[str]:
    """The schemes a phone is reachable on, in the order given: `tel` and/or `whatsapp`."""
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v in PHONE_SCHEMES for v in value):
        raise ValidationError(f"URN schemes of a phone are {TEL} and whatsapp.", code="invalid_urn_schemes")
    return list(dict.fromkeys(value))


def _validate(*, client: Client, data: Mapping[str, Any]) -> dict[str, Any]:
    """Clean every given value, raising one ValidationError that names every bad field."""
    checks: dict[str, Callable[[Any], Any]] = {
        "phone": lambda v: clean_phone(v, client=client),
        "telegram_chat_id": clean_telegram_chat_id,
        "first_name": lambda v: validate_name(v, "first name"),
        "last_name": lambda v: validate_name(v, "last name"),
        "language": validate_language,
        "timezone": validate_timezone,
        "fields": lambda v: validate_fields(v, allow_null_values=True),
        "lists": lambda v: parse_ids(v or [], field="lists"),
        "urn_schemes": clean_urn_schemes,
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


def _no_address() -> ValidationError:
    return ValidationError(
        {"phone": [ValidationError("A contact needs a phone or a telegram_chat_id.", code="required")]}
    )


def contact_clean(*, client: Client, data: Mapping[str, Any], contact: Contact | None = None) -> dict[str, Any]:
    """Check values as contact_create / contact_update would, writing nothing (the admin's form).

    Answers the cleaned values; raises ValidationError naming each bad field, or ConflictError for
    a phone or chat id another contact has.
    """
    clean = _validate(client=client, data=data)
    phone = clean.get("phone", contact.phone if contact else None)
    telegram_chat_id = clean.get("telegram_chat_id", contact.telegram_chat_id if contact else None)
    if phone is None and telegram_chat_id is None:
        raise _no_address()
    _check_unique(
        client=client, phone=phone, telegram_chat_id=telegram_chat_id, exclude=contact.pk if contact else None
    )
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
    urn_schemes: Iterable[str] = (),
    timezone: str | None = None,
) -> Contact:
    """Create a contact. A phone already used by another of the client's contacts is a ConflictError.

    `urn_schemes`: the schemes the phone was given with (`tel`, `whatsapp`; none means `tel`)."""
    data = _validate(
        client=client,
        data={
            "phone": phone,
            "telegram_chat_id": telegram_chat_id,
            "first_name": first_name,
            "last_name": last_name,
            "language": language,
            "timezone": timezone,
            "fields": fields,
            "lists": list(lists),
            "urn_schemes": list(urn_schemes),
        },
    )
    if data["phone"] is None and data["telegram_chat_id"] is None:
        raise _no_address()
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
                timezone=data["timezone"],
                fields={k: v for k, v in data["fields"].items() if v is not None},
                urn_schemes=data["urn_schemes"],
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
            for name in ("phone", "telegram_chat_id", "first_name", "last_name", "language", "timezone", "urn_schemes"):
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
                raise _no_address()
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
    """Delete the contact and its memberships, keeping every list's contact_count right, and leave
    a tombstone (its id and when it went) for the syncs that ask what was deleted."""
    with transaction.atomic():
        row = Contact.objects.select_for_update().filter(pk=contact.pk).values_list("client_id", "created_at").first()
        if row is None:
            return
        client_id, created_at = row
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {MEMBERSHIP_TABLE} WHERE contact_id = %s RETURNING contact_list_id",  # noqa: S608
                [contact.pk],
            )
            left = [row[0] for row in cursor.fetchall()]
        _adjust_counts(left, -1)
        Contact.objects.filter(pk=contact.pk).delete()
        ContactTombstone.objects.create(
            client_id=client_id, contact_id=contact.pk, contact_created_at=created_at, deleted_at=django_timezone.now()
        )
    log.info("contact.deleted", client_id=str(contact.client_id), contact_id=str(contact.pk))


def _adjust_counts(list_ids: list[UUID], delta: int) -> None:
    if list_ids:
        ContactList.objects.filter(pk__in=list_ids).update(
            contact_count=F("contact_count") + delta, updated_at=django_timezone.now()
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
