"""`/jina/broadcast/` (seed 004, COMPAT.md §6): Jina Connect's broadcast endpoints as a thin alias of
the native ones. Its names are translated (`platform` ↔ channel upper-case, `template_name` →
template, `recipients` = contact ids → contacts, `scheduled_at`/`scheduled_time` → a scheduled
send, list ids as UUIDs or list numbers), the native services do the rest (create, PATCH rules,
send of a draft, cancel, delete), and answers are the native broadcast plus Jina's fields (upper-case
`status`, `platform`, `template_name`, the `*_count` figures from Herald's counters). Errors are
Herald's native envelope, with Jina's field names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from rest_framework import mixins, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.api.base import HeraldGenericViewSet
from accounts.api.filters import IsoDateTimeFilter
from accounts.api.throttles import API, COMPAT_SEND
from accounts.channels import Channel, send_scope
from accounts.exceptions import HeraldError
from broadcasts import services
from broadcasts.api.serializers import BroadcastSerializer
from broadcasts.models import Broadcast
from broadcasts.selectors import broadcast_list, broadcast_stats
from contacts.selectors import contact_list_ids_by_refs
from wallets.pricing import money
from wallets.selectors import wallet_get

B = Broadcast.Status
PLATFORMS = {c.value.upper(): c.value for c in Channel}
# Native create fields a Jina body may carry as they are (Jina's own names are translated below).
PASSED = (
    "text", "base_language", "attachments", "sender", "purpose", "drip_rate", "route", "tier", "track_links",
    "optimize_text", "transliterate", "skip_opted_out", "with_replies", "list_name", "recipient_variables",
)  # fmt: skip
LIST_FIELDS = ("contact_lists", "exclude_lists")
# Native field names in errors → Jina's.
JINA_NAMES = {"contacts": "recipients", "template": "template_name", "channel": "platform"}
# Jina creates a broadcast as DRAFT or QUEUED (its code); SCHEDULED with a time is what QUEUED becomes.
CREATE_STATUSES = {"DRAFT": B.DRAFT, "QUEUED": None, "SCHEDULED": None}


def _platform(value: Any) -> str:
    channel = PLATFORMS.get(value.strip().upper()) if isinstance(value, str) else None
    if channel is None:
        message = f"'{value}' is not one of: {', '.join(PLATFORMS)}."
        raise ValidationError({"platform": [message]}, code="invalid_choice")
    return channel


def _schedule_time(body: Mapping[str, Any]) -> Any:
    """`scheduled_at` (the doc) or `scheduled_time` (the code); None when neither is set."""
    for key in ("scheduled_at", "scheduled_time"):
        if body.get(key) not in (None, ""):
            return body[key]
    return None


def native_fields(body: Mapping[str, Any], *, client: Any) -> dict[str, Any]:
    """The native names of what a Jina body sets (unknown and read-only fields ignored, as DRF does)."""
    data: dict[str, Any] = {key: body[key] for key in PASSED if key in body}
    if "name" in body:
        data["name"] = body["name"]
    if "template_name" in body:
        data["template"] = body["template_name"]
    if "recipients" in body:
        data["contacts"] = body["recipients"] if body["recipients"] is not None else []
    for key in LIST_FIELDS:
        refs = body.get(key)
        if isinstance(refs, list):
            data[key] = [str(i) for i in contact_list_ids_by_refs(client=client, refs=refs, field=key)]
        elif key in body:
            data[key] = refs  # refused natively, naming the field
    when = _schedule_time(body)
    if when is not None:
        data["schedule_mode"] = Broadcast.ScheduleMode.SCHEDULED
        data["scheduled_at"] = when
    return data


def jina_names(exc: Exception) -> Exception:
    """A native refusal with Jina's field names (`contacts.0` → `recipients.0`)."""

    def rename(field: str) -> str:
        head, dot, rest = field.partition(".")
        return JINA_NAMES.get(head, head) + dot + rest

    if isinstance(exc, DjangoValidationError) and hasattr(exc, "error_dict"):
        return DjangoValidationError({rename(f): errors for f, errors in exc.error_dict.items()})
    if isinstance(exc, HeraldError) and exc.fields:
        exc.fields = {rename(f): messages for f, messages in exc.fields.items()}
    return exc


def render(broadcast: Broadcast, request: Request, *, residual: Any = None, stats: Any = None) -> dict[str, Any]:
    """The native broadcast, plus Jina's names and counts."""
    if stats is None:
        stats = broadcast_stats(broadcast_ids=[broadcast.pk])
    if residual is None:
        wallet = wallet_get(client=broadcast.client_id)
        residual = wallet.available if wallet else None
    data: dict[str, Any] = dict(
        BroadcastSerializer(broadcast, context={"request": request, "stats": stats, "residual_credit": residual}).data
    )
    counts = data["stats"]
    audience = broadcast.audience or {}
    data.update(
        {
            "status": broadcast.status.upper(),
            "platform": broadcast.channel.upper(),
            "template_name": broadcast.template_name or None,
            "recipients": audience.get("contacts") or [],
            "contact_lists": audience.get("contact_lists") or [],
            "scheduled_time": data["scheduled_at"],
            "ui_status_display": data["ui_status"],
            # Herald's `waiting` (held by their time: pending) and `queued` (due, or being sent).
            "pending_count": counts["waiting"],
            "queued_count": counts["queued"],
            "sending_count": 0,
            "sent_count": counts["sent"],
            "delivered_count": counts["delivered"],
            "read_count": counts["read"],
            "failed_count": counts["failed"],
            "blocked_count": broadcast.skipped_opted_out,
            "total_messages": broadcast.total_recipients,
            "success_count": counts["delivered"],
            "initial_cost": money(broadcast.estimated_cost),
        }
    )
    return data


