"""RapidPro v2 `broadcasts.json` (COMPAT.md §2.4): GET lists this client's broadcasts (drafts
apart) newest first; POST creates one through `broadcast_create`, the native create.

Deviations, documented in docs/compat.md: scheduled broadcasts are listed (`pending`); `text`
shows the expressions as Herald stores them (`@contact` as `{{name}}`, see expressions.py);
attachments go out in the base language only (Herald has one attachment list per broadcast);
quick replies are checked and echoed in the POST answer, never sent nor stored; a simulation
(`herald.simulate`) answers 200 with `uuid: null`, as the native API does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import JSONField
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.channels import Channel, send_scope
from broadcasts.models import Broadcast
from broadcasts.selectors import BroadcastStats, broadcast_list, broadcast_skips, broadcast_stats
from contacts.selectors import contact_list_queryset, contact_queryset
from wallets.pricing import money

from . import sends
from .base import (
    MAX_ITEMS,
    NON_FIELD,
    RapidProPagination,
    RapidProView,
    before_after,
    format_datetime,
    json_object,
    list_value,
    uuid_param,
)
from .contact_values import render_address
from .expressions import rewrite_texts

B = Broadcast.Status
STATUS: dict[str, str] = {
    B.SCHEDULED: "pending",
    B.QUEUED: "queued",
    B.SENDING: "started",
    B.PAUSED: "started",
    B.SENT: "completed",
    B.PARTIALLY_SENT: "completed",
    B.FAILED: "failed",
    B.CANCELLED: "interrupted",
}
MAX_TEXT = 4096  # RapidPro's Msg.MAX_TEXT_LEN; Herald's own, smaller SMS limit is the native create's
MAX_MEDIA = 10
LANGUAGE = re.compile(r"^[a-z]{3}$")
HERALD_FIELDS = (
    "name", "channel", "sender", "purpose", "scheduled_at", "drip_rate", "template", "track_links", "tier", "simulate",
)  # fmt: skip
HEAD = MAX_ITEMS


def _head(path: str) -> RawSQL:
    """The first entries of a JSON path of `audience`, read in PostgreSQL (a broadcast may name
    10,000 recipients; a page shows 100 of each for 250 broadcasts)."""
    # `path` is one of three constants below, never input.
    return RawSQL(  # noqa: S611
        f'jsonb_path_query_array("broadcasts_broadcast"."audience", \'{path}\'::jsonpath)',
        [],
        output_field=JSONField(),
    )


def broadcast_queryset(client: Any) -> QuerySet[Broadcast]:
    return (
        broadcast_list(client=client)
        .exclude(status=B.DRAFT)
        .defer("audience")
        .annotate(
            urns_head=_head(f"$.recipients[0 to {HEAD - 1}].address"),
            contacts_head=_head(f"$.contacts[0 to {HEAD - 1}]"),
            groups_head=_head(f"$.contact_lists[0 to {HEAD - 1}]"),
        )
    )


# --- reading ------------------------------------------------------------------------------------


def _heads(broadcast: Broadcast) -> tuple[list[str], list[str], list[str]]:
    if hasattr(broadcast, "urns_head"):
        heads = (getattr(broadcast, name) or [] for name in ("urns_head", "contacts_head", "groups_head"))
        return tuple(list(head) for head in heads)  # type: ignore[return-value]
    audience = broadcast.audience or {}  # a simulation: never stored
    return (
        [r["address"] for r in (audience.get("recipients") or [])[:HEAD]],
        list(audience.get("contacts") or [])[:HEAD],
        list(audience.get("contact_lists") or [])[:HEAD],
    )


def _progress(broadcast: Broadcast) -> dict[str, int]:
    if broadcast.preparing:
        return {"total": broadcast.preparation_total or -1, "started": broadcast.preparation_processed}
    return {"total": broadcast.total_recipients or -1, "started": broadcast.total_recipients}


def _translations(broadcast: Broadcast, language: str) -> tuple[dict[str, str], str]:
    """({language: text}, base language): a text given as one string is in the client's language."""
    texts = dict(broadcast.text or {})
    base = broadcast.base_language or language
    if "" in texts:
        texts[base] = texts.pop("")
    return texts, base


