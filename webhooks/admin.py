"""Support staff: endpoints (the secret never shown), deliveries read-only, retry now and disable."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import WebhookDelivery, WebhookEndpoint
from .services import clean_events, webhook_deliveries_retry_now, webhook_endpoint_disable, webhook_endpoint_update

ADMIN_DISABLE_REASON = "Disabled by Herald support."


class WebhookEndpointForm(forms.ModelForm[WebhookEndpoint]):
    """Only `format` is edited here; it must fit the endpoint's events (the service's own check)."""

    class Meta:
        model = WebhookEndpoint
        fields = ["format"]

    def clean_format(self) -> str:
        format = self.cleaned_data["format"]
        try:
            clean_events(self.instance.events, format)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["events"]) from None
        return str(format)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin[WebhookEndpoint]):
    form = WebhookEndpointForm
    list_display = ["url", "client", "format", "active", "disabled_reason", "failing_since", "created_at"]
    list_filter = ["active", "format"]
    search_fields = ["id", "url", "client__name"]
    exclude = ["secret"]
    readonly_fields = ["id", "client", "url", "events", "active", "disabled_reason", "failing_since", "created_at"]
    actions = ["disable"]

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool) -> None:
        webhook_endpoint_update(endpoint=obj, data={"format": form.cleaned_data["format"]})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # an endpoint is made through the API, which shows its secret once

    @admin.action(description="Disable the selected endpoints")
    def disable(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        count = 0
        for endpoint in queryset.filter(active=True):
            webhook_endpoint_disable(endpoint=endpoint, reason=ADMIN_DISABLE_REASON)
            count += 1
        self.message_user(request, f"{count} endpoint(s) disabled.", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin[WebhookDelivery]):
    list_display = ["event_id", "event_type", "endpoint", "attempt", "status", "status_code", "error", "created_at"]
    list_filter = ["status", "event_type"]
    search_fields = ["event__id", "endpoint__id"]
    list_select_related = ["endpoint"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["retry_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WebhookDelivery | None = None) -> bool:
        return False

    @admin.action(description="Retry now (failed attempts)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        count = webhook_deliveries_retry_now(deliveries=queryset.filter(status=WebhookDelivery.Status.FAILED))
        self.message_user(request, f"{count} delivery(ies) scheduled now.", messages.SUCCESS)
