"""Webhook endpoints, the event outbox, and one row per delivery attempt."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from .crypto import EncryptedTextField


class WebhookEndpoint(models.Model):
    class Format(models.TextChoices):
        """The body's shape (SPEC §14): Herald's own, or a migrating user's old receivers' (formats.py)."""

        STANDARD = "standard", "Standard (Herald)"
        OCTOPUSH = "octopush", "Octopush callbacks"
        TEEKRR = "teekrr", "Teekrr event names"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey("accounts.Client", on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    events = ArrayField(models.CharField(max_length=64), help_text='Event names, or ["*"] for all.')
    secret = EncryptedTextField(help_text="whsec_<base64>; encrypted at rest, never shown after creation.")
    format = models.CharField(max_length=16, choices=Format.choices, default=Format.STANDARD)
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    # The first failed attempt since the last success; None while the endpoint answers 2xx.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["client", "-created_at"], name="webhook_endpoint_client_idx")]

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """The outbox: written in the transaction of the change it announces, so a rollback drops it."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)  # evt_<ULID>
    client = models.ForeignKey("accounts.Client", on_delete=models.CASCADE, related_name="webhook_events")
    type = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    data = models.JSONField()

    class Meta:
        indexes = [models.Index(fields=["client", "-created_at"], name="webhook_event_client_idx")]

    def __str__(self) -> str:
        return self.id


class WebhookDelivery(models.Model):
    """One attempt to deliver one event to one endpoint. A failed attempt with time left schedules
    the next attempt as a new `pending` row (its `next_retry_at` says when), so the list shows every
    attempt and a claim is one indexed scan of due `pending` rows."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=64)  # the event's, copied so the list filters without a join
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    scheduled_at = models.DateTimeField()
    lease_until = models.DateTimeField(null=True, blank=True)  # while `sending`: a dead worker's rows return
    attempted_at = models.DateTimeField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, default="")  # the first 1 KB of the answer
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    next_retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["endpoint", "-created_at", "-id"], name="webhook_delivery_list_idx"),
            models.Index(fields=["scheduled_at"], name="webhook_delivery_due_idx", condition=Q(status="pending")),
            models.Index(fields=["lease_until"], name="webhook_delivery_lease_idx", condition=Q(status="sending")),
            # An endpoint's health (selectors.endpoint_health_queryset): its last success, and its
            # failures since then, are each a range of one (endpoint, status) by attempt time ...
            models.Index(fields=["endpoint", "status", "-attempted_at"], name="webhook_delivery_outcome_idx"),
            # ... and its next retry is the first of its waiting attempts.
            models.Index(
                fields=["endpoint", "scheduled_at"], name="webhook_delivery_waiting_idx", condition=Q(status="pending")
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event", "attempt"], name="webhook_delivery_one_per_attempt"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} #{self.attempt}"
