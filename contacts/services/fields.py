"""Writes of the client's registry of custom contact fields (RapidPro's `fields.json`).

A contact's values stay in Contact.fields, keyed by the field's key; the registry says which keys
the client has declared, with a name and a type (informational: Herald's values are strings).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import structlog
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Client
from contacts.models import ContactField, ContactFieldType
from contacts.validation import FIELD_NAME, MAX_FIELD_NAME, field_error, is_usable_field_key, make_field_key

log = structlog.get_logger(__name__)

# Error codes the compatibility layer translates into its own words.
INVALID_FIELD_NAME: Final = "invalid_field_name"
FIELD_NAME_TOO_LONG: Final = "field_name_too_long"
INVALID_FIELD_KEY: Final = "invalid_field_key"
DUPLICATE_FIELD: Final = "duplicate_field"
INVALID_FIELD_TYPE: Final = "invalid_field_type"


def _clean_name(name: object) -> str:
    if not isinstance(name, str) or not name or name != name.strip() or not FIELD_NAME.fullmatch(name):
        raise field_error("name", "A field name has only letters, digits, hyphens and spaces.", INVALID_FIELD_NAME)
    if len(name) > MAX_FIELD_NAME:
        raise field_error("name", f"A field name has at most {MAX_FIELD_NAME} characters.", FIELD_NAME_TOO_LONG)
    key = make_field_key(name)
    if not is_usable_field_key(key):
        raise field_error("name", f'The key made from this name, "{key}", is invalid or reserved.', INVALID_FIELD_KEY)
    return name


def _clean_type(value: object) -> str:
    if value not in ContactFieldType.values:
        choices = ", ".join(ContactFieldType.values)
        raise field_error("type", f"The type must be one of {choices}.", INVALID_FIELD_TYPE)
    return str(value)


def _duplicate() -> ValidationError:
    return field_error("name", "Another field has this name or key.", DUPLICATE_FIELD)


def _check(*, client: Client, name: object, type: object, exclude: int | None) -> tuple[str, str]:
    """(name, type) cleaned, raising one ValidationError that names each bad value."""
    errors: dict[str, list[ValidationError]] = {}
    clean: dict[str, str] = {}
    for field, check, value in (("name", _clean_name, name), ("type", _clean_type, type)):
        try:
            clean[field] = check(value)
        except ValidationError as exc:
            for key, errs in exc.error_dict.items():
                errors.setdefault(key, []).extend(errs)
    if "name" in clean:
        others = ContactField.objects.filter(client=client)
        if exclude is not None:
            others = others.exclude(pk=exclude)
        key = make_field_key(clean["name"])
        taken = others.filter(name__iexact=clean["name"]).exists()
        if taken or (exclude is None and others.filter(key=key).exists()):
            errors.setdefault("name", []).extend(_duplicate().error_dict["name"])
    if errors:
        raise ValidationError(errors)
    return clean["name"], clean["type"]


def contact_field_clean(
    *, client: Client, name: object, type: object, field: ContactField | None = None
) -> tuple[str, str]:
    """Check a name and type as contact_field_create (or, given `field`, contact_field_update)
    would, writing nothing: the cleaned (name, type), or a ValidationError naming each bad value."""
    return _check(client=client, name=name, type=type, exclude=field.pk if field else None)


def contact_field_create(*, client: Client, name: object, type: object) -> ContactField:
    """Register a field; its key is made from the name (`Nick name` → `nick_name`).

    A name other than letters, digits, hyphens and spaces, longer than 36 characters, making a
    reserved key, or already used (case-insensitively, or through its key) is a ValidationError.
    """
    clean_name, clean_type = _check(client=client, name=name, type=type, exclude=None)
    try:
        with transaction.atomic():
            field = ContactField.objects.create(
                client=client, key=make_field_key(clean_name), name=clean_name, type=clean_type
            )
    except IntegrityError:  # a concurrent create of the same key won
        raise _duplicate() from None
    log.info("contact_field.created", client_id=str(client.id), key=field.key)
    return field


def contact_field_update(*, field: ContactField, name: object, type: object) -> ContactField:
    """Rename a field or change its type; its key (what contacts' values are stored under) stays."""
    field.name, field.type = _check(client=field.client, name=name, type=type, exclude=field.pk)
    field.save(update_fields=["name", "type"])
    log.info("contact_field.updated", client_id=str(field.client_id), key=field.key)
    return field


def _name_from_key(key: str) -> str:
    return " ".join(word.capitalize() for word in key.split("_") if word)[:MAX_FIELD_NAME] or key


def contact_fields_register(*, client: Client, keys: Iterable[str]) -> None:
    """Register these keys (as text fields) unless they already are, so that a value set under a
    new key is listed like a declared field. Every key must pass is_usable_field_key (a ValueError
    otherwise: the caller checks user input first)."""
    wanted = list(dict.fromkeys(keys))
    bad = [key for key in wanted if not is_usable_field_key(key)]
    if bad:
        raise ValueError(f"Field keys not usable: {', '.join(bad[:5])}.")
    known = set(ContactField.objects.filter(client=client, key__in=wanted).values_list("key", flat=True))
    missing = [key for key in wanted if key not in known]
    if missing:
        ContactField.objects.bulk_create(
            [ContactField(client=client, key=key, name=_name_from_key(key)) for key in missing],
            ignore_conflicts=True,  # registered meanwhile by a concurrent request: as good
        )
        log.info("contact_fields.registered", client_id=str(client.id), keys=missing)
