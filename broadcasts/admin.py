"""Support staff: broadcasts (cancel, retry failed), messages, senders, connectors."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from accounts.exceptions import HeraldError, describe_validation_error

from .lifecycle import broadcast_cancel, broadcast_retry_failed
from .models import Broadcast, Connector, Message, Sender
from .states import UI_STATUS

SECRET_WORDS = ("token", "secret", "password", "key", "auth")


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin[Broadcast]):
    list_display = [
        "name",
        "client",
        "channel",
        "status",
        "total_recipients",
        "estimated_cost",
        "currency",
        "created_at",
    ]
    list_filter = ["status", "channel", "schedule_mode", "purpose"]
    search_fields = ["name", "id", "client__name"]
    date_hierarchy = "created_at"
    actions = ["cancel_broadcasts", "retry_failed"]
    readonly_fields = [f.name for f in Broadcast._meta.fields] + ["ui_status"]
    exclude = ["audience"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Broadcast | None = None) -> bool:
        return False

    @admin.display(description="UI status")
    def ui_status(self, obj: Broadcast) -> str:
        return UI_STATUS.get(obj.status, obj.status)

    def _run(self, request: HttpRequest, queryset: QuerySet[Broadcast], action: Any, verb: str) -> None:
        done, refused = 0, []
        for broadcast in queryset:
            try:
                action(broadcast=broadcast)
                done += 1
            except (HeraldError, ValidationError) as exc:
                message = exc.message if isinstance(exc, HeraldError) else describe_validation_error(exc)
                refused.append(f"{broadcast.name}: {message}")
        if done:
            self.message_user(request, f"{verb} {done} broadcast(s).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)

    @admin.action(description="Cancel selected broadcasts")
    def cancel_broadcasts(self, request: HttpRequest, queryset: QuerySet[Broadcast]) -> None:
        self._run(request, queryset, broadcast_cancel, "Cancelled")

    @admin.action(description="Retry failed messages of selected broadcasts")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet[Broadcast]) -> None:
        self._run(request, queryset, broadcast_retry_failed, "Retrying failed messages of")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    list_display = ["id", "broadcast", "urn", "status", "error_code", "segments", "cost", "sent_at", "is_test"]
    list_filter = ["status", "channel", "is_test"]
    search_fields = ["=urn", "=provider_message_id", "=broadcast__id"]
    raw_id_fields = ["broadcast", "contact", "client"]
    list_select_related = ["broadcast"]
    show_full_result_count = False  # counting millions of rows on every page would be slow

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Message], search_term: str) -> Any:
        # "+256…" or "tel:+256…": the URN search matches a bare number too.
        term = search_term.strip()
        if term.startswith("+"):
            return queryset.filter(urn__in=[f"tel:{term}", f"whatsapp:{term}"]), False
        return super().get_search_results(request, queryset, search_term)

    def get_list_filter(self, request: HttpRequest) -> Any:
        return [*self.list_filter, ("broadcast", admin.RelatedOnlyFieldListFilter)]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False


@admin.register(Sender)
class SenderAdmin(admin.ModelAdmin[Sender]):
    list_display = ["sender", "channel", "client", "created_at"]
    list_filter = ["channel"]
    search_fields = ["sender", "client__name"]
    autocomplete_fields = ["client"]


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin[Connector]):
    list_display = ["name", "channel", "backend", "tps", "active", "created_at"]
    list_filter = ["channel", "backend", "active"]
    search_fields = ["name"]
    readonly_fields = ["id", "masked_config", "created_at", "updated_at"]
    fields = ["id", "name", "channel", "backend", "tps", "active", "masked_config", "created_at", "updated_at"]

    @admin.display(description="config (secrets masked)")
    def masked_config(self, obj: Connector) -> str:
        shown = {
            key: ("••••••" if any(word in key.lower() for word in SECRET_WORDS) else value)
            for key, value in (obj.config or {}).items()
        }
        return format_html("<code>{}</code>", json.dumps(shown, sort_keys=True))
