"""Follow-ups (SPEC §8 "Campaigns"): a new broadcast to one audience of a finished broadcast's
recipients — those who did not click, were not delivered, failed, did not reply, clicked or replied.

The follow-up is a normal create: this module only chooses the original's messages, turns them into
a create body's audience and hands that body to `broadcast_create` (or `broadcast_precheck`), so
validation, opt-outs, quiet hours, pricing, the reservation and the 402 are the create's own. The
new broadcast points at the original (`parent`) and records the audience (`follow_up_audience`).

How the recipients are carried (docs/broadcasts.md, "Follow-ups"):
- a message of the original whose recipient had variables of its own (`recipient_variables`)
  goes as `recipient_variables` again, `{urn, …variables}`: the same values render;
- else a message linked to a contact goes as that contact's id (`contacts`): its name, language
  and fields render, and its opt-out is read again;
- else the bare URN goes as `recipient_variables` `{urn}` (a phone still finds its contact by number).
The create's 10,000 limits hold: a follow-up whose audience is larger is refused (400 on `audience`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from accounts.exceptions import ConflictError
from accounts.models import ApiKey, User
from contacts import phones

from ..audience import channel_urn
from ..models import Broadcast, Message, Reply
from ..validation import MAX_RECIPIENTS
from .context import broadcast_precheck
from .create import Accepted, broadcast_create

log = structlog.get_logger(__name__)

M = Message.Status
B = Broadcast.Status

NOT_CLICKED = "not_clicked"
NOT_DELIVERED = "not_delivered"
FAILED = "failed"
NOT_REPLIED = "not_replied"
CLICKED = "clicked"
REPLIED = "replied"
FOLLOW_UP_AUDIENCES = (NOT_CLICKED, NOT_DELIVERED, FAILED, NOT_REPLIED, CLICKED, REPLIED)

# The dashboard's words for each audience.
FOLLOW_UP_LABELS: dict[str, str] = {
    NOT_CLICKED: "Everyone who did not click",
    CLICKED: "Everyone who clicked",
    NOT_DELIVERED: "Everyone it was not delivered to",
    FAILED: "Everyone whose message failed",
    NOT_REPLIED: "Everyone who did not reply",
    REPLIED: "Everyone who replied",
}

# The original must have finished: these statuses still send (or may), so its audiences would move.
UNFINISHED = frozenset({B.DRAFT, B.SCHEDULED, B.QUEUED, B.SENDING, B.PAUSED})


# The follow-up's audience comes from the original; a body naming one of these is refused.
AUDIENCE_FIELDS = ("recipients", "recipient_variables", "contacts", "contact_lists", "exclude_lists")

ATTEMPTED = (M.SENT, M.DELIVERED, M.READ, M.FAILED)  # handed to a provider, or refused by it
LEFT = (M.SENT, M.DELIVERED, M.READ)  # left Herald and did not fail: may have been seen
DELIVERED = (M.DELIVERED, M.READ)


def follow_up_possible(broadcast: Broadcast) -> bool:
    """Whether the broadcast has finished, so a follow-up of it may be created (the dashboard's offer)."""
    return broadcast.status not in UNFINISHED


def _replied(original: Broadcast) -> Exists:
    """The message's recipient sent a reply attributed to the original (inbound.py links a reply
    to the broadcast that last reached its contact, or its URN when it has none)."""
    replies = Reply.objects.filter(broadcast_id=original.pk).filter(
        Q(urn=OuterRef("urn")) | Q(contact_id__isnull=False, contact_id=OuterRef("contact_id"))
    )
    return Exists(replies)


def follow_up_messages(*, original: Broadcast, audience: str) -> QuerySet[Message]:
    """The original's messages (tests never) whose recipients form `audience`."""
    messages = Message.objects.filter(broadcast_id=original.pk, is_test=False)
    if audience == NOT_DELIVERED:
        return messages.filter(status__in=ATTEMPTED).exclude(status__in=DELIVERED)
    if audience == FAILED:
        return messages.filter(status=M.FAILED)
    if audience == CLICKED:
        return messages.filter(clicked=True)
    if audience == NOT_CLICKED:
        return messages.filter(status__in=LEFT, clicked=False)
    if audience == REPLIED:
        return messages.filter(_replied(original))
    if audience == NOT_REPLIED:
        return messages.filter(status__in=LEFT).exclude(_replied(original))
    raise ValueError(audience)


def _variables_by_urn(original: Broadcast) -> dict[str, dict[str, str]]:
    """The original request's own per-recipient variables, by the URN each recipient was sent to."""
    out: dict[str, dict[str, str]] = {}
    for recipient in (original.audience or {}).get("recipients") or []:
        variables = recipient.get("variables") or {}
        if not variables:
            continue
        try:
            urn = phones.parse_urn(recipient.get("address"), original.client.country)
        except phones.AddressError:
            continue
        resolved = channel_urn(original.channel, urn)
        if resolved is not None:
            out[resolved[0]] = dict(variables)
    return out


def _check_body(original: Broadcast, data: Any) -> tuple[str, dict[str, Any]]:
    """(audience, the rest of the body) or a 400 naming each field at fault; a 409 while the
    original has not finished."""
    if not isinstance(data, Mapping):
        raise ValidationError("The body must be a JSON object.", code="invalid")
    errors: dict[str, list[ValidationError]] = {}
    for name in AUDIENCE_FIELDS:
        if name in data:
            errors[name] = [
                ValidationError(
                    "A follow-up goes to an audience of the original broadcast's recipients: give `audience`, "
                    f"not {name}.",
                    code="not_allowed",
                )
            ]
    if data.get("schedule_mode") == Broadcast.ScheduleMode.RECURRING:
        # A series' occurrences are children of the series, each resolving its audience at its
        # time; a follow-up's audience is fixed when it is created. It goes once.
        errors["schedule_mode"] = [
            ValidationError("A follow-up is sent once: it cannot be a recurring series.", code="invalid_choice")
        ]
    audience = data.get("audience")
    if audience in (None, ""):
        errors["audience"] = [
            ValidationError(f"Give the audience: one of {', '.join(FOLLOW_UP_AUDIENCES)}.", code="required")
        ]
    elif audience not in FOLLOW_UP_AUDIENCES:
        errors["audience"] = [
            ValidationError(f"'{audience}' is not one of: {', '.join(FOLLOW_UP_AUDIENCES)}.", code="invalid_choice")
        ]
    elif audience in (CLICKED, NOT_CLICKED) and not original.track_links:
        errors["audience"] = [
            ValidationError(
                "The original broadcast did not track links, so nobody's clicks are known.", code="clicks_not_tracked"
            )
        ]
    elif audience in (REPLIED, NOT_REPLIED) and not original.with_replies:
        errors["audience"] = [
            ValidationError(
                "The original broadcast did not collect replies (with_replies), so nobody's replies are known.",
                code="replies_not_collected",
            )
        ]
    if errors:
        raise ValidationError(errors)
    if original.status in UNFINISHED:
        raise ConflictError(
            f"A follow-up needs a finished broadcast (sent, partially sent, failed or cancelled); this one is "
            f"{original.status}.",
            code="broadcast_not_finished",
        )
    body = {key: value for key, value in data.items() if key != "audience"}
    body.setdefault("channel", original.channel)
    return str(audience), body


def follow_up_body(*, original: Broadcast, data: Any) -> tuple[str, dict[str, Any]]:
    """The create body of a follow-up: the request's fields plus the chosen recipients of the
    original. Raises ValidationError (400) or ConflictError (409) as the endpoint answers."""
    audience, body = _check_body(original, data)
    rows = list(
        follow_up_messages(original=original, audience=audience).values_list("urn", "contact_id")[
            : 2 * MAX_RECIPIENTS + 1
        ]
    )
    variables = _variables_by_urn(original)
    contacts: list[str] = []
    addressed: list[dict[str, str]] = []
    for urn, contact_id in rows:
        if urn in variables:
            addressed.append({**variables[urn], "urn": urn})
        elif contact_id is not None:
            contacts.append(str(contact_id))
        else:
            addressed.append({"urn": urn})
    if not rows:
        raise ValidationError(
            {
                "audience": [
                    ValidationError(
                        f"No recipient of the original broadcast is in the audience '{audience}'.",
                        code="no_recipients",
                    )
                ]
            }
        )
    if len(contacts) > MAX_RECIPIENTS or len(addressed) > MAX_RECIPIENTS:
        raise ValidationError(
            {
                "audience": [
                    ValidationError(
                        f"A follow-up reaches at most {MAX_RECIPIENTS:,} contacts and {MAX_RECIPIENTS:,} other "
                        "recipients, as a create does; this audience is larger.",
                        code="too_many",
                    )
                ]
            }
        )
    if contacts:
        body["contacts"] = contacts
    if addressed:
        body["recipient_variables"] = addressed
    return audience, body


def broadcast_follow_up(
    *, original: Broadcast, data: Any, api_key: ApiKey | None = None, user: User | None = None
) -> Accepted:
    """POST /broadcasts/{id}/follow-up/: create (or, with `simulate`, quote) the follow-up."""
    audience, body = follow_up_body(original=original, data=data)
    with transaction.atomic():
        # The create's own transaction becomes a savepoint of this one: its dispatch (on commit)
        # starts only once the follow-up's link to its parent is written too.
        accepted = broadcast_create(client=original.client, data=body, api_key=api_key, user=user)
        follow_up = accepted.broadcast
        follow_up.parent = original
        follow_up.follow_up_audience = audience
        if not accepted.simulated:
            Broadcast.objects.filter(pk=follow_up.pk).update(parent=original, follow_up_audience=audience)
    log.info(
        "broadcast.follow_up_created",
        client_id=str(original.client_id),
        parent_id=str(original.pk),
        broadcast_id=None if accepted.simulated else str(follow_up.pk),
        audience=audience,
        simulated=accepted.simulated,
    )
    return accepted


def broadcast_follow_up_precheck(*, original: Broadcast, data: Any) -> dict[str, Any]:
    """The precheck of a follow-up (what its create would do, nothing created): the dashboard's review."""
    _audience, body = follow_up_body(original=original, data=data)
    body.pop("simulate", None)
    return broadcast_precheck(client=original.client, data=body)
