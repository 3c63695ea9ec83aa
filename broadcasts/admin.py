"""Support staff: broadcasts (cancel, retry failed), messages, senders, connectors."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from accounts.exceptions import HeraldError, describe_validation_error

from .connectors import connector_class
from .models import Broadcast, Connector, Message, Reply, Sender
from .selectors import broadcast_stats
from .services import broadcast_cancel, broadcast_retry_failed
from .states import UI_STATUS

SECRET_WORDS = ("token", "secret", "password", "key", "auth")


@admin.register(Broadcast)
class BroadcastAdmin(admin.ModelAdmin[Broadcast]):
    list_display = [
        "name",
        "client",
        "channel",
        "status",
        "pause_reason",
        "total_recipients",
        "estimated_cost",
        "currency",
        "created_at",
    ]
    list_filter = ["status", "channel", "schedule_mode", "purpose"]
    search_fields = ["name", "id", "client__name"]
    date_hierarchy = "created_at"
    actions = ["cancel_broadcasts", "retry_failed"]
    # The text as people read it and the live counters, instead of the raw JSON of `text`.
    readonly_fields = [f.name for f in Broadcast._meta.fields if f.name != "text"] + [
        "ui_status",
        "message_text",
        "counters",
    ]
    exclude = ["audience", "text"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Broadcast | None = None) -> bool:
        return False

    @admin.display(description="UI status")
    def ui_status(self, obj: Broadcast) -> str:
        return UI_STATUS.get(obj.status, obj.status)

    @admin.display(description="Text")
    def message_text(self, obj: Broadcast) -> str:
        if not obj.text:
            return f"Template {obj.template_name}" if obj.template_name else "—"
        languages = obj.text.items() if isinstance(obj.text, dict) else [("", obj.text)]
        return format_html_join(
            "",
            '<p><strong>{}</strong></p><pre style="white-space: pre-wrap">{}</pre>',
            ((language, text) for language, text in languages),
        )

    @admin.display(description="Counters")
    def counters(self, obj: Broadcast) -> str:
        stats = broadcast_stats(broadcast_ids=[obj.pk])[obj.pk]
        figures = [
            ("queued", stats.queued),
            ("sent", stats.sent),
            ("delivered", stats.delivered),
            ("read", stats.read),
            ("failed", stats.failed),
            ("skipped", stats.skipped),
            ("cancelled", stats.cancelled),
            ("clicks", stats.clicks),
            ("cost", stats.cost),
        ]
        return format_html(
            "<table><tr>{}</tr><tr>{}</tr></table>",
            format_html_join("", "<th>{}</th>", ((name,) for name, _ in figures)),
            format_html_join("", "<td>{}</td>", ((value,) for _, value in figures)),
        )

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


def _shortened(value: str, limit: int, whole: str | None = None) -> str:
    """A long value cut to `limit` characters with an ellipsis, the whole of it (or `whole`) in the
    tooltip; it may wrap anywhere, so an unbroken string never widens its column."""
    whole = value if whole is None else whole
    if len(value) <= limit and whole == value:
        return value
    return format_html(
        '<span title="{}" style="overflow-wrap: anywhere">{}</span>', whole, Truncator(value).chars(limit)
    )


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    # Issue 21: the list fits a 1440 px screen beside the admin's two sidebars. Long values are cut
    # (whole in the tooltip); cost, test flag, channel, text and the rest are on each message's page,
    # and test messages and channels are still filters.
    list_display = ["id", "broadcast_name", "recipient", "status", "reason", "parts", "sent"]
    list_filter = ["status", "channel", "is_test"]
    search_fields = ["=urn", "=provider_message_id", "=broadcast__id"]
    raw_id_fields = ["broadcast", "contact", "client"]
    list_select_related = ["broadcast"]
    show_full_result_count = False  # counting millions of rows on every page would be slow

    @admin.display(description="Broadcast", ordering="broadcast")
    def broadcast_name(self, obj: Message) -> str:
        """The broadcast's name, cut short, linking to its admin page (the list's way to it)."""
        url = reverse("admin:broadcasts_broadcast_change", args=[obj.broadcast_id])
        return format_html('<a href="{}">{}</a>', url, _shortened(obj.broadcast.name, 24))

    @admin.display(description="Recipient", ordering="urn")
    def recipient(self, obj: Message) -> str:
        return _shortened(obj.urn, 24)

    @admin.display(description="Reason", ordering="error_code")
    def reason(self, obj: Message) -> str:
        """The error code, cut short; the provider's message too in the tooltip."""
        whole = f"{obj.error_code}: {obj.error_message}" if obj.error_message else obj.error_code
        return _shortened(obj.error_code, 20, whole) if obj.error_code else ""

    @admin.display(description="Parts", ordering="segments")
    def parts(self, obj: Message) -> int:
        return obj.segments

    @admin.display(description="Sent (UTC)", ordering="sent_at")
    def sent(self, obj: Message) -> str:
        return obj.sent_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if obj.sent_at else "—"

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


