"""Replies: what contacts send back through a connector's inbound hook (SPEC §10).

Connectors are shared by every client, so a reply is attributed by what we sent: the client, contact
and broadcast of the most recent message that reached this URN through this connector within 7
days. A sender Herald never messaged belongs to the connector's own client when it has one (a
Telegram bot's /start creates the contact there), and is otherwise acknowledged and logged only.
Opt-out and opt-in keywords (§5) apply to every reply, once: the reply is inserted first (unique
provider id per connector) and its keyword applied in the same transaction only by the delivery
whose insert stored it, so a provider's retry, even one arriving at the same moment as the first
delivery, changes nothing; a keyword older by the provider's clock than the contact's last opt-out
or opt-in is stored but not applied (contacts.services.contact_apply_keyword).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.channels import Channel
from accounts.exceptions import ConflictError
from accounts.models import Client
from contacts.keywords import keyword_action
from contacts.models import Contact
from contacts.selectors import contact_by_telegram_chat_id, contacts_by_phones
from contacts.services import KeywordOutcome, contact_apply_keyword, contact_create

from .connectors import InboundMessage
from .events import reply_announce
from .models import Connector, Message, Reply

log = structlog.get_logger(__name__)

REPLY_WINDOW = timedelta(days=7)
START_COMMAND = "/start"


def _is_start(text: str) -> bool:
    word = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    return word.split("@", 1)[0].lower() == START_COMMAND


def _contact_for(client: Client, urn: str) -> Contact | None:
    scheme, _, path = urn.partition(":")
    if scheme == "telegram":
        return contact_by_telegram_chat_id(client=client, telegram_chat_id=path)
    return contacts_by_phones(client=client, phones=[path]).get(path)


def _new_telegram_contact(client: Client, inbound: InboundMessage) -> Contact | None:
    chat_id = inbound.urn.partition(":")[2]
    try:
        return contact_create(
            client=client,
            telegram_chat_id=chat_id,
            first_name=inbound.first_name[:64],
            last_name=inbound.last_name[:64],
            language=inbound.language or None,
        )
    except (ConflictError, ValidationError):  # a race with another /start, or a name the rules refuse
        log.warning("inbound.telegram_contact_not_created", client_id=str(client.pk))
        return contact_by_telegram_chat_id(client=client, telegram_chat_id=chat_id)


def _replied_broadcast(
    client: Client, contact: Contact | None, urn: str, channel: str, now: datetime
) -> uuid.UUID | None:
    """The most recent broadcast with `with_replies` that reached this contact on this channel lately."""
    reached = Q(contact=contact) if contact is not None else Q(urn=urn)
    return (
        Message.objects.filter(
            reached,
            client=client,
            channel=channel,
            is_test=False,
            sent_at__gte=now - REPLY_WINDOW,
            broadcast__with_replies=True,
        )
        .order_by("-sent_at")
        .values_list("broadcast_id", flat=True)
        .first()
    )


def reply_receive(*, connector: Connector, inbound: InboundMessage) -> Reply | None:
    """Store one inbound message (None when it cannot be attributed or was stored before)."""
    now = timezone.now()
    recent = (
        Message.objects.filter(
            urn=inbound.urn, connector=connector.name, is_test=False, sent_at__gte=now - REPLY_WINDOW
        )
        .order_by("-sent_at")
        .select_related("client", "contact")
        .first()
    )
    client = recent.client if recent is not None else connector.client
    if client is None:
        log.info("inbound.unattributed", connector=connector.name)
        return None
    contact = recent.contact if recent is not None and recent.contact is not None else _contact_for(client, inbound.urn)
    if contact is None and connector.channel == Channel.TELEGRAM and _is_start(inbound.text):
        contact = _new_telegram_contact(client, inbound)
    action = keyword_action(inbound.text) if contact is not None else None
    outcome: KeywordOutcome | None = None
    with transaction.atomic():
        try:
            # The insert decides which delivery is the first: a concurrent one waits on this row's
            # unique provider id until we commit, then fails here and applies nothing.
            with transaction.atomic():
                reply = Reply.objects.create(
                    client=client,
                    contact=contact,
                    urn=inbound.urn,
                    channel=connector.channel,
                    text=inbound.text,
                    broadcast_id=_replied_broadcast(client, contact, inbound.urn, connector.channel, now),
                    connector=connector,
                    provider_message_id=inbound.provider_message_id[:128],
                    keyword=str(action or ""),
                    received_at=inbound.received_at or now,
                )
        except IntegrityError:
            log.info("inbound.duplicate", connector=connector.name)
            return None
        if contact is not None and action is not None:
            outcome = contact_apply_keyword(contact=contact, text=inbound.text, at=inbound.received_at)
        reply_announce(reply=reply, message=recent)
    log.info(
        "inbound.received",
        client_id=str(client.pk),
        reply_id=str(reply.pk),
        keyword=reply.keyword or None,
        keyword_outdated=outcome.outdated if outcome is not None else None,
    )
    return reply


def replies_receive(*, connector: Connector, messages: Sequence[InboundMessage]) -> int:
    return sum(reply_receive(connector=connector, inbound=m) is not None for m in messages)
