"""Tenants (Client), users and their memberships, API keys, and the API's own bookkeeping."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models

from accounts.languages import validate_language_code
from accounts.ratelimit import validate_rate_limit


class User(AbstractUser):
    """A person who logs in to the dashboard or the admin. Tenancy comes from Membership."""


class Client(models.Model):
    """A tenant. Everything a customer owns hangs off one Client."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2; used to parse national numbers.")
    timezone = models.CharField(max_length=64, default="UTC")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    send_rate_limit = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_rate_limit],
        help_text="Overrides SEND_RATE_LIMIT for this client, e.g. 10/15m.",
    )
    api_rate_limit = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_rate_limit],
        help_text="Overrides API_RATE_LIMIT for this client, e.g. 3600/h.",
    )
    compat_send_rate_limit = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_rate_limit],
        help_text="Overrides COMPAT_SEND_RATE_LIMIT (creates through the compatibility APIs, SPEC §14).",
    )
    language = models.CharField(
        max_length=3,
        default="eng",
        validators=[validate_language_code],
        help_text="ISO 639-3: the language of a text sent without one (RapidPro's primary language).",
    )
    suspended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=["active", "suspended"]), name="client_status_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MANAGER = "manager", "Manager"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    # The dashboard shows this user's times in this IANA zone; blank: the client's own zone.
    timezone = models.CharField(max_length=64, blank=True, default="", db_default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "client"], name="membership_unique_user_client")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.client} ({self.role})"


class Scope(models.TextChoices):
    SEND_SMS = "send_sms", "Send SMS broadcasts"
    SEND_WHATSAPP = "send_whatsapp", "Send WhatsApp broadcasts"
    SEND_TELEGRAM = "send_telegram", "Send Telegram broadcasts"
    SEND_RCS = "send_rcs", "Send RCS broadcasts"
    CONTACTS = "contacts", "Write contacts, lists and imports"
    TEMPLATES = "templates", "Write templates"
    WEBHOOKS = "webhooks", "Manage webhook endpoints"
    READ = "read", "Read everything"


class ApiKey(models.Model):
    """An integrator's key: `hk_<prefix>_<secret>`. Only the SHA-256 of the secret is stored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part of the key, safe to show.")
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = ArrayField(models.CharField(max_length=32, choices=Scope.choices), default=list)
    allowed_ips = ArrayField(
        models.CharField(max_length=64), default=list, blank=True, help_text="IPs or CIDRs; empty allows any."
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} (hk_{self.prefix}_…)"

    @property
    def masked(self) -> str:
        return f"hk_{self.prefix}_…"


class IdempotencyRecord(models.Model):
    """The first response to a POST carrying an Idempotency-Key, kept 24 h per client."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        COMPLETED = "completed", "Completed"

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True)
    response_body = models.JSONField(null=True)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotency_unique_client_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class RateLimitCounter(models.Model):
    """Fixed-window counters for the rate limiter when no Redis is configured (embedded mode)."""

    key = models.CharField(max_length=200)
    window_start = models.BigIntegerField()
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="ratelimit_unique_window")]

    def __str__(self) -> str:
        return f"{self.key}@{self.window_start}: {self.hits}"


class Heartbeat(models.Model):
    """Last time a periodic job ran; `/healthz` reports it so operators see that beat is alive."""

    name = models.CharField(max_length=64, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
