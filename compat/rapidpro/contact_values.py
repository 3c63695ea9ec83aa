"""Contacts as RapidPro spells them (COMPAT.md §2.3): URNs in and out, names, statuses, finding
contacts by uuid or URN and groups by uuid or name, and the contact object of `contacts.json`. The
one place every RapidPro endpoint (contacts, groups, broadcasts, messages) reads a URN or a contact
or group reference. Translation only: the rules (addresses, opt-outs, the field registry,
tombstones) are the contacts app's."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from django.db.models import QuerySet, TextField
from django.db.models.expressions import RawSQL

from accounts.models import Client
from contacts.models import Contact, ContactList, ContactTombstone, OptOutSource
from contacts.phones import PHONE_SCHEMES, TEL, TELEGRAM, WHATSAPP, AddressError, Urn, parse_urn
from contacts.selectors import (
    contact_by_telegram_chat_id,
    contact_field_keys,
    contact_list_find,
    contact_queryset,
    contacts_by_phones,
)

from .base import format_datetime, list_value

SCHEMES: Final = (TEL, WHATSAPP, TELEGRAM)
_SCHEME = re.compile(r"[a-z][a-z0-9-]*")
UNSUPPORTED_SCHEME: Final = "Unsupported URN scheme: {scheme}. Herald sends to tel:, whatsapp: and telegram: URNs."
INVALID_URN: Final = "Invalid URN: {value}. Ensure phone numbers contain country codes."
NOT_A_STRING: Final = "Not a valid string."
NOT_A_REF: Final = "Must be a string or integer"
NO_SUCH_OBJECT: Final = "No such object: {value}"
ONE_PHONE: Final = "Herald stores one phone number per contact."
ONE_TELEGRAM: Final = "Herald stores one Telegram chat id per contact."


# --- URNs in and out ---------------------------------------------------------------------------------


class RapidProUrnError(ValueError):
    """A URN Herald cannot take; `message` is RapidPro's (or Herald's, for a scheme it lacks)."""

    def __init__(self, message: str, *, unsupported: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unsupported = unsupported


def parse_rapidpro_urn(value: object, country: str | None) -> Urn:
    """A RapidPro URN as Herald's `Urn`: `tel:+250788123123`, `tel:0788123123` (a national number,
    read with the client's `country`), `whatsapp:250788123123` (RapidPro's digits without `+`, or
    Herald's `whatsapp:+…`), `telegram:123456789`. An int is read as its text (so is an invalid
    URN); anything else but a string is "Not a valid string."."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str):
        raise RapidProUrnError(NOT_A_STRING)
    invalid = INVALID_URN.format(value=text)
    scheme, sep, path = text.strip().partition(":")
    scheme = scheme.strip().lower()
    if not sep or not _SCHEME.fullmatch(scheme) or not path.strip():
        raise RapidProUrnError(invalid)
    if scheme not in SCHEMES:
        raise RapidProUrnError(UNSUPPORTED_SCHEME.format(scheme=scheme[:20]), unsupported=True)
    path = path.strip()
    if scheme == WHATSAPP and path.isdigit():
        path = f"+{path}"  # RapidPro's WhatsApp URNs are international digits without the `+`
    try:
        return parse_urn(f"{scheme}:{path}", country)
    except AddressError:
        raise RapidProUrnError(invalid) from None


def format_rapidpro_urn(urn: Urn) -> str:
    """A Herald `Urn` as RapidPro writes it: `tel:+E164`, `whatsapp:<digits>`, `telegram:<id>`."""
    if urn.scheme == WHATSAPP:
        return f"whatsapp:{urn.path.lstrip('+')}"
    return str(urn)


def render_address(value: str, country: str | None = None) -> str:
    """A stored Herald address (`tel:+…`, `whatsapp:+…`, `telegram:…`, or a bare phone) in
    RapidPro's form. What cannot be read (a skipped invalid one) is left as is."""
    try:
        return format_rapidpro_urn(parse_urn(value, country))
    except AddressError:
        return value


@dataclass
class Addresses:
    """The `urns` of a contacts.json write as Herald's address fields, with what was wrong."""

    phone: str | None = None
    telegram_chat_id: str | None = None
    urn_schemes: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)  # which URN gave `phone` / `telegram_chat_id`
    errors: dict[str, list[str]] = field(default_factory=dict)  # by URN index, as DRF keys them

    def contact_data(self) -> dict[str, Any]:
        """The addresses as the contacts services' data fields."""
        return {"phone": self.phone, "telegram_chat_id": self.telegram_chat_id, "urn_schemes": self.urn_schemes}


def parse_urn_list(urns: Sequence[object], *, client: Client) -> Addresses:
    found = Addresses()
    for i, raw in enumerate(urns):
        try:
            address = parse_rapidpro_urn(raw, client.country)
        except RapidProUrnError as problem:
            found.errors[str(i)] = [problem.message]
            continue
        if address.scheme == TELEGRAM:
            if found.telegram_chat_id not in (None, address.path):
                found.errors[str(i)] = [ONE_TELEGRAM]
                continue
            found.telegram_chat_id = address.path
            found.index.setdefault("telegram_chat_id", i)
        else:
            if found.phone not in (None, address.path):
                found.errors[str(i)] = [ONE_PHONE]
                continue
            found.phone = address.path
            found.index.setdefault("phone", i)
            if address.scheme not in found.urn_schemes:
                found.urn_schemes.append(address.scheme)
    return found


