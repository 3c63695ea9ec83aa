"""Opt-out and opt-in: by API, dashboard, admin, import or an inbound keyword."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

import structlog
from django.db import transaction
from django.utils import timezone

from contacts.keywords import KeywordAction, keyword_action
from contacts.models import Contact, OptOutSource
from webhooks.events import CONTACT_OPTED_OUT
from webhooks.services import event_record

log = structlog.get_logger(__name__)


# --- opt-out ---------------------------------------------------------------------------------------


REFRESHED = [
    "opted_out",
    "opted_out_at",
    "opted_out_source",
    "opt_out_changed_at",
    "opt_out_requested_at",
    "updated_at",
]


class _Applied(NamedTuple):
    changed: bool  # this call changed the state
    outdated: bool  # a keyword older than the contact's last opt-out or opt-in: ignored


def _set_opted_out(
    *, contact: Contact, opted_out: bool, source: str, at: datetime | None, keyword: bool = False
) -> _Applied:
    """Set the contact's state under its row lock; say whether this call changed it.

    `at` is when the contact asked (an inbound keyword's time by the provider's clock; None: now).
    Every call moves `opt_out_requested_at` forward to it (never back), also when the state already
    was so: that is the newest request for the current state. A keyword whose own time is older
    than it changes nothing (SPEC §10: a late or replayed START never undoes a later STOP); a door
    that acts now (API, dashboard, admin, a provider's refusal) always applies. Compared to the
    second, since providers stamp in whole seconds: a keyword sent in the same second as the last
    change is taken in the order it arrived. A provider clock ahead of ours counts as now.

    An opt-out that changed the state records `contact.opted_out` for the client's webhooks in the
    same transaction: announced once, whichever door (API, dashboard, keyword, provider) it came by,
    and never for a change that rolled back."""
    if source not in OptOutSource.values:
        raise ValueError(f"Unknown opt-out source {source!r}.")
    now = timezone.now()
    asked = min(at, now) if at is not None else now
    with transaction.atomic():
        row = (
            Contact.objects.select_for_update()
            .filter(pk=contact.pk)
            .values_list("opted_out", "opt_out_requested_at")
            .first()
        )
        if row is None:  # deleted meanwhile
            return _Applied(changed=False, outdated=False)
        was_out, requested_at = row
        if keyword and at is not None and requested_at is not None and asked < requested_at.replace(microsecond=0):
            log.info("contact.keyword_outdated", client_id=str(contact.client_id), contact_id=str(contact.pk))
            contact.refresh_from_db(fields=REFRESHED)
            return _Applied(changed=False, outdated=True)
        fields: dict[str, object] = {}
        if requested_at is None or asked > requested_at:
            fields["opt_out_requested_at"] = asked
        changed = was_out != opted_out
        if changed:
            fields.update(
                opted_out=opted_out,
                opted_out_at=asked if opted_out else None,
                opted_out_source=source if opted_out else "",
                opt_out_changed_at=now,
                updated_at=now,
            )
        if fields:
            Contact.objects.filter(pk=contact.pk).update(**fields)
        contact.refresh_from_db(fields=REFRESHED)
        if changed and opted_out:
            data = {
                "contact_id": str(contact.pk),
                "phone": contact.phone,
                "telegram_chat_id": contact.telegram_chat_id,
                "source": source,
                "opted_out_at": contact.opted_out_at,
            }
            event_record(client_id=contact.client_id, type=CONTACT_OPTED_OUT, data=data)
    if changed:
        event = "contact.opted_out" if opted_out else "contact.opted_in"
        log.info(event, client_id=str(contact.client_id), contact_id=str(contact.pk), source=source)
    return _Applied(changed=changed, outdated=False)


def contact_opt_out(*, contact: Contact, source: str = OptOutSource.API, at: datetime | None = None) -> Contact:
    """Opt the contact out, recording when and from where. Idempotent: a second call keeps the first time."""
    _set_opted_out(contact=contact, opted_out=True, source=source, at=at)
    return contact


def contacts_opt_out_by_ids(*, contact_ids: list[uuid.UUID], source: str) -> int:
    """Opt these contacts out (a provider says they refuse our messages); returns how many changed."""
    changed = 0
    for contact in Contact.objects.filter(pk__in=contact_ids, opted_out=False).order_by("pk"):
        changed += _set_opted_out(contact=contact, opted_out=True, source=source, at=None).changed
    return changed


def contact_opt_in(*, contact: Contact, source: str = OptOutSource.API) -> Contact:
    """Opt the contact back in (clears opted_out_at and the source). Idempotent."""
    _set_opted_out(contact=contact, opted_out=False, source=source, at=None)
    return contact


class KeywordOutcome(NamedTuple):
    action: KeywordAction
    changed: bool  # False when the contact already was opted out (or in), or the keyword is outdated
    outdated: bool = False  # older than the contact's last opt-out or opt-in: ignored


def contact_apply_keyword(*, contact: Contact, text: str, at: datetime | None = None) -> KeywordOutcome | None:
    """Apply an inbound message's opt-out/opt-in keyword; None when the text is not a keyword.

    `at`: when the contact sent it, by the provider's clock (None when the backend does not say:
    then it counts as sent now). A keyword sent before the contact's last opt-out or opt-in is
    ignored (`outdated`). The caller applies each inbound message once: broadcasts.inbound stores
    the reply first and calls this only when that delivery stored it, in the same transaction.
    `contact.opted_out` is recorded here when the state changed.
    """
    action = keyword_action(text)
    if action is None:
        return None
    applied = _set_opted_out(
        contact=contact,
        opted_out=action == KeywordAction.OPT_OUT,
        source=OptOutSource.KEYWORD,
        at=at,
        keyword=True,
    )
    return KeywordOutcome(action, applied.changed, applied.outdated)
