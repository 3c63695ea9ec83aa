"""Who a broadcast goes to: its recipients resolved to channel URNs and contacts, deduplicated.

Explicit recipients (phones, URNs, contact ids: at most 10,000 each) are resolved in memory with two
queries; list members are read from PostgreSQL a page at a time in contact id order (a keyset: the
page after the last id read), as raw tuples of only the columns and `fields` keys the content uses,
so a 1,000,000-contact list never sits in memory and a preparation can resume after any page.
Each recipient is yielded once: a URN named twice is counted in `duplicates` and dropped;
`exclude_lists` members are left out of every part.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import TextField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from accounts.channels import Channel
from accounts.models import Client
from contacts import phones
from contacts.models import Contact
from contacts.selectors import audience_contacts, contacts_by_ids, contacts_by_phones

from .validation import BroadcastRequest

CHUNK = 5000

SKIP_INVALID = "invalid_number"
SKIP_OPTED_OUT = "opted_out"
SKIP_UNROUTABLE = "unroutable"


@dataclass(slots=True)
class Target:
    """A recipient before rendering."""

    urn: str  # channel URN, the dedup key ("tel:+256…", "whatsapp:+256…", "telegram:123")
    address: str  # what the quote engine prices: E.164, or a Telegram chat id
    contact_id: uuid.UUID | str | None = None  # list members stream their id as text
    first_name: str = ""
    last_name: str = ""
    language: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    opted_out: bool = False
    skip: str = ""  # already known to be skipped (invalid or no address for the channel)
    raw: str = ""
    timezone: str = ""  # the contact's IANA zone ("" unknown), for sends at local time

    def fill_from(self, contact: Contact) -> None:
        """What rendering and opt-out need to know of the recipient's contact."""
        self.contact_id = contact.pk
        self.first_name = contact.first_name or ""
        self.last_name = contact.last_name or ""
        self.language = contact.language or ""
        self.timezone = contact.timezone or ""
        self.fields = contact.fields or {}
        self.opted_out = contact.opted_out


def channel_urn(channel: str, urn: phones.Urn) -> tuple[str, str] | None:
    """(URN, priced address) of a parsed address on a channel; None when the channel can't use it."""
    if urn.scheme == phones.TELEGRAM:
        return (f"telegram:{urn.path}", urn.path) if channel == Channel.TELEGRAM else None
    if channel == Channel.TELEGRAM:
        return None  # a phone number: only a contact's telegram_chat_id can reach it (resolved later)
    scheme = "whatsapp" if channel == Channel.WHATSAPP else "tel"
    return f"{scheme}:{urn.path}", urn.path


def contact_urn(channel: str, phone: str | None, telegram_chat_id: str | None) -> tuple[str, str] | None:
    if channel == Channel.TELEGRAM:
        return (f"telegram:{telegram_chat_id}", telegram_chat_id) if telegram_chat_id else None
    if not phone:
        return None
    return f"{'whatsapp' if channel == Channel.WHATSAPP else 'tel'}:{phone}", phone


