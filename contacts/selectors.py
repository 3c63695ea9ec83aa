"""Reads of contacts, lists and imports. Other apps (broadcasts, inbound webhooks) call these."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterable
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Prefetch, Q, QuerySet

from accounts.exceptions import NotFoundError
from accounts.models import Client

from .models import Contact, ContactField, ContactImport, ContactList, ContactListMembership, ContactTombstone
from .validation import field_error

MAX_IDS_SHOWN = 20
MAX_NUMBER = 2_147_483_647  # a list number is a PostgreSQL integer
_PHONEISH = re.compile(r"\+?[\d().\-]*\d[\d().\-]*")


def parse_ids(ids: Iterable[UUID | str], *, field: str) -> list[UUID]:
    """Distinct UUIDs in the given order; a malformed one is a ValidationError naming `field`."""
    seen: dict[UUID, None] = {}
    bad: list[str] = []
    for raw in ids:
        try:
            value = raw if isinstance(raw, UUID) else uuid.UUID(str(raw))
        except (ValueError, TypeError, AttributeError):
            bad.append(str(raw)[:40])
            continue
        seen[value] = None
    if bad:
        shown = ", ".join(bad[:MAX_IDS_SHOWN])
        raise field_error(field, f"Not a valid id: {shown}.")
    return list(seen)


def ids_not_found(kind: str, missing: list[UUID], field: str) -> NotFoundError:
    shown = ", ".join(str(i) for i in missing[:MAX_IDS_SHOWN])
    more = f" and {len(missing) - MAX_IDS_SHOWN} more" if len(missing) > MAX_IDS_SHOWN else ""
    return NotFoundError(
        f"Unknown {kind} id{'s' if len(missing) > 1 else ''}: {shown}{more}.",
        code=f"{kind.replace(' ', '_')}_not_found",
        fields={field: [f"Unknown {kind} id: {i}" for i in missing[:MAX_IDS_SHOWN]]},
    )


def _memberships() -> Prefetch:
    return Prefetch(
        "memberships", queryset=ContactListMembership.objects.only("id", "contact_id", "contact_list_id").order_by("id")
    )


def contact_queryset(*, client: Client) -> QuerySet[Contact]:
    """One client's contacts, with their list ids prefetched (one query per page, not per contact)."""
    return Contact.objects.filter(client=client).prefetch_related(_memberships())


def contact_get(*, client: Client, contact_id: UUID | str) -> Contact:
    try:
        return contact_queryset(client=client).get(pk=contact_id)
    except (Contact.DoesNotExist, ValueError, ValidationError):
        raise NotFoundError("No such contact.", code="not_found") from None


def contact_list_ids(contact: Contact) -> list[UUID]:
    """The contact's list ids, from the prefetch when there is one."""
    return [m.contact_list_id for m in contact.memberships.all()]


def contact_search(queryset: QuerySet[Contact], term: str) -> QuerySet[Contact]:
    """Every word must match the first name, last name or phone (case-insensitive, anywhere inside).

    A word of digits matches phones containing those digits, without a national leading 0, so
    "0772 123" finds +256772123456.
    """
    for word in term.split()[:5]:
        if _PHONEISH.fullmatch(word):
            digits = re.sub(r"\D", "", word)
            condition = Q(phone__contains=digits.lstrip("0") or digits)
        else:
            condition = Q(first_name__icontains=word) | Q(last_name__icontains=word)
        queryset = queryset.filter(condition)
    return queryset


def contacts_by_ids(*, client: Client, ids: Iterable[UUID | str], field: str = "contacts") -> dict[UUID, Contact]:
    """The client's contacts by id. Unknown ids, or another client's, raise NotFoundError naming them."""
    wanted = parse_ids(ids, field=field)
    found = {c.id: c for c in Contact.objects.filter(client=client, pk__in=wanted)}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ids_not_found("contact", missing, field)
    return found


def contact_lists_by_ids(
    *, client: Client, ids: Iterable[UUID | str], field: str = "contact_lists"
) -> dict[UUID, ContactList]:
    """The client's lists by id. Unknown ids, or another client's, raise NotFoundError naming them."""
    wanted = parse_ids(ids, field=field)
    found = {lst.id: lst for lst in ContactList.objects.filter(client=client, pk__in=wanted)}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ids_not_found("contact list", missing, field)
    return found