def split_name(name: str | None) -> tuple[str, str]:
    """RapidPro's one `name` as Herald's first and last names, split at the first run of
    whitespace, so that `@contact.first_name` means the same in both (`Joe Blow` → Joe / Blow)."""
    parts = (name or "").strip().split(maxsplit=1)
    return (parts[0] if parts else "", parts[1] if len(parts) > 1 else "")


def contact_status(contact: Contact) -> str:
    if contact.blocked:
        return "blocked"
    return "stopped" if contact.opted_out else "active"


# --- finding contacts (by uuid or URN) and groups (by uuid or name) -------------------------------


def ref_value(value: object) -> str | int:
    """A reference to a contact or group as RapidPro's related fields take it: ValueError unless
    a string or an integer."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(NOT_A_REF)
    return value


def ref_values(value: object) -> list[str | int]:
    """A list of references (≤ 100), each a string or an integer; ValueError names the problem."""
    return [ref_value(ref) for ref in list_value(value)]


def find_contact(*, client: Client, ref: object) -> Contact | None:
    """The client's contact whose uuid is `ref`, or who has the URN `ref` (any phone scheme finds
    the contact with that phone: Herald keeps one phone per contact)."""
    return find_contacts(client=client, refs=[ref]).get(_key(ref))


def _key(ref: object) -> str:
    return str(ref)


def find_contacts(*, client: Client, refs: Iterable[object]) -> dict[str, Contact]:
    """The contacts found for each reference (uuid or URN), keyed by the reference as given
    (str()); references that find nothing are absent. Three queries at most, whatever the count."""
    by_id: dict[str, uuid.UUID] = {}
    by_phone: dict[str, str] = {}
    by_telegram: dict[str, str] = {}
    for ref in refs:
        key = _key(ref)
        try:
            by_id[key] = uuid.UUID(key)
            continue
        except ValueError:
            pass
        try:
            address = parse_rapidpro_urn(ref, client.country)
        except RapidProUrnError:
            continue
        (by_telegram if address.scheme == TELEGRAM else by_phone)[key] = address.path
    found: dict[str, Contact] = {}
    if by_id:
        contacts = {c.pk: c for c in contact_queryset(client=client).filter(pk__in=set(by_id.values()))}
        found.update({key: contacts[pk] for key, pk in by_id.items() if pk in contacts})
    if by_phone:
        phones = contacts_by_phones(client=client, phones=by_phone.values())
        found.update({key: phones[phone] for key, phone in by_phone.items() if phone in phones})
    for key, chat_id in by_telegram.items():
        contact = contact_by_telegram_chat_id(client=client, telegram_chat_id=chat_id)
        if contact is not None:
            found[key] = contact
    return found


def contacts_by_refs(*, client: Client, refs: Sequence[object]) -> list[Contact]:
    """The contact of each reference, in order (one named twice is there twice); ValueError
    names the first reference that finds none. One batch lookup (`find_contacts`)."""
    found = find_contacts(client=client, refs=refs)
    for ref in refs:
        if _key(ref) not in found:
            raise ValueError(NO_SUCH_OBJECT.format(value=ref))
    return [found[_key(ref)] for ref in refs]


def find_group(*, client: Client, ref: object) -> ContactList | None:
    """A group named by uuid or name (case-insensitively), as RapidPro's group references are."""
    if not isinstance(ref, str) or not ref:
        return None
    return contact_list_find(client=client, ref=ref)


def group_by_ref(*, client: Client, ref: object, trim: bool = False) -> ContactList:
    """The group a reference (a string or an integer) names; ValueError names the problem.
    `trim`: look the reference up without its surrounding whitespace (broadcasts.json's groups)."""
    text = str(ref_value(ref))
    group = find_group(client=client, ref=text.strip() if trim else text)
    if group is None:
        raise ValueError(NO_SUCH_OBJECT.format(value=ref))
    return group


# --- the contact object ----------------------------------------------------------------------------