class ConnectorForm(forms.ModelForm[Connector]):
    """The config is written through the backend's own validation (as `createconnector` does) and
    never shown again in clear: leave it empty when changing a connector to keep the stored one."""

    new_config = forms.JSONField(
        required=False,
        label="config",
        help_text="Backend settings as JSON (docs/providers/). Stored encrypted; leave empty to keep the current one.",
    )

    class Meta:
        model = Connector
        fields = ["name", "channel", "backend", "tps", "active", "client"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        config = cleaned.get("new_config")
        backend = cleaned.get("backend")
        if config in (None, "") and self.instance._state.adding:
            config = {}
        if config not in (None, "") and backend:
            try:
                cleaned["new_config"] = connector_class(backend).validate_config(config)
            except LookupError:
                self.add_error("backend", f"The '{backend}' backend is not available.")
            except ValidationError as exc:
                self.add_error("new_config", describe_validation_error(exc))
        return cleaned

    def save(self, commit: bool = True) -> Connector:
        connector = super().save(commit=False)
        config = self.cleaned_data.get("new_config")
        if config not in (None, ""):
            connector.config = config
        if commit:
            connector.save()
        return connector


@admin.register(Connector)
class ConnectorAdmin(admin.ModelAdmin[Connector]):
    form = ConnectorForm
    list_display = ["name", "channel", "backend", "tps", "active", "client", "created_at"]
    list_filter = ["channel", "backend", "active"]
    search_fields = ["name"]
    autocomplete_fields = ["client"]
    readonly_fields = ["id", "masked_config", "hook_urls", "created_at", "updated_at"]
    actions = ["disable_connectors", "enable_connectors"]

    def get_fields(self, request: HttpRequest, obj: Connector | None = None) -> Any:
        fields = ["name", "channel", "backend", "tps", "active", "client", "new_config"]
        return fields if obj is None else ["id", *fields, "masked_config", "hook_urls", "created_at", "updated_at"]

    @admin.display(description="config (secrets masked)")
    def masked_config(self, obj: Connector) -> str:
        try:
            masked = connector_class(obj.backend).masked_config(obj.config or {})
        except LookupError:
            masked = {}
        except ValueError:  # FIELD_ENCRYPTION_KEY changed: the operator must re-enter the config
            return "cannot be decrypted: FIELD_ENCRYPTION_KEY (or SECRET_KEY) changed; enter the config again"
        shown = {
            key: ("••••••" if any(word in key.lower() for word in SECRET_WORDS) and value == masked.get(key) else value)
            for key, value in masked.items()
        }
        return format_html("<code>{}</code>", json.dumps(shown, sort_keys=True, ensure_ascii=False))

    @admin.display(description="URLs for the provider's console")
    def hook_urls(self, obj: Connector) -> str:
        base = f"{settings.PUBLIC_BASE_URL}/hooks/{obj.pk}"
        return format_html("status: <code>{}/status/</code><br>inbound: <code>{}/inbound/</code>", base, base)

    @admin.action(description="Disable the selected connectors (nothing more is sent through them)")
    def disable_connectors(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        count = queryset.update(active=False)
        self.message_user(request, f"{count} connector(s) disabled.", messages.SUCCESS)

    @admin.action(description="Enable the selected connectors")
    def enable_connectors(self, request: HttpRequest, queryset: QuerySet[Connector]) -> None:
        count = queryset.update(active=True)
        self.message_user(request, f"{count} connector(s) enabled.", messages.SUCCESS)


@admin.register(Reply)
class ReplyAdmin(admin.ModelAdmin[Reply]):
    list_display = ["received_at", "urn", "channel", "client", "broadcast", "keyword", "connector"]
    list_filter = ["channel", "keyword"]
    search_fields = ["urn", "client__name", "broadcast__name"]
    readonly_fields = [f.name for f in Reply._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Reply | None = None) -> bool:
        return False