class Page:
    """What a page of broadcasts needs besides their rows: stats, contact and group names."""

    def __init__(self, client: Any, broadcasts: list[Broadcast]) -> None:
        self.client = client
        stored = [b.pk for b in broadcasts if not b._state.adding]
        self.stats = broadcast_stats(broadcast_ids=stored)
        contact_ids: set[str] = set()
        group_ids: set[str] = set()
        for broadcast in broadcasts:
            _urns, contacts, groups = _heads(broadcast)
            contact_ids.update(contacts)
            group_ids.update(groups)
        self.contacts = {
            str(pk): (f"{first} {last}".strip() or None)
            for pk, first, last in contact_queryset(client=client)
            .filter(pk__in=contact_ids)
            .values_list("pk", "first_name", "last_name")
        }
        self.groups = {
            str(pk): name
            for pk, name in contact_list_queryset(client=client).filter(pk__in=group_ids).values_list("pk", "name")
        }

    def serialize(self, broadcast: Broadcast) -> dict[str, Any]:
        client = self.client
        urns, contacts, groups = _heads(broadcast)
        texts, base = _translations(broadcast, client.language)
        languages = list(texts) or [base]
        stats = self.stats.get(broadcast.pk, BroadcastStats())
        simulated = broadcast._state.adding
        herald: dict[str, Any] = {
            "status": broadcast.status,
            "channel": broadcast.channel,
            "name": broadcast.name,
            "template": broadcast.template_name or None,
            "scheduled_at": format_datetime(broadcast.scheduled_at),
            "preparing": broadcast.preparing,
            "total_recipients": broadcast.total_recipients,
            "estimated_cost": money(broadcast.estimated_cost),
            "currency": broadcast.currency,
            "stats": {
                "queued": stats.queued,
                "sent": stats.sent,
                "delivered": stats.delivered,
                "read": stats.read,
                "failed": stats.failed,
                "clicks": stats.clicks,
            },
            "skipped": broadcast_skips(broadcast),
        }
        if simulated:
            herald["simulated"] = True
        return {
            "uuid": None if simulated else str(broadcast.pk),
            "id": None,
            "status": STATUS.get(broadcast.status, "queued"),
            "progress": _progress(broadcast),
            "urns": [render_address(u, client.country) for u in urns],
            "contacts": [{"uuid": c, "name": self.contacts[c]} for c in contacts if c in self.contacts],
            "groups": [{"uuid": g, "name": self.groups[g]} for g in groups if g in self.groups],
            "text": texts,
            "attachments": {lang: list(broadcast.attachments or []) if lang == base else [] for lang in languages},
            "quick_replies": {lang: [] for lang in languages},
            "base_language": base,
            "created_on": None if simulated else format_datetime(broadcast.created_at),
            "herald": herald,
        }


# --- writing ------------------------------------------------------------------------------------