def contact_list_ids_by_refs(*, client: Client, refs: Iterable[object], field: str) -> list[UUID]:
    """The ids of the client's lists named by `refs`: each an id (UUID, or its string) or a list
    `number` (an int, SPEC §14: what the eSMS and Jina APIs send). Distinct, in the order given.
    A ref that is neither is a ValidationError naming `field`; an unknown one, or another client's, a
    NotFoundError naming every one that is."""
    numbers: dict[int, None] = {}
    ids: dict[UUID, None] = {}
    order: list[int | UUID] = []
    bad: list[str] = []
    for ref in refs:
        if isinstance(ref, int) and not isinstance(ref, bool):
            numbers[ref] = None
            order.append(ref)
            continue
        try:
            value = ref if isinstance(ref, UUID) else uuid.UUID(str(ref)) if isinstance(ref, str) else None
        except ValueError:
            value = None
        if value is None:
            bad.append(str(ref)[:40])
            continue
        ids[value] = None
        order.append(value)
    if bad:
        raise field_error(field, f"Not a valid list id or number: {', '.join(bad[:MAX_IDS_SHOWN])}.")
    storable = [n for n in numbers if 1 <= n <= MAX_NUMBER]  # any other cannot exist: unknown
    found = ContactList.objects.filter(client=client).filter(Q(pk__in=list(ids)) | Q(number__in=storable))
    by_number: dict[int, UUID] = {}
    known: set[UUID] = set()
    for pk, number in found.values_list("pk", "number"):
        by_number[number] = pk
        known.add(pk)
    missing = [str(ref) for ref in order if (ref not in by_number if isinstance(ref, int) else ref not in known)]
    if missing:
        shown = ", ".join(missing[:MAX_IDS_SHOWN])
        more = f" and {len(missing) - MAX_IDS_SHOWN} more" if len(missing) > MAX_IDS_SHOWN else ""
        raise NotFoundError(
            f"Unknown contact list id{'s' if len(missing) > 1 else ''}: {shown}{more}.",
            code="contact_list_not_found",
            fields={field: [f"Unknown contact list id: {ref}" for ref in missing[:MAX_IDS_SHOWN]]},
        )
    resolved = (by_number[ref] if isinstance(ref, int) else ref for ref in order)
    return list(dict.fromkeys(resolved))


def audience_contacts(
    *,
    client: Client,
    contact_ids: Iterable[UUID] = (),
    list_ids: Iterable[UUID] = (),
    exclude_list_ids: Iterable[UUID] = (),
    after: UUID | str | None = None,
) -> QuerySet[Contact]:
    """The client's contacts named by id or in any of `list_ids`, minus members of `exclude_list_ids`.
    With `after`, only contacts whose id is greater (a keyset page; the bound is put on the
    memberships too, so each page reads from its start in the (list, contact) index, not from the
    list's first member).

    Each contact once (IN-subqueries on the contact table, no join, no DISTINCT), unordered, so it
    can be the SELECT of a set-based INSERT: `audience_contacts(...).values(...)`. Opted-out contacts
    are included; callers count and skip them. Validate ids first with contacts_by_ids /
    contact_lists_by_ids: ids of another client simply select nothing here.
    """
    contact_ids, list_ids, exclude_list_ids = list(contact_ids), list(list_ids), list(exclude_list_ids)
    include = Q()
    if contact_ids:
        include |= Q(pk__in=contact_ids)
    if list_ids:
        members = ContactListMembership.objects.filter(contact_list_id__in=list_ids)
        if after is not None:
            members = members.filter(contact_id__gt=after)
        include |= Q(pk__in=members.values("contact_id"))
    if not include:
        return Contact.objects.none()
    queryset = Contact.objects.filter(client=client).filter(include)
    if after is not None:
        queryset = queryset.filter(pk__gt=after)
    if exclude_list_ids:
        excluded = ContactListMembership.objects.filter(contact_list_id__in=exclude_list_ids).values("contact_id")
        queryset = queryset.exclude(pk__in=excluded)
    return queryset.order_by()


def contacts_by_phones(*, client: Client, phones: Iterable[str]) -> dict[str, Contact]:
    """The client's contacts whose phone (E.164) is in `phones`, keyed by phone; others are absent."""
    wanted = list(dict.fromkeys(phones))
    if not wanted:
        return {}
    return {c.phone: c for c in Contact.objects.filter(client=client, phone__in=wanted) if c.phone}


def contact_by_telegram_chat_id(*, client: Client, telegram_chat_id: str) -> Contact | None:
    return Contact.objects.filter(client=client, telegram_chat_id=telegram_chat_id).first()


def contact_list_queryset(*, client: Client) -> QuerySet[ContactList]:
    return ContactList.objects.filter(client=client)


def contact_list_name_taken(
    *, client: Client, name: str, ignore_case: bool = False, exclude: UUID | None = None
) -> bool:
    lookup = "name__iexact" if ignore_case else "name"
    queryset = ContactList.objects.filter(client=client, **{lookup: name.strip()})
    if exclude is not None:
        queryset = queryset.exclude(pk=exclude)
    return queryset.exists()


def contact_list_find(*, client: Client, ref: str, ignore_case: bool = True) -> ContactList | None:
    """The client's list whose id or name is `ref` (the name case-insensitively unless told)."""
    condition = Q(name__iexact=ref) if ignore_case else Q(name=ref)
    with contextlib.suppress(ValueError):
        condition |= Q(pk=uuid.UUID(ref))
    return ContactList.objects.filter(client=client).filter(condition).order_by("created_at", "id").first()


def contact_field_queryset(*, client: Client) -> QuerySet[ContactField]:
    """The client's registered contact fields."""
    return ContactField.objects.filter(client=client)


def contact_field_keys(*, client: Client) -> list[str]:
    return sorted(ContactField.objects.filter(client=client).values_list("key", flat=True))


def contact_tombstone_queryset(*, client: Client) -> QuerySet[ContactTombstone]:
    """What is left of the client's deleted contacts (ids and when they went)."""
    return ContactTombstone.objects.filter(client=client)


def contact_import_queryset(*, client: Client) -> QuerySet[ContactImport]:
    return ContactImport.objects.filter(client=client)