# The contact object, rendered by PostgreSQL: a page of 250 is read as 250 JSON texts, never as
# rows turned into Python objects and encoded again (issue 20: `get_contacts().all()` at ≥ 5,000
# contacts/s through the client; building a dict per contact cost more than the query). The same
# SQL renders the one contact a write answers with, so there is one renderer. Its rules: URNs as
# format_rapidpro_urn writes them (the phone under each phone scheme it was given with, `tel` by
# default, WhatsApp's without `+`, then the Telegram chat id); registered field keys first
# (contact_field_keys' order, null when unset), then other keys in code-point order; UTC times with
# six fractional digits, as format_datetime writes them; groups in the order they were joined;
# `last_seen_on` from the contact's newest reply.
RAPIDPRO_TIME: Final = """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""
CONTACT_DOCUMENT: Final = f"""
json_build_object(
  'uuid', contacts_contact.id,
  'name', nullif(btrim(contacts_contact.first_name || ' ' || contacts_contact.last_name, E' \\t\\n\\r\\f\\v'), ''),
  'status', CASE WHEN NOT contacts_contact.opted_out THEN 'active'
                 WHEN contacts_contact.opted_out_source = %(block)s THEN 'blocked' ELSE 'stopped' END,
  'language', nullif(contacts_contact.language, ''),
  'urns', array_to_json(
    ARRAY(
      SELECT CASE WHEN p.scheme = %(whatsapp)s THEN p.scheme || ':' || ltrim(contacts_contact.phone, '+')
                  ELSE p.scheme || ':' || contacts_contact.phone END
        FROM unnest(CASE WHEN contacts_contact.urn_schemes::text[] && %(phone_schemes)s::text[]
                         THEN contacts_contact.urn_schemes::text[] ELSE ARRAY[%(tel)s]::text[] END)
             WITH ORDINALITY AS p(scheme, position)
       WHERE coalesce(contacts_contact.phone, '') <> '' AND p.scheme = ANY(%(phone_schemes)s::text[])
       ORDER BY p.position
    ) || CASE WHEN coalesce(contacts_contact.telegram_chat_id, '') <> ''
              THEN ARRAY[%(telegram)s || ':' || contacts_contact.telegram_chat_id] ELSE ARRAY[]::text[] END
  ),
  'groups', coalesce(
    (SELECT json_agg(json_build_object('uuid', l.id, 'name', l.name) ORDER BY m.id)
       FROM contacts_contactlistmembership m JOIN contacts_contactlist l ON l.id = m.contact_list_id
      WHERE m.contact_id = contacts_contact.id),
    '[]'::json),
  'notes', '[]'::json,
  'fields', coalesce(
    (SELECT json_object_agg(k.key, contacts_contact.fields -> k.key ORDER BY k.position, k.key COLLATE "C")
       FROM (SELECT r.key, r.position FROM unnest(%(field_keys)s::text[]) WITH ORDINALITY AS r(key, position)
             UNION ALL
             SELECT e.key, NULL FROM jsonb_object_keys(
               CASE WHEN jsonb_typeof(contacts_contact.fields) = 'object' THEN contacts_contact.fields
                    ELSE '{{}}'::jsonb END) AS e(key)
              WHERE NOT e.key = ANY(%(field_keys)s::text[])) AS k),
    '{{}}'::json),
  'flow', NULL,
  'created_on', to_char(contacts_contact.created_at AT TIME ZONE 'UTC', {RAPIDPRO_TIME}),
  'modified_on', to_char(contacts_contact.updated_at AT TIME ZONE 'UTC', {RAPIDPRO_TIME}),
  'last_seen_on', (SELECT to_char(max(r.received_at) AT TIME ZONE 'UTC', {RAPIDPRO_TIME})
                     FROM broadcasts_reply r
                    WHERE r.contact_id = contacts_contact.id),
  'blocked', contacts_contact.opted_out AND contacts_contact.opted_out_source = %(block)s,
  'stopped', contacts_contact.opted_out AND contacts_contact.opted_out_source <> %(block)s
)::text
"""  # noqa: S608 - only constants are formatted in; values are parameters


_NAMED = re.compile(r"%\((\w+)\)s")


def contact_documents(queryset: QuerySet[Contact], *, client: Client) -> QuerySet[Any, Any]:
    """The contacts as rows of `id`, `updated_at` (the cursor's position) and `document`, the
    contact object's JSON text."""
    named = {
        "block": OptOutSource.BLOCK.value,
        "whatsapp": WHATSAPP,
        "tel": TEL,
        "telegram": TELEGRAM,
        "phone_schemes": sorted(PHONE_SCHEMES),
        "field_keys": contact_field_keys(client=client),
    }
    params = [named[name] for name in _NAMED.findall(CONTACT_DOCUMENT)]  # RawSQL's are positional
    document = RawSQL(_NAMED.sub("%s", CONTACT_DOCUMENT), params, output_field=TextField())  # noqa: S611
    return queryset.prefetch_related(None).values("id", "updated_at").annotate(document=document)


def contact_document(contact: Contact) -> dict[str, Any]:
    """One contact object (what a write answers with), from the same SQL as a page."""
    queryset = contact_queryset(client=contact.client).filter(pk=contact.pk)
    return dict(json.loads(contact_documents(queryset, client=contact.client).get()["document"]))


def render_deleted(tombstone: ContactTombstone) -> dict[str, Any]:
    """A deleted contact as RapidPro renders one: its uuid and times, nothing else."""
    return {
        "uuid": str(tombstone.contact_id),
        "name": None,
        "status": None,
        "language": None,
        "urns": [],
        "groups": [],
        "notes": [],
        "fields": {},
        "flow": None,
        "created_on": format_datetime(tombstone.contact_created_at),
        "modified_on": format_datetime(tombstone.deleted_at),
        "last_seen_on": None,
        "blocked": None,
        "stopped": None,
    }
