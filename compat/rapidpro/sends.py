"""What `broadcasts.json` and `messages.json` POST share (COMPAT.md §2.3–2.4): RapidPro URNs read
and written, contacts (UUID or URN) and groups (UUID or name) resolved to Herald ids, the native
create called, and Herald's refusals rendered as RapidPro's 400s.

Nothing here decides whether a broadcast may go: `broadcast_create` does, exactly as for
/api/v1/broadcasts/ (so `whatsapp:` URNs with text follow the native WhatsApp free-text rule, SPEC
§14: sent to numbers inside the 24-hour window, the others skipped `whatsapp_window_closed`; with
`herald.template` the approved template goes to everyone). This module only translates names and
shapes both ways.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import structlog
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework.exceptions import ValidationError

from accounts.channels import Channel
from accounts.exceptions import ConflictError, HeraldError, InsufficientCreditError, NotFoundError
from accounts.models import ApiKey, Client, User
from broadcasts.services import Accepted, broadcast_create
from broadcasts.validation import MAX_TEXT
from contacts import phones
from contacts.models import Contact, ContactList
from contacts.selectors import contact_by_telegram_chat_id, contact_list_queryset, contact_queryset
from contacts.services import contact_create, contacts_get_or_create_by_phones

from .base import NON_FIELD, BadQuery

log = structlog.get_logger(__name__)

MAX_ITEMS = 100
CHANNEL_BY_SCHEME = {phones.TEL: Channel.SMS, phones.WHATSAPP: Channel.WHATSAPP, phones.TELEGRAM: Channel.TELEGRAM}
# The channels a scheme's addresses can go out on (RCS reaches phone numbers, as SMS does).
CHANNELS_OF_SCHEME = {
    phones.TEL: {Channel.SMS, Channel.RCS},
    phones.WHATSAPP: {Channel.WHATSAPP},
    phones.TELEGRAM: {Channel.TELEGRAM},
}
UNSUPPORTED_SCHEME = "Unsupported URN scheme: {scheme}. Herald sends to tel:, whatsapp: and telegram: URNs."
INVALID_URN = "Invalid URN: {value}. Ensure phone numbers contain country codes."
MIXED_SCHEMES = "Herald sends one channel per broadcast: send tel:, whatsapp: and telegram: URNs in separate requests."
TOO_MANY = "Ensure this field has no more than {limit} elements."
NO_SUCH_OBJECT = "No such object: {value}"

# Native body fields a RapidPro body names otherwise; every other native field is a `herald` one.
RAPIDPRO_NAME = {
    "recipients": "urns",
    "recipient_variables": "urns",
    "contacts": "contacts",
    "contact_lists": "groups",
    "text": "text",
    "attachments": "attachments",
    "base_language": "base_language",
}
TO_NON_FIELD = {"stop_mention_missing", "no_valid_recipients"}


# --- URNs ---------------------------------------------------------------------------------------


def read_urn(value: object, country: str | None) -> phones.Urn:
    """A RapidPro URN as Herald's `Urn`: `whatsapp:` with or without `+`, national `tel:` numbers
    read with the client's country. ValueError carries RapidPro's message."""
    if not isinstance(value, str):
        raise ValueError(INVALID_URN.format(value=value))
    scheme, sep, path = value.strip().partition(":")
    scheme = scheme.strip().lower()
    if not sep or not scheme or not path.strip():
        raise ValueError(INVALID_URN.format(value=value))
    if scheme not in CHANNEL_BY_SCHEME:
        raise ValueError(UNSUPPORTED_SCHEME.format(scheme=scheme[:20]))
    path = path.strip()
    if scheme == phones.WHATSAPP and path.isdigit():
        path = f"+{path}"  # RapidPro writes WhatsApp numbers as digits, without the +
    try:
        return phones.parse_urn(f"{scheme}:{path}", country)
    except phones.AddressError:
        raise ValueError(INVALID_URN.format(value=value)) from None


def write_urn(value: str, country: str | None = None) -> str:
    """A Herald address (`tel:+…`, `whatsapp:+…`, `telegram:…`, or a bare phone) in RapidPro's
    form: WhatsApp numbers as digits. What cannot be read (a skipped invalid one) is left as is."""
    try:
        urn = phones.parse_urn(value, country)
    except phones.AddressError:
        return value
    if urn.scheme == phones.WHATSAPP:
        return f"whatsapp:{urn.path.lstrip('+')}"
    return str(urn)


def read_urns(values: object, country: str | None) -> list[phones.Urn]:
    """The `urns` list (≤ 100), each read; errors per index as DRF's ListField gives them."""
    if values is None:
        return []
    if not isinstance(values, list):
        raise ValidationError({"urns": [f'Expected a list of items but got type "{type(values).__name__}".']})
    if len(values) > MAX_ITEMS:
        raise ValidationError({"urns": [TOO_MANY.format(limit=MAX_ITEMS)]})
    parsed: list[phones.Urn] = []
    errors: dict[str, list[str]] = {}
    for index, value in enumerate(values):
        try:
            parsed.append(read_urn(value, country))
        except ValueError as exc:
            errors[str(index)] = [str(exc)]
    if errors:
        raise ValidationError({"urns": errors})
    return parsed


