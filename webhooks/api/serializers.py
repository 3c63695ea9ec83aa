"""Shapes of the webhooks API. Types only; the rules are in webhooks.services."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

EVENTS_HELP = (
    "Event names (message.sent, message.delivered, message.failed, message.read, message.clicked, "
    "message.replied, broadcast.completed, broadcast.failed, broadcast.variant_won, contact.opted_out), or "
    '["*"] for all.'
)

FORMAT_HELP = (
    "The body's shape: standard (default), octopush (Octopush's delivery-report and inbound-SMS bodies; only "
    "message.sent, .delivered, .read, .failed and .replied) or teekrr (event names delivered/failed). Signed, "
    "retried and logged the same way whatever the format."
)


class WebhookEndpointSerializer(serializers.ModelSerializer[WebhookEndpoint]):
    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "format", "active", "disabled_reason", "created_at"]
        read_only_fields = fields


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="whsec_<base64>: shown only now; keep it.")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookEndpointWriteSerializer(serializers.Serializer[Any]):
    url = serializers.CharField(max_length=2000, help_text="http:// or https:// URL that receives the events.")
    events = serializers.ListField(child=serializers.CharField(max_length=64), max_length=50, help_text=EVENTS_HELP)
    format = serializers.ChoiceField(
        choices=WebhookEndpoint.Format.choices,
        required=False,
        help_text=FORMAT_HELP,
    )
    active = serializers.BooleanField(
        required=False, help_text="false disables the endpoint; true re-enables it and clears disabled_reason."
    )


class WebhookEventSerializer(serializers.ModelSerializer[WebhookEvent]):
    class Meta:
        model = WebhookEvent
        fields = ["id", "type", "created_at", "data"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    event_id = serializers.CharField(read_only=True)
    outcome = serializers.SerializerMethodField(help_text="pending (scheduled or in flight), succeeded or failed.")

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "attempt",
            "outcome",
            "status_code",
            "response_body",
            "duration_ms",
            "error",
            "scheduled_at",
            "attempted_at",
            "next_retry_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_outcome(self, obj: WebhookDelivery) -> str:
        waiting = (WebhookDelivery.Status.PENDING, WebhookDelivery.Status.SENDING)
        return "pending" if obj.status in waiting else obj.status
