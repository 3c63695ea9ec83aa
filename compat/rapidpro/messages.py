"""RapidPro v2 `messages.json` (COMPAT.md §2.4): GET lists this client's outgoing messages (test
sends apart) and replies; POST sends one message, as a one-recipient broadcast.

Identifiers: an outgoing message's `uuid` is its bigint id in a reversible UUIDv8 form
(`00000000-0000-8000-8000-{id:012x}`) and `id` the integer; a reply keeps its own UUID and has
`id: null`. `broadcast` is always null (clients before 2.19 read an integer there); the
broadcast's UUID is `herald.broadcast`, and `?broadcast=<uuid>` filters on it.

Pagination. Outgoing messages and replies live in two tables, and without `folder` the list is
both, newest first. RapidPro pages with DRF's cursor (one ordering field plus an offset among
equal values, given up past 1,000 equal values), which Herald cannot use as is: every message of
one broadcast shares the broadcast's `created_at`, so a 10,000-recipient broadcast is 10,000 equal
values. So the pages here are a keyset of their own: rows in the order (time desc, source desc,
id desc), where time is `created_at` (`sent_at` for `folder=sent`) and source ranks replies (1)
before outgoing messages (0) of the same microsecond. The cursor is that triple for the last row
shown; each page asks each table for the next 251 rows after it (an indexed range per table, no
offset) and merges them. Every row is shown exactly once across pages, in a stable order, also
while new messages arrive (they sort before the cursor). `previous` is always null (the client
never follows it). Cost: ordering outgoing messages by time sorts the client's rows in the
range (Message has an index on (client, -id), not on created_at); an index (client, -created_at,
-id) would make it a range scan, at the price of every insert, and has not been added.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F, Q, QuerySet
from django.db.models.functions import Coalesce
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from accounts.channels import Channel, send_scope
from broadcasts.models import Message, Reply
from broadcasts.selectors import broadcast_list, connectors_by_name, message_list, reply_list
from wallets.pricing import money

from . import sends
from .base import (
    NON_FIELD,
    PAGE_SIZE,
    BadQuery,
    RapidProView,
    before_after,
    format_datetime,
    json_object,
    list_value,
    uuid_param,
)
from .contact_values import contacts_by_refs, find_contact, ref_value, render_address
from .expressions import rewrite_texts

M = Message.Status
UUID_PREFIX = "00000000-0000-8000-8000-"
MAX_TEXT = 4096
MAX_MEDIA = 10
EXCLUSIVE = ("contact", "folder", "label", "broadcast")
FOLDER_STATUSES = {
    "outbox": (M.PENDING, M.QUEUED, M.SENDING),
    "sent": (M.SENT, M.DELIVERED, M.READ),
    "failed": (M.FAILED, M.SKIPPED, M.CANCELLED),
}
SENT_STATUS: dict[str, str] = {M.SENT: "wired", M.DELIVERED: "delivered", M.READ: "read"}
INCOMING_FOLDERS = ("inbox", "incoming")
OUT, IN = 0, 1  # source ranks: replies sort before outgoing messages of the same microsecond


def message_uuid(pk: int) -> str:
    return f"{UUID_PREFIX}{pk:012x}"


def message_pk(value: uuid.UUID) -> int | None:
    """The message id a UUIDv8 of ours encodes; None for any other UUID (a reply's)."""
    text = str(value)
    return int(text[len(UUID_PREFIX) :], 16) if text.startswith(UUID_PREFIX) else None


def message_status(message: Message) -> str:
    if message.status in (M.PENDING, M.QUEUED, M.SENDING):
        return "errored" if message.status == M.QUEUED and message.attempts > 0 else "queued"
    return SENT_STATUS.get(message.status, "failed")


# --- the merged keyset ----------------------------------------------------------------------------


@dataclass
class Source:
    rank: int
    queryset: QuerySet[Any]

    def after(self, cursor: tuple[datetime, int, str] | None) -> QuerySet[Any]:
        queryset = self.queryset.order_by("-at", "-pk")
        if cursor is None:
            return queryset
        at, rank, pk = cursor
        condition = Q(at__lt=at)
        if self.rank < rank:
            condition |= Q(at=at)
        elif self.rank == rank:
            condition |= Q(at=at, pk__lt=int(pk) if self.rank == OUT else uuid.UUID(pk))
        return queryset.filter(condition)


def _encode(at: datetime, rank: int, pk: Any) -> str:
    raw = json.dumps([at.isoformat(), rank, str(pk)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(value: str) -> tuple[datetime, int, str]:
    try:
        at, rank, pk = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        parsed = datetime.fromisoformat(at)
        if rank not in (OUT, IN) or parsed.tzinfo is None:
            raise ValueError(rank)
        int(pk) if rank == OUT else uuid.UUID(pk)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise NotFound("Invalid cursor") from None
    return parsed, int(rank), str(pk)


def merged_page(request: Request, sources: list[Source]) -> tuple[list[Any], str | None]:
    """One page of the sources merged in (time, rank, id) order, and the `next` URL."""
    raw = request.query_params.get("cursor")
    cursor = _decode(raw) if raw else None
    rows: list[tuple[tuple[datetime, int, Any], Any]] = []
    for source in sources:
        rows.extend(((row.at, source.rank, row.pk), row) for row in source.after(cursor)[: PAGE_SIZE + 1])
    rows.sort(key=lambda item: item[0], reverse=True)
    page = rows[:PAGE_SIZE]
    if len(rows) <= PAGE_SIZE:
        return [row for _key, row in page], None
    last = page[-1][0]
    url = replace_query_param(request.build_absolute_uri(), "cursor", _encode(*last))
    return [row for _key, row in page], url


# --- the objects ----------------------------------------------------------------------------------


def _attachments(urls: list[str]) -> list[dict[str, str]]:
    return [
        {"content_type": mimetypes.guess_type(url.split("?", 1)[0])[0] or "application/octet-stream", "url": url}
        for url in urls
    ]


def _contact(contact: Any) -> dict[str, Any] | None:
    if contact is None:
        return None
    return {"uuid": str(contact.pk), "name": f"{contact.first_name} {contact.last_name}".strip() or None}


def _channel(connector: Any) -> dict[str, str] | None:
    return {"uuid": str(connector.pk), "name": connector.name} if connector is not None else None


class Page:
    """A page's rows serialized with three extra reads in all: connectors and broadcasts'
    attachments (replies bring their connector along)."""

    def __init__(self, client: Any, rows: list[Any]) -> None:
        self.client = client
        outgoing = [row for row in rows if isinstance(row, Message)]
        self.connectors = connectors_by_name(names=[m.connector for m in outgoing])
        ids = {m.broadcast_id for m in outgoing}
        self.attachments: dict[Any, list[str]] = (
            dict(broadcast_list(client=client).filter(pk__in=ids).values_list("pk", "attachments")) if ids else {}
        )

    def serialize(self, row: Any) -> dict[str, Any]:
        return self._outgoing(row) if isinstance(row, Message) else self._reply(row)

    def _common(self, row: Any) -> dict[str, Any]:
        return {
            "contact": _contact(row.contact),
            "urn": render_address(row.urn, self.client.country),
            "type": "text",
            "archived": False,
            "visibility": "visible",
            "text": row.text,
            "labels": [],
            "flow": None,
            "quick_replies": [],
            "media": None,
        }

    def _outgoing(self, message: Message) -> dict[str, Any]:
        moments = [message.created_at, message.queued_at, message.sent_at, message.delivered_at, message.read_at,
                   message.failed_at]  # fmt: skip
        return {
            "uuid": message_uuid(message.pk),
            "id": message.pk,
            "broadcast": None,
            **self._common(message),
            "channel": _channel(self.connectors.get(message.connector)),
            "direction": "out",
            "status": message_status(message),
            "attachments": _attachments(list(self.attachments.get(message.broadcast_id) or [])),
            "created_on": format_datetime(message.created_at),
            "sent_on": format_datetime(message.sent_at),
            "modified_on": format_datetime(max(m for m in moments if m is not None)),
            "herald": {
                "broadcast": str(message.broadcast_id),
                "status": message.status,
                "segments": message.segments,
                "cost": money(message.cost),
                "error_code": message.error_code,
            },
        }

    def _reply(self, reply: Reply) -> dict[str, Any]:
        return {
            "uuid": str(reply.pk),
            "id": None,
            "broadcast": None,
            **self._common(reply),
            "channel": _channel(reply.connector),
            "direction": "in",
            "status": "handled",
            "attachments": [],
            "created_on": format_datetime(reply.created_at),
            "sent_on": None,
            "modified_on": format_datetime(reply.created_at),
            "herald": {"broadcast": str(reply.broadcast_id) if reply.broadcast_id else None, "keyword": reply.keyword},
        }


# --- the view -------------------------------------------------------------------------------------


def _contact_channel(client: Any, value: object) -> str:
    """The channel a message to this contact goes out on: the URN's scheme when the contact is
    named by URN, else its phone (SMS) or, without one, Telegram."""
    if isinstance(value, str) and ":" in value:
        scheme = value.partition(":")[0].strip().lower()
        if scheme in sends.CHANNEL_BY_SCHEME:
            return sends.CHANNEL_BY_SCHEME[scheme]
    contact = find_contact(client=client, ref=value) if isinstance(value, str | int) else None
    if contact is not None and not contact.phone and contact.telegram_chat_id:
        return Channel.TELEGRAM
    return Channel.SMS


class MessagesView(RapidProView):
    send_methods = frozenset({"POST"})

    def required_scope(self, request: Request) -> object:
        if request.method == "POST":
            data = request.data if isinstance(request.data, Mapping) else {}
            return send_scope(_contact_channel(self.client, data.get("contact")))
        return "read"

    # --- GET -----------------------------------------------------------------------------------

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = request.query_params
        if len([name for name in EXCLUSIVE if params.get(name)]) > 1:
            raise BadQuery(f"You may only specify one of the {', '.join(EXCLUSIVE)} parameters")
        client = self.client
        outgoing: QuerySet[Any] = message_list(client=client).filter(is_test=False).select_related("contact")
        replies: QuerySet[Any] = reply_list(client=client).select_related("contact")
        time_field = "created_at"

        raw_id = params.get("id")
        if raw_id:
            try:
                wanted_id = int(raw_id)
            except ValueError:
                raise BadQuery("Value for id must be an integer") from None
            outgoing, replies = outgoing.filter(pk=wanted_id), replies.none()
        wanted = uuid_param(request, "uuid")
        if wanted is not None:
            pk = message_pk(wanted)
            outgoing = outgoing.filter(pk=pk) if pk is not None else outgoing.none()
            replies = replies.filter(pk=wanted) if pk is None else replies.none()

        folder = (params.get("folder") or "").strip().lower()
        if folder:
            if folder in INCOMING_FOLDERS:
                outgoing = outgoing.none()
            elif folder in FOLDER_STATUSES:
                outgoing, replies = outgoing.filter(status__in=FOLDER_STATUSES[folder]), replies.none()
                if folder == "sent":
                    time_field = "sent_on"
            else:  # flows, archived, and folders RapidPro does not have
                outgoing, replies = outgoing.none(), replies.none()
        contact = params.get("contact")
        if contact:
            try:
                contact_id = uuid.UUID(contact)
            except ValueError:
                outgoing, replies = outgoing.none(), replies.none()
            else:
                outgoing, replies = outgoing.filter(contact_id=contact_id), replies.filter(contact_id=contact_id)
        if params.get("label"):
            outgoing, replies = outgoing.none(), replies.none()  # Herald has no labels
        broadcast = uuid_param(request, "broadcast")
        if broadcast is not None:
            outgoing, replies = outgoing.filter(broadcast_id=broadcast), replies.none()
        outgoing, replies = before_after(request, outgoing, "created_at"), before_after(request, replies, "created_at")

        at = Coalesce("sent_at", "created_at") if time_field == "sent_on" else F("created_at")
        sources = [Source(OUT, outgoing.annotate(at=at)), Source(IN, replies.annotate(at=F("created_at")))]
        rows, next_url = merged_page(request, sources)
        page = Page(client, rows)
        return Response({"next": next_url, "previous": None, "results": [page.serialize(row) for row in rows]})

    # --- POST ----------------------------------------------------------------------------------

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = json_object(request.data)
        client = self.client
        errors: dict[str, Any] = {}
        raw_contact = body.get("contact")
        contact = None
        if raw_contact in (None, ""):
            errors["contact"] = ["This field is required."]
        else:
            try:
                (contact,) = contacts_by_refs(client=client, refs=[ref_value(raw_contact)])
            except ValueError as exc:
                errors["contact"] = [str(exc)]
        text = body.get("text")
        if text is not None and not isinstance(text, str):
            errors["text"] = ["Not a valid string."]
        elif text and len(text) > MAX_TEXT:
            errors["text"] = [f"Ensure this field has no more than {MAX_TEXT} characters."]
        for name in ("attachments", "quick_replies"):
            value = body.get(name)
            try:
                if value is not None:
                    list_value(value, limit=MAX_MEDIA)
            except ValueError as exc:
                errors[name] = [str(exc)]
        if errors:
            raise ValidationError(errors)
        attachments = list(body.get("attachments") or [])
        if not (text or attachments):
            raise ValidationError({NON_FIELD: ["Must provide either text or attachments."]})
        assert contact is not None  # noqa: S101 - refused above otherwise

        channel = _contact_channel(client, raw_contact)
        if not self.principal.has_scope(send_scope(channel)):
            raise PermissionDenied(code="missing_scope")
        language = client.language or "eng"
        native: dict[str, Any] = {
            "name": f"RapidPro API: {(text or 'message')[:60]}",
            "channel": channel,
            "contacts": [str(contact.pk)],
            "purpose": "transactional",
            "with_replies": True,
        }
        if text:
            native["text"] = rewrite_texts({language: text})
            native["base_language"] = language
        if attachments:
            native["attachments"] = [sends.attachment_url(a) for a in attachments]
        principal = self.principal
        accepted = sends.create(client=client, data=native, api_key=principal.api_key, user=principal.user)
        message = (
            message_list(client=client)
            .filter(broadcast=accepted.broadcast, is_test=False)
            .select_related("contact")
            .order_by("pk")
            .first()
        )
        if message is None:  # not prepared yet (never for one recipient): answer what is known
            raise NotFound()
        answer = Page(client, [message]).serialize(message)
        answer["quick_replies"] = [
            item if isinstance(item, Mapping) else {"text": str(item), "extra": None}
            for item in body.get("quick_replies") or []
        ]
        return Response(answer, status=status.HTTP_201_CREATED)
