"""Reads of webhooks."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Client

from .models import WebhookDelivery, WebhookEndpoint


def endpoint_queryset(*, client: Client) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(client=client)


def delivery_queryset(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """Every attempt to this endpoint, newest first (the list's cursor orders it)."""
    return WebhookDelivery.objects.filter(endpoint=endpoint)