class JinaBroadcastFilter(django_filters.FilterSet):
    status = django_filters.CharFilter(method="filter_status", help_text="DRAFT, SCHEDULED, QUEUED … (any case).")
    platform = django_filters.CharFilter(method="filter_platform", help_text="SMS, WHATSAPP, TELEGRAM, RCS.")
    name = django_filters.CharFilter(lookup_expr="icontains")
    created_after = IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Broadcast
        fields = ["status", "platform", "name", "created_after", "created_before"]

    def filter_status(self, queryset: QuerySet[Broadcast], name: str, value: str) -> QuerySet[Broadcast]:
        wanted = value.strip().lower()
        if wanted not in B.values:
            choices = ", ".join(s.upper() for s in B.values)
            raise ValidationError({"status": [f"'{value}' is not one of: {choices}."]}, code="invalid_choice")
        return queryset.filter(status=wanted)

    def filter_platform(self, queryset: QuerySet[Broadcast], name: str, value: str) -> QuerySet[Broadcast]:
        return queryset.filter(channel=_platform(value))


class JinaBroadcastViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, HeraldGenericViewSet
):
    queryset = Broadcast.objects.all()
    filterset_class = JinaBroadcastFilter
    parser_classes = [JSONParser]
    schema = None  # left out of /api/schema/ (SPEC §14)

    def get_client_queryset(self) -> QuerySet[Broadcast]:
        return broadcast_list(client=self.client)

    def required_scope(self, request: Request) -> object:
        if request.method == "GET":
            return "read"
        if self.action == "create":
            raw = request.data.get("platform") if isinstance(request.data, Mapping) else None
            channel = PLATFORMS.get(raw.strip().upper()) if isinstance(raw, str) else None
            return send_scope(channel or Channel.SMS)
        channel = (
            Broadcast.objects.filter(pk=str(self.kwargs.get("pk")), client=self.client)
            .values_list("channel", flat=True)
            .first()
        )
        return send_scope(channel) if channel else None  # unknown id: 404 follows

    def get_throttle_scope(self, request: Request) -> str:
        return COMPAT_SEND if self.action == "create" else API

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        assert page is not None  # noqa: S101 - pagination is always on
        stats = broadcast_stats(broadcast_ids=[b.pk for b in page])
        wallet = wallet_get(client=self.client)
        residual = wallet.available if wallet else None
        return self.get_paginated_response([render(b, request, residual=residual, stats=stats) for b in page])

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(render(self.get_object(), request))

    def create(self, request: Request) -> Response:
        body = request.data
        if not isinstance(body, Mapping):
            raise ValidationError("The body must be a JSON object.", code="invalid")
        asked = body.get("status")
        key = asked.strip().upper() if isinstance(asked, str) else asked
        if key is not None and key not in CREATE_STATUSES:
            raise ValidationError(
                {"status": ["A broadcast is created as DRAFT or QUEUED (SCHEDULED with scheduled_at)."]},
                code="invalid_choice",
            )
        try:
            data = native_fields(body, client=self.client)
            data["channel"] = _platform(body["platform"]) if body.get("platform") is not None else Channel.SMS
            if key is not None and CREATE_STATUSES[key]:
                data["status"] = CREATE_STATUSES[key]
            principal = self.principal
            accepted = services.broadcast_create(
                client=self.client, data=data, api_key=principal.api_key, user=principal.user
            )
        except (DjangoValidationError, HeraldError) as exc:
            raise jina_names(exc) from exc
        code = status.HTTP_200_OK if accepted.simulated else status.HTTP_201_CREATED
        return Response(render(accepted.broadcast, request, residual=accepted.residual_credit), status=code)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """PUT (and PATCH): the native PATCH rules (only a draft or a scheduled broadcast changes);
        `status` QUEUED/SCHEDULED sends a draft, CANCELLED cancels."""
        broadcast = self.get_object()
        body = request.data
        if not isinstance(body, Mapping):
            raise ValidationError("The body must be a JSON object.", code="invalid")
        try:
            if body.get("platform") is not None and _platform(body["platform"]) != broadcast.channel:
                raise ValidationError(
                    {"platform": ["The platform of a broadcast cannot be changed."]}, code="not_editable"
                )
            patch = native_fields(body, client=self.client)
            if patch:
                broadcast = services.broadcast_update(broadcast=broadcast, patch=patch).broadcast
            broadcast = self._apply_status(broadcast, body.get("status"))
        except (DjangoValidationError, HeraldError) as exc:
            raise jina_names(exc) from exc
        return Response(render(broadcast, request))

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.update(request, *args, **kwargs)

    def _apply_status(self, broadcast: Broadcast, asked: Any) -> Broadcast:
        if asked in (None, "") or (isinstance(asked, str) and asked.strip().lower() == broadcast.status):
            return broadcast
        wanted = asked.strip().upper() if isinstance(asked, str) else asked
        if wanted in ("QUEUED", "SCHEDULED") and broadcast.status == B.DRAFT:
            return services.broadcast_send(broadcast=broadcast).broadcast
        if wanted == "CANCELLED":
            return services.broadcast_cancel(broadcast=broadcast)
        raise ValidationError(
            {"status": [f"A {broadcast.status.upper()} broadcast cannot be set to {wanted} here."]},
            code="invalid_status",
        )

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.broadcast_delete(broadcast=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