def urns_channel(urns: list[phones.Urn], asked: object = None) -> str | None:
    """The broadcast's one channel from its URNs' scheme (None without URNs): mixed schemes, or a
    `herald.channel` their addresses cannot go out on, are 400s naming the rule."""
    schemes = {urn.scheme for urn in urns}
    if len(schemes) > 1:
        raise ValidationError({"urns": [MIXED_SCHEMES]})
    if not schemes:
        return None
    (scheme,) = schemes
    if asked not in (None, "") and asked in Channel.values:
        if asked not in CHANNELS_OF_SCHEME[scheme]:
            raise ValidationError(
                {"herald": {"channel": [f"The urns are {scheme}: URNs; they cannot be sent on {asked}."]}}
            )
        return str(asked)
    return CHANNEL_BY_SCHEME[scheme]


def upsert_contacts(*, client: Client, urns: Iterable[phones.Urn]) -> None:
    """A contact for every URN that has none yet (RapidPro resolves each URN to a contact, creating
    the missing ones), so the messages carry a contact. Through the contacts app's services."""
    urns = list(urns)
    numbers = [urn.path for urn in urns if urn.phone]
    if numbers:
        contacts_get_or_create_by_phones(client=client, phones=numbers)
    for urn in urns:
        if (
            urn.scheme == phones.TELEGRAM
            and contact_by_telegram_chat_id(client=client, telegram_chat_id=urn.path) is None
        ):
            try:
                with transaction.atomic():
                    contact_create(client=client, telegram_chat_id=urn.path)
            except (ConflictError, DjangoValidationError):
                pass  # created meanwhile, or a chat id the contacts app refuses: sent without a contact


# --- contacts and groups ------------------------------------------------------------------------


def _as_uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _items(field: str, values: object) -> list[Any]:
    if values is None:
        return []
    if not isinstance(values, list):
        raise ValidationError({field: [f'Expected a list of items but got type "{type(values).__name__}".']})
    if len(values) > MAX_ITEMS:
        raise ValidationError({field: [TOO_MANY.format(limit=MAX_ITEMS)]})
    for value in values:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValidationError({field: ["Must be a string or integer"]})
    return values


def find_contact(*, client: Client, value: object) -> Contact | None:
    """A contact by UUID or by URN (`tel:`, `whatsapp:` by phone; `telegram:` by chat id)."""
    as_id = _as_uuid(value)
    if as_id is not None:
        return contact_queryset(client=client).filter(pk=as_id).first()
    try:
        urn = read_urn(value, client.country)
    except ValueError:
        return None
    if urn.phone:
        return contact_queryset(client=client).filter(phone=urn.phone).first()
    return contact_by_telegram_chat_id(client=client, telegram_chat_id=urn.path)


def resolve_contacts(*, client: Client, values: object, field: str = "contacts") -> list[Contact]:
    """`contacts`: each a contact UUID or URN of this client; the first unknown one is named."""
    found: list[Contact] = []
    for value in _items(field, values):
        contact = find_contact(client=client, value=value)
        if contact is None:
            raise ValidationError({field: [NO_SUCH_OBJECT.format(value=value)]})
        found.append(contact)
    return found