def _translated(name: str, value: Any, language: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """A value given plain (→ the client's language) or as {language: value}: (translations, errors)."""
    if value is None or value == "" or value == [] or value == {}:
        return None, {}
    if isinstance(value, Mapping):
        bad = [str(k) for k in value if not isinstance(k, str) or not LANGUAGE.match(k)]
        if bad:
            return None, {name: [f"Language code {bad[0]} is not valid."]}
        return dict(value), {}
    return {language: value}, {}


def _text(value: Any, language: str) -> tuple[dict[str, str] | None, dict[str, Any]]:
    if value is not None and not isinstance(value, str | Mapping):
        return None, {"text": ["Value must be a string or dict of strings."]}
    texts, errors = _translated("text", value, language)
    if errors or texts is None:
        return None, errors
    if not all(isinstance(t, str) for t in texts.values()):
        return None, {"text": ["Translations must be strings."]}
    too_long = {lang: [f"Ensure this field has no more than {MAX_TEXT} characters."] for lang, t in texts.items()
                if len(t) > MAX_TEXT}  # fmt: skip
    if too_long:
        return None, {"text": too_long if isinstance(value, Mapping) else too_long[language]}
    return {lang: t for lang, t in texts.items() if t}, {}


def _media(name: str, value: Any, language: str) -> tuple[dict[str, list[Any]] | None, dict[str, Any]]:
    lists, errors = _translated(name, value, language)
    if errors or lists is None:
        return None, errors
    for items in lists.values():
        try:
            list_value(items, limit=MAX_MEDIA)
        except ValueError as exc:
            return None, {name: [str(exc)]}
    return lists, {}


def scheme_channel(data: Any) -> str:
    """The channel a POST body asks for, read leniently (for the scope check, before validation):
    the URNs' one scheme, else `herald.channel`, else SMS."""
    if not isinstance(data, Mapping):
        return Channel.SMS
    herald: Any = data.get("herald")
    asked = herald.get("channel") if isinstance(herald, Mapping) else None
    urns: Any = data.get("urns")
    urns = urns if isinstance(urns, list) else []
    schemes = {u.partition(":")[0].strip().lower() for u in urns if isinstance(u, str) and ":" in u}
    if len(schemes) == 1:
        (scheme,) = schemes
        if scheme in sends.CHANNEL_BY_SCHEME:
            return asked if asked in sends.CHANNELS_OF_SCHEME[scheme] else sends.CHANNEL_BY_SCHEME[scheme]
    return asked if asked in Channel.values else Channel.SMS


class BroadcastsView(RapidProView):
    send_methods = frozenset({"POST"})
    ordering = ("-created_at", "-pk")

    def required_scope(self, request: Request) -> object:
        if request.method == "POST":
            return send_scope(scheme_channel(request.data))
        return "read"

    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = broadcast_queryset(self.client)
        wanted = uuid_param(request, "uuid")
        if wanted is not None:
            queryset = queryset.filter(pk=wanted)
        if request.query_params.get("id"):
            queryset = queryset.none()  # RapidPro's integer ids: Herald's broadcasts have none
        queryset = before_after(request, queryset, "created_at")
        paginator = RapidProPagination()
        paginator.ordering = self.ordering
        rows: list[Broadcast] = list(paginator.paginate_queryset(queryset, request, view=self) or [])
        page = Page(self.client, rows)
        return paginator.get_paginated_response([page.serialize(b) for b in rows])

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = json_object(request.data)
        client = self.client
        herald = body.get("herald") or {}
        errors: dict[str, Any] = {}
        if not isinstance(herald, Mapping):
            raise ValidationError({"herald": ["Must be an object."]})
        unknown = sorted(set(herald) - set(HERALD_FIELDS))
        if unknown:
            errors["herald"] = {name: [f"Unknown field '{name}'."] for name in unknown}

        language = client.language or "eng"
        texts, problems = _text(body.get("text"), language)
        errors.update(problems)
        attachments, problems = _media("attachments", body.get("attachments"), language)
        errors.update(problems)
        quick_replies, problems = _media("quick_replies", body.get("quick_replies"), language)
        errors.update(problems)
        base_language = body.get("base_language")
        if base_language not in (None, "") and (
            not isinstance(base_language, str) or not LANGUAGE.match(base_language)
        ):
            errors["base_language"] = ["Not a valid ISO639-3 language code."]
        urns: list[Any] = []
        contacts: list[Any] = []
        groups: list[Any] = []
        for name, resolve in (
            ("urns", lambda: sends.read_urns(body.get("urns"), client.country)),
            ("contacts", lambda: sends.resolve_contacts(client=client, values=body.get("contacts"))),
            ("groups", lambda: sends.resolve_groups(client=client, values=body.get("groups"))),
        ):
            try:
                found = resolve()
            except ValidationError as exc:
                errors.update(exc.detail if isinstance(exc.detail, dict) else {name: exc.detail})
            else:
                {"urns": urns, "contacts": contacts, "groups": groups}[name].extend(found)
        if errors:
            raise ValidationError(errors)

        if not (texts or attachments or herald.get("template")):
            raise ValidationError({NON_FIELD: ["Must provide either text or attachments."]})
        if not (urns or contacts or groups):
            raise ValidationError({NON_FIELD: ["Must provide either urns, contacts or groups."]})
        given: list[str] = list(texts or attachments or {}) or [language]
        base = str(base_language or given[0])
        if base_language:
            if texts is not None and base not in texts:
                raise ValidationError({NON_FIELD: ["No text translation provided in base language."]})
            if attachments and base not in attachments:
                raise ValidationError({NON_FIELD: ["No attachment translations provided in base language."]})
            if quick_replies and base not in quick_replies:
                raise ValidationError({NON_FIELD: ["No quick reply translations provided in base language."]})

        channel = sends.urns_channel(urns, herald.get("channel")) or herald.get("channel") or Channel.SMS
        if not self.principal.has_scope(send_scope(str(channel))):
            raise PermissionDenied(code="missing_scope")
        native: dict[str, Any] = {key: herald[key] for key in HERALD_FIELDS if herald.get(key) is not None}
        native["channel"] = channel
        if texts:
            native["text"] = rewrite_texts(texts)
            native["base_language"] = base
        if urns:
            native["recipients"] = [str(u) for u in urns]
        if contacts:
            native["contacts"] = [str(c.pk) for c in contacts]
        if groups:
            native["contact_lists"] = [str(g.pk) for g in groups]
        if attachments and attachments.get(base):
            native["attachments"] = [sends.attachment_url(a) for a in attachments[base]]
        if native.get("scheduled_at"):
            native["schedule_mode"] = Broadcast.ScheduleMode.SCHEDULED
        elif native.get("drip_rate") is not None:
            native["schedule_mode"] = Broadcast.ScheduleMode.DRIP
        if not native.get("name"):
            label = (texts or {}).get(base) or herald.get("template") or "broadcast"
            native["name"] = f"RapidPro API: {str(label)[:60]}"

        principal = self.principal
        accepted = sends.create(client=client, data=native, api_key=principal.api_key, user=principal.user, upsert=urns)
        broadcast = accepted.broadcast
        if not accepted.simulated:
            broadcast = broadcast_queryset(client).get(pk=broadcast.pk)
        answer = Page(client, [broadcast]).serialize(broadcast)
        if quick_replies:
            answer["quick_replies"] = {lang: quick_replies.get(lang, []) for lang in answer["quick_replies"]}
        return Response(answer, status=status.HTTP_200_OK if accepted.simulated else status.HTTP_201_CREATED)
