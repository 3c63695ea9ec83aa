"""Message templates (SPEC §6). Written only through templates_app.services."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from accounts.channels import Channel
from accounts.models import Client

from .encoding import GSM7, UCS2


class Template(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING = "pending", "Pending approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    class Category(models.TextChoices):
        MARKETING = "marketing", "Marketing"
        UTILITY = "utility", "Utility"
        AUTHENTICATION = "authentication", "Authentication"

    class Encoding(models.TextChoices):
        GSM7 = GSM7, "GSM-7"
        UCS2 = UCS2, "UCS-2"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=512)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    language = models.CharField(max_length=3, help_text="ISO 639-3, e.g. eng.")
    category = models.CharField(max_length=16, choices=Category.choices, default=Category.MARKETING)
    content = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    rejection_reason = models.TextField(blank=True)
    # Derived from content by the services on every write, so lists never re-parse.
    variables = ArrayField(models.CharField(max_length=128), default=list, blank=True)
    encoding = models.CharField(max_length=8, choices=Encoding.choices, null=True, blank=True)
    segments = models.PositiveSmallIntegerField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "channel", "name", "language"], name="template_unique_client_channel_name_language"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["draft", "pending", "approved", "rejected"]),
                name="template_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(category__in=["marketing", "utility", "authentication"]),
                name="template_category_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=["sms", "whatsapp", "telegram", "rcs"]), name="template_channel_valid"
            ),
        ]
        indexes = [models.Index(fields=["client", "-created_at"], name="template_client_created")]

    def __str__(self) -> str:
        return f"{self.name} ({self.channel}, {self.language})"

    @property
    def needs_approval(self) -> bool:
        """WhatsApp templates are reviewed (by Meta, mirrored by staff) before use."""
        return self.channel == Channel.WHATSAPP

    @property
    def is_usable(self) -> bool:
        return self.status == self.Status.APPROVED