class Audience:
    """Resolves a request's recipients chunk by chunk; `duplicates` counts the URNs named twice."""

    def __init__(self, *, client: Client, request: BroadcastRequest, field_names: list[str]) -> None:
        self.client = client
        self.request = request
        # Placeholder names: a contact's field of that name takes precedence over built-ins, so
        # every name is read from `fields` (only those names: the rest of the JSON stays in SQL).
        self.field_names = field_names
        self.duplicates = 0
        self._seen: set[str] = set()
        self._explicit_contacts: set[uuid.UUID] = set()

    def chunks(self) -> Iterator[list[Target]]:
        explicit = self._explicit_targets()
        for start in range(0, len(explicit), CHUNK):
            yield explicit[start : start + CHUNK]
        if self.request.list_ids:
            yield from self._list_targets()

    def _mark(self, target: Target) -> bool:
        """False (and counted) when this URN was already planned."""
        if target.urn in self._seen:
            self.duplicates += 1
            return False
        self._seen.add(target.urn)
        return True

    def _explicit_targets(self) -> list[Target]:
        request, client, channel = self.request, self.client, self.request.channel
        out: list[Target] = []
        parsed: list[tuple[Target, str | None]] = []  # (target, phone to look up)
        for recipient in request.recipients:
            try:
                urn = phones.parse_urn(recipient.address, client.country)
            except phones.AddressError:
                raw = recipient.address[:100]
                target = Target(urn=f"invalid:{raw}", address="", skip=SKIP_INVALID, raw=raw)
                if self._mark(target):
                    out.append(target)
                continue
            resolved = channel_urn(channel, urn)
            phone = urn.path if urn.scheme in phones.PHONE_SCHEMES else None
            if resolved is None:
                # A phone on Telegram: only its contact's chat id can be used.
                target = Target(urn=f"{urn.scheme}:{urn.path}", address="", variables=recipient.variables)
            else:
                target = Target(urn=resolved[0], address=resolved[1], variables=recipient.variables)
            target.raw = recipient.address
            parsed.append((target, phone))
        by_phone = contacts_by_phones(client=client, phones=[p for _, p in parsed if p])
        for target, phone in parsed:
            contact = by_phone.get(phone) if phone else None
            if contact is not None:
                target.fill_from(contact)
                if not target.address:
                    resolved = contact_urn(channel, contact.phone, contact.telegram_chat_id)
                    if resolved:
                        target.urn, target.address = resolved
            if not target.address and not target.skip:
                target.skip = SKIP_UNROUTABLE
            if self._mark(target):
                out.append(target)
        if request.contact_ids:
            for contact in contacts_by_ids(client=client, ids=request.contact_ids).values():
                self._explicit_contacts.add(contact.pk)
                resolved = contact_urn(channel, contact.phone, contact.telegram_chat_id)
                if resolved is None:
                    target = Target(urn=f"contact:{contact.pk}", address="", skip=SKIP_UNROUTABLE)
                else:
                    target = Target(urn=resolved[0], address=resolved[1])
                target.fill_from(contact)
                if self._mark(target):
                    out.append(target)
        named = [t.contact_id for t in out if isinstance(t.contact_id, uuid.UUID)]
        if request.exclude_list_ids and named:
            kept = set(
                audience_contacts(
                    client=client, contact_ids=named, exclude_list_ids=request.exclude_list_ids
                ).values_list("pk", flat=True)
            )
            out = [t for t in out if t.contact_id is None or t.contact_id in kept]
        return out

    def _members_query(self, *, after: str, limit: int) -> tuple[str, Any]:
        """SQL of the next page of list members (not named explicitly) as raw tuples: `limit`
        members after contact id `after`, in contact id order."""
        queryset = audience_contacts(
            client=self.client,
            list_ids=self.request.list_ids,
            exclude_list_ids=self.request.exclude_list_ids,
            after=after,
        )
        if self._explicit_contacts:
            queryset = queryset.exclude(pk__in=self._explicit_contacts)
        queryset = queryset.order_by("pk")
        names = self.field_names
        keys = {f"field_{i}": KT(f"fields__{name}") for i, name in enumerate(names)}
        values = queryset.annotate(**keys).annotate(id_text=Cast("pk", output_field=TextField()))
        rows = values.values_list(
            "id_text", "phone", "telegram_chat_id", "first_name", "last_name", "language", "opted_out", "timezone",
            *keys,
        )  # fmt: skip
        sql, params = rows[:limit].query.sql_with_params()
        return sql, params

    def _member_targets(self, rows: list[tuple[Any, ...]]) -> list[Target]:
        channel, names, seen = self.request.channel, self.field_names, self._seen
        chunk: list[Target] = []
        for pk, phone, chat_id, first, last, language, opted_out, zone, *values in rows:
            resolved = contact_urn(channel, phone, chat_id)
            if resolved is None:
                target = Target(urn=f"contact:{pk}", address="", skip=SKIP_UNROUTABLE)
            else:
                target = Target(urn=resolved[0], address=resolved[1])
                if seen and target.urn in seen:  # also named explicitly in this request
                    self.duplicates += 1
                    continue
            target.contact_id = pk
            target.first_name = first or ""
            target.last_name = last or ""
            target.language = language or ""
            target.fields = {n: v for n, v in zip(names, values, strict=True) if v is not None}
            target.opted_out = opted_out
            target.timezone = zone
            chunk.append(target)
        return chunk

    def explicit_targets(self) -> list[Target]:
        """The recipients and contacts named in the request (at most 10,000 each), deduplicated."""
        return self._explicit_targets()

    def members_after(self, after: str, limit: int = CHUNK) -> tuple[list[Target], str | None, int]:
        """The next `limit` list members after contact id `after` ("" from the first), in id order:
        (targets, the last id read or None when the lists are done, rows read). Call
        `explicit_targets()` first, so members named explicitly are left out as in `chunks()`."""
        sql, params = self._members_query(after=after or "00000000-0000-0000-0000-000000000000", limit=limit)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        last = rows[-1][0] if len(rows) == limit else None
        return self._member_targets(rows), last, len(rows)

    def _list_targets(self) -> Iterator[list[Target]]:
        """List members page by page in contact id order: the same keyset reader a background
        preparation resumes with (`members_after`), so both paths read an audience one way."""
        after = ""
        while True:
            targets, last, _read = self.members_after(after)
            if targets:
                yield targets
            if last is None:
                return
            after = last
