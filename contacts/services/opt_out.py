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


def _set_opted_out(*, contact: Contact, opted_out: bool, source: str, at: datetime | None) -> bool:
    """Conditional update; True when this call changed the state (False: it already was so).

    An opt-out that changed the state records `contact.opted_out` for the client's webhooks in the
    same transaction: announced once, whichever door (API, dashboard, keyword, provider) it came by,
    and never for a change that rolled back."""
    if source not in OptOutSource.values:
        raise ValueError(f"Unknown opt-out source {source!r}.")
    now = at or timezone.now()
    with transaction.atomic():
        if opted_out:
            changed = Contact.objects.filter(pk=contact.pk, opted_out=False).update(
                opted_out=True, opted_out_at=now, opted_out_source=source, updated_at=timezone.now()
            )
        else:
            changed = Contact.objects.filter(pk=contact.pk, opted_out=True).update(
                opted_out=False, opted_out_at=None, opted_out_source="", updated_at=timezone.now()
            )
        contact.refresh_from_db(fields=["opted_out", "opted_out_at", "opted_out_source", "updated_at"])
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
    return bool(changed)


def contact_opt_out(*, contact: Contact, source: str = OptOutSource.API, at: datetime | None = None) -> Contact:
    """Opt the contact out, recording when and from where. Idempotent: a second call keeps the first time."""
    _set_opted_out(contact=contact, opted_out=True, source=source, at=at)
    return contact


def contacts_opt_out_by_ids(*, contact_ids: list[uuid.UUID], source: str) -> int:
    """Opt these contacts out (a provider says they refuse our messages); returns how many changed."""
    changed = 0
    for contact in Contact.objects.filter(pk__in=contact_ids, opted_out=False).order_by("pk"):
        changed += _set_opted_out(contact=contact, opted_out=True, source=source, at=None)
    return changed


def contact_opt_in(*, contact: Contact, source: str = OptOutSource.API) -> Contact:
    """Opt the contact back in (clears opted_out_at and the source). Idempotent."""
    _set_opted_out(contact=contact, opted_out=False, source=source, at=None)
    return contact


class KeywordOutcome(NamedTuple):
    action: KeywordAction
    changed: bool  # False when the contact already was opted out (or in)


def contact_apply_keyword(*, contact: Contact, text: str, at: datetime | None = None) -> KeywordOutcome | None:
    """Apply an inbound message's opt-out/opt-in keyword; None when the text is not a keyword.

    The inbound webhook calls this; `contact.opted_out` is recorded here when the state changed.
    """
    action = keyword_action(text)
    if action is None:
        return None
    changed = _set_opted_out(
        contact=contact, opted_out=action == KeywordAction.OPT_OUT, source=OptOutSource.KEYWORD, at=at
    )
    return KeywordOutcome(action, changed)
