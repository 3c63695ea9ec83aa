"""The parts of a multipart SMPP message (models of the broadcasts app, imported by broadcasts.models).

Each submit_sm of a message gets its own message_id and its own receipt: a multipart message is
delivered when every part is, failed when one part fails (SPEC §10). Single-part messages need no
row: their one id is the message's provider_message_id.
"""

from __future__ import annotations

from django.db import models


class SmppPart(models.Model):
    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    id = models.BigAutoField(primary_key=True)
    message = models.ForeignKey("broadcasts.Message", on_delete=models.CASCADE, related_name="smpp_parts")
    connector = models.CharField(max_length=64)
    seq = models.PositiveSmallIntegerField()
    provider_message_id = models.CharField(max_length=128)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SENT)
    error_code = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "broadcasts"
        constraints = [
            models.UniqueConstraint(fields=["message", "seq"], name="smpp_part_once"),
        ]
        indexes = [models.Index(fields=["connector", "provider_message_id"], name="smpp_part_provider_id")]

    def __str__(self) -> str:
        return f"part {self.seq} of message {self.message_id}"


class SmppMoPart(models.Model):
    """A part of a concatenated MO held until its message is whole. Stored before its deliver_sm is
    answered, so a receiving process that dies between two parts loses nothing (the SMSC considers
    an answered part delivered); deleted when the message is whole, or after store.MO_TTL."""

    id = models.BigAutoField(primary_key=True)
    connector = models.CharField(max_length=64)
    source = models.CharField(max_length=32)
    destination = models.CharField(max_length=32)
    ref = models.PositiveIntegerField()
    total = models.PositiveSmallIntegerField()
    seq = models.PositiveSmallIntegerField()
    text = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "broadcasts"
        constraints = [
            # A part delivered again (its answer lost) is the same part: kept once.
            models.UniqueConstraint(
                fields=["connector", "source", "destination", "ref", "total", "seq"], name="smpp_mo_part_once"
            ),
        ]
        indexes = [models.Index(fields=["connector", "received_at"], name="smpp_mo_part_age")]

    def __str__(self) -> str:
        return f"MO part {self.seq}/{self.total}"
