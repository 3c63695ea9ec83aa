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

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

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
from contacts.selectors import contact_by_telegram_chat_id
from contacts.services import contact_create, contacts_get_or_create_by_phones

from .base import NON_FIELD, BadQuery, list_value
from .contact_values import (
    INVALID_URN,
    NO_SUCH_OBJECT,
    RapidProUrnError,
    contacts_by_refs,
    group_by_ref,
    parse_rapidpro_urn,
    ref_values,
)

log = structlog.get_logger(__name__)
T = TypeVar("T")

CHANNEL_BY_SCHEME = {phones.TEL: Channel.SMS, phones.WHATSAPP: Channel.WHATSAPP, phones.TELEGRAM: Channel.TELEGRAM}
# The channels a scheme's addresses can go out on (RCS reaches phone numbers, as SMS does).
CHANNELS_OF_SCHEME = {
    phones.TEL: {Channel.SMS, Channel.RCS},
    phones.WHATSAPP: {Channel.WHATSAPP},
    phones.TELEGRAM: {Channel.TELEGRAM},
}
MIXED_SCHEMES = "Herald sends one channel per broadcast: send tel:, whatsapp: and telegram: URNs in separate requests."

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


def read_urns(values: object, country: str | None) -> list[phones.Urn]:
    """The `urns` list (≤ 100), each read; errors per index as DRF's ListField gives them. A value
    that is not a string is an invalid URN here (contacts.json calls it "Not a valid string.")."""
    if values is None:
        return []
    items = _field("urns", lambda: list_value(values))
    parsed: list[phones.Urn] = []
    errors: dict[str, list[str]] = {}
    for index, value in enumerate(items):
        try:
            if not isinstance(value, str):
                raise RapidProUrnError(INVALID_URN.format(value=value))
            parsed.append(parse_rapidpro_urn(value, country))
        except RapidProUrnError as exc:
            errors[str(index)] = [exc.message]
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


def _field(name: str, read: Callable[[], T]) -> T:
    """`read()`, its ValueError as the 400 naming the field."""
    try:
        return read()
    except ValueError as exc:
        raise ValidationError({name: [str(exc)]}) from None


def resolve_contacts(*, client: Client, values: object) -> list[Contact]:
    """`contacts`: each a contact UUID or URN of this client; the first unknown one is named."""
    if values is None:
        return []
    return _field("contacts", lambda: contacts_by_refs(client=client, refs=ref_values(values)))


def resolve_groups(*, client: Client, values: object) -> list[ContactList]:
    """`groups`: each a contact list UUID or name (case-insensitive, as RapidPro; trimmed)."""
    if values is None:
        return []
    refs = _field("groups", lambda: ref_values(values))
    return _field("groups", lambda: [group_by_ref(client=client, ref=ref, trim=True) for ref in refs])


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