def resolve_groups(*, client: Client, values: object) -> list[ContactList]:
    """`groups`: each a contact list UUID or name (case-insensitive, as RapidPro)."""
    found: list[ContactList] = []
    lists = contact_list_queryset(client=client)
    for value in _items("groups", values):
        as_id = _as_uuid(value)
        match = lists.filter(pk=as_id).first() if as_id else None
        if match is None:
            match = lists.filter(name__iexact=str(value).strip()).order_by("created_at").first()
        if match is None:
            raise ValidationError({"groups": [NO_SUCH_OBJECT.format(value=value)]})
        found.append(match)
    return found


# --- attachments ----------------------------------------------------------------------------------


def attachment_url(value: object) -> object:
    """RapidPro's `content-type:url` as the URL Herald takes; a bare URL as is."""
    if isinstance(value, str):
        head, sep, rest = value.partition(":")
        if sep and "/" in head and rest.lower().startswith(("http://", "https://")):
            return rest
    return value


# --- the native create, and its refusals in RapidPro's shapes -------------------------------------


def _translate_fields(errors: Mapping[str, list[Any]], *, channel: str) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def add(name: str, message: str, key: str | None = None) -> None:
        if key is None:
            slot = out.setdefault(name, [])
            if isinstance(slot, list):
                slot.append(message)
            else:
                slot.setdefault(NON_FIELD, []).append(message)
        else:
            slot = out.setdefault(name, {})
            if isinstance(slot, list):
                slot = out[name] = {NON_FIELD: slot}
            slot.setdefault(key, []).append(message)

    for native, items in errors.items():
        head, _, rest = native.partition(".")
        for item in items:
            code = getattr(item, "code", None)
            message = " ".join(item.messages) if isinstance(item, DjangoValidationError) else str(item)
            if code in TO_NON_FIELD:
                add(NON_FIELD, message)
            elif head in RAPIDPRO_NAME:
                name = RAPIDPRO_NAME[head]
                if code == "text_too_long" and rest:
                    message = f"Ensure this field has no more than {MAX_TEXT.get(channel, 4096)} characters."
                if name in ("urns", "text") and rest:
                    add(name, message, rest)
                else:
                    add(name, message)
            elif head == NON_FIELD or not head:
                add(NON_FIELD, message)
            else:
                add("herald", message, head)
    return out


def _django_errors(exc: DjangoValidationError) -> dict[str, list[Any]]:
    if hasattr(exc, "error_dict"):
        return {name: list(items) for name, items in exc.error_dict.items()}
    return {NON_FIELD: list(exc.error_list)}


def translate_refusal(exc: Exception, *, channel: str) -> Exception:
    """A refusal of the native create as the exception RapidPro's client understands (a 400)."""
    if isinstance(exc, DjangoValidationError):
        return ValidationError(_translate_fields(_django_errors(exc), channel=channel))
    if isinstance(exc, InsufficientCreditError):
        message = exc.message
        return ValidationError({NON_FIELD: [f"Insufficient credit: {message[:1].lower()}{message[1:]}"]})
    if isinstance(exc, ConflictError):
        return BadQuery(exc.message)
    if isinstance(exc, NotFoundError) and exc.fields:
        # Ids that vanished between the lookup and the create (a concurrent delete).
        renamed = {name: [NO_SUCH_OBJECT.format(value=m.rsplit(": ", 1)[-1]) for m in messages]
                   for name, messages in exc.fields.items()}  # fmt: skip
        return ValidationError(_translate_fields(renamed, channel=channel))
    if isinstance(exc, HeraldError) and exc.status_code not in (401, 403, 404) and exc.fields:
        return ValidationError(_translate_fields(exc.fields, channel=channel))
    return exc


def create(
    *,
    client: Client,
    data: dict[str, Any],
    api_key: ApiKey | None,
    user: User | None,
    upsert: Iterable[phones.Urn] = (),
) -> Accepted:
    """`broadcast_create` with the URNs' contacts made first, all in one transaction (a refused
    broadcast leaves no contact behind); a simulation creates nothing."""
    channel = str(data.get("channel") or Channel.SMS)
    try:
        with transaction.atomic():
            if not data.get("simulate"):
                upsert_contacts(client=client, urns=upsert)
            return broadcast_create(client=client, data=data, api_key=api_key, user=user)
    except (DjangoValidationError, HeraldError) as exc:
        translated = translate_refusal(exc, channel=channel)
        if translated is exc:
            raise
        raise translated from None
